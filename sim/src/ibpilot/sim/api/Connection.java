package ibpilot.sim.api;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One API client socket: the peer check, a reader thread (handshake, then frames handed to
 * {@link Requests}) and a writer thread (queued frames), and closing. Framing is {@link Wire};
 * what a message means and the session's state are {@link Requests}.
 */
final class Connection {
    /** A client that stops reading gets dropped rather than buffering for ever. */
    static final int MAX_QUEUED = 100_000;

    private static final Object FIN = new Object();   // writer: flush, half-close (FIN)
    private static final Object STOP = new Object();  // writer: exit
    private static final DateTimeFormatter CONN_TIME = DateTimeFormatter.ofPattern("yyyyMMdd HH:mm:ss zzz", Locale.US);

    private final ApiServer server;
    private final Socket sock;
    private final String peer;
    private final long number;
    private final LinkedBlockingQueue<Object> out = new LinkedBlockingQueue<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Requests requests;
    private volatile Thread reader;
    private volatile Thread writer;
    private volatile boolean finishing;

    Connection(ApiServer server, Socket sock, long number) {
        this.server = server;
        this.sock = sock;
        this.peer = ApiServer.peerOf(sock);
        this.number = number;
        this.requests = new Requests(this, server);
    }

    void start() {
        Thread t = new Thread(this::readLoop, "ibsim-api-conn-" + number);
        t.setDaemon(true);
        reader = t;
        t.start();
    }

    String peer() { return peer; }

    // ------------------------------------------------------------------ reader

    private void readLoop() {
        try {
            sock.setTcpNoDelay(true);
            if (!peerAllowed()) {
                finish(500);
                return;
            }
            InputStream raw = sock.getInputStream();
            if (server.isSilent()) { // hung Gateway / pending dialog: swallow everything, say nothing
                drain(raw, 0);
                return;
            }
            DataInputStream in = new DataInputStream(new BufferedInputStream(raw, 64 * 1024));
            int version = handshake(in);
            if (version < 0) {
                finish(500);
                return;
            }
            startWriter();
            send(Integer.toString(version), ZonedDateTime.now().format(CONN_TIME));
            while (!closed.get() && !finishing) {
                List<String> fields;
                try {
                    fields = Wire.readMessage(in);
                } catch (Wire.ProtocolError e) {
                    server.emit("api_protocol_error", "peer", peer, "reason", e.getMessage());
                    break;
                }
                if (fields.isEmpty()) continue;
                try {
                    requests.handle(fields);
                } catch (RuntimeException e) { // malformed fields: ignore this message, keep the client
                    server.emit("api_protocol_error", "peer", peer, "reason", "bad message " + fields.get(0) + ": " + e);
                }
            }
            if (finishing) finish(2000);
        } catch (IOException e) {
            // EOF, ECONNRESET, "connection lost", socket closed by stop(): all a normal disconnect
        } catch (InterruptedException e) {
            // stop() while a dialog was pending
        } catch (Throwable t) {
            server.emit("api_protocol_error", "peer", peer, "reason", String.valueOf(t));
        } finally {
            close();
        }
    }

    /** Peer rules of tws-api.md §4. False = rejected (event already emitted). */
    private boolean peerAllowed() throws InterruptedException {
        InetAddress a = sock.getInetAddress();
        if (a == null || a.isLoopbackAddress()) return true;
        if (server.localhostOnly()) {
            server.emit("api_rejected", "peer", peer, "reason", "localhost_only");
            return false;
        }
        for (String ip : server.trustedIps()) {
            if (ip != null && sameIp(ip.trim(), a)) return true;
        }
        ApiServer.Listener l = server.listener();
        boolean ok = false;
        if (l != null) {
            try {
                ok = l.acceptIncoming(peer);
            } catch (InterruptedException e) {
                throw e;
            } catch (Throwable t) {
                ok = false;
            }
        }
        if (!ok) {
            if (!closed.get()) server.emit("api_rejected", "peer", peer, "reason", "declined");
            return false;
        }
        return !closed.get();
    }

