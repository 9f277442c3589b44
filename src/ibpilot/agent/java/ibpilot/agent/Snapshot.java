package ibpilot.agent;

import ibpilot.json.Json;

import java.awt.Component;
import java.awt.Container;
import java.awt.Dialog;
import java.awt.Frame;
import java.awt.Rectangle;
import java.awt.Window;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import javax.swing.AbstractButton;
import javax.swing.JComboBox;
import javax.swing.JComponent;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JMenu;
import javax.swing.JMenuBar;
import javax.swing.JMenuItem;
import javax.swing.JPasswordField;
import javax.swing.JTree;
import javax.swing.ListModel;
import javax.swing.border.Border;
import javax.swing.border.CompoundBorder;
import javax.swing.border.TitledBorder;
import javax.swing.text.JTextComponent;
import javax.swing.tree.TreeModel;
import javax.swing.tree.TreePath;

/** Window handles, component paths and JSON snapshots. Snapshot methods must run on the EDT. */
final class Snapshot {
    private static final int MAX_ITEMS = 1000;
    private static final int MAX_TREE_NODES = 2000;
    private static final Map<Window, String> HANDLES = new WeakHashMap<>();
    private static int nextHandle = 1;

    private Snapshot() {}

    static synchronized String handle(Window w) {
        return HANDLES.computeIfAbsent(w, k -> "w" + nextHandle++);
    }

    /** The live window with this handle (showing or not), or null. */
    static synchronized Window window(String handle) {
        for (Map.Entry<Window, String> e : HANDLES.entrySet()) {
            if (e.getValue().equals(handle)) return e.getKey();
        }
        return null;
    }

    static List<Object> windows(String onlyHandle) {
        List<Object> out = new ArrayList<>();
        for (Window w : Window.getWindows()) {
            if (!w.isShowing()) continue;
            if (onlyHandle != null && !onlyHandle.equals(handle(w))) continue;
            out.add(window(w));
        }
        return out;
    }

    static String title(Window w) {
        if (w instanceof Frame) return ((Frame) w).getTitle();
        if (w instanceof Dialog) return ((Dialog) w).getTitle();
        return null;
    }

    static String kind(Window w) {
        return w instanceof Frame ? "frame" : w instanceof Dialog ? "dialog" : "window";
    }

    static Map<String, Object> window(Window w) {
        Rectangle b = w.getBounds();
        Map<String, Object> root = Json.obj("path", new ArrayList<>(), "class", w.getClass().getName(),
                "bases", bases(w.getClass()), "name", w.getName(), "text", title(w),
                "enabled", w.isEnabled(), "visible", w.isVisible(), "showing", w.isShowing());
        root.put("children", children(w, new ArrayList<>()));
        return Json.obj("handle", handle(w), "class", w.getClass().getName(), "kind", kind(w),
                "title", title(w), "modal", w instanceof Dialog && ((Dialog) w).isModal(),
                "focused", w.isFocused(), "bounds", List.of(b.x, b.y, b.width, b.height), "root", root);
    }

    private static List<Object> children(Container c, List<Integer> path) {
        List<Object> out = new ArrayList<>();
        Component[] kids = c.getComponents();
        for (int i = 0; i < kids.length; i++) {
            List<Integer> p = new ArrayList<>(path);
            p.add(i);
            out.add(component(kids[i], p));
        }
        return out;
    }

    static Map<String, Object> component(Component c, List<Integer> path) {
        Map<String, Object> m = Json.obj("path", path, "class", c.getClass().getName(),
                "bases", bases(c.getClass()), "name", c.getName(), "text", null,
                "enabled", c.isEnabled(), "visible", c.isVisible(), "showing", c.isShowing());
        try {
            describe(c, m);
        } catch (RuntimeException e) {
            m.put("error", String.valueOf(e));  // a broken model must not spoil the whole snapshot
        }
        m.put("children", c instanceof Container ? children((Container) c, path) : List.of());
        return m;
    }

