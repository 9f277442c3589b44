package ibpilot.sim;

import ibpilot.json.Json;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import javax.swing.JButton;
import javax.swing.JFrame;

/**
 * The simulated Gateway/TWS: start-up (settings, restart token, login frame), the shared session state, the scenario
 * crash/hang hooks, the configuration dialog's apply and the exit path. One instance per JVM, created by
 * {@link #launch}. The login flow is {@link LoginFlow} (+ {@link SecondFactor}), the session timers and auto
 * restart/logoff {@link Session}, the API server's lifecycle {@link ApiControl}.
 */
public final class Sim {
    private static volatile Sim instance;
    private static final EventLog STDOUT_ONLY = new EventLog(null);

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
    final LoginFlow flow;
    final Session session;
    final ApiControl api;
    final Commands commands;
    private Map<String, Object> restartToken;
    private boolean crashArmed = true;
    private boolean hangArmed = true;

    private Sim(boolean gateway, File dir, Scenario sc, EventLog events) {
        this.gateway = gateway;
        this.dir = dir;
        this.sc = sc;
        this.events = events;
        this.step = sc.stepDelayMs();
        this.selfLogin = sc.bool("self_login", false);
        this.flow = new LoginFlow(this);
        this.session = new Session(this);
        this.api = new ApiControl(this);
        this.commands = new Commands(this);
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

    /** Runs r every periodMs on a timer thread, the first time at once (errors logged, never thrown). */
    static Future<?> ticker(Runnable r, long periodMs) {
        Sim s = instance;
        if (s == null) return null;
        return s.timers.scheduleAtFixedRate(() -> Ui.safe(r), 0, periodMs, TimeUnit.MILLISECONDS);
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
        settings.enableActiveX = sc.bool("enable_activex", true);
        List<String> tips = sc.strings("trusted_ips");
        if (tips != null) settings.trustedIps = tips;
        commands.install();
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
        Notices.atLoginFrame(this);
        if (restartToken != null) {
            Map<String, Object> tok = restartToken;
            timer(() -> Ui.edt(() -> {
                String u = tok.get("user") instanceof String ? (String) tok.get("user") : "";
                log("login_attempt", "user", u, "mode", login.mode(), "restart", true);
                flow.beginFlow(u, null, login.mode(), LoginFlow.Kind.RESTART);
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
            api.hang();
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

    // ------------------------------------------------------------------ shared helpers

    JFrame mainFrame() {
        MainWindow m = main;
        return m == null ? null : m.frame;
    }

    /** self_login: click this button of w after the reaction time. */
    void autoClick(Dialogs.Win w, String button) {
        if (!selfLogin || w == null) return;
        JButton b = w.button(button);
        if (b != null) Ui.clickLater(b, step);
    }

    /** The login button's action (EDT). */
    void onLogInClicked(LoginScreen ls) {
        flow.onLogInClicked(ls);
    }

    int effectivePort(SimSettings s) {
        return api.effectivePort(s);
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
        boolean oldEnabled = settings.enableActiveX;
        settings.fromMap(n.toMap());
        try {
            settings.save(dir);
        } catch (Exception e) {
            log("error", "where", "save settings", "message", String.valueOf(e));
        }
        Map<String, Object> values = settings.toMap();
        values.put("effective_port", effectivePort(settings));
        logMap("config_saved", values);
        api.settingsChanged(oldPort, oldEnabled);
        session.scheduleLockTimer();
    }

    // ------------------------------------------------------------------ exit

    void confirmExit() {
        Dialogs.exitConfirm(this, () -> exit(0, gateway ? "File > Close" : "File > Exit"));
    }

    /** Logs out (API stopped) and exits the JVM with code. */
    void exit(int code, String reason) {
        if (exiting) return;
        exiting = true;
        flow.cancelAll();
        if (loggedIn) session.end("exit");
        else api.stop();
        log("exit", "code", code, "reason", reason);
        boolean progress = sc.bool("shutdown_progress", false);
        if (progress) Notices.shutdownProgress(this);
        long hold = progress ? Math.max(step, 500) : 0;
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(hold);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            System.exit(code);
        }, "sim-exit");
        t.start();
    }
}
