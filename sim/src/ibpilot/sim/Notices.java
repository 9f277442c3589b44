package ibpilot.sim;

import java.awt.FlowLayout;
import java.awt.GridLayout;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Map;
import javax.swing.BoxLayout;
import javax.swing.JCheckBox;
import javax.swing.JComponent;
import javax.swing.JDialog;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JOptionPane;
import javax.swing.JPanel;
import javax.swing.JTextArea;
import javax.swing.WindowConstants;

/**
 * The windows behind IBC's remaining handlers (gateway-ui.md §2.2): newer version, not currently available, login
 * error, too many failed login attempts, trading login handoff, blind trading, NSE compliance, Trades, Bid/Ask
 * display update, crypto order confirmation, order ID reset prompt, API port change confirmation, shutdown
 * progress. Each is shown only under its own scenario key; texts and their sources are in sim/README.md
 * ("IBC's 33 handlers").
 */
final class Notices {
    private Notices() {}

    private static final java.util.concurrent.atomic.AtomicInteger TRADES_SHOWN = new java.util.concurrent.atomic.AtomicInteger();
    static final String[] DAYS = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "All"};

    // ------------------------------------------------------------------ counters kept "on the server"

    /** How many times `key` has fired so far, across JVM restarts (like the lockout's attempt count); then +1. */
    static int bump(Sim sim, String key) {
        File f = new File(sim.dir, ".ibpilot-sim-" + key);
        int n = 0;
        try {
            if (f.isFile()) n = Integer.parseInt(new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8).trim());
        } catch (java.io.IOException | NumberFormatException e) {
            n = 0;
        }
        try {
            Files.write(f.toPath(), Integer.toString(n + 1).getBytes(StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            Sim.log("error", "where", "notice counter", "message", String.valueOf(e));
        }
        return n;
    }

    /** A key given as true (= 1) or a number N: the first N login attempts (across restarts) get the window. */
    static boolean firstAttempts(Sim sim, String key) {
        Object v = sim.sc.raw(key);
        int n = v instanceof Boolean ? (((Boolean) v) ? 1 : 0) : v instanceof Number ? ((Number) v).intValue() : 0;
        return n > 0 && bump(sim, key) < n;
    }

    // ------------------------------------------------------------------ at the login frame

    /** `newer_version`: "dialog" | "frame" | "option_pane", shown with the login frame (#7, #8). */
    static void atLoginFrame(Sim sim) {
        String kind = sim.sc.str("newer_version", null);
        if (kind == null) return;
        String product = sim.gateway ? "IB Gateway" : "Trader Workstation";
        String text = "<html>A Newer Version of " + product + " is available.<br>"
                + "Please download it from www.interactivebrokers.com.</html>";
        if (kind.equals("option_pane")) {
            JOptionPane pane = new JOptionPane("A Newer Version of " + product + " is available. Download it now?",
                    JOptionPane.INFORMATION_MESSAGE, JOptionPane.YES_NO_OPTION, null, new Object[] {"Yes", "No"}, "No");
            JDialog d = pane.createDialog(null, "Newer Version");
            d.setModal(false);
            Ui.track(d);
            pane.addPropertyChangeListener(JOptionPane.VALUE_PROPERTY, e -> {
                Object v = pane.getValue();
                if (v == null || v == JOptionPane.UNINITIALIZED_VALUE) return;
                Sim.log("clicked", "window", d.getTitle(), "button", String.valueOf(v));
                Sim.log("newer_version_answer", "kind", kind, "button", String.valueOf(v));
                Ui.dispose(d);
            });
            Ui.later(() -> d.setVisible(true));
            return;
        }
        Dialogs.Win w = Dialogs.window(sim, kind.equals("frame"), "Newer Version", false, Dialogs.label(text),
                new String[] {"OK"}, false);
        w.answer.thenAccept(a -> Sim.log("newer_version_answer", "kind", kind, "button", a));
    }

    // ------------------------------------------------------------------ during the login (LOGIN only)

    /**
     * After "Connecting to server...": `login_error`, `not_currently_available`, `too_many_attempts`. False when the
     * login ended here (the login frame is back).
     */
    static boolean beforeCredentials(Sim sim, LoginFlow flow, int gen, String user) {
        if (firstAttempts(sim, "login_error")) {
            flow.closeFlowWindows();
            Sim.log("login_failed", "reason", "login error", "user", user);
            JTextArea ta = new JTextArea("Login failed - Server disconnected, please try again");
            ta.setEditable(false);
            ta.setOpaque(false);
            answerThenBack(sim, flow, gen, Dialogs.window(sim, false, "Login Error", true, ta, new String[] {"OK"}, false));
            return false;
        }
        if (firstAttempts(sim, "not_currently_available")) {
            flow.closeFlowWindows();
            Sim.log("login_failed", "reason", "not currently available", "user", user);
            answerThenBack(sim, flow, gen, Dialogs.window(sim, false, "Login", true,
                    Dialogs.label("<html>The system is not currently available.<br>Please try again later.</html>"),
                    new String[] {"OK"}, false));
            return false;
        }
        Map<String, Object> tm = sim.sc.map("too_many_attempts");
        if (tm != null) {
            long left = lockLeftMs(sim, tm);
            if (left > 0) {
                flow.closeFlowWindows();
                long s = (left + 999) / 1000;
                String wait = (s >= 60 ? (s / 60) + (s / 60 == 1 ? " minute & " : " minutes & ") : "")
                        + (s % 60) + (s % 60 == 1 ? " second" : " seconds");
                Sim.log("login_failed", "reason", "too many failed login attempts", "user", user, "wait_s", s);
                JTextArea ta = new JTextArea("Too many failed login attempts. Please wait " + wait
                        + " before attempting to re-login again.");
                ta.setEditable(false);
                ta.setOpaque(false);
                answerThenBack(sim, flow, gen, Dialogs.window(sim, false, "Login", true, ta, new String[] {"OK"}, false));
                return false;
            }
        }
        return true;
    }

    /**
     * `too_many_attempts: {"wait_s": S}`: the first login attempt starts a lock of S seconds (kept in the settings
     * dir, as the server's memory); every attempt before it ends is refused with the remaining time.
     */
    private static long lockLeftMs(Sim sim, Map<String, Object> tm) {
        File f = new File(sim.dir, ".ibpilot-sim-locked-until");
        long now = System.currentTimeMillis();
        try {
            if (f.isFile()) {
                long until = Long.parseLong(new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8).trim());
                return Math.max(0, until - now);
            }
            double waitS = tm.get("wait_s") instanceof Number ? ((Number) tm.get("wait_s")).doubleValue() : 60;
            long until = now + (long) (waitS * 1000);
            Files.write(f.toPath(), Long.toString(until).getBytes(StandardCharsets.UTF_8));
            Sim.log("login_locked", "until_ms", until, "wait_s", waitS);
            return until - now;
        } catch (java.io.IOException | NumberFormatException e) {
            Sim.log("error", "where", "lock file", "message", String.valueOf(e));
            return 0;
        }
    }

    private static void answerThenBack(Sim sim, LoginFlow flow, int gen, Dialogs.Win w) {
        sim.autoClick(w, "OK");
        String a = flow.await(gen, w);
        Sim.log("login_notice_answer", "title", Ui.titleOf(w.window), "button", a);
        flow.backToLogin(LoginFlow.Kind.LOGIN, "");
    }

    /** After the second factor: `trading_handoff` (#23). False when the login ended here. */
    static boolean afterSecondFactor(Sim sim, LoginFlow flow, int gen, String user) {
        if (!sim.sc.bool("trading_handoff", false)) return true;
        Dialogs.Win w = Dialogs.window(sim, false, "Trading Login Handoff", true,
                Dialogs.label("<html>This user name has an active trading session on another device.<br>"
                        + "Continue here and disconnect the other session?</html>"),
                new String[] {"Disconnect Other Session", "Cancel"}, false);
        sim.autoClick(w, "Disconnect Other Session");
        String a = flow.await(gen, w);
        Sim.log("trading_handoff_answer", "button", a);
        if ("Disconnect Other Session".equals(a)) return true;
        flow.closeFlowWindows();
        Sim.log("login_failed", "reason", "trading login handoff: " + a, "user", user);
        flow.backToLogin(LoginFlow.Kind.LOGIN, "");
        return false;
    }

    // ------------------------------------------------------------------ after login

    static void afterLogin(Sim sim) {
        Scenario sc = sim.sc;
        long at = sim.step * 4;
        String bt = sc.str("blind_trading", null);
        if (bt != null) Sim.timer(() -> blindTrading(sim, bt), at);
        if (sc.bool("nse_compliance", false)) Sim.timer(() -> nseCompliance(sim), at);
        if (sc.has("trades_frame") && !Boolean.FALSE.equals(sc.raw("trades_frame"))) Sim.timer(() -> trades(sim), at);
        if (sc.bool("bid_ask_update", false)) Sim.timer(() -> bidAsk(sim), at);
        if (sc.bool("crypto_order", false)) Sim.timer(() -> crypto(sim), at);
        if (sc.bool("order_id_reset_prompt", false)) Sim.timer(() -> Dialogs.confirmOrderIdReset(sim, sim.mainFrame()), at);
    }

    /** #2: the Order Preview form (JTextPane) or the JOptionPane-like confirmation (two JLabels). */
    static void blindTrading(Sim sim, String form) {
        Dialogs.Win w;
        if (form.equals("order_preview")) {
            w = Dialogs.window(sim, false, "Order Preview - BUY 100 XYZ LMT 10.00", false,
                    Dialogs.textPane("You do not have market data for this contract: this is blind trading. "
                            + "The order will be sent without price checks."),
                    new String[] {"Override and Transmit", "Cancel"}, false);
        } else {
            JPanel p = new JPanel(new GridLayout(0, 1));
            p.add(new JLabel("You are not subscribed to market data for this contract (blind trading)."));
            p.add(new JLabel("Are you sure you want to submit this order?"));
            w = Dialogs.window(sim, false, "Warning", false, p, new String[] {"Yes", "No"}, false);
        }
        w.answer.thenAccept(a -> Sim.log("blind_trading_answer", "form", form, "button", a));
    }

    /** #11: a JFrame with no button; IBC disposes it. */
    static void nseCompliance(Sim sim) {
        Dialogs.window(sim, true, "NSE Compliance", false,
                Dialogs.label("<html>NSE Compliance<br>Orders routed to NSE must comply with the exchange's rules."
                        + "</html>"), null, false);
    }

    /** #14: the Trades log (TWS before 955): JCheckBoxes Sun..Sat and All; Account > Trade Log shows it again. */
    static void trades(Sim sim) {
        Ui.edt(() -> {
            JFrame f = new JFrame("Trades");
            f.setDefaultCloseOperation(WindowConstants.DISPOSE_ON_CLOSE);
            Ui.track(f);
            JPanel row = new JPanel(new FlowLayout(FlowLayout.LEFT));
            for (String d : DAYS) {
                JCheckBox cb = Ui.onClick(new JCheckBox(d), null);
                cb.addItemListener(e -> Sim.log("trades_filter", "box", d, "selected", cb.isSelected()));
                row.add(cb);
            }
            JPanel body = new JPanel();
            body.setLayout(new BoxLayout(body, BoxLayout.Y_AXIS));
            body.add(row);
            body.add(new JLabel("No trades."));
            f.setContentPane(body);
            f.pack();
            f.setLocationRelativeTo(sim.mainFrame());
            f.setVisible(true);
            Map<String, Object> opt = sim.sc.map("trades_frame");
            if (opt != null && opt.get("close_after_s") instanceof Number && TRADES_SHOWN.getAndIncrement() == 0) {
                long ms = (long) (((Number) opt.get("close_after_s")).doubleValue() * 1000);
                Sim.timer(() -> {
                    Sim.log("trades_closed_by_user");
                    Ui.dispose(f);
                }, ms);
            }
        });
    }

    /** #27: JTextPane with the notice's title, a checkbox and one button. */
    static void bidAsk(Sim sim) {
        JPanel p = new JPanel();
        p.setLayout(new BoxLayout(p, BoxLayout.Y_AXIS));
        p.add(Dialogs.textPane("Bid, Ask and Last Size Display Update\n\nUS stock bid, ask and last sizes will be "
                + "displayed in shares instead of lots."));
        JCheckBox dont = Ui.onClick(new JCheckBox("Don't display this message again."), null);
        p.add(dont);
        for (java.awt.Component c : p.getComponents()) ((JComponent) c).setAlignmentX(0f);
        Dialogs.Win w = Dialogs.window(sim, false, "Bid, Ask and Last Size Display Update", false, p,
                new String[] {"I understand - display market data"}, false);
        w.answer.thenAccept(a -> Sim.log("bid_ask_answer", "button", a, "dont_display_again", dont.isSelected()));
    }

    /** #29. */
    static void crypto(Sim sim) {
        Dialogs.Win w = Dialogs.window(sim, false, "Cryptocurrency order confirmation", false,
                Dialogs.label("<html>BUY 0.01 BTC.USD (PAXOS)<br>Cryptocurrency orders are not protected by SIPC."
                        + "</html>"), new String[] {"Transmit", "Cancel"}, false);
        w.answer.thenAccept(a -> Sim.log("crypto_order_answer", "button", a));
    }

    // ------------------------------------------------------------------ configuration, exit

    /**
     * #16 (TWS, scenario `api_port_confirm`): the port changed while "Enable ActiveX and Socket Clients" is ticked.
     * The configuration dialog stays open until the question is answered; {@code then} gets true for "Yes".
     */
    static void confirmApiPort(Sim sim, java.util.function.Consumer<Boolean> then) {
        Dialogs.Win w = Dialogs.window(sim, false, "Trader Workstation", true,
                Dialogs.label("<html>The API socket port has changed. Do you want to<br>"
                        + "apply the new socket port setting? Connected API clients will be disconnected.</html>"),
                new String[] {"Yes", "No"}, false);
        w.answer.thenAccept(a -> {
            Sim.log("api_port_confirm_answer", "button", a);
            Ui.edt(() -> then.accept("Yes".equals(a)));
        });
    }

    /** #26 (scenario `shutdown_progress`): shown on every deliberate exit, for `ms` before the JVM exits. */
    static void shutdownProgress(Sim sim) {
        Dialogs.window(sim, false, "Shutdown progress", false,
                Dialogs.label("<html>Shutting down...<br>Saving settings</html>"), null, false);
    }
}
