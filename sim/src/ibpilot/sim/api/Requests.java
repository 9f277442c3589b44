package ibpilot.sim.api;

import static ibpilot.sim.api.Wire.b;
import static ibpilot.sim.api.Wire.f;
import static ibpilot.sim.api.Wire.i;

import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Message handling and session state of one API connection: turns a request's fields into answers
 * (tws-api.md §2) and keeps what the session knows (client id, started, market-data type, subscriptions).
 * Called on the connection's reader thread; {@link #cancelAll()} and {@link #registeredClientId()} also
 * from whichever thread closes it.
 */
final class Requests {
    static final String TXT_326 = "Unable to connect as the client id is already in use. Retry with a unique client id.";
    static final String TXT_321 = "Error validating request:-'bh' : cause - The API interface is currently in Read-Only mode.";

    private final Connection conn;
    private final ApiServer server;
    private final Map<Integer, MarketData> subs = new ConcurrentHashMap<>();
    private volatile int clientId = Integer.MIN_VALUE;
    private volatile boolean registered;
    private boolean started;
    private volatile int marketDataType = 1;

    Requests(Connection conn, ApiServer server) {
        this.conn = conn;
        this.server = server;
    }

    /** The client id this session registered with the server, or null (not started, or refused). */
    Integer registeredClientId() {
        return registered ? (Integer) clientId : null;
    }

    private void send(String... fields) { conn.send(fields); }

    private void error(int reqId, int code, String text) { conn.error(reqId, code, text); }

    void handle(List<String> fields) {
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
            server.emit("api_protocol_error", "peer", conn.peer(), "reason", "startApi without client id");
            conn.finishAfterThis();
            return;
        }
        if (!server.register(id, conn)) {
            server.emit("api_duplicate_client", "client_id", id);
            error(-1, 326, TXT_326);
            conn.finishAfterThis();
            return;
        }
        clientId = id;
        registered = true;
        started = true;
        if (conn.isClosed()) { // stop() raced us
            server.unregister(id, conn);
            return;
        }
        server.emit("api_connect", "client_id", id, "peer", conn.peer());
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
        MarketData md = new MarketData(conn, reqId, symbol, marketDataType);
        md.begin();
        if (snapshot || regulatory) {
            send("57", "1", Integer.toString(reqId)); // tickSnapshotEnd
            return;
        }
        subs.put(reqId, md);
        int every = server.tickIntervalMs();
        if (every > 0 && !conn.isClosed()) {
            try {
                md.future = server.scheduler().scheduleAtFixedRate(md::tickSafely, every, every, TimeUnit.MILLISECONDS);
            } catch (RuntimeException e) {
                subs.remove(reqId);
            }
        }
        if (conn.isClosed()) cancelAll();
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

    /** Ends every market-data subscription (the connection is closing). */
    void cancelAll() {
        for (Integer k : new ArrayList<>(subs.keySet())) cancelMktData(k);
    }
}
