package ibpilot.sim;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JTextField;

/**
 * The second factor step of a login (gateway-ui.md §2.6, §5.1): the optional device chooser, then TOTP code entry or
 * an IB Key push that is "approved on the phone" after a while, with the 2FA timeout.
 */
final class SecondFactor {
    private final Sim sim;
    private final LoginFlow flow;

    SecondFactor(Sim sim, LoginFlow flow) {
        this.sim = sim;
        this.flow = flow;
    }

    /** Returns false when the flow ended here (cancelled, bad, timed out). */
    boolean run(int gen, LoginFlow.Kind kind) {
        String method = sim.sc.secondFactor(sim.mode);
        if (method.equals("none")) return true;
        sim.setState("second_factor");
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
        Sim.log("second_factor", "method", method, "device", device);
        long timeout = (long) (sim.sc.num("second_factor_timeout_s", 180.0) * 1000);
        long deadline = System.currentTimeMillis() + timeout;
        if (method.equals("totp")) {
            JTextField[] field = new JTextField[1];
            JLabel[] err = new JLabel[1];
            Dialogs.Win w = Ui.call(() -> Dialogs.totpEntry(sim, field, err));
            CompletableFuture<String> res = new CompletableFuture<>();
            w.handler = b -> {
                if (b.equals("OK")) {
                    String code = field[0].getText();
                    if (Totp.verify(sim.sc.totpSecret(), code)) {
                        Sim.log("second_factor_ok", "method", "totp");
                        Ui.dispose(w.window);
                        res.complete("ok");
                    } else {
                        Sim.log("second_factor_bad", "method", "totp");
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
                    Ui.dispose(w.window);
                    break;
                }
                flow.sleep(gen, 50);
            }
            String r = res.getNow("cancel");
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
        Dialogs.Win w = Ui.call(() -> Dialogs.pushWait(sim, "IB Key"));
        long approveAt = approve < 0 ? Long.MAX_VALUE : System.currentTimeMillis() + (long) (approve * 1000);
        while (true) {
            flow.check(gen);
            if (w.answer.isDone()) {
                Sim.log("second_factor_cancelled", "method", "push");
                flow.closeFlowWindows();
                flow.backToLogin(kind, "");
                return false;
            }
            long now = System.currentTimeMillis();
            if (now >= approveAt) {
                Sim.log("second_factor_ok", "method", "push");
                w.close();
                return true;
            }
            if (now > deadline) {
                Sim.log("second_factor_timeout", "method", "push");
                w.close();
                flow.closeFlowWindows();
                flow.backToLogin(kind, "");
                return false;
            }
            flow.sleep(gen, 50);
        }
    }
}
