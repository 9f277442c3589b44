package ibpilot.sim;

import java.awt.BorderLayout;
import java.awt.Color;
import java.awt.Dimension;
import java.awt.FlowLayout;
import java.awt.Font;
import java.awt.Window;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import javax.swing.BorderFactory;
import javax.swing.Box;
import javax.swing.BoxLayout;
import javax.swing.JButton;
import javax.swing.JComponent;
import javax.swing.JDialog;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JOptionPane;
import javax.swing.JPanel;
import javax.swing.JProgressBar;
import javax.swing.JTextArea;
import javax.swing.JTextField;
import javax.swing.JTextPane;
import javax.swing.ListSelectionModel;
import javax.swing.RootPaneContainer;
import javax.swing.SwingConstants;
import javax.swing.WindowConstants;

/** All the simulator's pop-ups. Each is a real JFrame/JDialog; texts and types are sourced in sim/README.md. */
public final class Dialogs {
    private Dialogs() {}

    /** A shown window and its buttons; {@code answer} completes with the clicked button's text (or "closed"). */
    public static final class Win {
        public final Window window;
        public final Map<String, JButton> buttons = new LinkedHashMap<>();
        public final CompletableFuture<String> answer = new CompletableFuture<>();
        /** When set, a button click calls this instead of completing the answer and closing the window. */
        public volatile java.util.function.Consumer<String> handler;
        Win(Window w) { window = w; }
        public void close() { Ui.dispose(window); answer.complete("closed"); }
        public JButton button(String text) { return buttons.get(text); }
    }

    static Window owner(Sim sim) {
        return sim.mainFrame() != null && sim.mainFrame().isShowing() ? sim.mainFrame() : null;
    }

    /**
     * A JDialog (or JFrame when frame=true) with body above a row of buttons. A click completes the answer and
     * disposes the window unless keepOpen. Shown later on the EDT (a modal one blocks only that EDT task).
     */
    static Win window(Sim sim, boolean frame, String title, boolean modal, JComponent body, String[] buttons,
                      boolean keepOpen) {
        Window w;
        if (frame) {
            JFrame f = new JFrame(title);
            f.setDefaultCloseOperation(WindowConstants.DO_NOTHING_ON_CLOSE);
            w = f;
        } else {
            JDialog d = new JDialog(owner(sim), title, modal ? java.awt.Dialog.ModalityType.APPLICATION_MODAL
                    : java.awt.Dialog.ModalityType.MODELESS);
            d.setDefaultCloseOperation(WindowConstants.DO_NOTHING_ON_CLOSE);
            w = d;
        }
        Ui.track(w);
        Win win = new Win(w);
        w.addWindowListener(new WindowAdapter() {
            @Override public void windowClosing(WindowEvent e) {
                Sim.log("clicked", "window", title, "button", "close");
                Ui.dispose(w);
                win.answer.complete("closed");
            }
        });
        JPanel content = new JPanel(new BorderLayout(10, 10));
        content.setBorder(BorderFactory.createEmptyBorder(14, 16, 10, 16));
        content.add(body, BorderLayout.CENTER);
        if (buttons != null && buttons.length > 0) {
            JPanel row = new JPanel(new FlowLayout(FlowLayout.RIGHT, 6, 0));
            for (String b : buttons) {
                JButton jb = Ui.button(b, () -> {
                    java.util.function.Consumer<String> h = win.handler;
                    if (h != null) {
                        h.accept(b);
                        return;
                    }
                    win.answer.complete(b);
                    if (!keepOpen) Ui.dispose(w);
                });
                win.buttons.put(b, jb);
                row.add(jb);
            }
            content.add(row, BorderLayout.SOUTH);
        }
        ((RootPaneContainer) w).setContentPane(content);
        w.pack();
        Dimension d = w.getSize();
        w.setSize(Math.max(d.width, 360), Math.max(d.height, 140));
        w.setLocationRelativeTo(owner(sim));
        Ui.later(() -> w.setVisible(true));
        return win;
    }

    static JComponent label(String text) {
        JLabel l = new JLabel(text);
        l.setVerticalAlignment(SwingConstants.TOP);
        return l;
    }

    static JComponent textPane(String text) {
        JTextPane p = new JTextPane();
        p.setText(text);
        p.setEditable(false);
        p.setOpaque(false);
        p.setPreferredSize(new Dimension(340, 60));
        return p;
    }

    // ---- login progress ----

    /** "Connecting to server...", "Authenticating...", "Downloading settings from server", "Starting application...". */
    public static Win progress(Sim sim, String title) {
        JPanel p = new JPanel(new BorderLayout(6, 8));
        p.add(new JLabel(title), BorderLayout.NORTH);
        JProgressBar bar = new JProgressBar();
        bar.setIndeterminate(true);
        p.add(bar, BorderLayout.CENTER);
        return window(sim, true, title, false, p, null, false);
    }

