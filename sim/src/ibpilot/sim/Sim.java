package ibpilot.sim;

import ibpilot.json.Json;
import ibpilot.sim.api.ApiServer;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import javax.swing.JButton;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JTextField;

/**
 * The simulated Gateway/TWS: session state, the login flow (on a background "sim-flow" thread that drives the
 * Swing windows through the EDT), timers (re-login, kick-out, auto restart/logoff), the TWS API server and the
 * scenario hooks (crash, hang, lockout...). One instance per JVM, created by {@link #launch}.
 */
public final class Sim {
    private static volatile Sim instance;
    private static final EventLog STDOUT_ONLY = new EventLog(null);

    enum Kind { LOGIN, RESTART, REAUTH }

    /** Thrown inside a flow when it was cancelled (a newer generation started). */
    static final class Cancelled extends RuntimeException {
        private static final long serialVersionUID = 1L;
        Cancelled() { super(null, null, false, false); }
    }

    public final boolean gateway;
    public final File dir;
    public final Scenario sc;
    final EventLog events;
    final SimSettings settings = new SimSettings();
    final ScheduledExecutorService timers = Executors.newScheduledThreadPool(2, r -> {
        Thread t = new Thread(r, "sim-timer"); // not daemon: keeps the JVM alive like the real app
        return t;
    });
    final long step;
    final boolean selfLogin;

    volatile String state = "starting";
    volatile String mode = "live";
    volatile String user;
    volatile List<String> accounts = new ArrayList<>();
    volatile boolean loggedIn;
    volatile boolean warningPending;
    volatile boolean apiHang;
    volatile boolean exiting;
    LoginScreen login;
    volatile MainWindow main;
    ConfigDialog config;
    private ApiServer api;
    private final Object apiLock = new Object();
    final AtomicInteger generation = new AtomicInteger();
    int attempts;
    private final List<Future<?>> sessionTimers = new CopyOnWriteArrayList<>();
    private volatile Future<?> lockTimer;
    private final List<Dialogs.Win> flowWindows = new CopyOnWriteArrayList<>();
    private Map<String, Object> restartToken;
    private final java.util.Set<String> once = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private boolean crashArmed = true;
    private boolean hangArmed = true;

    private Sim(boolean gateway, File dir, Scenario sc, EventLog events) {
        this.gateway = gateway;
        this.dir = dir;
        this.sc = sc;
        this.events = events;
        this.step = sc.stepDelayMs();
        this.selfLogin = sc.bool("self_login", false);
    }

    // ------------------------------------------------------------------ statics

    public static void log(String name, Object... kv) {
        Sim s = instance;
        (s == null ? STDOUT_ONLY : s.events).emit(name, Json.obj(kv));
    }

    static void logMap(String name, Map<String, Object> fields) {
        Sim s = instance;
        (s == null ? STDOUT_ONLY : s.events).emit(name, fields);
    }

    /** Runs r after delayMs on a timer thread (errors logged, never thrown). */
    static Future<?> timer(Runnable r, long delayMs) {
        Sim s = instance;
        if (s == null) return null;
        return s.timers.schedule(() -> Ui.safe(r), Math.max(0, delayMs), TimeUnit.MILLISECONDS);
    }

    static File settingsDir(String[] args) {
        String d = args != null && args.length > 0 && args[0] != null && !args[0].isEmpty() ? args[0] : null;
        if (d == null) d = System.getProperty("jtsConfigDir");
        if (d == null || d.isEmpty()) d = System.getProperty("user.dir");
        return new File(d);
    }

