package ibpilot.agent;

import ibpilot.json.Json;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/** The Unix socket: accepts clients, reads requests (JSON lines), answers, and broadcasts events. */
final class Server {
    private static final int QUEUE_LIMIT = 2000;

    private final Path path;
    private final Events events;
    private final Actions actions = new Actions();
    private final List<Client> clients = new CopyOnWriteArrayList<>();
    private ServerSocketChannel channel;

    Server(Path path, Events events) {
        this.path = path;
        this.events = events;
        events.setSink(this::broadcast);
    }

    void start() throws IOException {
        Files.deleteIfExists(path);
        channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        channel.bind(UnixDomainSocketAddress.of(path));
        Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try { Files.deleteIfExists(path); } catch (IOException ignored) { }
        }, "ibpilot-agent-cleanup"));
        daemon(this::acceptLoop, "ibpilot-agent-accept");
    }

    static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        t.start();
        return t;
    }

    private void acceptLoop() {
        int n = 0;
        while (channel.isOpen()) {
            try {
                SocketChannel sc = channel.accept();
                Client c = new Client(sc, ++n);
                c.send(Json.write(Json.obj("event", "hello", "protocol", Agent.PROTOCOL,
                        "pid", ProcessHandle.current().pid(), "java", System.getProperty("java.version"))));
                clients.add(c);
                c.start();
            } catch (IOException e) {
                if (channel.isOpen()) Agent.log("accept failed: " + e);
                else return;
            } catch (Throwable t) {
                Agent.log("accept loop: " + t);
            }
        }
    }

    /** Called from the EDT: must never block. */
    void broadcast(Map<String, Object> event) {
        if (clients.isEmpty()) return;
        String line = Json.write(event);
        for (Client c : clients) c.send(line);
    }

    private final class Client {
        final SocketChannel sc;
        final int n;
        final BlockingQueue<String> out = new ArrayBlockingQueue<>(QUEUE_LIMIT);
        volatile boolean closed;
        volatile boolean dropping;

        Client(SocketChannel sc, int n) { this.sc = sc; this.n = n; }

        void start() {
            daemon(this::readLoop, "ibpilot-agent-client-" + n + "-read");
            daemon(this::writeLoop, "ibpilot-agent-client-" + n + "-write");
        }

        /** Queue a line; a client that does not keep up is dropped (never block the caller). */
        void send(String line) {
            if (closed || dropping) return;
            if (!out.offer(line)) {
                dropping = true;
                Agent.log("client " + n + " is not reading; dropping it");
                daemon(this::close, "ibpilot-agent-client-" + n + "-close");  // the caller may be the EDT
            }
        }

        void close() {
            if (closed) return;
            closed = true;
            clients.remove(this);
            out.clear();
            out.offer("");  // wake the writer
            try { sc.close(); } catch (IOException ignored) { }
        }

        private void writeLoop() {
            try {
                while (!closed) {
                    String line = out.poll(1, TimeUnit.SECONDS);
                    if (line == null || closed) continue;
                    ByteBuffer buf = StandardCharsets.UTF_8.encode(line + "\n");
                    while (buf.hasRemaining()) sc.write(buf);
                }
            } catch (IOException | InterruptedException e) {
                // the client went away
            } finally {
                close();
            }
        }

        private void readLoop() {
            try (BufferedReader in = new BufferedReader(
                    new InputStreamReader(Channels.newInputStream(sc), StandardCharsets.UTF_8))) {
                String line;
                while (!closed && (line = in.readLine()) != null) {
                    if (line.isBlank()) continue;
                    send(Json.write(handle(line)));
                }
            } catch (IOException e) {
                // the client went away
            } finally {
                close();
            }
        }
    }

    /** One request line -> one answer object. Never throws. */
    Map<String, Object> handle(String line) {
        Object id = null;
        try {
            Map<String, Object> req;
            try {
                req = Json.parseObject(line);
            } catch (IllegalArgumentException e) {
                throw new AgentException("bad_request", e.getMessage());
            }
            id = req.get("id");
            Object op = req.get("op");
            if (!(op instanceof String)) throw new AgentException("bad_request", "missing op");
            Object result = actions.dispatch((String) op, req);
            return Json.obj("id", id, "ok", true, "result", result);
        } catch (AgentException e) {
            return Json.obj("id", id, "ok", false, "error", e.kind + ": " + e.getMessage());
        } catch (Throwable t) {
            return Json.obj("id", id, "ok", false, "error", "failed: " + t);
        }
    }
}