    public static Win gatewayBox(Sim sim, String text) {
        return window(sim, false, "Gateway", true, label(text), new String[] {"OK"}, false);
    }

    public static Win loginFailed(Sim sim) {
        return window(sim, false, "Login failed", true, textPane("Unrecognized Username or Password"),
                new String[] {"OK"}, false);
    }

    public static Win existingSession(Sim sim, boolean afterLogin) {
        String text = afterLogin
                ? "<html>Another session was started for this user name.<br>"
                  + "This session was disconnected. Continue Login will disconnect the other session.</html>"
                : "<html>An existing session was detected for this user name.<br>"
                  + "Continue Login will disconnect the other session.</html>";
        return window(sim, false, "Existing session detected", true, label(text),
                new String[] {"Continue Login", "Cancel"}, false);
    }

    // ---- second factor (gateway-ui.md §2.6): a JDialog in Gateway, a JFrame in TWS ----

    public static Win deviceChooser(Sim sim, List<String> devices, JList<String>[] listOut) {
        JPanel inner = new JPanel();
        inner.setLayout(new BoxLayout(inner, BoxLayout.Y_AXIS));
        JTextArea ta = new JTextArea("Select second factor device");
        ta.setEditable(false);
        ta.setOpaque(false);
        inner.add(ta);
        JList<String> list = new JList<>(devices.toArray(new String[0]));
        list.setSelectionMode(ListSelectionModel.SINGLE_SELECTION);
        list.setSelectedIndex(0);
        list.setVisibleRowCount(Math.max(2, devices.size()));
        inner.add(list);
        inner.add(Box.createVerticalStrut(8));
        JPanel outer = new JPanel(new BorderLayout());
        JPanel btnRow = new JPanel(new FlowLayout(FlowLayout.CENTER, 0, 0));
        outer.add(btnRow, BorderLayout.CENTER);
        inner.add(outer);
        listOut[0] = list;
        for (java.awt.Component c : inner.getComponents()) ((JComponent) c).setAlignmentX(0f);
        JPanel top = new JPanel(new BorderLayout());
        top.add(inner, BorderLayout.CENTER);

        Window w = sim.gateway ? new JDialog(owner(sim), "Second Factor Authentication", java.awt.Dialog.ModalityType.MODELESS)
                : new JFrame("Second Factor Authentication");
        Ui.track(w);
        Win win = new Win(w);
        for (String b : new String[] {"OK", "Cancel"}) {
            JButton jb = Ui.button(b, () -> {
                win.answer.complete(b);
                Ui.dispose(w);
            });
            win.buttons.put(b, jb);
            if (b.equals("Cancel")) btnRow.add(Box.createHorizontalStrut(10));
            btnRow.add(jb);
        }
        if (w instanceof JDialog) ((JDialog) w).setDefaultCloseOperation(WindowConstants.DO_NOTHING_ON_CLOSE);
        else ((JFrame) w).setDefaultCloseOperation(WindowConstants.DO_NOTHING_ON_CLOSE);
        w.addWindowListener(new WindowAdapter() {
            @Override public void windowClosing(WindowEvent e) {
                Sim.log("clicked", "window", "Second Factor Authentication", "button", "close");
                Ui.dispose(w);
                win.answer.complete("closed");
            }
        });
        top.setBorder(BorderFactory.createEmptyBorder(12, 14, 10, 14));
        ((RootPaneContainer) w).setContentPane(top);
        w.pack();
        w.setSize(Math.max(w.getWidth(), 340), w.getHeight());
        w.setLocationRelativeTo(owner(sim));
        Ui.later(() -> w.setVisible(true));
        return win;
    }

    public static Win totpEntry(Sim sim, JTextField[] fieldOut, JLabel[] errorOut) {
        JPanel p = new JPanel();
        p.setLayout(new BoxLayout(p, BoxLayout.Y_AXIS));
        JLabel head = new JLabel("<html><b>Second Factor Authentication</b><br>"
                + "Enter the code displayed in your authenticator app.</html>");
        p.add(head);
        p.add(Box.createVerticalStrut(8));
        JTextField f = new JTextField(8);
        f.setMaximumSize(new Dimension(160, f.getPreferredSize().height));
        f.setAlignmentX(0f);
        p.add(f);
        JLabel err = new JLabel(" ");
        err.setForeground(new Color(0x99, 0, 0));
        p.add(err);
        fieldOut[0] = f;
        errorOut[0] = err;
        for (java.awt.Component c : p.getComponents()) ((JComponent) c).setAlignmentX(0f);
        return window(sim, !sim.gateway, "Second Factor Authentication", false, p, sim.gateway
                ? new String[] {"OK", "Cancel"} : new String[] {"OK", "Cancel", SecondFactor.READ_ONLY}, true);
    }