    private static void describe(Component c, Map<String, Object> m) {
        if (c instanceof JLabel) {
            m.put("text", ((JLabel) c).getText());
        } else if (c instanceof AbstractButton) {
            AbstractButton b = (AbstractButton) c;
            m.put("text", b.getText());
            m.put("selected", b.isSelected());
        } else if (c instanceof JPasswordField) {
            JPasswordField p = (JPasswordField) c;
            m.put("editable", p.isEditable());
            m.put("length", p.getDocument().getLength());  // never the text
        } else if (c instanceof JTextComponent) {
            JTextComponent t = (JTextComponent) c;
            m.put("text", t.getText());
            m.put("editable", t.isEditable());
        } else if (c instanceof JList) {
            JList<?> l = (JList<?>) c;
            ListModel<?> model = l.getModel();
            List<Object> items = new ArrayList<>();
            for (int i = 0; i < model.getSize() && i < MAX_ITEMS; i++) items.add(str(model.getElementAt(i)));
            m.put("items", items);
            m.put("selected_index", l.getSelectedIndex());
        } else if (c instanceof JComboBox) {
            JComboBox<?> cb = (JComboBox<?>) c;
            List<Object> items = new ArrayList<>();
            for (int i = 0; i < cb.getItemCount() && i < MAX_ITEMS; i++) items.add(str(cb.getItemAt(i)));
            m.put("text", cb.getSelectedItem() == null ? null : str(cb.getSelectedItem()));
            m.put("items", items);
            m.put("selected_index", cb.getSelectedIndex());
            m.put("editable", cb.isEditable());
        } else if (c instanceof JTree) {
            JTree t = (JTree) c;
            TreeModel model = t.getModel();
            if (model != null && model.getRoot() != null) {
                m.put("tree", tree(model, model.getRoot(), new int[] {MAX_TREE_NODES}));
            }
            TreePath sel = t.getSelectionPath();
            if (sel != null) {
                List<Object> names = new ArrayList<>();
                Object[] nodes = sel.getPath();
                for (int i = 1; i < nodes.length; i++) names.add(str(nodes[i]));  // from below the root
                m.put("selection", names);
            } else {
                m.put("selection", null);
            }
        } else if (c instanceof JMenuBar) {
            JMenuBar bar = (JMenuBar) c;
            List<Object> menus = new ArrayList<>();
            for (int i = 0; i < bar.getMenuCount(); i++) {
                JMenu menu = bar.getMenu(i);
                if (menu != null) menus.add(menu(menu));
            }
            m.put("menus", menus);
        }
        if (c instanceof JComponent) {
            String bt = borderTitle(((JComponent) c).getBorder());
            if (bt != null) m.put("border_title", bt);
        }
    }

    private static String borderTitle(Border b) {
        if (b instanceof TitledBorder) return ((TitledBorder) b).getTitle();
        if (b instanceof CompoundBorder) {
            String t = borderTitle(((CompoundBorder) b).getOutsideBorder());
            return t != null ? t : borderTitle(((CompoundBorder) b).getInsideBorder());
        }
        return null;
    }

    private static Map<String, Object> menu(JMenuItem item) {
        List<Object> kids = new ArrayList<>();
        if (item instanceof JMenu) {
            for (Component k : ((JMenu) item).getMenuComponents()) {
                if (k instanceof JMenuItem) kids.add(menu((JMenuItem) k));
            }
        }
        return Json.obj("text", item.getText(), "enabled", item.isEnabled(), "children", kids);
    }

    private static Map<String, Object> tree(TreeModel model, Object node, int[] budget) {
        List<Object> kids = new ArrayList<>();
        budget[0]--;
        int n = model.getChildCount(node);
        for (int i = 0; i < n && budget[0] > 0; i++) kids.add(tree(model, model.getChild(node, i), budget));
        return Json.obj("text", str(node), "children", kids);
    }

    static String str(Object o) {
        return o == null ? "" : String.valueOf(o);
    }

    /** Simple names of the javax.swing / java.awt classes in the superclass chain, nearest first. */
    static List<Object> bases(Class<?> cls) {
        List<Object> out = new ArrayList<>();
        for (Class<?> k = cls; k != null && k != Object.class; k = k.getSuperclass()) {
            String n = k.getName();
            if (n.startsWith("javax.swing.") || n.startsWith("java.awt.")) out.add(k.getSimpleName());
        }
        return out;
    }

    /** The component at {@code path} (child indexes from the window); an empty path is the window. */
    static Component resolve(Window w, List<?> path) throws AgentException {
        Component c = w;
        for (int depth = 0; depth < path.size(); depth++) {
            Object o = path.get(depth);
            if (!(o instanceof Number)) throw new AgentException("bad_request", "path must be a list of integers");
            int i = ((Number) o).intValue();
            if (!(c instanceof Container) || i < 0 || i >= ((Container) c).getComponentCount()) {
                throw new AgentException("no_component", "no component at " + path.subList(0, depth + 1));
            }
            c = ((Container) c).getComponent(i);
        }
        return c;
    }
}
