package ibpilot.sim;

import java.awt.BorderLayout;
import java.awt.Color;
import java.awt.Dimension;
import java.awt.FlowLayout;
import java.awt.Font;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import javax.swing.BorderFactory;
import javax.swing.Box;
import javax.swing.BoxLayout;
import javax.swing.JButton;
import javax.swing.JComponent;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JPanel;
import javax.swing.JTextField;

/**
 * The second factor step of a login (gateway-ui.md §2.6, §5.1): the optional device chooser, then TOTP code entry or
 * an IB Key push that is "approved on the phone" after a while, with the 2FA timeout. TWS shows it in a JFrame, or,
 * from version 1016 on, inside the login frame itself (the frame morphs, gateway-ui.md §2.3). TWS also offers
 * "Enter Read Only" there (IBC's ReadOnlyLogin, §2.2 #18/#19): a read-only session without the second factor.
 */
final class SecondFactor {
    static final String READ_ONLY = "Enter Read Only";

    private final Sim sim;
    private final LoginFlow flow;

    SecondFactor(Sim sim, LoginFlow flow) {
        this.sim = sim;
        this.flow = flow;
    }

    private boolean inFrame(Dialogs.Win w) {
        return sim.login != null && w.window == sim.login.frame;
    }

    /** Ends the second factor surface: a window is disposed, the morphed login frame is hidden (TWS goes on). */
    private void end(Dialogs.Win w) {
        if (inFrame(w)) {
            Ui.edt(() -> sim.login.frame.setVisible(false));
            w.answer.complete("closed");
        } else {
            w.close();
        }
    }

    /** Returns false when the flow ended here (cancelled, bad, timed out). */
    boolean run(int gen, LoginFlow.Kind kind) {
        String method = sim.sc.secondFactor(sim.mode);
        if (method.equals("none")) return true;
        sim.setState("second_factor");
        boolean morph = !sim.gateway && kind == LoginFlow.Kind.LOGIN && flow.secondFactorInFrame();
        String device = null;
        List<String> devices = sim.sc.strings("devices");
        if (devices != null && !devices.isEmpty()) {
            @SuppressWarnings("unchecked")
            JList<String>[] list = new JList[1];
            Dialogs.Win ch = Ui.call(() -> Dialogs.deviceChooser(sim, devices, list));
            sim.autoClick(ch, "OK");
            String a = flow.await(gen, ch);
            if (!"OK".equals(a)) {
                Sim.log("second_factor_cancelled", "where", "device chooser");
                flow.closeFlowWindows();
                flow.backToLogin(kind, "");
                return false;
            }
            device = Ui.call(() -> list[0].getSelectedValue());
            Sim.log("second_factor_device", "device", device);
        }
        Sim.log("second_factor", "method", method, "device", device, "in_login_frame", morph);
        long timeout = (long) (sim.sc.num("second_factor_timeout_s", 180.0) * 1000);
        long deadline = System.currentTimeMillis() + timeout;
        if (method.equals("totp")) {
            JTextField[] field = new JTextField[1];
            JLabel[] err = new JLabel[1];
            Dialogs.Win w = Ui.call(() -> morph ? morphed(true, field, err) : Dialogs.totpEntry(sim, field, err));
            CompletableFuture<String> res = new CompletableFuture<>();
            w.handler = b -> {
                if (b.equals("OK")) {
                    String code = field[0].getText();
                    if (Totp.verify(sim.sc.totpSecret(), code)) {
                        Sim.log("second_factor_ok", "method", "totp");
                        res.complete("ok"); // before end(): closing completes the answer with "closed"
                        end(w);
                    } else {
                        Sim.log("second_factor_bad", "method", "totp");
                        err[0].setText("Invalid code. Please try again.");
                        field[0].setText("");
                    }
                } else {
                    res.complete(b.equals(READ_ONLY) ? "readonly" : "cancel");
                    end(w);
                }
            };
            w.answer.thenAccept(a -> {
                if ("closed".equals(a)) res.complete("cancel");
            });
            if (sim.selfLogin) {
                Sim.timer(() -> Ui.edt(() -> {
                    field[0].setText(Totp.now(sim.sc.totpSecret()));
                    w.button("OK").doClick();
                }), sim.step);
            }
            while (true) {
                flow.check(gen);
                if (res.isDone()) break;
                if (System.currentTimeMillis() > deadline) {
                    res.complete("timeout");
                    end(w);
                    break;
                }
                flow.sleep(gen, 50);
            }
            String r = res.getNow("cancel");
            if (r.equals("readonly")) return readOnly("totp");
            if (!r.equals("ok")) {
                Sim.log(r.equals("timeout") ? "second_factor_timeout" : "second_factor_cancelled", "method", "totp");
                flow.closeFlowWindows();
                flow.backToLogin(kind, "");
                return false;
            }
            return true;
        }
        // push (IB Key): approved after push_approve_after_s (negative = never)
        double approve = sim.sc.num("push_approve_after_s", 3.0);
        Dialogs.Win w = Ui.call(() -> morph ? morphed(false, null, null) : Dialogs.pushWait(sim, "IB Key"));
        long approveAt = approve < 0 ? Long.MAX_VALUE : System.currentTimeMillis() + (long) (approve * 1000);
        while (true) {
            flow.check(gen);
            if (w.answer.isDone()) {
                if (READ_ONLY.equals(w.answer.getNow(null))) {
                    end(w);
                    return readOnly("push");
                }
                end(w);
                Sim.log("second_factor_cancelled", "method", "push");
                flow.closeFlowWindows();
                flow.backToLogin(kind, "");
                return false;
            }
            long now = System.currentTimeMillis();
            if (now >= approveAt) {
                Sim.log("second_factor_ok", "method", "push");
                end(w);
                return true;
            }
            if (now > deadline) {
                Sim.log("second_factor_timeout", "method", "push");
                end(w);
                flow.closeFlowWindows();
                flow.backToLogin(kind, "");
                return false;
            }
            flow.sleep(gen, 50);
        }
    }