    public static Win pushWait(Sim sim, String device) {
        String text = "<html><b>Second Factor Authentication</b><br><br>"
                + "A notification has been sent to your " + (device == null ? "IB Key" : device.trim()) + " device.<br>"
                + "Please approve the login request on your phone to continue.</html>";
        return window(sim, !sim.gateway, "Second Factor Authentication", false, label(text),
                sim.gateway ? new String[] {"Cancel"} : new String[] {"Cancel", SecondFactor.READ_ONLY}, false);
    }

    // ---- after login ----

    /** Paper-account warning: text as read from a real Gateway by heshiming/ibga (see sim/README.md). */
    public static final String PAPER_WARNING = "<html>This is not a brokerage account. <br>This is a \"paper\" trading "
            + "account in which you <br>can engage in simulated trading. <br><br>Please confirm that you understand "
            + "and wish <br>to conduct simulated trading before proceeding.</html>";

    public static Win paperWarning(Sim sim) {
        return window(sim, false, "Warning", true, label(PAPER_WARNING), new String[] {"I understand and accept"}, false);
    }

    public static Win reloginRequired(Sim sim) {
        return window(sim, false, "Re-login is required", false,
                label("<html>Your session has been disconnected.<br>Re-login is required to continue.</html>"),
                new String[] {"Re-login", "Cancel"}, false);
    }

    public static Win passwordNotice(Sim sim, int days) {
        return window(sim, true, "Password Notice", false,
                textPane("Your password will expire in " + days + " days. Please change your password "
                        + "in Client Portal before it expires."),
                new String[] {"OK"}, false);
    }

    public static Win tipOfTheDay(Sim sim) {
        JTextArea t = new JTextArea("Did you know? You can set the API socket port in Configure > Settings > API > Settings.", 3, 30);
        t.setLineWrap(true);
        t.setWrapStyleWord(true);
        t.setEditable(false);
        return window(sim, false, "Tip of the Day", false, t, new String[] {"Close"}, false);
    }

    public static Win acceptIncoming(Sim sim, String ip, String title, String[] buttons) {
        return window(sim, false, title, false, label("Accept incoming connection attempt from " + ip + "?"),
                buttons, false);
    }

    public static Win unknownPopup(Sim sim, String title, String text, String[] buttons, boolean frame, boolean modal) {
        return window(sim, frame, title, modal && !frame, label(text), buttons, false);
    }

    public static Win restartInProgress(Sim sim) {
        return window(sim, false, "Restart in progress", false,
                label("<html>The application will restart automatically.<br>Please wait...</html>"), null, false);
    }

    public static Win about(Sim sim) {
        String name = sim.gateway ? "IB Gateway" : "Trader Workstation";
        return window(sim, false, "About " + name, false,
                label("<html><b>" + name + "</b> (simulated by ibpilot)<br>Build 10.37.1 (simulator)</html>"),
                new String[] {"OK"}, false);
    }

    public static void error(Sim sim, Window owner, String text) {
        Sim.log("error_box", "text", text);
        window(sim, false, "Error", true, label(text), new String[] {"OK"}, false);
    }

    /** JOptionPane-based "Are you sure you want to exit?" (gateway-ui.md §2.2 #22: a JLabel with that text). */
    public static JDialog exitConfirm(Sim sim, Runnable onYes) {
        JOptionPane pane = new JOptionPane("Are you sure you want to exit?", JOptionPane.QUESTION_MESSAGE,
                JOptionPane.YES_NO_OPTION, null, new Object[] {"Yes", "No"}, "No");
        JDialog d = pane.createDialog(owner(sim), "Exit");
        d.setModal(true);
        Ui.track(d);
        pane.addPropertyChangeListener(JOptionPane.VALUE_PROPERTY, e -> {
            Object v = pane.getValue();
            if (v == null || v == JOptionPane.UNINITIALIZED_VALUE) return;
            Sim.log("clicked", "window", "Exit", "button", String.valueOf(v));
            Ui.dispose(d);
            if ("Yes".equals(v)) Ui.safe(onYes);
        });
        Ui.later(() -> d.setVisible(true));
        return d;
    }

    public static void confirmOrderIdReset(Sim sim, Window owner) {
        JOptionPane pane = new JOptionPane("Are you sure you want to reset API order ID sequence?",
                JOptionPane.QUESTION_MESSAGE, JOptionPane.YES_NO_OPTION, null, new Object[] {"Yes", "No"}, "No");
        JDialog d = pane.createDialog(owner, "Reset API order ID sequence");
        Ui.track(d);
        pane.addPropertyChangeListener(JOptionPane.VALUE_PROPERTY, e -> {
            Object v = pane.getValue();
            if (v == null || v == JOptionPane.UNINITIALIZED_VALUE) return;
            Sim.log("clicked", "window", d.getTitle(), "button", String.valueOf(v));
            Ui.dispose(d);
            if ("Yes".equals(v)) Sim.log("order_id_reset");
        });
        Ui.later(() -> d.setVisible(true));
    }

    static Font bold(Font f) { return f.deriveFont(Font.BOLD); }
}
