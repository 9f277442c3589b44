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
import java.nio.charset.StandardCharsets;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/** One API client socket: a reader thread (protocol) and a writer thread (queued frames). */
final class Connection {
    /** Frames above this are garbage: close (tws-api.md has no limit; ours protects the JVM). */
    static final int MAX_FRAME = 16 << 20;
    static final int MAX_HANDSHAKE = 4096;
    /** A client that stops reading gets dropped rather than buffering for ever. */
    static final int MAX_QUEUED = 100_000;

    static final String TXT_326 = "Unable to connect as the client id is already in use. Retry with a unique client id.";
    static final String TXT_321 = "Error validating request:-'bh' : cause - The API interface is currently in Read-Only mode.";

    private static final Object FIN = new Object();   // writer: flush, half-close (FIN)
    private static final Object STOP = new Object();  // writer: exit
    private static final DateTimeFormatter CONN_TIME = DateTimeFormatter.ofPattern("yyyyMMdd HH:mm:ss zzz", Locale.US);

    private final ApiServer server;
    private final Socket sock;
    private final String peer;
    private final long number;
    private final LinkedBlockingQueue<Object> out = new LinkedBlockingQueue<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Map<Integer, MarketData> subs = new ConcurrentHashMap<>();
    private volatile Thread reader;
    private volatile Thread writer;
    private volatile int clientId = Integer.MIN_VALUE;
    private volatile boolean registered;
    private boolean started;
    private volatile boolean finishing;
    private volatile int marketDataType = 1;

    Connection(ApiServer server, Socket sock, long number) {
        this.server = server;
        this.sock = sock;
        this.peer = ApiServer.peerOf(sock);
        this.number = number;
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
                int n = in.readInt();
                if (n < 0 || n > MAX_FRAME) {
                    server.emit("api_protocol_error", "peer", peer, "reason", "bad frame length " + n);
                    break;
                }
                if (n == 0) continue;
                byte[] payload = new byte[n];
                in.readFully(payload);
                List<String> fields = split(payload);
                if (fields.isEmpty()) continue;
                try {
                    handle(fields);
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
        byte[] magic = new byte[4];
        in.readFully(magic);
        if (magic[0] != 'A' || magic[1] != 'P' || magic[2] != 'I' || magic[3] != 0) {
            server.emit("api_protocol_error", "peer", peer, "reason", "no API\\0 prefix");
            return -1;
        }
        int n = in.readInt();
        if (n <= 0 || n > MAX_HANDSHAKE) {
            server.emit("api_protocol_error", "peer", peer, "reason", "bad handshake length " + n);
            return -1;
        }
        byte[] b = new byte[n];
        in.readFully(b);
        String s = new String(b, StandardCharsets.ISO_8859_1).trim();
        int v = negotiate(s);
        if (v < 0) server.emit("api_protocol_error", "peer", peer, "reason", "no common version: " + s.replace('\0', ' '));
        return v;
    }

    /** "v<min>..<max>[ options]" or "v<n>" → min(max, 176), or -1 when there is no overlap. */
    static int negotiate(String s) {
        if (!s.startsWith("v")) return -1;
        String body = s.substring(1);
        int sp = body.indexOf(' ');
        if (sp >= 0) body = body.substring(0, sp);
        int lo;
        int hi;
        try {
            int dots = body.indexOf("..");
            if (dots >= 0) {
                lo = Integer.parseInt(body.substring(0, dots));
                hi = Integer.parseInt(body.substring(dots + 2));
            } else {
                lo = hi = Integer.parseInt(body);
            }
        } catch (NumberFormatException e) {
            return -1;
        }
        int v = Math.min(hi, ApiServer.SERVER_VERSION);
        if (v < lo || v < ApiServer.MIN_CLIENT_VERSION) return -1;
        return v;
    }

    static List<String> split(byte[] payload) {
        List<String> f = new ArrayList<>();
        int start = 0;
        for (int k = 0; k < payload.length; k++) {
            if (payload[k] == 0) {
                f.add(new String(payload, start, k - start, StandardCharsets.UTF_8));
                start = k + 1;
            }
        }
        if (start < payload.length) f.add(new String(payload, start, payload.length - start, StandardCharsets.UTF_8));
        return f;
    }

    // ------------------------------------------------------------------ messages

    private static String f(List<String> fields, int i) {
        return i < fields.size() ? fields.get(i) : "";
    }

    private static int i(List<String> fields, int i, int dflt) {
        String s = f(fields, i).trim();
        if (s.isEmpty()) return dflt;
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            try {
                return (int) Double.parseDouble(s);
            } catch (NumberFormatException e2) {
                return dflt;
            }
        }
    }