    /** Entry point for ibgateway.GWClient / jclient.LoginFrame. Returns immediately after scheduling the UI. */
    public static synchronized void launch(String[] args, boolean gateway) {
        if (instance != null) {
            log("error", "message", "main called twice; ignored");
            return;
        }
        Scenario sc;
        try {
            sc = Scenario.load(Scenario.configuredPath());
        } catch (Scenario.BadScenario e) {
            System.err.println("ibpilot-sim: bad scenario: " + e.getMessage());
            System.err.flush();
            System.exit(2);
            return;
        }
        File dir = settingsDir(args);
        if (!dir.isDirectory() && !dir.mkdirs()) System.err.println("ibpilot-sim: cannot create settings dir " + dir);
        Sim sim = new Sim(gateway, dir, sc, new EventLog(EventLog.configuredPath()));
        instance = sim;
        if (Thread.getDefaultUncaughtExceptionHandler() == null) {
            Thread.setDefaultUncaughtExceptionHandler((t, e) -> {
                log("error", "where", "uncaught", "thread", t.getName(), "message", String.valueOf(e));
                e.printStackTrace();
            });
        }
        sim.start();
    }

    /**
     * A lockout is IB's server refusing to answer, so it outlives a Gateway restart: the attempt count is
     * kept in the settings directory (standing in for the server's memory), not in this JVM.
     */
    private int serverSideAttempt() {
        File f = new File(dir, ".ibpilot-sim-server-attempts");
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
            log("error", "where", "server attempts", "message", String.valueOf(e));
        }
        return n;
    }

    // ------------------------------------------------------------------ start-up

    private void start() {
        String restart = System.getProperty("restart");
        log("started", "product", gateway ? "gateway" : "tws", "settings_dir", dir.getAbsolutePath(),
                "scenario", sc.source, "pid", ProcessHandle.current().pid(), "restart", restart,
                "self_login", selfLogin);
        settings.lockAction = sc.str("lock_and_exit", gateway ? "restart" : "logoff");
        String lt = sc.str("lock_exit_time", null);
        if (lt != null) {
            String[] p = lt.trim().split("\\s+");
            settings.lockTime = p[0];
            if (p.length > 1) settings.lockPm = p[1].equalsIgnoreCase("PM");
        }
        settings.readOnlyApi = sc.bool("read_only_api", true);
        settings.localhostOnly = sc.bool("localhost_only", true);
        List<String> tips = sc.strings("trusted_ips");
        if (tips != null) settings.trustedIps = tips;
        boolean had = settings.load(dir);
        log("settings_loaded", "path", SimSettings.file(dir).getAbsolutePath(), "existed", had, "values", settings.toMap());

        if (restart != null && !restart.isEmpty()) {
            File token = new File(new File(dir, restart), "autorestart");
            if (token.isFile()) {
                try {
                    restartToken = Json.parseObject(new String(Files.readAllBytes(token.toPath()), StandardCharsets.UTF_8));
                } catch (Exception e) {
                    restartToken = Json.obj();
                }
                boolean deleted = token.delete();
                log("restart_token", "path", token.getAbsolutePath(), "consumed", deleted);
            } else {
                log("restart_token", "path", token.getAbsolutePath(), "consumed", false, "reason", "not found: full login");
            }
        }
        double delay = sc.num("login_frame_delay_s", 0.0);
        timer(() -> Ui.edt(this::showLoginFrame), (long) (delay * 1000));
    }

    private void showLoginFrame() {
        String initial = "live";
        if (restartToken != null && restartToken.get("mode") instanceof String) initial = (String) restartToken.get("mode");
        else if (selfLogin) initial = sc.tradingMode();
        login = new LoginScreen(this, initial);
        setState("login_frame");
        login.frame.setVisible(true);
        if (restartToken != null) {
            Map<String, Object> tok = restartToken;
            timer(() -> Ui.edt(() -> {
                String u = tok.get("user") instanceof String ? (String) tok.get("user") : "";
                log("login_attempt", "user", u, "mode", login.mode(), "restart", true);
                beginFlow(u, null, login.mode(), Kind.RESTART);
            }), step);
        } else if (selfLogin) {
            timer(() -> Ui.edt(() -> {
                login.user.setText(sc.user() != null ? sc.user() : "demo");
                login.password.setText(sc.password() != null ? sc.password() : "demo");
                (sc.tradingMode().equals("paper") ? login.paper : login.live).doClick();
                login.login.doClick();
            }), step);
        }
    }

    // ------------------------------------------------------------------ state + scenario hooks

    void setState(String s) {
        state = s;
        log("state", "state", s);
        Map<String, Object> crash = sc.map("crash_at");
        if (crash != null && crashArmed && s.equals(crash.get("state"))) {
            crashArmed = false;
            double after = crash.get("after_s") instanceof Number ? ((Number) crash.get("after_s")).doubleValue() : 0;
            timer(() -> crash(crash), (long) (after * 1000));
        }
        Map<String, Object> hang = sc.map("hang_at");
        if (hang != null && hangArmed && s.equals(hang.get("state"))) {
            hangArmed = false;
            double after = hang.get("after_s") instanceof Number ? ((Number) hang.get("after_s")).doubleValue() : 0;
            String kind = hang.get("kind") instanceof String ? (String) hang.get("kind") : "edt";
            timer(() -> hang(kind), (long) (after * 1000));
        }
    }

    private void crash(Map<String, Object> c) {
        String m = c.get("mode") instanceof String ? (String) c.get("mode") : "exit";
        int code = c.get("code") instanceof Number ? ((Number) c.get("code")).intValue() : 1;
        log("crash", "state", state, "mode", m, "code", code);
        if (m.equals("halt")) Runtime.getRuntime().halt(code);
        else System.exit(code);
    }

    private void hang(String kind) {
        log("hang", "state", state, "kind", kind);
        if (kind.equals("api")) {
            apiHang = true;
            synchronized (apiLock) {
                if (api != null) api.setSilent(true);
            }
        } else {
            javax.swing.SwingUtilities.invokeLater(() -> {
                while (true) {
                    try {
                        Thread.sleep(60_000);
                    } catch (InterruptedException e) {
                        // keep hanging
                    }
                }
            });
        }
    }

    // ------------------------------------------------------------------ login flow

    JFrame mainFrame() {
        MainWindow m = main;
        return m == null ? null : m.frame;
    }

    /** The login button's action (EDT). */
    void onLogInClicked(LoginScreen ls) {
        if (!"login_frame".equals(state)) {
            log("login_ignored", "state", state);
            return;
        }
        String u = ls.user.getText().trim();
        String pw = new String(ls.password.getPassword());
        if (u.isEmpty() || pw.isEmpty()) {
            ls.setBusy(false, "Please enter a username and a password.");
            log("login_rejected", "reason", "empty credentials");
            return;
        }
        attempts++;
        log("login_attempt", "user", u, "mode", ls.mode(), "attempt", attempts);
        beginFlow(u, pw, ls.mode(), Kind.LOGIN);
    }

    private void beginFlow(String u, String pw, String m, Kind kind) {
        user = u;
        mode = m;
        int gen = generation.incrementAndGet();
        if (kind != Kind.REAUTH) {
            login.setBusy(true, null);
            login.frame.setVisible(false);
            if (gateway) {
                if (main != null) Ui.dispose(main.frame);
                main = new MainWindow(this);
                main.frame.setVisible(true);
            }
        }
        Thread t = new Thread(() -> {
            try {
                runFlow(gen, u, pw, kind);
            } catch (Cancelled c) {
                log("flow_cancelled", "kind", kind.name().toLowerCase());
            } catch (Throwable e) {
                log("error", "where", "flow", "message", String.valueOf(e));
                e.printStackTrace();
            }
        }, "sim-flow-" + gen);
        t.setDaemon(true);
        t.start();
    }

    private boolean alive(int gen) { return generation.get() == gen && !exiting; }

    private void check(int gen) {
        if (!alive(gen)) throw new Cancelled();
    }

    private void sleep(int gen, long ms) {
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

    private String await(int gen, Dialogs.Win w) {
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
        flowWindows.add(Dialogs.progress(this, title));
        setState(st);
        if (main != null) main.append(title);
    }

    private void closeFlowWindows() {
        for (Dialogs.Win w : flowWindows) w.close();
        flowWindows.clear();
    }

    private void autoClick(Dialogs.Win w, String button) {
        if (!selfLogin || w == null) return;
        JButton b = w.button(button);
        if (b != null) Ui.clickLater(b, step);
    }

    private boolean credentialsOk(String u, String pw) {
        String su = sc.user();
        String sp = sc.password();
        if (su != null && !su.equalsIgnoreCase(u)) return false;
        if (sp != null) return sp.equals(pw);
        return pw != null && !pw.isEmpty();
    }

    private void runFlow(int gen, String u, String pw, Kind kind) {
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
            box = Dialogs.gatewayBox(this, text);
            Dialogs.Win b = box;
            box.answer.thenAccept(a -> {
                if ("OK".equals(a) && generation.compareAndSet(gen, gen + 1)) {
                    log("login_cancelled", "reason", "OK clicked on the Gateway connection box");
                    closeFlowWindows();
                    backToLogin(kind, "Login cancelled.");
                }
            });
            if (selfLogin) log("self_login_note", "text", "the Gateway box is left alone (OK would cancel the login)");
            flowWindows.add(b);
        }
        if (kind == Kind.LOGIN && serverSideAttempt() <= sc.num("lockout_attempts", 0.0).intValue()) {
            double hang = sc.num("lockout_hang_s", 3600.0);
            log("lockout_hang", "attempt", attempts, "seconds", hang);
            sleep(gen, (long) (hang * 1000));
            closeFlowWindows();
            log("login_failed", "reason", "lockout (silent timeout)", "user", u);
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
            log("login_failed", "reason", "connection_failed", "user", u);
            Dialogs.Win f = Dialogs.gatewayBox(this, "Connection to server failed: Server disconnected, please try again");
            autoClick(f, "OK");
            await(gen, f);
            backToLogin(kind, "");
            return;
        }
        if (kind == Kind.LOGIN && !credentialsOk(u, pw)) {
            closeFlowWindows();
            log("login_failed", "reason", "bad credentials", "user", u);
            Dialogs.Win f = Dialogs.loginFailed(this);
            autoClick(f, "OK");
            await(gen, f);
            backToLogin(kind, "");
            return;
        }
        // 2. authenticating
        progress(gen, "authenticating", "Authenticating...");
        sleep(gen, step);
        if (kind == Kind.LOGIN && sc.bool("existing_session", false)) {
            Dialogs.Win es = Dialogs.existingSession(this, false);
            autoClick(es, "Continue Login");
            String a = await(gen, es);
            log("existing_session_answer", "button", a);
            if (!"Continue Login".equals(a)) {
                closeFlowWindows();
                log("login_failed", "reason", "existing session: " + a, "user", u);
                backToLogin(kind, "");
                return;
            }
        }
        // 3. second factor
        if (kind != Kind.RESTART && !secondFactor(gen, kind)) return;
        // 4. downloading + starting (not on a re-login of a running session)
        if (kind != Kind.REAUTH) {
            progress(gen, "downloading", "Downloading settings from server");
            sleep(gen, step);
            progress(gen, "starting", "Starting application...");
            sleep(gen, step);
        }
        check(gen);
        loggedIn(gen, kind); // closes "Starting application..." = login complete (gateway-ui.md §2.5)
    }

    /** Returns false when the flow ended here (cancelled, bad, timed out). */
    private boolean secondFactor(int gen, Kind kind) {
        String method = sc.secondFactor(mode);
        if (method.equals("none")) return true;
        setState("second_factor");
        String device = null;
        List<String> devices = sc.strings("devices");
        if (devices != null && !devices.isEmpty()) {
            @SuppressWarnings("unchecked")
            JList<String>[] list = new JList[1];
            Dialogs.Win ch = Ui.call(() -> Dialogs.deviceChooser(this, devices, list));
            autoClick(ch, "OK");
            String a = await(gen, ch);
            if (!"OK".equals(a)) {
                log("second_factor_cancelled", "where", "device chooser");
                closeFlowWindows();
                backToLogin(kind, "");
                return false;
            }
            device = Ui.call(() -> list[0].getSelectedValue());
            log("second_factor_device", "device", device);
        }
        log("second_factor", "method", method, "device", device);
        long timeout = (long) (sc.num("second_factor_timeout_s", 180.0) * 1000);
        long deadline = System.currentTimeMillis() + timeout;
        if (method.equals("totp")) {
            JTextField[] field = new JTextField[1];
            JLabel[] err = new JLabel[1];
            Dialogs.Win w = Ui.call(() -> Dialogs.totpEntry(this, field, err));
            java.util.concurrent.CompletableFuture<String> res = new java.util.concurrent.CompletableFuture<>();
            w.handler = b -> {
                if (b.equals("OK")) {
                    String code = field[0].getText();
                    if (Totp.verify(sc.totpSecret(), code)) {
                        log("second_factor_ok", "method", "totp");
                        Ui.dispose(w.window);
                        res.complete("ok");
                    } else {
                        log("second_factor_bad", "method", "totp");
                        err[0].setText("Invalid code. Please try again.");
                        field[0].setText("");
                    }
                } else {
                    Ui.dispose(w.window);
                    res.complete("cancel");
                }
            };
            w.answer.thenAccept(a -> {
                if ("closed".equals(a)) res.complete("cancel");
            });
            if (selfLogin) {
                timer(() -> Ui.edt(() -> {
                    field[0].setText(Totp.now(sc.totpSecret()));
                    w.button("OK").doClick();
                }), step);
            }
            while (true) {
                check(gen);
                if (res.isDone()) break;
                if (System.currentTimeMillis() > deadline) {
                    res.complete("timeout");
                    Ui.dispose(w.window);
                    break;
                }
                sleep(gen, 50);
            }
            String r = res.getNow("cancel");
            if (!r.equals("ok")) {
                log(r.equals("timeout") ? "second_factor_timeout" : "second_factor_cancelled", "method", "totp");
                closeFlowWindows();
                backToLogin(kind, "");
                return false;
            }
            return true;
        }
        // push (IB Key): approved after push_approve_after_s (negative = never)
        double approve = sc.num("push_approve_after_s", 3.0);
        Dialogs.Win w = Ui.call(() -> Dialogs.pushWait(this, "IB Key"));
        long approveAt = approve < 0 ? Long.MAX_VALUE : System.currentTimeMillis() + (long) (approve * 1000);
        while (true) {
            check(gen);
            if (w.answer.isDone()) {
                log("second_factor_cancelled", "method", "push");
                closeFlowWindows();
                backToLogin(kind, "");
                return false;
            }
            long now = System.currentTimeMillis();
            if (now >= approveAt) {
                log("second_factor_ok", "method", "push");
                w.close();
                return true;
            }
            if (now > deadline) {
                log("second_factor_timeout", "method", "push");
                w.close();
                closeFlowWindows();
                backToLogin(kind, "");
                return false;
            }
            sleep(gen, 50);
        }
    }

    /** After a failed/cancelled login: the login frame again (or, for a re-login, stay logged out). */
    private void backToLogin(Kind kind, String message) {
        if (kind == Kind.REAUTH) {
            setState("logged_out");
            log("logged_out", "reason", "re-login did not complete");
            return;
        }
        Ui.edt(() -> {
            if (gateway && main != null && !loggedIn) {
                Ui.dispose(main.frame);
                main = null;
            }
            setState("login_frame");
            login.setBusy(false, message);
            login.frame.setVisible(true);
        });
    }

    private void loggedIn(int gen, Kind kind) {
        check(gen);
        accounts = sc.accounts(mode);
        loggedIn = true;
        Ui.call(() -> {
            // "Starting application..." is disposed in the same EDT task that retitles the main window and enables
            // Configure > Settings, so whoever reacts to its WINDOW_CLOSED finds the main window ready
            closeFlowWindows();
            if (main == null) {
                main = new MainWindow(this);
                main.frame.setVisible(true);
            }
            main.setTitle(gateway ? "IBKR Gateway" : "IBKR Trader Workstation");
            main.settingsItem.setEnabled(true);
            main.status.setText("Logged in: " + String.join(", ", accounts) + " (" + mode + ")");
            return null;
        });
        Ui.call(() -> null); // flush the EDT: the splash's WINDOW_CLOSED (hence `closed`) is dispatched before `logged_in`
        main.append("Login complete (" + mode + ", " + String.join(",", accounts) + ")");
        boolean warn = kind != Kind.REAUTH && mode.equals("paper") && sc.bool("paper_warning", true);
        warningPending = warn;
        setState("logged_in");
        log("logged_in", "mode", mode, "accounts", accounts, "user", user, "relogin", kind == Kind.REAUTH,
                "restart", kind == Kind.RESTART);
        startApi();
        if (warn) {
            Dialogs.Win w = Dialogs.paperWarning(this);
            autoClick(w, "I understand and accept");
            w.answer.thenAccept(a -> {
                if (!"I understand and accept".equals(a)) {
                    log("paper_warning_dismissed", "button", a, "api", "still blocked");
                    return;
                }
                warningPending = false;
                log("paper_warning_accepted");
                synchronized (apiLock) {
                    if (api != null) api.setSilent(apiHang);
                }
                startApi();
            });
        }
        if (kind == Kind.LOGIN) postLoginPopups();
        scheduleSessionTimers();
    }

    private void postLoginPopups() {
        Double days = sc.num("password_notice_days", null);
        if (days != null) {
            timer(() -> autoClick(Dialogs.passwordNotice(this, days.intValue()), "OK"), step);
        }
        if (sc.bool("tip_of_the_day", false)) {
            timer(() -> autoClick(Dialogs.tipOfTheDay(this), "Close"), step * 2);
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
            timer(() -> {
                Dialogs.Win w = Dialogs.unknownPopup(this, title, text, bl.toArray(new String[0]), frame, modal);
                autoClick(w, bl.get(0));
                w.answer.thenAccept(a -> log("unknown_popup_answer", "title", title, "button", a));
            }, step * 3 + (long) (after * 1000));
        }
    }

    // ------------------------------------------------------------------ session timers

    private void scheduleSessionTimers() {
        cancelSessionTimers();
        // each scenario timer fires once per JVM (armed at the first login that reaches it)
        Double relogin = sc.num("relogin_after_s", null);
        if (relogin != null && once.add("relogin")) sessionTimers.add(timer(this::reloginRequired, (long) (relogin * 1000)));
        Double kick = sc.num("kick_out_after_s", null);
        if (kick != null && once.add("kick")) sessionTimers.add(timer(this::kickOut, (long) (kick * 1000)));
        Double ar = sc.num("auto_restart_in_s", null);
        if (ar != null && once.add("restart")) sessionTimers.add(timer(() -> lockExitAction("scenario auto_restart_in_s"), (long) (ar * 1000)));
        scheduleLockTimer();
    }

    private void cancelSessionTimers() {
        for (Future<?> f : sessionTimers) if (f != null) f.cancel(false);
        sessionTimers.clear();
    }

    /** Schedules the Lock and Exit action at the next occurrence of the configured hh:mm AM/PM. */
    void scheduleLockTimer() {
        Future<?> old = lockTimer;
        if (old != null) old.cancel(false);
        lockTimer = null;
        if (!loggedIn) return;
        try {
            String[] hm = settings.lockTime.trim().split(":");
            int h = Integer.parseInt(hm[0]) % 12 + (settings.lockPm ? 12 : 0);
            int mi = Integer.parseInt(hm[1]);
            LocalDateTime now = LocalDateTime.now();
            LocalDateTime at = now.toLocalDate().atTime(LocalTime.of(h, mi));
            if (!at.isAfter(now)) at = at.plusDays(1);
            long ms = java.time.Duration.between(now, at).toMillis();
            lockTimer = timer(() -> lockExitAction("wall clock " + settings.lockTime + (settings.lockPm ? " PM" : " AM")), ms);
            log("lock_exit_scheduled", "action", settings.lockAction, "at", at.toString());
        } catch (RuntimeException e) {
            log("error", "where", "lock timer", "message", "bad time " + settings.lockTime);
        }
    }

    private void endSession(String reason) {
        loggedIn = false;
        cancelSessionTimers();
        Future<?> lt = lockTimer;
        if (lt != null) lt.cancel(false);
        stopApi();
        log("logged_out", "reason", reason);
    }

    private void reloginRequired() {
        if (!loggedIn || exiting) return;
        endSession("re-login required");
        setState("relogin");
        Dialogs.Win w = Dialogs.reloginRequired(this);
        autoClick(w, "Re-login");
        w.answer.thenAccept(a -> {
            if ("Re-login".equals(a)) Ui.edt(() -> beginFlow(user, null, mode, Kind.REAUTH));
            else {
                setState("logged_out");
                log("relogin_declined", "button", a);
            }
        });
    }

    private void kickOut() {
        if (!loggedIn || exiting) return;
        endSession("existing session detected (another login)");
        setState("kicked_out");
        Dialogs.Win w = Dialogs.existingSession(this, true);
        autoClick(w, "Continue Login");
        w.answer.thenAccept(a -> {
            log("existing_session_answer", "button", a);
            if ("Continue Login".equals(a)) Ui.edt(() -> beginFlow(user, null, mode, Kind.REAUTH));
            else setState("logged_out");
        });
    }

    private void lockExitAction(String why) {
        if (exiting) return;
        if ("restart".equals(settings.lockAction)) autoRestart(why);
        else autoLogoff(why);
    }

    /** The name of the per-user settings subdirectory that holds the autorestart file (see sim/README.md). */
    static String userSubdir(String u) {
        try {
            byte[] h = MessageDigest.getInstance("MD5").digest(
                    (u == null ? "" : u.toLowerCase()).getBytes(StandardCharsets.UTF_8));
            StringBuilder b = new StringBuilder();
            for (byte x : h) {
                b.append((char) ('a' + ((x >> 4) & 0xf)));
                b.append((char) ('a' + (x & 0xf)));
            }
            return b.toString();
        } catch (Exception e) {
            return "ibpilotsimuser";
        }
    }

    private void autoRestart(String why) {
        log("auto_restart", "why", why);
        Dialogs.restartInProgress(this);
        File sub = new File(dir, userSubdir(user));
        File f = new File(sub, "autorestart");
        try {
            sub.mkdirs();
            Files.write(f.toPath(), (Json.write(Json.obj("user", user, "mode", mode,
                    "created", System.currentTimeMillis() / 1000.0)) + "\n").getBytes(StandardCharsets.UTF_8));
            log("autorestart", "path", f.getAbsolutePath());
        } catch (Exception e) {
            log("error", "where", "autorestart", "message", String.valueOf(e));
        }
        endSession("auto restart");
        timer(() -> exit(0, "auto restart"), step);
    }

    private void autoLogoff(String why) {
        log("auto_logoff", "why", why);
        endSession("auto logoff");
        timer(() -> exit(0, "auto logoff"), step);
    }

    // ------------------------------------------------------------------ API server

    int effectivePort(SimSettings s) {
        if (s.port != null) return s.port;
        Double p = sc.num("api_port", null);
        if (p != null) return p.intValue();
        boolean paper = "paper".equals(mode);
        return gateway ? (paper ? 4002 : 4001) : (paper ? 7497 : 7496);
    }

    private void startApi() {
        synchronized (apiLock) {
            if (!loggedIn || exiting) return;
            boolean blockClosed = warningPending && "closed".equals(sc.str("paper_warning_api", "silent"));
            if (blockClosed) {
                log("api_blocked", "reason", "paper warning not accepted");
                return;
            }
            if (api != null && api.isListening()) return;
            ApiServer.Config cfg = new ApiServer.Config();
            cfg.port = effectivePort(settings);
            cfg.accounts = new ArrayList<>(accounts);
            cfg.readOnly = settings.readOnlyApi;
            cfg.localhostOnly = settings.localhostOnly;
            cfg.trustedIps = new ArrayList<>(settings.trustedIps);
            cfg.silent = apiHang || warningPending;
            cfg.tickIntervalMs = sc.num("tick_interval_ms", 100.0).intValue();
            ApiServer s = new ApiServer(cfg, new ApiServer.Listener() {
                @Override public void event(String name, Map<String, Object> fields) {
                    logMap(name, fields);
                    MainWindow m = main;
                    if (m != null) m.append(name + " " + Json.write(fields));
                }
                @Override public boolean acceptIncoming(String peerIp) throws InterruptedException {
                    return askAcceptIncoming(peerIp);
                }
            });
            try {
                s.start();
                api = s;
            } catch (Exception e) {
                log("api_error", "port", cfg.port, "message", String.valueOf(e));
            }
        }
    }

    void stopApi() {
        synchronized (apiLock) {
            if (api != null) {
                api.stop();
                api = null;
            }
        }
    }

    private boolean askAcceptIncoming(String ip) throws InterruptedException {
        List<String> bl = sc.strings("accept_incoming_buttons");
        if (bl == null || bl.isEmpty()) bl = java.util.Arrays.asList("Yes", "No");
        String title = sc.str("accept_incoming_title", gateway ? "IBKR Gateway" : "IBKR Trader Workstation");
        String[] buttons = bl.toArray(new String[0]);
        Dialogs.Win w = Ui.call(() -> Dialogs.acceptIncoming(this, ip, title, buttons));
        autoClick(w, buttons[0]);
        try {
            String a = w.answer.get();
            boolean ok = "OK".equalsIgnoreCase(a) || "Yes".equalsIgnoreCase(a);
            log("accept_incoming_answer", "peer", ip, "button", a, "accepted", ok);
            return ok;
        } catch (InterruptedException e) {
            w.close();
            throw e;
        } catch (Exception e) {
            return false;
        }
    }

    // ------------------------------------------------------------------ configuration

    String lockLabel() {
        return "logoff".equals(sc.str("lock_and_exit", gateway ? "restart" : "logoff"))
                ? "Set Auto Log Off Time (HH:MM)" : "Set Auto Restart Time (HH:MM)";
    }

    void openConfig() {
        if (!loggedIn) {
            log("config_refused", "reason", "not logged in");
            return;
        }
        if (config != null && config.dialog.isDisplayable()) {
            config.dialog.toFront();
            return;
        }
        String acct = accounts.isEmpty() ? "" : accounts.get(0);
        config = new ConfigDialog(this, acct);
        config.dialog.setVisible(true);
    }

    /** OK/Apply in the configuration dialog: persist, log, and make the API server follow. */
    void applySettings(SimSettings n) {
        int oldPort = effectivePort(settings);
        settings.fromMap(n.toMap());
        try {
            settings.save(dir);
        } catch (Exception e) {
            log("error", "where", "save settings", "message", String.valueOf(e));
        }
        Map<String, Object> values = settings.toMap();
        values.put("effective_port", effectivePort(settings));
        logMap("config_saved", values);
        synchronized (apiLock) {
            if (api != null) {
                if (effectivePort(settings) != oldPort) {
                    stopApi();
                    startApi();
                } else {
                    api.setReadOnly(settings.readOnlyApi);
                    api.setLocalhostOnly(settings.localhostOnly);
                    api.setTrustedIps(new ArrayList<>(settings.trustedIps));
                }
            }
        }
        scheduleLockTimer();
    }

    // ------------------------------------------------------------------ exit

    void confirmExit() {
        Dialogs.exitConfirm(this, () -> exit(0, gateway ? "File > Close" : "File > Exit"));
    }

    /** Logs out (API stopped) and exits the JVM with code. */
    void exit(int code, String reason) {
        if (exiting) return;
        exiting = true;
        generation.incrementAndGet();
        if (loggedIn) endSession("exit");
        else stopApi();
        log("exit", "code", code, "reason", reason);
        Thread t = new Thread(() -> System.exit(code), "sim-exit");
        t.start();
    }
}
