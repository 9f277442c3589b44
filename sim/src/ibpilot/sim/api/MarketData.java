package ibpilot.sim.api;

import java.util.Locale;
import java.util.Random;
import java.util.concurrent.ScheduledFuture;

/** One reqMktData subscription: a synthetic random walk of bid/ask/last (tickPrice 1, tickSize 2). */
final class MarketData {
    private final Connection conn;
    private final String reqId;
    private final int marketDataType;
    private final Random rnd;
    private double mid;
    private long volume;
    volatile ScheduledFuture<?> future;

    MarketData(Connection conn, int reqId, String symbol, int marketDataType) {
        this.conn = conn;
        this.reqId = Integer.toString(reqId);
        this.marketDataType = marketDataType;
        long seed = symbol == null ? 0 : symbol.hashCode();
        this.rnd = new Random(seed * 31 + System.nanoTime());
        // a stable-per-symbol start price between 20 and 500
        this.mid = 20 + Math.floorMod(seed * 2654435761L, 48000L) / 100.0;
        this.volume = 1000 + rnd.nextInt(100_000);
    }

    /** marketDataType (58), tickReqParams (81), close price, then the first quote. */
    synchronized void begin() {
        conn.send("58", "1", reqId, Integer.toString(marketDataType));
        conn.send("81", reqId, "0.01", "9c0001", "3");
        conn.send("1", "6", reqId, "9", px(mid), "0", "0"); // close
        tick();
    }

    void tickSafely() {
        try {
            tick();
        } catch (Throwable t) {
            cancel(); // an exception would silently kill the periodic task anyway
        }
    }

    /** tickPrice: 1, 6, reqId, tickType, price, size, attrMask; tickSize: 2, 6, reqId, tickType, size. */
    synchronized void tick() {
        if (conn.isClosed()) {
            cancel();
            return;
        }
        mid = Math.max(0.05, mid + rnd.nextGaussian() * 0.03);
        double half = 0.01 * (1 + rnd.nextInt(2)) / 2.0;
        double bid = Math.max(0.01, Math.round((mid - half) * 100) / 100.0);
        double ask = Math.round((mid + half) * 100) / 100.0;
        if (ask <= bid) ask = bid + 0.01;
        double last = rnd.nextBoolean() ? bid : ask;
        long lastSize = 100L * (1 + rnd.nextInt(5));
        volume += lastSize / 100;
        conn.send("1", "6", reqId, "1", px(bid), Long.toString(100L * (1 + rnd.nextInt(20))), "0");
        conn.send("1", "6", reqId, "2", px(ask), Long.toString(100L * (1 + rnd.nextInt(20))), "0");
        conn.send("1", "6", reqId, "4", px(last), Long.toString(lastSize), "0");
        conn.send("2", "6", reqId, "8", Long.toString(volume));
    }

    void cancel() {
        ScheduledFuture<?> f = future;
        if (f != null) f.cancel(false);
    }

    private static String px(double p) {
        return String.format(Locale.ROOT, "%.2f", p);
    }
}