    private static boolean sameIp(String spec, InetAddress a) {
        if (spec.isEmpty()) return false;
        if (spec.equals(a.getHostAddress())) return true;
        if (spec.matches("[0-9.]+") || spec.contains(":")) { // literal only: never a DNS lookup
            try {
                return InetAddress.getByName(spec).equals(a);
            } catch (Exception e) {
                return false;
            }
        }
        return false;
    }

    /** Returns the negotiated version, or -1 (event emitted). */
    private int handshake(DataInputStream in) throws IOException {
        String s;
        try {
            s = Wire.readHandshake(in);
        } catch (Wire.ProtocolError e) {
            server.emit("api_protocol_error", "peer", peer, "reason", e.getMessage());
            return -1;
        }
        int v = Wire.negotiate(s);
        if (v < 0) server.emit("api_protocol_error", "peer", peer, "reason", "no common version: " + s.replace('\0', ' '));
        return v;
    }

    /** Requests: say nothing more after this message (the reader then flushes, half-closes and drains). */
    void finishAfterThis() { finishing = true; }

    /** ERR_MSG at server 176: 4, 2, reqId, code, text, advancedOrderRejectJson (tws-api.md §2). */
    void error(int reqId, int code, String text) {
        send("4", "2", Integer.toString(reqId), Integer.toString(code), text, "");
    }

    // ------------------------------------------------------------------ writer

    private void startWriter() {
        Thread t = new Thread(this::writeLoop, "ibsim-api-write-" + number);
        t.setDaemon(true);
        writer = t;
        t.start();
    }

    /** Queues one frame; dropped when the server is silent (hung) or the connection is closed. */
    void send(String... fields) {
        if (closed.get() || server.isSilent() || writer == null) return;
        if (out.size() > MAX_QUEUED) { // client stopped reading
            server.emit("api_protocol_error", "peer", peer, "reason", "client not reading; dropped");
            close();
            return;
        }
        out.add(Wire.frame(fields));
    }

    private void writeLoop() {
        try {
            OutputStream os = new BufferedOutputStream(sock.getOutputStream(), 64 * 1024);
            while (true) {
                Object o = out.take();
                if (o == STOP) break;
                if (o == FIN) {
                    os.flush();
                    sock.shutdownOutput();
                    break;
                }
                os.write((byte[]) o);
                if (out.isEmpty()) os.flush();
            }
        } catch (IOException | InterruptedException e) {
            // peer gone / stopped
        } catch (Throwable t) {
            // never escape
        } finally {
            if (!closed.get() && !finishing) close();
        }
    }

    // ------------------------------------------------------------------ closing

    /** Say nothing more: flush what is queued, half-close (FIN), then wait up to ms for the peer's EOF. */
    private void finish(int ms) {
        try {
            if (writer != null) {
                out.add(FIN);
                writer.join(Math.max(ms, 1));
            } else {
                sock.shutdownOutput();
            }
            drain(sock.getInputStream(), ms);
        } catch (Exception e) {
            // closing anyway
        }
    }

    /** Reads and discards until EOF, error, or (ms > 0) ms without data. */
    private void drain(InputStream in, int ms) {
        try {
            if (ms > 0) sock.setSoTimeout(ms);
            byte[] buf = new byte[8192];
            long deadline = ms > 0 ? System.nanoTime() + ms * 1_000_000L : Long.MAX_VALUE;
            while (!closed.get() && System.nanoTime() < deadline) {
                if (in.read(buf) < 0) break;
            }
        } catch (SocketTimeoutException e) {
            // done waiting
        } catch (IOException e) {
            // gone
        }
    }

    /** Idempotent: closes the socket, ends market data, frees the client id. */
    void close() {
        if (!closed.compareAndSet(false, true)) return;
        requests.cancelAll();
        out.clear();
        out.add(STOP);
        try {
            sock.close();
        } catch (IOException e) {
            // ignore
        }
        Thread r = reader;
        if (r != null && r != Thread.currentThread()) r.interrupt(); // e.g. blocked in acceptIncoming
        server.removeConnection(this);
        Integer id = requests.registeredClientId();
        if (id != null) {
            server.unregister(id, this);
            server.emit("api_disconnect", "client_id", id);
        }
    }

    boolean isClosed() { return closed.get(); }
}
