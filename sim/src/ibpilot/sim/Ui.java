package ibpilot.sim;

import java.awt.Component;
import java.awt.Dialog;
import java.awt.Frame;
import java.awt.Window;
import java.awt.event.ComponentAdapter;
import java.awt.event.ComponentEvent;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import javax.swing.AbstractButton;
import javax.swing.JButton;
import javax.swing.JDialog;
import javax.swing.JFrame;
import javax.swing.SwingUtilities;

/** Swing helpers: every window shown/closed and every button clicked goes to the event log; nothing throws. */
public final class Ui {
    private Ui() {}

    static final String DISPOSING = "ibpilot.sim.disposing";

    public static String typeOf(Window w) {
        if (w instanceof JDialog) return "JDialog";
        if (w instanceof JFrame) return "JFrame";
        return w.getClass().getSimpleName();
    }

    public static String titleOf(Window w) {
        if (w instanceof Frame) return ((Frame) w).getTitle();
        if (w instanceof Dialog) return ((Dialog) w).getTitle();
        return null;
    }

    /** Logs shown (every time it becomes visible), hidden (setVisible(false)) and closed (disposed). */
    public static <W extends Window> W track(W w) {
        w.addComponentListener(new ComponentAdapter() {
            @Override public void componentShown(ComponentEvent e) {
                Sim.log("shown", "title", titleOf(w), "type", typeOf(w));
            }
            @Override public void componentHidden(ComponentEvent e) {
                if (!Boolean.TRUE.equals(((javax.swing.RootPaneContainer) w).getRootPane().getClientProperty(DISPOSING))) {
                    Sim.log("hidden", "title", titleOf(w), "type", typeOf(w));
                }
            }
        });
        w.addWindowListener(new WindowAdapter() {
            @Override public void windowClosed(WindowEvent e) {
                Sim.log("closed", "title", titleOf(w), "type", typeOf(w));
            }
        });
        return w;
    }

    /** Disposes a window (logged as closed, not hidden). Safe to call from any thread and more than once. */
    public static void dispose(Window w) {
        if (w == null) return;
        edt(() -> {
            if (!w.isDisplayable()) return;
            if (w instanceof javax.swing.RootPaneContainer) {
                ((javax.swing.RootPaneContainer) w).getRootPane().putClientProperty(DISPOSING, Boolean.TRUE);
            }
            w.dispose();
        });
    }

    /** Logs a click of any button (JButton or toggle) with its window title, then runs the action safely. */
    public static <B extends AbstractButton> B onClick(B b, Runnable action) {
        b.addActionListener(e -> {
            Window w = SwingUtilities.getWindowAncestor(b);
            Sim.log("clicked", "window", w == null ? null : titleOf(w), "button", b.getText());
            if (action != null) safe(action);
        });
        return b;
    }

    public static JButton button(String text, Runnable action) {
        return onClick(new JButton(text), action);
    }

    public static void safe(Runnable r) {
        try {
            r.run();
        } catch (Throwable t) {
            Sim.log("error", "where", "ui", "message", String.valueOf(t));
            t.printStackTrace();
        }
    }

    /** Runs on the EDT, later (or now when already on it). */
    public static void edt(Runnable r) {
        if (SwingUtilities.isEventDispatchThread()) safe(r);
        else SwingUtilities.invokeLater(() -> safe(r));
    }

    public static void later(Runnable r) {
        SwingUtilities.invokeLater(() -> safe(r));
    }

    /** Runs on the EDT and waits for the value (from a non-EDT thread). */
    public static <T> T call(Supplier<T> s) {
        if (SwingUtilities.isEventDispatchThread()) return s.get();
        AtomicReference<T> ref = new AtomicReference<>();
        try {
            SwingUtilities.invokeAndWait(() -> {
                try {
                    ref.set(s.get());
                } catch (Throwable t) {
                    Sim.log("error", "where", "ui", "message", String.valueOf(t));
                    t.printStackTrace();
                }
            });
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            Sim.log("error", "where", "ui", "message", String.valueOf(e));
        }
        return ref.get();
    }

    /** Clicks a button the way a user would (for self_login), after a short delay, on the EDT. */
    public static void clickLater(AbstractButton b, long delayMs) {
        Sim.timer(() -> edt(() -> {
            if (b.isShowing()) b.doClick();
        }), delayMs);
    }

    public static Component center(Window w) {
        w.setLocationRelativeTo(null);
        return w;
    }
}