    private static boolean b(List<String> fields, int i) {
        String s = f(fields, i).trim();
        return s.equals("1") || s.equalsIgnoreCase("true");
    }

    private void handle(List<String> fields) {
        int id;
        try {
            id = Integer.parseInt(fields.get(0).trim());
        } catch (NumberFormatException e) {
            server.emit("api_message_ignored", "client_id", cid(), "msg_id", fields.get(0));
            return;
        }
        if (!started && id != 71) {
            server.emit("api_message_ignored", "client_id", null, "msg_id", id);
            return;
        }
        boolean ro = server.isReadOnly();
        switch (id) {
            case 71: startApi(fields); break;
            case 49: send("49", "1", Long.toString(System.currentTimeMillis() / 1000)); break;
            case 61: send("62", "1"); break;                                    // reqPositions → positionEnd
            case 5:                                                             // reqOpenOrders
            case 16:                                                            // reqAllOpenOrders
                if (ro) error(-1, 321, TXT_321); else send("53", "1");
                break;
            case 99:                                                            // reqCompletedOrders (no version)
                if (ro) error(-1, 321, TXT_321); else send("102");
                break;
            case 15:                                                            // reqAutoOpenOrders
                if (clientId != 0) {
                    error(-1, 327, "Only API connections with clientId set to 0 can set the auto bind TWS orders property.");
                } else if (ro) {
                    error(-1, 321, TXT_321);
                }
                break;
            case 6: reqAccountUpdates(fields); break;
            case 76: reqAccountUpdatesMulti(fields); break;
            case 7: send("55", "1", Integer.toString(i(fields, 2, -1))); break; // reqExecutions → execDetailsEnd
            case 17: send("15", "1", String.join(",", server.accounts())); break;
            case 8: send("9", "1", Integer.toString(server.nextOrderId())); break;
            case 62: reqAccountSummary(fields); break;
            case 74: send("72", "1", Integer.toString(i(fields, 2, -1))); break; // reqPositionsMulti → end
            case 3: placeOrder(fields, ro); break;
            case 4: cancelOrder(fields, ro); break;
            case 1: reqMktData(fields); break;
            case 2: cancelMktData(i(fields, 2, Integer.MIN_VALUE)); break;
            case 59: marketDataType = Math.max(1, Math.min(4, i(fields, 2, 1))); break;
            case 9: reqContractDetails(fields); break;
            case 20: error(i(fields, 1, -1), 162,
                    "Historical Market Data Service error message:HMDS query returned no data: simulated Gateway"); break;
            case 14: case 58: case 63: case 64: case 75: case 77:  // setServerLogLevel, reqGlobalCancel, cancels
                break;
            default:
                server.emit("api_message_ignored", "client_id", cid(), "msg_id", id);
        }
    }

    private Object cid() {
        return registered ? (Object) clientId : null;
    }

    private void startApi(List<String> fields) {
        if (started) return;
        int id = i(fields, 2, Integer.MIN_VALUE);
        if (id == Integer.MIN_VALUE) {
            server.emit("api_protocol_error", "peer", peer, "reason", "startApi without client id");
            finishing = true;
            return;
        }
        if (!server.register(id, this)) {
            server.emit("api_duplicate_client", "client_id", id);
            error(-1, 326, TXT_326);
            finishing = true;
            return;
        }
        clientId = id;
        registered = true;
        started = true;
        if (closed.get()) { // stop() raced us
            server.unregister(id, this);
            return;
        }
        server.emit("api_connect", "client_id", id, "peer", peer);
        send("15", "1", String.join(",", server.accounts()));
        send("9", "1", Integer.toString(server.nextOrderId()));
        error(-1, 2104, "Market data farm connection is OK:usfarm");
        error(-1, 2106, "HMDS data farm connection is OK:ushmds");
        error(-1, 2158, "Sec-def data farm connection is OK:secdefnj");
    }

