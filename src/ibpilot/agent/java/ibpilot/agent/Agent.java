package ibpilot.agent;

import java.lang.instrument.Instrumentation;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Entry point of the generic Swing agent: {@code -javaagent:ibpilot-agent.jar=socket=/path/agent.sock}.
 *
 * <p>It exposes the JVM's windows as component trees over a Unix socket (JSON lines, see docs/contracts.md
 * "Agent protocol"), acts on components on the EDT and pushes window events. It knows nothing about the
 * application it runs in. premain only binds the socket and starts daemon threads; it never blocks main.
 */
public final class Agent {
    public static final int PROTOCOL = 1;
    private static volatile Server server;
    static volatile boolean debug;

    private Agent() {}

    public static void premain(String args, Instrumentation inst) { start(args); }

    public static void agentmain(String args, Instrumentation inst) { start(args); }

    private static synchronized void start(String args) {
        if (server != null) return;
        try {
            Map<String, String> opts = parseOptions(args);
            String socket = opts.get("socket");
            if (socket == null || socket.isEmpty()) {
                log("missing option socket=<path>; agent disabled");
                return;
            }
            debug = "true".equals(opts.get("debug"));
            Events events = new Events();
            Server s = new Server(Path.of(socket), events);
            s.start();
            server = s;
            System.out.println("ibpilot-agent: listening on " + socket);
            System.out.flush();
            Thread init = new Thread(events::install, "ibpilot-agent-awt");
            init.setDaemon(true);
            init.start();
        } catch (Throwable t) {
            log("failed to start: " + t);
        }
    }

    static Map<String, String> parseOptions(String args) {
        Map<String, String> m = new LinkedHashMap<>();
        if (args == null) return m;
        for (String part : args.split(",")) {
            int eq = part.indexOf('=');
            if (eq > 0) m.put(part.substring(0, eq).trim(), part.substring(eq + 1).trim());
            else if (!part.isBlank()) m.put(part.trim(), "true");
        }
        return m;
    }

    static void log(String msg) {
        System.err.println("ibpilot-agent: " + msg);
    }
}
