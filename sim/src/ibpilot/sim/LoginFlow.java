package ibpilot.sim;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The login flow: Log In → "Connecting to server..." → "Authenticating..." → second factor → "Downloading settings
 * from server" → "Starting application..." → logged in (gateway-ui.md §7), plus its failure paths (bad credentials,
 * lockout, connection failed, existing session, the "Gateway" box) and the post-login pop-ups. Each flow runs on its
 * own "sim-flow" thread and drives the Swing windows through the EDT; a newer flow (or exit) cancels an older one.
 */
final class LoginFlow {
    enum Kind { LOGIN, RESTART, REAUTH }

    /** Thrown inside a flow when it was cancelled (a newer generation started). */
    static final class Cancelled extends RuntimeException {
        private static final long serialVersionUID = 1L;
        Cancelled() { super(null, null, false, false); }
    }

    private final Sim sim;
    final AtomicInteger generation = new AtomicInteger();
    private int attempts;
    private final List<Dialogs.Win> flowWindows = new CopyOnWriteArrayList<>();
    private final SecondFactor secondFactor;
    final FixServer fix = new FixServer();
    /** This login is the FIX CTCI gateway's ("FIX CTCI" selected at Log In). */
    volatile boolean fixSession;
    /** "Enter Read Only" was chosen at the second factor (TWS): the API refuses orders. */
    volatile boolean readOnlySession;
    static final int VERSION = productVersion();

    LoginFlow(Sim sim) {
        this.sim = sim;
        this.secondFactor = new SecondFactor(sim, this);
    }

    /** Cancels whatever flow is running (exit). */
    void cancelAll() {
        generation.incrementAndGet();
    }