    /** "Enter Read Only": the login goes on without the second factor; the session is read-only. */
    private boolean readOnly(String method) {
        flow.readOnlySession = true;
        Sim.log("read_only_login", "method", method);
        return true;
    }

    /**
     * TWS 1016+: the login frame's content becomes the second factor panel (EDT). Its JLabel "Second Factor
     * Authentication" is what IBC polls the frame for (a JLabel containing "SECOND FACTOR AUTHENTICATION",
     * case-insensitive, gateway-ui.md §2.3); the rest (texts, the code field, the buttons OK / Cancel / Enter Read
     * Only) mirrors the JFrame variant, since the real panel's layout is not documented.
     */
    private Dialogs.Win morphed(boolean totp, JTextField[] fieldOut, JLabel[] errorOut) {
        LoginScreen ls = sim.login;
        Dialogs.Win win = new Dialogs.Win(ls.frame);
        JPanel top = new JPanel();
        top.setLayout(new BoxLayout(top, BoxLayout.Y_AXIS));
        JLabel head = new JLabel("Second Factor Authentication");
        head.setFont(head.getFont().deriveFont(Font.BOLD, 16f));
        top.add(head);
        top.add(Box.createVerticalStrut(8));
        top.add(new JLabel(totp ? "Enter the code displayed in your authenticator app."
                : "<html>A notification has been sent to your IB Key device.<br>"
                  + "Please approve the login request on your phone to continue.</html>"));
        if (totp) {
            JTextField f = new JTextField(8);
            f.setMaximumSize(new Dimension(160, f.getPreferredSize().height));
            top.add(f);
            JLabel err = new JLabel(" ");
            err.setForeground(new Color(0x99, 0, 0));
            top.add(err);
            fieldOut[0] = f;
            errorOut[0] = err;
        }
        for (java.awt.Component c : top.getComponents()) ((JComponent) c).setAlignmentX(0f);
        JPanel row = new JPanel(new FlowLayout(FlowLayout.RIGHT, 6, 0));
        for (String b : totp ? new String[] {"OK", "Cancel", READ_ONLY} : new String[] {"Cancel", READ_ONLY}) {
            JButton jb = Ui.button(b, () -> {
                java.util.function.Consumer<String> h = win.handler;
                if (h != null) h.accept(b);
                else win.answer.complete(b);
            });
            win.buttons.put(b, jb);
            row.add(jb);
        }
        JPanel content = new JPanel(new BorderLayout(10, 10));
        content.setBorder(BorderFactory.createEmptyBorder(18, 24, 14, 24));
        content.add(top, BorderLayout.CENTER);
        content.add(row, BorderLayout.SOUTH);
        ls.morph(content);
        return win;
    }
}
