package ibpilot.agent;

import ibpilot.json.Json;

import java.awt.AWTEvent;
import java.awt.Component;
import java.awt.Container;
import java.awt.EventQueue;
import java.awt.Toolkit;
import java.awt.Window;
import java.awt.event.AWTEventListener;
import java.awt.event.ComponentEvent;
import java.awt.event.ContainerEvent;
import java.awt.event.WindowEvent;
import java.beans.PropertyChangeListener;
import java.util.Collections;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.function.Consumer;
import javax.swing.AbstractButton;
import javax.swing.CellRendererPane;
import javax.swing.JLabel;
import javax.swing.SwingUtilities;
import javax.swing.Timer;
import javax.swing.event.DocumentEvent;
import javax.swing.event.DocumentListener;
import javax.swing.text.Document;
import javax.swing.text.JTextComponent;

/**
 * Turns AWT events into protocol events: window_opened / window_closed / window_changed (coalesced: one
 * snapshot at most every 30 ms per window). All state here is touched on the EDT only.
 */
final class Events implements AWTEventListener {
    static final int DEBOUNCE_MS = 30;

    private volatile Consumer<Map<String, Object>> sink = e -> { };
    private final Set<Window> open = Collections.newSetFromMap(new WeakHashMap<>());
    private final Map<Window, Timer> pending = new WeakHashMap<>();
    private final Set<Object> watched = Collections.newSetFromMap(new WeakHashMap<>());
    private final PropertyChangeListener onProperty = e -> {
        if (Agent.debug) Agent.log("property " + e.getPropertyName() + " on " + e.getSource().getClass().getName());
        if (e.getSource() instanceof Component) onEdt(() -> changed((Component) e.getSource()));
    };

    void setSink(Consumer<Map<String, Object>> sink) { this.sink = sink; }

    /** Registers the AWT listener (initialises the toolkit) and picks up windows already showing. */
    void install() {
        try {
            Toolkit.getDefaultToolkit().addAWTEventListener(this,
                    AWTEvent.WINDOW_EVENT_MASK | AWTEvent.COMPONENT_EVENT_MASK | AWTEvent.CONTAINER_EVENT_MASK);
            EventQueue.invokeLater(() -> {
                for (Window w : Window.getWindows()) if (w.isShowing()) opened(w);
            });
        } catch (Throwable t) {
            Agent.log("cannot watch windows: " + t);
        }
    }

    @Override
    public void eventDispatched(AWTEvent e) {
        onEdt(() -> dispatch(e));  // apps may add components off the EDT; our state is EDT-only
    }

    private static void onEdt(Runnable r) {
        Runnable safe = () -> {
            try {
                r.run();
            } catch (Throwable t) {
                Agent.log("event listener: " + t);  // never throw into the application
            }
        };
        if (EventQueue.isDispatchThread()) safe.run();
        else EventQueue.invokeLater(safe);
    }

    private void dispatch(AWTEvent e) {
        Object src = e.getSource();
        if (Agent.debug) Agent.log("awt " + e.paramString() + " on " + src.getClass().getName());
        switch (e.getID()) {
            case WindowEvent.WINDOW_OPENED:
            case ComponentEvent.COMPONENT_SHOWN:
                if (src instanceof Window) {
                    if (((Window) src).isShowing()) opened((Window) src);
                } else if (src instanceof Component) {
                    changed((Component) src);
                }
                break;
            case WindowEvent.WINDOW_CLOSED:
                // a window disposed before its opened event was dispatched (shown and closed at once on a
                // busy EDT) was never reported: say it closed anyway, marked unseen
                if (src instanceof Window && !open.contains(src)) closedUnseen((Window) src);
                else if (src instanceof Window) closed((Window) src);
                break;
            case ComponentEvent.COMPONENT_HIDDEN:
                if (src instanceof Window) closed((Window) src);
                else if (src instanceof Component) changed((Component) src);
                break;
            case ContainerEvent.COMPONENT_ADDED:
            case ContainerEvent.COMPONENT_REMOVED:
                if (src instanceof Component) changed((Component) src);
                break;
            default:
                break;
        }
    }

    private void opened(Window w) {
        if (!open.add(w)) return;
        watch(w);
        sink.accept(Json.obj("event", "window_opened", "window", Snapshot.window(w)));
    }

    private void closed(Window w) {
        if (!open.remove(w)) return;
        Timer t = pending.remove(w);
        if (t != null) t.stop();
        sink.accept(Json.obj("event", "window_closed", "handle", Snapshot.handle(w), "title", Snapshot.title(w),
                "class", w.getClass().getName()));
    }

    private void closedUnseen(Window w) {
        sink.accept(Json.obj("event", "window_closed", "handle", Snapshot.handle(w), "title", Snapshot.title(w),
                "class", w.getClass().getName(), "unseen", true));
    }

    /** Something in the window of {@code c} changed: send one snapshot 30 ms after the first change. */
    private void changed(Component c) {
        if (isRenderer(c)) return;  // renderers are re-stamped on every paint: not a change
        Window w = c instanceof Window ? (Window) c : SwingUtilities.getWindowAncestor(c);
        if (w == null || !open.contains(w) || pending.containsKey(w)) return;
        if (Agent.debug) Agent.log("change in " + Snapshot.handle(w) + " from " + c.getClass().getName());
        Timer t = new Timer(DEBOUNCE_MS, ev -> flush(w));
        t.setRepeats(false);
        pending.put(w, t);
        t.start();
    }

    private void flush(Window w) {
        pending.remove(w);
        if (!open.contains(w)) return;
        if (!w.isShowing()) {
            closed(w);
            return;
        }
        watch(w);
        sink.accept(Json.obj("event", "window_changed", "window", Snapshot.window(w)));
    }

    private static boolean isRenderer(Component c) {
        return c instanceof CellRendererPane || SwingUtilities.getAncestorOfClass(CellRendererPane.class, c) != null;
    }

    /** Listens to the window's title and to the text of its labels, buttons and text components. */
    private void watch(Component c) {
        if (c instanceof CellRendererPane) return;
        if (c instanceof Window && watched.add(c)) c.addPropertyChangeListener("title", onProperty);
        if ((c instanceof JLabel || c instanceof AbstractButton) && watched.add(c)) {
            c.addPropertyChangeListener("text", onProperty);
        }
        if (c instanceof JTextComponent) {
            Document d = ((JTextComponent) c).getDocument();
            if (d != null && watched.add(d)) d.addDocumentListener(new DocumentWatcher((JTextComponent) c));
        }
        if (c instanceof Container) {
            for (Component k : ((Container) c).getComponents()) watch(k);
        }
    }

    private final class DocumentWatcher implements DocumentListener {
        private final java.lang.ref.WeakReference<JTextComponent> owner;

        DocumentWatcher(JTextComponent owner) { this.owner = new java.lang.ref.WeakReference<>(owner); }

        private void fire() {
            JTextComponent c = owner.get();
            if (c == null) return;
            onEdt(() -> changed(c));
        }

        @Override public void insertUpdate(DocumentEvent e) { fire(); }
        @Override public void removeUpdate(DocumentEvent e) { fire(); }
        @Override public void changedUpdate(DocumentEvent e) { fire(); }
    }
}