    /**
     * The major version this simulator plays: -Dibpilot.sim.version, else the digits of the jar it was loaded from
     * (`ibpilot sim install` names it ibpilot-sim-<version>.jar in the version directory), else 1037.
     */
    static int productVersion() {
        String v = System.getProperty("ibpilot.sim.version");
        if (v == null || v.isEmpty()) {
            try {
                String loc = LoginFlow.class.getProtectionDomain().getCodeSource().getLocation().getPath();
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("ibpilot-sim-(\\d+)\\.jar$").matcher(loc);
                if (m.find()) v = m.group(1);
            } catch (RuntimeException e) {
                v = null;
            }
        }
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            return 1037;
        }
    }

    /** TWS 1016+ shows the second factor inside the login frame (gateway-ui.md §2.3); scenario key overrides. */
    boolean secondFactorInFrame() {
        return !sim.gateway && sim.sc.bool("second_factor_in_frame", VERSION >= 1016);
    }

    /** The login button's action (EDT). */
    void onLogInClicked(LoginScreen ls) {
        if (!"login_frame".equals(sim.state)) {
            Sim.log("login_ignored", "state", sim.state);
            return;
        }
        boolean isFix = ls.fixSelected();
        String u = (isFix ? ls.fixUser : ls.user).getText().trim();
        String pw = new String((isFix ? ls.fixPassword : ls.password).getPassword());
        if (u.isEmpty() || pw.isEmpty()) {
            ls.setBusy(false, "Please enter a username and a password.");
            Sim.log("login_rejected", "reason", "empty credentials", "api_type", isFix ? "fix" : "ib_api");
            return;
        }
        String md = isFix ? ls.user.getText().trim() : null;
        if (isFix && md.isEmpty() != (ls.password.getPassword().length == 0)) {
            ls.setBusy(false, "Please enter both the market data username and password, or neither.");
            Sim.log("login_rejected", "reason", "market data login incomplete", "api_type", "fix");
            return;
        }
        attempts++;
        fixSession = isFix;
        readOnlySession = false;
        Sim.log("login_attempt", "user", u, "mode", ls.mode(), "attempt", attempts, "api_type",
                isFix ? "fix" : "ib_api", "market_data_user", md == null || md.isEmpty() ? null : md,
                "version", VERSION);
        beginFlow(u, pw, ls.mode(), Kind.LOGIN);
    }

    /** The FIX port: scenario fix_port, else jts.ini [IBGateway] LocalServerPort (IBC writes it), else the API's. */
    int fixPort() {
        Double p = sim.sc.num("fix_port", null);
        if (p != null) return p.intValue();
        java.io.File ini = new java.io.File(sim.dir, "jts.ini");
        try {
            boolean inGw = false;
            for (String line : java.nio.file.Files.readAllLines(ini.toPath())) {
                String t = line.trim();
                if (t.startsWith("[")) inGw = t.equalsIgnoreCase("[IBGateway]");
                else if (inGw && t.startsWith("LocalServerPort=")) return Integer.parseInt(t.substring(16).trim());
            }
        } catch (java.io.IOException | NumberFormatException e) {
            // no jts.ini or no usable value: fall back
        }
        return sim.effectivePort(sim.settings);
    }

    void beginFlow(String u, String pw, String m, Kind kind) {
        sim.user = u;
        sim.mode = m;
        int gen = generation.incrementAndGet();
        if (kind != Kind.REAUTH) {
            sim.login.setBusy(true, null);
            // TWS 1016+ keeps its login frame (it becomes the second factor panel); the others hide it
            if (kind != Kind.LOGIN || !secondFactorInFrame()) sim.login.frame.setVisible(false);
            if (sim.gateway) {
                if (sim.main != null) Ui.dispose(sim.main.frame);
                sim.main = new MainWindow(sim);
                sim.main.frame.setVisible(true);
            }
        }
        Thread t = new Thread(() -> {
            try {
                runFlow(gen, u, pw, kind);
            } catch (Cancelled c) {
                Sim.log("flow_cancelled", "kind", kind.name().toLowerCase());
            } catch (Throwable e) {
                Sim.log("error", "where", "flow", "message", String.valueOf(e));
                e.printStackTrace();
            }
        }, "sim-flow-" + gen);
        t.setDaemon(true);
        t.start();
    }

    // ---- flow plumbing (used by SecondFactor too)

    private boolean alive(int gen) { return generation.get() == gen && !sim.exiting; }

    void check(int gen) {
        if (!alive(gen)) throw new Cancelled();
    }

    void sleep(int gen, long ms) {
        long end = System.currentTimeMillis() + ms;
        while (true) {
            check(gen);
            long left = end - System.currentTimeMillis();
            if (left <= 0) return;
            try {
                Thread.sleep(Math.min(left, 50));
            } catch (InterruptedException e) {
                throw new Cancelled();
            }
        }
    }

    String await(int gen, Dialogs.Win w) {
        while (true) {
            if (!alive(gen)) {
                w.close();
                throw new Cancelled();
            }
            try {
                return w.answer.get(50, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                // poll again
            } catch (Exception e) {
                throw new Cancelled();
            }
        }
    }

    private void progress(int gen, String st, String title) {
        check(gen);
        closeFlowWindows();
        flowWindows.add(Dialogs.progress(sim, title));
        sim.setState(st);
        if (sim.main != null) sim.main.append(title);
    }

    void closeFlowWindows() {
        for (Dialogs.Win w : flowWindows) w.close();
        flowWindows.clear();
    }

    private boolean credentialsOk(String u, String pw) {
        String su = fixSession ? sim.sc.str("fix_user", null) : sim.sc.user();
        String sp = fixSession ? sim.sc.str("fix_password", null) : sim.sc.password();
        if (su != null && !su.equalsIgnoreCase(u)) return false;
        if (sp != null) return sp.equals(pw);
        return pw != null && !pw.isEmpty();
    }

    /**
     * A lockout is IB's server refusing to answer, so it outlives a Gateway restart: the attempt count is
     * kept in the settings directory (standing in for the server's memory), not in this JVM.
     */
    private int serverSideAttempt() {
        File f = new File(sim.dir, ".ibpilot-sim-server-attempts");
        int n = 0;
        try {
            if (f.isFile()) n = Integer.parseInt(new String(java.nio.file.Files.readAllBytes(f.toPath())).trim());
        } catch (java.io.IOException | NumberFormatException e) {
            n = 0;
        }
        n++;
        try {
            java.nio.file.Files.write(f.toPath(), Integer.toString(n).getBytes());
        } catch (java.io.IOException e) {
            Sim.log("error", "where", "server attempts", "message", String.valueOf(e));
        }
        return n;
    }

    // ---- the flow

    private void runFlow(int gen, String u, String pw, Kind kind) {
        Scenario sc = sim.sc;
        long step = sim.step;
        // 1. connecting
        progress(gen, "connecting", "Connecting to server...");
        Dialogs.Win box = null;
        long hold = 0;
        Object gd = sc.raw("gateway_dialog");
        if (gd != null && !Boolean.FALSE.equals(gd) && kind != Kind.REAUTH) {
            String text = "Connecting to server, please wait...";
            hold = 3000;
            if (gd instanceof String) text = (String) gd;
            if (gd instanceof Map) {
                Map<?, ?> g = (Map<?, ?>) gd;
                if (g.get("text") instanceof String) text = (String) g.get("text");
                if (g.get("hold_s") instanceof Number) hold = (long) (((Number) g.get("hold_s")).doubleValue() * 1000);
            }
            box = Dialogs.gatewayBox(sim, text);
            Dialogs.Win b = box;
            box.answer.thenAccept(a -> {
                if ("OK".equals(a) && generation.compareAndSet(gen, gen + 1)) {
                    Sim.log("login_cancelled", "reason", "OK clicked on the Gateway connection box");
                    closeFlowWindows();
                    backToLogin(kind, "Login cancelled.");
                }
            });
            if (sim.selfLogin) Sim.log("self_login_note", "text", "the Gateway box is left alone (OK would cancel the login)");
            flowWindows.add(b);
        }
        if (kind == Kind.LOGIN && serverSideAttempt() <= sc.num("lockout_attempts", 0.0).intValue()) {
            double hang = sc.num("lockout_hang_s", 3600.0);
            Sim.log("lockout_hang", "attempt", attempts, "seconds", hang);
            sleep(gen, (long) (hang * 1000));
            closeFlowWindows();
            Sim.log("login_failed", "reason", "lockout (silent timeout)", "user", u);
            backToLogin(kind, "");
            return;
        }
        sleep(gen, Math.max(Math.max(step, hold), (long) (sc.num("connect_delay_s", 0.0) * 1000)));
        if (box != null) {
            flowWindows.remove(box);
            box.close();
        }
        if (sc.bool("connection_failed", false)) {
            closeFlowWindows();
            Sim.log("login_failed", "reason", "connection_failed", "user", u);
            Dialogs.Win f = Dialogs.gatewayBox(sim, "Connection to server failed: Server disconnected, please try again");
            sim.autoClick(f, "OK");
            await(gen, f);
            backToLogin(kind, "");
            return;
        }
        if (kind == Kind.LOGIN && !Notices.beforeCredentials(sim, this, gen, u)) return;
        if (kind == Kind.LOGIN && !credentialsOk(u, pw)) {
            closeFlowWindows();
            Sim.log("login_failed", "reason", "bad credentials", "user", u);
            Dialogs.Win f = Dialogs.loginFailed(sim);
            sim.autoClick(f, "OK");
            await(gen, f);
            backToLogin(kind, "");
            return;
        }
        // 2. authenticating
        progress(gen, "authenticating", "Authenticating...");
        sleep(gen, step);
        if (kind == Kind.LOGIN && sc.bool("existing_session", false)) {
            Dialogs.Win es = Dialogs.existingSession(sim, false);
            sim.autoClick(es, "Continue Login");
            String a = await(gen, es);
            Sim.log("existing_session_answer", "button", a);
            if (!"Continue Login".equals(a)) {
                closeFlowWindows();
                Sim.log("login_failed", "reason", "existing session: " + a, "user", u);
                backToLogin(kind, "");
                return;
            }
        }
        // 3. second factor
        if (kind != Kind.RESTART && !secondFactor.run(gen, kind)) return;
        if (kind == Kind.LOGIN && !Notices.afterSecondFactor(sim, this, gen, u)) return;
        // 4. downloading + starting (not on a re-login of a running session; not for FIX CTCI: IbcAlpha/IBC#207
        // shows a FIX login on Gateway 10.22 that never signalled completion after the second factor closed)
        if (kind != Kind.REAUTH && !fixSession) {
            progress(gen, "downloading", "Downloading settings from server");
            sleep(gen, step);
            progress(gen, "starting", "Starting application...");
            sleep(gen, step);
        }
        check(gen);
        loggedIn(gen, kind); // closes "Starting application..." = login complete (gateway-ui.md §2.5)
    }

    /** After a failed/cancelled login: the login frame again (or, for a re-login, stay logged out). */
    void backToLogin(Kind kind, String message) {
        if (kind == Kind.REAUTH) {
            sim.setState("logged_out");
            Sim.log("logged_out", "reason", "re-login did not complete");
            return;
        }
        Ui.edt(() -> {
            if (sim.gateway && sim.main != null && !sim.loggedIn) {
                Ui.dispose(sim.main.frame);
                sim.main = null;
            }
            sim.setState("login_frame");
            sim.login.unmorph();
            sim.login.setBusy(false, message);
            sim.login.frame.setVisible(true);
        });
    }

    private void loggedIn(int gen, Kind kind) {
        check(gen);
        String mode = sim.mode;
        sim.accounts = sim.sc.accounts(mode);
        sim.loggedIn = true;
        Ui.call(() -> {
            // "Starting application..." is disposed in the same EDT task that retitles the main window and enables
            // Configure > Settings, so whoever reacts to its WINDOW_CLOSED finds the main window ready
            closeFlowWindows();
            if (sim.main == null) {
                sim.main = new MainWindow(sim);
                sim.main.frame.setVisible(true);
            }
            sim.main.setTitle(sim.gateway ? "IBKR Gateway" : "IBKR Trader Workstation");
            if (!sim.gateway && sim.login.frame.isVisible()) sim.login.frame.setVisible(false); // TWS 1016+, no 2FA
            sim.main.settingsItem.setEnabled(true);
            sim.main.status.setText("Logged in: " + String.join(", ", sim.accounts) + " (" + mode + ")");
            return null;
        });
        Ui.call(() -> null); // flush the EDT: the splash's WINDOW_CLOSED (hence `closed`) is dispatched before `logged_in`
        sim.main.append("Login complete (" + mode + ", " + String.join(",", sim.accounts) + ")");
        boolean warn = kind != Kind.REAUTH && !fixSession && mode.equals("paper") && sim.sc.bool("paper_warning", true);
        sim.warningPending = warn;
        sim.setState("logged_in");
        Sim.log("logged_in", "mode", mode, "accounts", sim.accounts, "user", sim.user, "relogin", kind == Kind.REAUTH,
                "restart", kind == Kind.RESTART, "api_type", fixSession ? "fix" : "ib_api", "read_only", readOnlySession);
        if (fixSession) fix.start(fixPort()); // the FIX CTCI gateway: its FIX port, not the TWS API
        else sim.api.start();
        if (warn) {
            Dialogs.Win w = Dialogs.paperWarning(sim);
            sim.autoClick(w, "I understand and accept");
            w.answer.thenAccept(a -> {
                if (!"I understand and accept".equals(a)) {
                    Sim.log("paper_warning_dismissed", "button", a, "api", "still blocked");
                    return;
                }
                sim.warningPending = false;
                Sim.log("paper_warning_accepted");
                sim.api.unblock();
                sim.api.start();
            });
        }
        if (kind == Kind.LOGIN) postLoginPopups();
        sim.session.schedule();
    }

    private void postLoginPopups() {
        Scenario sc = sim.sc;
        long step = sim.step;
        Double days = sc.num("password_notice_days", null);
        if (days != null) {
            Sim.timer(() -> sim.autoClick(Dialogs.passwordNotice(sim, days.intValue()), "OK"), step);
        }
        Notices.afterLogin(sim);
        if (sc.bool("tip_of_the_day", false)) {
            Sim.timer(() -> sim.autoClick(Dialogs.tipOfTheDay(sim), "Close"), step * 2);
        }
        Map<String, Object> up = sc.map("unknown_popup");
        if (up != null) {
            String title = up.get("title") instanceof String ? (String) up.get("title") : "Notice";
            String text = up.get("text") instanceof String ? (String) up.get("text") : "";
            List<String> bl = new ArrayList<>();
            if (up.get("buttons") instanceof List) for (Object o : (List<?>) up.get("buttons")) bl.add(String.valueOf(o));
            if (bl.isEmpty()) bl.add("Close");
            boolean frame = "frame".equals(up.get("type"));
            boolean modal = Boolean.TRUE.equals(up.get("modal"));
            double after = up.get("after_s") instanceof Number ? ((Number) up.get("after_s")).doubleValue() : 0;
            Sim.timer(() -> {
                Dialogs.Win w = Dialogs.unknownPopup(sim, title, text, bl.toArray(new String[0]), frame, modal);
                sim.autoClick(w, bl.get(0));
                w.answer.thenAccept(a -> Sim.log("unknown_popup_answer", "title", title, "button", a));
            }, step * 3 + (long) (after * 1000));
        }
    }
}