    private String account(String requested) {
        List<String> accts = server.accounts();
        return requested != null && accts.contains(requested) ? requested : accts.get(0);
    }

    private static final String[][] ACCOUNT_VALUES = {
        {"AccountType", "INDIVIDUAL", ""},
        {"NetLiquidation", "100000.00", "USD"},
        {"TotalCashValue", "100000.00", "USD"},
        {"AvailableFunds", "100000.00", "USD"},
        {"BuyingPower", "400000.00", "USD"},
        {"ExcessLiquidity", "100000.00", "USD"},
        {"GrossPositionValue", "0.00", "USD"},
    };

    private void reqAccountUpdates(List<String> fields) {
        // 6, 2, subscribe, acctCode
        if (!b(fields, 2)) return;
        String acct = account(f(fields, 3));
        send("8", "1", ZonedDateTime.now().format(DateTimeFormatter.ofPattern("HH:mm", Locale.US)));
        for (String[] v : ACCOUNT_VALUES) send("6", "2", v[0], v[1], v[2], acct);
        send("54", "1", acct);
    }

    private void reqAccountUpdatesMulti(List<String> fields) {
        // 76, 1, reqId, acct, modelCode, ledgerAndNLV
        String reqId = Integer.toString(i(fields, 2, -1));
        String acct = account(f(fields, 3));
        String model = f(fields, 4);
        for (String[] v : ACCOUNT_VALUES) send("73", "1", reqId, acct, model, v[0], v[1], v[2]);
        send("74", "1", reqId);
    }

    private void reqAccountSummary(List<String> fields) {
        // 62, 1, reqId, group, tags
        String reqId = Integer.toString(i(fields, 2, -1));
        List<String> tags = List.of(f(fields, 4).split(","));
        for (String acct : server.accounts()) {
            for (String[] v : ACCOUNT_VALUES) {
                if (tags.contains(v[0]) || tags.contains("All")) send("63", "1", reqId, acct, v[0], v[1], v[2]);
            }
        }
        send("64", "1", reqId);
    }

    private void placeOrder(List<String> fields, boolean ro) {
        // 3, orderId, contract... (no version field at server >= 145)
        int orderId = i(fields, 1, -1);
        if (orderId >= 0) server.orderIdUsed(orderId);
        if (ro) {
            error(orderId, 321, TXT_321);
        } else {
            error(orderId, 201, "Order rejected - reason:The simulated Gateway does not execute orders.");
        }
    }

    private void cancelOrder(List<String> fields, boolean ro) {
        // 4, 1, orderId[, manualCancelOrderTime]
        int orderId = i(fields, 2, -1);
        if (ro) error(orderId, 321, TXT_321);
        else error(orderId, 10147, "OrderId " + orderId + " that needs to be cancelled is not found.");
    }

    private void reqMktData(List<String> fields) {
        // 1, 11, reqId, conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange,
        // primaryExchange, currency, localSymbol, tradingClass, [BAG: n, n×(conId, ratio, action, exchange)],
        // deltaNeutral, [conId, delta, price], genericTickList, snapshot, regulatorySnapshot, mktDataOptions
        int reqId = i(fields, 2, Integer.MIN_VALUE);
        if (reqId == Integer.MIN_VALUE) return;
        String symbol = f(fields, 4);
        String secType = f(fields, 5);
        int k = 15;
        if ("BAG".equalsIgnoreCase(secType)) {
            int legs = Math.max(0, Math.min(1000, i(fields, k++, 0)));
            k += 4 * legs;
        }
        if (b(fields, k++)) k += 3;
        k++; // genericTickList
        boolean snapshot = b(fields, k++);
        boolean regulatory = b(fields, k);
        if (subs.containsKey(reqId)) {
            error(reqId, 322, "Error processing request:-'bW' : cause - Duplicate ticker id");
            return;
        }
        MarketData md = new MarketData(this, reqId, symbol, marketDataType);
        md.begin();
        if (snapshot || regulatory) {
            send("57", "1", Integer.toString(reqId)); // tickSnapshotEnd
            return;
        }
        subs.put(reqId, md);
        int every = server.tickIntervalMs();
        if (every > 0 && !closed.get()) {
            try {
                md.future = server.scheduler().scheduleAtFixedRate(md::tickSafely, every, every, TimeUnit.MILLISECONDS);
            } catch (RuntimeException e) {
                subs.remove(reqId);
            }
        }
        if (closed.get()) cancelAll();
    }

