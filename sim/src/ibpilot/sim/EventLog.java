package ibpilot.sim;

import ibpilot.json.Json;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * JSON-lines event log (env IBPILOT_SIM_EVENTS or -Dibpilot.sim.events=), one object per line, flushed per
 * line, plus a human-readable line per event on stdout. Never throws.
 */
public final class EventLog {
    private static final DateTimeFormatter HMS = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");
    private final OutputStream out;

    public EventLog(String path) {
        OutputStream o = null;
        if (path != null && !path.isEmpty()) {
            try {
                o = new FileOutputStream(path, true);
            } catch (IOException e) {
                System.err.println("ibpilot-sim: cannot open event log " + path + ": " + e.getMessage());
            }
        }
        out = o;
    }

    public static String configuredPath() {
        String p = System.getProperty("ibpilot.sim.events");
        if (p == null || p.isEmpty()) p = System.getenv("IBPILOT_SIM_EVENTS");
        return p;
    }

    public void emit(String name, Object... kv) {
        emit(name, Json.obj(kv));
    }

    public synchronized void emit(String name, Map<String, Object> fields) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("t", System.currentTimeMillis() / 1000.0);
        m.put("event", name);
        if (fields != null) {
            for (Map.Entry<String, Object> e : fields.entrySet()) {
                if (!e.getKey().equals("t") && !e.getKey().equals("event")) m.put(e.getKey(), e.getValue());
            }
        }
        if (out != null) {
            try {
                out.write((Json.write(m) + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                // keep going: the log is best effort
            }
        }
        StringBuilder b = new StringBuilder();
        b.append(LocalTime.now().format(HMS)).append(" ibpilot-sim: ").append(name);
        if (fields != null) {
            for (Map.Entry<String, Object> e : fields.entrySet()) {
                b.append(' ').append(e.getKey()).append('=').append(Json.write(e.getValue()));
            }
        }
        System.out.println(b);
        System.out.flush();
    }
}
