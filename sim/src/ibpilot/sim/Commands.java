package ibpilot.sim;

import java.awt.Component;
import java.awt.KeyboardFocusManager;
import java.awt.Window;
import java.awt.event.InputEvent;
import java.awt.event.KeyEvent;
import javax.swing.JFrame;
import javax.swing.SwingUtilities;

/**
 * The main-window actions that IBC's command server drives besides STOP (File > Close / Exit, in {@link Sim}):
 * <ul>
 * <li>the reconnect key strokes Ctrl+Alt+R (reconnect account) and Ctrl+Alt+F (reconnect data), which IBC dispatches
 *     to the main JFrame (gateway-ui.md §3 RECONNECTACCOUNT / RECONNECTDATA, §2.5), each confirmed by a JDialog
 *     titled like the main window with a JLabel starting {@code Are you sure you want to execute "simulate} and an
 *     "OK" button (gateway-ui.md §2.2 #32);</li>
 * <li>TWS's File > Restart... with its "Are you sure you would like to restart the application" confirmation
 *     (gateway-ui.md §3 RESTART, §2.2 #30), which restarts like the Lock and Exit auto restart.</li>
 * </ul>
 */
final class Commands {
    private final Sim sim;

    Commands(Sim sim) {
        this.sim = sim;
    }

    /**
     * Watches every key event (a KeyEventDispatcher sees events dispatched with Component.dispatchEvent too, as IBC
     * does) and reacts to the reconnect strokes aimed at the main window or anything inside it.
     */
    void install() {
        KeyboardFocusManager.getCurrentKeyboardFocusManager().addKeyEventDispatcher(e -> {
            if (e.getID() == KeyEvent.KEY_PRESSED) Ui.safe(() -> onKey(e));
            return false; // never consumed: the window sees it too
        });
    }

    private void onKey(KeyEvent e) {
        int code = e.getKeyCode();
        if (code != KeyEvent.VK_R && code != KeyEvent.VK_F) return;
        int mods = e.getModifiersEx();
        // Ctrl+Alt on Linux/Windows, Cmd+Alt on macOS (IBC: menuShortcutKeyMaskEx | ALT_DOWN_MASK)
        boolean shortcut = (mods & (InputEvent.CTRL_DOWN_MASK | InputEvent.META_DOWN_MASK)) != 0;
        if (!shortcut || (mods & InputEvent.ALT_DOWN_MASK) == 0 || (mods & InputEvent.SHIFT_DOWN_MASK) != 0) return;
        JFrame main = sim.mainFrame();
        Component src = e.getComponent();
        Window w = src instanceof Window ? (Window) src : src == null ? null : SwingUtilities.getWindowAncestor(src);
        if (main == null || w != main) return;
        reconnect(code == KeyEvent.VK_R ? "account" : "data");
    }

    private void reconnect(String what) {
        Sim.log("reconnect_requested", "what", what, "key", "ctrl+alt+" + (what.equals("account") ? "R" : "F"));
        if (!sim.loggedIn) {
            Sim.log("reconnect_ignored", "what", what, "reason", "not logged in");
            return;
        }
        String title = sim.mainFrame().getTitle();
        Dialogs.Win w = Dialogs.window(sim, false, title, false,
                Dialogs.label("Are you sure you want to execute \"simulate reconnect " + what + "\"?"),
                new String[] {"OK", "Cancel"}, false);
        w.answer.thenAccept(a -> Ui.safe(() -> {
            if (!"OK".equals(a)) {
                Sim.log("reconnect_cancelled", "what", what, "button", a);
                return;
            }
            if (what.equals("account")) {
                Sim.log("reconnect_account");
            } else {
                int clients = sim.api.marketDataFarmFlap();
                Sim.log("reconnect_data", "clients", clients);
            }
        }));
    }

    /** TWS File > Restart... */
    void restartMenu() {
        Dialogs.Win w = Dialogs.window(sim, false, "Restart", false,
                Dialogs.label("Are you sure you would like to restart the application?"),
                new String[] {"Yes", "No"}, false);
        w.answer.thenAccept(a -> Ui.safe(() -> {
            Sim.log("restart_confirm_answer", "button", a);
            if ("Yes".equals(a)) sim.session.restartNow("File > Restart...");
        }));
    }
}