    /** A few real conIds so qualified contracts look familiar; other symbols get a stable synthetic one. */
    private static final Map<String, Integer> CONIDS = Map.of(
            "AAPL", 265598, "MSFT", 272093, "SPY", 756733, "IBM", 8314, "AMZN", 3691937, "QQQ", 320227571);

    private void reqContractDetails(List<String> fields) {
        // 9, 8, reqId, conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange,
        // primaryExchange, currency, localSymbol, tradingClass, includeExpired, secIdType, secId, issuerId
        int reqId = i(fields, 2, -1);
        int conId = i(fields, 3, 0);
        String symbol = f(fields, 4).trim().toUpperCase(Locale.ROOT);
        String secType = f(fields, 5).trim().toUpperCase(Locale.ROOT);
        if (symbol.isEmpty() && conId > 0) {
            for (Map.Entry<String, Integer> e : CONIDS.entrySet()) if (e.getValue() == conId) symbol = e.getKey();
        }
        if (symbol.isEmpty() || !(secType.isEmpty() || secType.equals("STK"))) {
            error(reqId, 200, "No security definition has been found for the request");
            return;
        }
        int known = CONIDS.getOrDefault(symbol, 100_000_000 + Math.floorMod(symbol.hashCode(), 800_000_000));
        if (conId > 0 && conId != known) {
            error(reqId, 200, "No security definition has been found for the request");
            return;
        }
        String exchange = f(fields, 10).isEmpty() ? "SMART" : f(fields, 10);
        String primary = f(fields, 11).isEmpty() ? "NASDAQ" : f(fields, 11);
        String currency = f(fields, 12).isEmpty() ? "USD" : f(fields, 12);
        // contractData (10) at server 176: no version field (>= 164 SIZE_RULES); ib_async decoder.contractDetails,
        // ibapi decoder.processContractDataMsg
        send("10", Integer.toString(reqId), symbol, "STK", "", "0", "", exchange, currency, symbol, "NMS", symbol,
                Integer.toString(known), "0.01", "", "ACTIVETIM,LMT,MKT,STP", "SMART,NASDAQ,NYSE,ARCA", "1", "0",
                symbol + " (simulated)", primary, "", "Technology", "Computers", "Computers", "US/Eastern",
                "", "", "", "0", "0", "1", "", "", "26,26,26", "", "COMMON", "1", "1", "100");
        send("52", "1", Integer.toString(reqId));
    }

    private void cancelMktData(int reqId) {
        MarketData md = subs.remove(reqId);
        if (md != null) md.cancel();
    }

    private void cancelAll() {
        for (Integer k : new ArrayList<>(subs.keySet())) cancelMktData(k);
    }

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
        out.add(frame(fields));
    }

    static byte[] frame(String... fields) {
        int len = 0;
        byte[][] enc = new byte[fields.length][];
        for (int k = 0; k < fields.length; k++) {
            enc[k] = (fields[k] == null ? "" : fields[k]).getBytes(StandardCharsets.UTF_8);
            len += enc[k].length + 1;
        }
        byte[] b = new byte[4 + len];
        b[0] = (byte) (len >>> 24);
        b[1] = (byte) (len >>> 16);
        b[2] = (byte) (len >>> 8);
        b[3] = (byte) len;
        int p = 4;
        for (byte[] e : enc) {
            System.arraycopy(e, 0, b, p, e.length);
            p += e.length;
            b[p++] = 0;
        }
        return b;
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
        cancelAll();
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
        if (registered) {
            server.unregister(clientId, this);
            server.emit("api_disconnect", "client_id", clientId);
        }
    }

    boolean isClosed() { return closed.get(); }
}
