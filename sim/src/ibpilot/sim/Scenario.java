package ibpilot.sim;

import ibpilot.json.Json;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The scenario: what the simulated Gateway does. A JSON object read from the file named by
 * -Dibpilot.sim.scenario= or env IBPILOT_SIM_SCENARIO; no file = all defaults. Every key is documented in
 * sim/README.md. Immutable after loading.
 */
public final class Scenario {
    /** Thrown for a bad scenario: the launcher prints it and exits with code 2. */
    public static final class BadScenario extends Exception {
        private static final long serialVersionUID = 1L;
        BadScenario(String m) { super(m); }
    }

    static final Set<String> KNOWN = new HashSet<>(Arrays.asList(
            "user", "password", "second_factor", "totp_secret", "push_approve_after_s", "devices",
            "paper_warning", "paper_warning_api", "existing_session", "self_login", "trading_mode", "api_port",
            "accounts", "step_delay_ms", "connect_delay_s", "lockout_attempts", "lockout_hang_s",
            "relogin_after_s", "kick_out_after_s", "auto_restart_in_s", "lock_and_exit", "lock_exit_time",
            "crash_at", "hang_at", "tip_of_the_day", "password_notice_days", "unknown_popup", "gateway_dialog",
            "connection_failed", "second_factor_timeout_s", "read_only_api", "trusted_ips", "localhost_only",
            "accept_incoming_buttons", "accept_incoming_title", "login_frame_delay_s", "tick_interval_ms",
            "enable_activex", "fix_user", "fix_password", "fix_port", "second_factor_in_frame", "comment",
            // IBC's remaining handlers (Notices.java)
            "newer_version", "login_error", "not_currently_available", "too_many_attempts", "trading_handoff",
            "blind_trading", "nse_compliance", "trades_frame", "bid_ask_update", "crypto_order",
            "order_id_reset_prompt", "api_port_confirm", "shutdown_progress"));

    private final Map<String, Object> m;
    public final String source;

    private Scenario(Map<String, Object> m, String source) {
        this.m = m;
        this.source = source;
    }

    public static String configuredPath() {
        String p = System.getProperty("ibpilot.sim.scenario");
        if (p == null || p.isEmpty()) p = System.getenv("IBPILOT_SIM_SCENARIO");
        return (p == null || p.isEmpty()) ? null : p;
    }

    public static Scenario load(String path) throws BadScenario {
        if (path == null) return new Scenario(new LinkedHashMap<>(), "(defaults)");
        String text;
        try {
            text = new String(Files.readAllBytes(Path.of(path)), StandardCharsets.UTF_8);
        } catch (Exception e) {
            throw new BadScenario("cannot read scenario file " + path + ": " + e);
        }
        Map<String, Object> map;
        try {
            map = Json.parseObject(text);
        } catch (RuntimeException e) {
            throw new BadScenario("scenario file " + path + " is not a JSON object: " + e.getMessage());
        }
        Scenario s = new Scenario(map, path);
        s.validate();
        return s;
    }

