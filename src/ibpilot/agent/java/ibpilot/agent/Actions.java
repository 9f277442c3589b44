package ibpilot.agent;

import ibpilot.json.Json;

import java.awt.Component;
import java.awt.EventQueue;
import java.awt.Toolkit;
import java.awt.Window;
import java.awt.event.InputEvent;
import java.awt.event.KeyEvent;
import java.awt.event.WindowEvent;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import javax.swing.AbstractButton;
import javax.swing.JComboBox;
import javax.swing.JList;
import javax.swing.JMenu;
import javax.swing.JMenuBar;
import javax.swing.JMenuItem;
import javax.swing.JPasswordField;
import javax.swing.JTree;
import javax.swing.RootPaneContainer;
import javax.swing.text.JTextComponent;
import javax.swing.tree.TreeModel;
import javax.swing.tree.TreePath;

/** The protocol's operations. Everything that touches Swing runs on the EDT, with bounded waits. */
final class Actions {
    static final long EDT_TIMEOUT_MS = 2000;
    static final long ACTION_WAIT_MS = 250;

    /** What an operation resolved to on the EDT: its answer, and an optional action that may block. */
    private static final class Step {
        final Map<String, Object> result;
        final Runnable action;

        Step(Map<String, Object> result, Runnable action) {
            this.result = result;
            this.action = action;
        }
    }

    private interface Resolver {
        Step resolve() throws AgentException;
    }

    Object dispatch(String op, Map<String, Object> req) throws AgentException {
        switch (op) {
            case "hello":
                return Json.obj("protocol", Agent.PROTOCOL, "pid", ProcessHandle.current().pid(),
                        "java", System.getProperty("java.version"));
            case "ping":
                return "pong";
            case "windows": {
                String only = optString(req, "handle");
                Step s = perform(() -> {
                    List<Object> list = Snapshot.windows(only);
                    if (only != null && list.isEmpty()) throw new AgentException("no_window", "no showing window " + only);
                    return new Step(Json.obj("windows", list), null);
                });
                return s.result.get("windows");
            }
            case "click": return click(req);
            case "set_text": return setText(req);
            case "toggle": return toggle(req);
            case "select": return select(req);
            case "tree_select": return treeSelect(req);
            case "menu": return menu(req);
            case "close": return close(req);
            case "key": return key(req);
            default:
                throw new AgentException("bad_request", "unknown op " + op);
        }
    }

    // ---- EDT plumbing -------------------------------------------------------------------------------

