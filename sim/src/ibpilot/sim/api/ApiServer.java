package ibpilot.sim.api;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The TWS API socket server of the simulated Gateway (server version 176, text framing).
 * Facts and sources: sim/API.md and ../shared/tws-api.md.
 *
 * Threads: one daemon accept thread, one reader and one writer daemon thread per connection, and a small
 * shared daemon scheduler for synthetic market data. {@link Listener#event} may be called from any of them.
 */
public final class ApiServer {

    /** Callbacks to the owner (the Swing UI or {@link ApiServerMain}). Must be thread-safe. */
    public interface Listener {
        /**
         * api_listening {port}, api_stopped, api_connect {client_id, peer}, api_disconnect {client_id},
         * api_rejected {peer, reason}, api_duplicate_client {client_id}; also (extras)
         * api_message_ignored {client_id, msg_id}, api_protocol_error {peer, reason}.
         */
        void event(String name, Map<String, Object> fields);

        /**
         * Called on the connection's thread for an untrusted peer when localhostOnly is false; blocks until
         * the UI's dialog answers; true = accept.
         */
        boolean acceptIncoming(String peerIp) throws InterruptedException;
    }

    public static final class Config {
        public int port;
        public String bindAddress = "0.0.0.0";
        public List<String> accounts;
        public boolean readOnly;
        public boolean localhostOnly = true;
        public List<String> trustedIps = new ArrayList<>();
        /** Accept connections but never answer anything (models a pending dialog / a hung Gateway). */
        public boolean silent;
        /** Synthetic market data rate per subscription. */
        public int tickIntervalMs = 100;
    }

    /** Highest server version we speak: the max of ib_insync, text framing (tws-api.md §1). */
    public static final int SERVER_VERSION = 176;
    /** Lowest client version we accept to talk to (ibapi's own minimum is 100). */
    public static final int MIN_CLIENT_VERSION = 100;
    /** TWS allows 32 API clients per session; we cap raw sockets higher to survive floods. */
    static final int MAX_CONNECTIONS = 256;

    private static final ScheduledExecutorService SCHEDULER = makeScheduler();

    private final Config cfg;
    private final Listener listener;
    private final Object lifecycle = new Object();
    private volatile ServerSocket serverSocket;
    private volatile int boundPort = -1;
    private volatile boolean readOnly;
    private volatile boolean silent;
    private volatile boolean localhostOnly;
    private volatile List<String> trustedIps;
    private volatile List<String> accounts;
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final Map<Integer, Connection> clients = new ConcurrentHashMap<>();
    private final AtomicInteger nextOrderId = new AtomicInteger(1);
    private final AtomicLong connCounter = new AtomicLong();

    public ApiServer(Config cfg, Listener listener) {
        this.cfg = cfg == null ? new Config() : cfg;
        this.listener = listener;
        this.readOnly = this.cfg.readOnly;
        this.silent = this.cfg.silent;
        this.localhostOnly = this.cfg.localhostOnly;
        setTrustedIps(this.cfg.trustedIps);
        setAccounts(this.cfg.accounts);
    }

    /** Binds (SO_REUSEADDR) and listens; returns at once, the accept loop runs on a daemon thread. */
    private volatile Thread acceptThread;

    public void start() throws IOException {
        synchronized (lifecycle) {
            if (serverSocket != null) return;
            ServerSocket ss = new ServerSocket();
            try {
                ss.setReuseAddress(true);
                String bind = cfg.bindAddress == null || cfg.bindAddress.isEmpty() ? "0.0.0.0" : cfg.bindAddress;
                // port 0 = any free port the first time; a restart re-binds the same one
                int want = cfg.port == 0 && boundPort > 0 ? boundPort : cfg.port;
                ss.bind(new InetSocketAddress(InetAddress.getByName(bind), want), 50);
            } catch (IOException | RuntimeException e) {
                closeQuietly(ss);
                throw e instanceof IOException ? (IOException) e : new IOException(e);
            }
            serverSocket = ss;
            boundPort = ss.getLocalPort();
            Thread t = new Thread(() -> acceptLoop(ss), "ibsim-api-accept-" + boundPort);
            t.setDaemon(true);
            acceptThread = t;
            t.start();
        }
        emit("api_listening", "port", boundPort);
    }

    /** Closes the listener and every client connection; the port is free immediately after. */
    public void stop() {
        ServerSocket ss;
        Thread accepting;
        synchronized (lifecycle) {
            ss = serverSocket;
            serverSocket = null;
            accepting = acceptThread;
            acceptThread = null;
            if (ss != null) closeQuietly(ss);
        }
        // On JDK 17 a blocked accept(2) keeps the port until its thread leaves accept: wait for it, so the port
        // really is free (and refuses connections) once stop() returns.
        if (accepting != null && accepting != Thread.currentThread()) {
            try {
                accepting.join(2000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (Connection c : new ArrayList<>(connections)) c.close();
        if (ss != null) emit("api_stopped");
    }

    public boolean isListening() {
        ServerSocket ss = serverSocket;
        return ss != null && !ss.isClosed();
    }

    /** The bound port while listening (the real one when cfg.port was 0), else the configured one. */
    public int port() {
        return isListening() ? boundPort : (boundPort > 0 && cfg.port == 0 ? boundPort : cfg.port);
    }

    public void setReadOnly(boolean ro) { readOnly = ro; }

    public void setSilent(boolean s) { silent = s; }

    public void setLocalhostOnly(boolean b) { localhostOnly = b; }

    public void setTrustedIps(List<String> ips) {
        trustedIps = ips == null ? List.of() : List.copyOf(ips);
    }

    public void setAccounts(List<String> accts) {
        List<String> a = new ArrayList<>();
        if (accts != null) for (String s : accts) if (s != null && !s.isBlank()) a.add(s.trim());
        if (a.isEmpty()) a.add("DU0000001"); // ib_async needs a non-empty list (tws-api.md §2)
        accounts = List.copyOf(a);
    }

    public boolean isReadOnly() { return readOnly; }

    public boolean isSilent() { return silent; }

    /** Sends these (code, text) error messages with reqId -1, in order, to every started client; returns how many. */
    public int broadcastError(int[] codes, String[] texts) {
        int n = 0;
        for (Connection c : new ArrayList<>(clients.values())) {
            for (int k = 0; k < codes.length; k++) c.error(-1, codes[k], texts[k]);
            n++;
        }
        return n;
    }

    /** Number of API clients that passed startApi and are still connected. */
    public int clientCount() { return clients.size(); }

    /** Number of open sockets (including ones not yet past the handshake). */
    public int connectionCount() { return connections.size(); }

    // ---- package-private, used by Connection ----

    List<String> accounts() { return accounts; }

    boolean localhostOnly() { return localhostOnly; }

    List<String> trustedIps() { return trustedIps; }

    int tickIntervalMs() { return cfg.tickIntervalMs; }

    Listener listener() { return listener; }

    ScheduledExecutorService scheduler() { return SCHEDULER; }

    int nextOrderId() { return nextOrderId.get(); }

    void orderIdUsed(int id) { nextOrderId.accumulateAndGet(id + 1, Math::max); }

    boolean register(int clientId, Connection c) { return clients.putIfAbsent(clientId, c) == null; }

    void unregister(int clientId, Connection c) { clients.remove(clientId, c); }

    void removeConnection(Connection c) { connections.remove(c); }

    void emit(String name, Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int k = 0; k + 1 < kv.length; k += 2) m.put(String.valueOf(kv[k]), kv[k + 1]);
        Listener l = listener;
        if (l == null) return;
        try {
            l.event(name, m);
        } catch (Throwable t) {
            // the owner's problem; never let it kill a server thread
        }
    }

    // ---- internals ----

    private void acceptLoop(ServerSocket ss) {
        while (!ss.isClosed()) {
            Socket s;
            try {
                s = ss.accept();
            } catch (IOException e) {
                if (ss.isClosed()) break;
                sleepQuietly(20); // e.g. EMFILE: do not spin
                continue;
            } catch (Throwable t) {
                if (ss.isClosed()) break;
                sleepQuietly(20);
                continue;
            }
            try {
                if (ss.isClosed() || serverSocket != ss) {
                    closeQuietly(s);
                    break;
                }
                if (connections.size() >= MAX_CONNECTIONS) {
                    emit("api_rejected", "peer", peerOf(s), "reason", "too_many_connections");
                    closeQuietly(s);
                    continue;
                }
                Connection c = new Connection(this, s, connCounter.incrementAndGet());
                connections.add(c);
                if (serverSocket != ss) { // stop() raced with us
                    c.close();
                    break;
                }
                c.start();
            } catch (Throwable t) {
                closeQuietly(s);
            }
        }
    }

    static String peerOf(Socket s) {
        InetAddress a = s.getInetAddress();
        return a == null ? "?" : a.getHostAddress();
    }

    static void closeQuietly(AutoCloseable c) {
        try {
            if (c != null) c.close();
        } catch (Exception e) {
            // ignore
        }
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static ScheduledExecutorService makeScheduler() {
        AtomicInteger n = new AtomicInteger();
        ScheduledThreadPoolExecutor ex = new ScheduledThreadPoolExecutor(2, r -> {
            Thread t = new Thread(r, "ibsim-api-ticks-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        ex.setRemoveOnCancelPolicy(true);
        ex.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        return ex;
    }
}