    private void validate() throws BadScenario {
        for (String k : m.keySet()) {
            if (!KNOWN.contains(k)) System.err.println("ibpilot-sim: warning: unknown scenario key '" + k + "' ignored");
        }
        for (String k : new String[] {"user", "password", "totp_secret", "trading_mode", "lock_and_exit",
                "lock_exit_time", "paper_warning_api", "accept_incoming_title", "fix_user", "fix_password"}) {
            type(k, String.class);
        }
        for (String k : new String[] {"paper_warning", "existing_session", "self_login", "tip_of_the_day",
                "connection_failed", "read_only_api", "localhost_only", "enable_activex", "second_factor_in_frame"}) {
            type(k, Boolean.class);
        }
        for (String k : new String[] {"push_approve_after_s", "api_port", "step_delay_ms", "connect_delay_s",
                "lockout_attempts", "lockout_hang_s", "relogin_after_s", "kick_out_after_s", "auto_restart_in_s",
                "password_notice_days", "second_factor_timeout_s", "login_frame_delay_s", "tick_interval_ms",
                "fix_port"}) {
            type(k, Number.class);
        }
        for (String k : new String[] {"devices", "trusted_ips", "accept_incoming_buttons"}) type(k, List.class);
        for (String k : new String[] {"crash_at", "hang_at", "unknown_popup"}) type(k, Map.class);
        String tm = str("trading_mode", "paper");
        if (!tm.equals("live") && !tm.equals("paper")) throw new BadScenario("trading_mode must be live or paper");
        String le = str("lock_and_exit", "restart");
        if (!le.equals("restart") && !le.equals("logoff")) throw new BadScenario("lock_and_exit must be restart or logoff");
        for (String mode : new String[] {"live", "paper"}) {
            String f = secondFactor(mode);
            if (!f.equals("totp") && !f.equals("push") && !f.equals("none")) {
                throw new BadScenario("second_factor." + mode + " must be totp, push or none (got " + f + ")");
            }
        }
        Object sf = m.get("second_factor");
        if (sf != null && !(sf instanceof Map) && !(sf instanceof String)) throw new BadScenario("second_factor must be an object or a string");
        Object acc = m.get("accounts");
        if (acc != null && !(acc instanceof List) && !(acc instanceof Map)) throw new BadScenario("accounts must be a list or {live:[..],paper:[..]}");
        try {
            Totp.base32(totpSecret());
        } catch (IllegalArgumentException e) {
            throw new BadScenario("totp_secret is not base32: " + e.getMessage());
        }
        Object gd = m.get("gateway_dialog");
        if (gd != null && !(gd instanceof Boolean) && !(gd instanceof Map) && !(gd instanceof String)) {
            throw new BadScenario("gateway_dialog must be a boolean, a string or an object");
        }
        for (String k : new String[] {"crash_at", "hang_at"}) {
            Map<String, Object> c = map(k);
            if (c != null && !(c.get("state") instanceof String)) throw new BadScenario(k + ".state must be a string");
        }
        Map<String, Object> c = map("crash_at");
        if (c != null && c.get("mode") != null && !"exit".equals(c.get("mode")) && !"halt".equals(c.get("mode"))) {
            throw new BadScenario("crash_at.mode must be exit or halt");
        }
        Map<String, Object> h = map("hang_at");
        if (h != null && h.get("kind") != null && !"edt".equals(h.get("kind")) && !"api".equals(h.get("kind"))) {
            throw new BadScenario("hang_at.kind must be edt or api");
        }
        String nv = str("newer_version", "dialog");
        if (!nv.equals("dialog") && !nv.equals("frame") && !nv.equals("option_pane")) {
            throw new BadScenario("newer_version must be dialog, frame or option_pane");
        }
        type("newer_version", String.class);
        String bt = str("blind_trading", "order_preview");
        if (!bt.equals("order_preview") && !bt.equals("confirm")) throw new BadScenario("blind_trading must be order_preview or confirm");
        type("blind_trading", String.class);
        for (String k : new String[] {"trading_handoff", "nse_compliance", "bid_ask_update", "crypto_order",
                "order_id_reset_prompt", "api_port_confirm", "shutdown_progress"}) {
            type(k, Boolean.class);
        }
        for (String k : new String[] {"login_error", "not_currently_available"}) {
            Object v = m.get(k);
            if (v != null && !(v instanceof Boolean) && !(v instanceof Number)) throw new BadScenario(k + " must be true or a number of attempts");
        }
        type("too_many_attempts", Map.class);
        Object tf = m.get("trades_frame");
        if (tf != null && !(tf instanceof Boolean) && !(tf instanceof Map)) throw new BadScenario("trades_frame must be true or an object");
        String pwa = str("paper_warning_api", "silent");
        if (!pwa.equals("silent") && !pwa.equals("closed")) throw new BadScenario("paper_warning_api must be silent or closed");
    }

    private void type(String k, Class<?> c) throws BadScenario {
        Object v = m.get(k);
        if (v != null && !c.isInstance(v)) {
            throw new BadScenario("scenario key '" + k + "' must be a " + c.getSimpleName().replace("Map", "JSON object")
                    .replace("List", "JSON array") + " (got " + Json.write(v) + ")");
        }
    }

    public boolean has(String k) { return m.get(k) != null; }

    public String str(String k, String def) {
        Object v = m.get(k);
        return v instanceof String ? (String) v : def;
    }

    public boolean bool(String k, boolean def) {
        Object v = m.get(k);
        return v instanceof Boolean ? (Boolean) v : def;
    }

    /** A number, or def when absent (def may be null). */
    public Double num(String k, Double def) {
        Object v = m.get(k);
        return v instanceof Number ? Double.valueOf(((Number) v).doubleValue()) : def;
    }

    @SuppressWarnings("unchecked")
    public Map<String, Object> map(String k) {
        Object v = m.get(k);
        return v instanceof Map ? (Map<String, Object>) v : null;
    }

    public Object raw(String k) { return m.get(k); }

    public List<String> strings(String k) {
        Object v = m.get(k);
        if (!(v instanceof List)) return null;
        List<String> out = new ArrayList<>();
        for (Object o : (List<?>) v) out.add(String.valueOf(o));
        return out;
    }

    // ---- typed accessors with the documented defaults ----

    public static final String DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXP";

    public String user() { return str("user", null); }
    public String password() { return str("password", null); }
    public String totpSecret() { return str("totp_secret", DEMO_TOTP_SECRET); }

    public String secondFactor(String mode) {
        Object v = m.get("second_factor");
        if (v instanceof String) return (String) v;
        if (v instanceof Map) {
            Object x = ((Map<?, ?>) v).get(mode);
            if (x instanceof String) return (String) x;
        }
        return mode.equals("live") ? "totp" : "none";
    }

    public List<String> accounts(String mode) {
        Object v = m.get("accounts");
        if (v instanceof List) return strings("accounts");
        if (v instanceof Map) {
            Object x = ((Map<?, ?>) v).get(mode);
            if (x instanceof List) {
                List<String> out = new ArrayList<>();
                for (Object o : (List<?>) x) out.add(String.valueOf(o));
                if (!out.isEmpty()) return out;
            }
        }
        return Collections.singletonList(mode.equals("live") ? "U1234567" : "DU1234567");
    }

    public long stepDelayMs() {
        Double d = num("step_delay_ms", 300.0);
        return Math.max(0, d.longValue());
    }

    public String tradingMode() { return str("trading_mode", "paper"); }
}
