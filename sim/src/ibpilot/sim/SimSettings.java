package ibpilot.sim;

import ibpilot.json.Json;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Gateway settings that the configuration dialog edits, persisted in
 * {@code <settings dir>/ibpilot-sim-settings.json} (docs/contracts.md "Simulator contract").
 * {@code port} is null until the Socket port was saved once: then the mode's default applies.
 */
public final class SimSettings {
    public static final String FILE = "ibpilot-sim-settings.json";

    /** The nine Precautions checkboxes, exact texts (gateway-ui.md §2.4). */
    public static final String[] BYPASSES = {
        "Bypass Order Precautions for API Orders",
        "Bypass Bond warning for API Orders.",
        "Bypass negative yield to worst confirmation for API Orders.",
        "Bypass Called Bond warning for API Orders",
        "Bypass \"same action pair trade\" warning for API orders.",
        "Bypass price-based volatility risk warning for API Orders.",
        "Bypass US Stocks market data in shares warning for API Orders",
        "Bypass Redirect Order warning for Stock API Orders",
        "Bypass No Overfill Protection precaution for destinations where implied natively.",
    };

    public Integer port;
    public String masterClientId = "0";
    public boolean readOnlyApi = true;
    public boolean localhostOnly = true;
    public boolean enableActiveX = true;
    public boolean sendLots = true;
    public boolean createApiLog = false;
    public List<String> trustedIps = new ArrayList<>();
    public Map<String, Boolean> bypass = new LinkedHashMap<>();
    /** 12-hour "hh:mm" as shown in the Lock and Exit text field. */
    public String lockTime = "11:45";
    public boolean lockPm = true;
    /** "restart" or "logoff": which of the Auto restart / Auto logoff radio buttons is selected. */
    public String lockAction = "restart";

    public SimSettings() {
        for (String b : BYPASSES) bypass.put(b, false);
    }

    public SimSettings copy() {
        SimSettings s = new SimSettings();
        s.fromMap(toMap());
        return s;
    }

    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("port", port);
        m.put("master_client_id", masterClientId);
        m.put("read_only_api", readOnlyApi);
        m.put("localhost_only", localhostOnly);
        m.put("enable_activex", enableActiveX);
        m.put("send_lots", sendLots);
        m.put("create_api_log", createApiLog);
        m.put("trusted_ips", new ArrayList<>(trustedIps));
        m.put("bypass", new LinkedHashMap<>(bypass));
        m.put("lock_exit_time", lockTime);
        m.put("lock_exit_ampm", lockPm ? "PM" : "AM");
        m.put("lock_exit_action", lockAction);
        return m;
    }

    @SuppressWarnings("unchecked")
    public void fromMap(Map<String, Object> m) {
        Object v;
        if ((v = m.get("port")) instanceof Number) port = ((Number) v).intValue();
        if ((v = m.get("master_client_id")) != null) masterClientId = String.valueOf(v);
        if ((v = m.get("read_only_api")) instanceof Boolean) readOnlyApi = (Boolean) v;
        if ((v = m.get("localhost_only")) instanceof Boolean) localhostOnly = (Boolean) v;
        if ((v = m.get("enable_activex")) instanceof Boolean) enableActiveX = (Boolean) v;
        if ((v = m.get("send_lots")) instanceof Boolean) sendLots = (Boolean) v;
        if ((v = m.get("create_api_log")) instanceof Boolean) createApiLog = (Boolean) v;
        if ((v = m.get("trusted_ips")) instanceof List) {
            trustedIps = new ArrayList<>();
            for (Object o : (List<Object>) v) trustedIps.add(String.valueOf(o));
        }
        if ((v = m.get("bypass")) instanceof Map) {
            for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
                if (bypass.containsKey(e.getKey()) && e.getValue() instanceof Boolean) bypass.put(e.getKey(), (Boolean) e.getValue());
            }
        }
        if ((v = m.get("lock_exit_time")) instanceof String) lockTime = (String) v;
        if ((v = m.get("lock_exit_ampm")) instanceof String) lockPm = "PM".equalsIgnoreCase((String) v);
        if ((v = m.get("lock_exit_action")) instanceof String) lockAction = (String) v;
    }

    public static File file(File dir) { return new File(dir, FILE); }

    /** Loads the file if present; returns whether it existed. Bad content is reported and ignored. */
    public boolean load(File dir) {
        File f = file(dir);
        if (!f.isFile()) return false;
        try {
            fromMap(Json.parseObject(new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8)));
            return true;
        } catch (Exception e) {
            System.err.println("ibpilot-sim: ignoring unreadable " + f + ": " + e.getMessage());
            return false;
        }
    }

    public void save(File dir) throws Exception {
        dir.mkdirs();
        File f = file(dir);
        File tmp = new File(dir, FILE + ".tmp");
        Files.write(tmp.toPath(), (Json.write(toMap()) + "\n").getBytes(StandardCharsets.UTF_8));
        Files.move(tmp.toPath(), f.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