    /**
     * Runs {@code r} on the EDT; if it returns an action, runs that too and waits up to 250 ms for it.
     * The answer gets {@code "done":false} when the action is still running (it opened a modal dialog).
     * If the EDT does not start the task within 2 s, the task is cancelled and "failed: EDT busy" is raised.
     */
    private Step perform(Resolver r) throws AgentException {
        CompletableFuture<Step> resolved = new CompletableFuture<>();
        CompletableFuture<Void> finished = new CompletableFuture<>();
        AtomicInteger state = new AtomicInteger();  // 0 pending, 1 started, 2 cancelled
        Runnable task = () -> {
            if (!state.compareAndSet(0, 1)) return;
            Step s;
            try {
                s = r.resolve();
            } catch (Throwable t) {
                resolved.completeExceptionally(t);
                return;
            }
            resolved.complete(s);
            if (s.action == null) return;
            try {
                s.action.run();
                finished.complete(null);
            } catch (Throwable t) {
                finished.completeExceptionally(t);
            }
        };
        if (EventQueue.isDispatchThread()) task.run();
        else EventQueue.invokeLater(task);
        Step s;
        try {
            s = resolved.get(EDT_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            if (state.compareAndSet(0, 2)) throw new AgentException("failed", "EDT busy");
            s = await(resolved);  // it started just now
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AgentException("failed", "interrupted");
        } catch (ExecutionException e) {
            throw unwrap(e);
        }
        if (s.action == null) return s;
        try {
            finished.get(ACTION_WAIT_MS, TimeUnit.MILLISECONDS);
            s.result.put("done", true);
        } catch (TimeoutException e) {
            s.result.put("done", false);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            s.result.put("done", false);
        } catch (ExecutionException e) {
            throw new AgentException("failed", "action threw " + e.getCause());
        }
        return s;
    }

    private static Step await(CompletableFuture<Step> f) throws AgentException {
        try {
            return f.get(EDT_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw unwrap(e);
        } catch (TimeoutException | InterruptedException e) {
            throw new AgentException("failed", "EDT busy");
        }
    }

    private static AgentException unwrap(ExecutionException e) {
        Throwable c = e.getCause();
        if (c instanceof AgentException) return (AgentException) c;
        return new AgentException("failed", String.valueOf(c));
    }

    // ---- argument helpers ---------------------------------------------------------------------------

    private static String optString(Map<String, Object> req, String key) throws AgentException {
        Object v = req.get(key);
        if (v == null) return null;
        if (!(v instanceof String)) throw new AgentException("bad_request", key + " must be a string");
        return (String) v;
    }

    private static String string(Map<String, Object> req, String key) throws AgentException {
        String v = optString(req, key);
        if (v == null) throw new AgentException("bad_request", "missing " + key);
        return v;
    }

    private static List<?> list(Map<String, Object> req, String key) throws AgentException {
        Object v = req.get(key);
        if (!(v instanceof List)) throw new AgentException("bad_request", "missing list " + key);
        return (List<?>) v;
    }

    private static Window window(Map<String, Object> req) throws AgentException {
        String h = string(req, "window");
        Window w = Snapshot.window(h);
        if (w == null || !w.isDisplayable()) throw new AgentException("no_window", "no window " + h);
        return w;
    }

    private static Component component(Map<String, Object> req) throws AgentException {
        return Snapshot.resolve(window(req), list(req, "path"));
    }

    private static <T> T as(Component c, Class<T> type) throws AgentException {
        if (!type.isInstance(c)) {
            throw new AgentException("wrong_type", c.getClass().getName() + " is not a " + type.getSimpleName());
        }
        return type.cast(c);
    }

    // ---- operations ---------------------------------------------------------------------------------

    private Object click(Map<String, Object> req) throws AgentException {
        boolean force = Boolean.TRUE.equals(req.get("force"));
        return perform(() -> {
            AbstractButton b = as(component(req), AbstractButton.class);
            if (!b.isEnabled()) {
                if (!force) throw new AgentException("disabled", "button '" + b.getText() + "' is disabled");
                b.setEnabled(true);
            }
            return new Step(Json.obj(), () -> b.doClick(0));
        }).result;
    }

    private Object setText(Map<String, Object> req) throws AgentException {
        String text = string(req, "text");
        return perform(() -> {
            JTextComponent t = as(component(req), JTextComponent.class);
            t.setText(text);
            return new Step(Json.obj(), null);
        }).result;
    }

    private Object toggle(Map<String, Object> req) throws AgentException {
        Object sel = req.get("selected");
        if (!(sel instanceof Boolean)) throw new AgentException("bad_request", "missing boolean selected");
        boolean want = (Boolean) sel;
        return perform(() -> {
            AbstractButton b = as(component(req), AbstractButton.class);
            if (b.isSelected() == want) return new Step(Json.obj("changed", false), null);
            if (!b.isEnabled()) throw new AgentException("disabled", "button '" + b.getText() + "' is disabled");
            return new Step(Json.obj("changed", true), () -> b.doClick(0));
        }).result;
    }

    private Object select(Map<String, Object> req) throws AgentException {
        Object index = req.get("index");
        String text = optString(req, "text");
        if ((index == null) == (text == null)) throw new AgentException("bad_request", "give one of index or text");
        if (index != null && !(index instanceof Number)) throw new AgentException("bad_request", "index must be an integer");
        return perform(() -> {
            Component c = component(req);
            int size;
            if (c instanceof JList) size = ((JList<?>) c).getModel().getSize();
            else if (c instanceof JComboBox) size = ((JComboBox<?>) c).getItemCount();
            else throw new AgentException("wrong_type", c.getClass().getName() + " is not a JList or JComboBox");
            int i = -1;
            if (index != null) {
                i = ((Number) index).intValue();
                if (i < 0 || i >= size) throw new AgentException("not_found", "index " + i + " out of range (" + size + " items)");
            } else {
                for (int k = 0; k < size && i < 0; k++) {
                    Object item = c instanceof JList ? ((JList<?>) c).getModel().getElementAt(k)
                            : ((JComboBox<?>) c).getItemAt(k);
                    if (Snapshot.str(item).trim().equalsIgnoreCase(text.trim())) i = k;
                }
                if (i < 0) throw new AgentException("not_found", "no item '" + text + "'");
            }
            final int at = i;
            Runnable action = c instanceof JList
                    ? () -> { ((JList<?>) c).setSelectedIndex(at); ((JList<?>) c).ensureIndexIsVisible(at); }
                    : () -> ((JComboBox<?>) c).setSelectedIndex(at);
            return new Step(Json.obj(), action);
        }).result;
    }

    private Object treeSelect(Map<String, Object> req) throws AgentException {
        List<?> nodes = list(req, "nodes");
        return perform(() -> {
            JTree tree = as(component(req), JTree.class);
            TreeModel model = tree.getModel();
            Object node = model.getRoot();
            if (node == null) throw new AgentException("not_found", "empty tree");
            TreePath path = new TreePath(node);
            for (Object want : nodes) {
                Object found = null;
                for (int i = 0; i < model.getChildCount(node) && found == null; i++) {
                    Object child = model.getChild(node, i);
                    if (Snapshot.str(child).equalsIgnoreCase(String.valueOf(want))) found = child;
                }
                if (found == null) throw new AgentException("not_found", "no tree node '" + want + "' under '" + node + "'");
                node = found;
                path = path.pathByAddingChild(node);
            }
            TreePath target = path;
            return new Step(Json.obj(), () -> {
                tree.setSelectionPath(target);
                tree.scrollPathToVisible(target);
            });
        }).result;
    }

    private Object menu(Map<String, Object> req) throws AgentException {
        List<?> items = list(req, "items");
        if (items.isEmpty()) throw new AgentException("bad_request", "items is empty");
        return perform(() -> {
            Window w = window(req);
            JMenuItem item = null;
            for (JMenuBar bar : menuBars(w)) {
                item = findMenuItem(bar, items);
                if (item != null) break;
            }
            if (item == null) throw new AgentException("not_found", "no menu item " + items);
            if (!item.isEnabled()) throw new AgentException("disabled", "menu item " + items + " is disabled");
            JMenuItem target = item;
            return new Step(Json.obj(), () -> target.doClick(0));
        }).result;
    }

    private static List<JMenuBar> menuBars(Window w) {
        List<JMenuBar> out = new java.util.ArrayList<>();
        collectMenuBars(w, out);
        return out;
    }

    private static void collectMenuBars(Component c, List<JMenuBar> out) {
        if (c instanceof JMenuBar) out.add((JMenuBar) c);
        if (c instanceof java.awt.Container) {
            for (Component k : ((java.awt.Container) c).getComponents()) collectMenuBars(k, out);
        }
    }

    private static JMenuItem findMenuItem(JMenuBar bar, List<?> items) {
        Component[] level = bar.getComponents();
        JMenuItem found = null;
        for (Object want : items) {
            found = null;
            for (Component k : level) {
                if (k instanceof JMenuItem && want != null
                        && String.valueOf(((JMenuItem) k).getText()).trim().equalsIgnoreCase(String.valueOf(want).trim())) {
                    found = (JMenuItem) k;
                    break;
                }
            }
            if (found == null) return null;
            level = found instanceof JMenu ? ((JMenu) found).getMenuComponents() : new Component[0];
        }
        return found;
    }

    private Object close(Map<String, Object> req) throws AgentException {
        return perform(() -> {
            Window w = window(req);
            Toolkit.getDefaultToolkit().getSystemEventQueue().postEvent(new WindowEvent(w, WindowEvent.WINDOW_CLOSING));
            return new Step(Json.obj(), null);
        }).result;
    }

    private Object key(Map<String, Object> req) throws AgentException {
        String name = string(req, "key");
        int code = keyCode(name);
        int mods = 0;
        Object modList = req.get("modifiers");
        if (modList != null && !(modList instanceof List)) throw new AgentException("bad_request", "modifiers must be a list");
        if (modList != null) {
            for (Object m : (List<?>) modList) {
                switch (String.valueOf(m).toLowerCase(Locale.ROOT)) {
                    case "ctrl": case "control": mods |= InputEvent.CTRL_DOWN_MASK; break;
                    case "alt": mods |= InputEvent.ALT_DOWN_MASK; break;
                    case "shift": mods |= InputEvent.SHIFT_DOWN_MASK; break;
                    case "meta": mods |= InputEvent.META_DOWN_MASK; break;
                    default: throw new AgentException("bad_request", "unknown modifier " + m);
                }
            }
        }
        char ch = keyChar(name, code, (mods & InputEvent.SHIFT_DOWN_MASK) != 0);
        int modifiers = mods;
        String to = optString(req, "target");
        if (to != null && !to.equals("focus") && !to.equals("window")) {
            throw new AgentException("bad_request", "target must be focus or window");
        }
        boolean toWindow = "window".equals(to);
        return perform(() -> {
            Window w = window(req);
            Component target = toWindow ? w : w.getFocusOwner();
            if (target == null && w instanceof RootPaneContainer) target = ((RootPaneContainer) w).getRootPane();
            if (target == null) target = w;
            Component t = target;
            return new Step(Json.obj(), () -> {
                long now = System.currentTimeMillis();
                t.dispatchEvent(new KeyEvent(t, KeyEvent.KEY_PRESSED, now, modifiers, code, ch));
                if (ch != KeyEvent.CHAR_UNDEFINED) {
                    t.dispatchEvent(new KeyEvent(t, KeyEvent.KEY_TYPED, now, modifiers, KeyEvent.VK_UNDEFINED, ch));
                }
                t.dispatchEvent(new KeyEvent(t, KeyEvent.KEY_RELEASED, now, modifiers, code, ch));
            });
        }).result;
    }

    static int keyCode(String name) throws AgentException {
        String n = name.trim().toUpperCase(Locale.ROOT);
        if (n.startsWith("VK_")) n = n.substring(3);
        try {
            return KeyEvent.class.getField("VK_" + n).getInt(null);
        } catch (ReflectiveOperationException e) {
            throw new AgentException("bad_request", "unknown key " + name);
        }
    }

    private static char keyChar(String name, int code, boolean shift) {
        String n = name.trim();
        if (n.length() == 1) {
            char c = n.charAt(0);
            return shift ? Character.toUpperCase(c) : Character.toLowerCase(c);
        }
        switch (code) {
            case KeyEvent.VK_ENTER: return '\n';
            case KeyEvent.VK_TAB: return '\t';
            case KeyEvent.VK_SPACE: return ' ';
            case KeyEvent.VK_BACK_SPACE: return '\b';
            case KeyEvent.VK_ESCAPE: return (char) 27;
            case KeyEvent.VK_DELETE: return (char) 127;
            default: return KeyEvent.CHAR_UNDEFINED;
        }
    }
}
