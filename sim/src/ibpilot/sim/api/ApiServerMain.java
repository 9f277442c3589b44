package ibpilot.sim.api;

import ibpilot.json.Json;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * Standalone API server: {@code --port N --accounts A,B [--readonly] [--silent] [--bind ADDR]
 * [--not-localhost-only] [--trusted IP,IP] [--accept-incoming accept|reject] [--tick-ms N]}.
 * Events go to stdout as JSON lines {"t":..,"event":..,...}. Port 0 = any free port (see api_listening).
 * Commands on stdin, one a line: stop, start, readonly on|off, silent on|off, quit. EOF on stdin is ignored;
 * SIGTERM stops the server and exits.
 */
public final class ApiServerMain {
    private static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    private ApiServerMain() {}

    static synchronized void log(String name, Map<String, Object> fields) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("t", System.currentTimeMillis() / 1000.0);
        m.put("event", name);
        if (fields != null) m.putAll(fields);
        OUT.println(Json.write(m));
    }

    public static void main(String[] args) throws Exception {
        ApiServer.Config cfg = new ApiServer.Config();
        cfg.accounts = new ArrayList<>(List.of("DU1234567"));
        String[] acceptIncoming = {"reject"};
        for (int k = 0; k < args.length; k++) {
            String a = args[k];
            switch (a) {
                case "--port": cfg.port = Integer.parseInt(args[++k]); break;
                case "--accounts": cfg.accounts = new ArrayList<>(Arrays.asList(args[++k].split(","))); break;
                case "--readonly": cfg.readOnly = true; break;
                case "--silent": cfg.silent = true; break;
                case "--bind": cfg.bindAddress = args[++k]; break;
                case "--not-localhost-only": cfg.localhostOnly = false; break;
                case "--trusted": cfg.trustedIps = new ArrayList<>(Arrays.asList(args[++k].split(","))); break;
                case "--accept-incoming": acceptIncoming[0] = args[++k]; break;
                case "--tick-ms": cfg.tickIntervalMs = Integer.parseInt(args[++k]); break;
                default:
                    System.err.println("unknown argument: " + a);
                    System.exit(2);
            }
        }
        ApiServer server = new ApiServer(cfg, new ApiServer.Listener() {
            @Override
            public void event(String name, Map<String, Object> fields) {
                log(name, fields);
            }

            @Override
            public boolean acceptIncoming(String peerIp) {
                boolean ok = "accept".equals(acceptIncoming[0]);
                log("api_accept_incoming", Json.obj("peer", peerIp, "accepted", ok));
                return ok;
            }
        });
        CountDownLatch done = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.stop();
            log("exit", Json.obj("code", 0, "reason", "signal"));
        }));
        server.start();
        Thread stdin = new Thread(() -> commands(server, done), "ibsim-api-stdin");
        stdin.setDaemon(true);
        stdin.start();
        done.await();
        server.stop();
        System.exit(0);
    }

    private static void commands(ApiServer server, CountDownLatch done) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                String cmd = line.trim();
                try {
                    switch (cmd) {
                        case "stop": server.stop(); break;
                        case "start": server.start(); break;
                        case "readonly on": server.setReadOnly(true); break;
                        case "readonly off": server.setReadOnly(false); break;
                        case "silent on": server.setSilent(true); break;
                        case "silent off": server.setSilent(false); break;
                        case "quit": done.countDown(); return;
                        case "": continue;
                        default:
                            log("command_error", Json.obj("command", cmd, "error", "unknown"));
                            continue;
                    }
                    log("command_ok", Json.obj("command", cmd, "listening", server.isListening(),
                            "port", server.port(), "clients", server.clientCount()));
                } catch (Exception e) {
                    log("command_error", Json.obj("command", cmd, "error", String.valueOf(e)));
                }
            }
        } catch (Exception e) {
            // stdin gone: keep serving until killed
        }
    }
}
