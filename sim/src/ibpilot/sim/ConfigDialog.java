package ibpilot.sim;

import java.awt.BorderLayout;
import java.awt.Color;
import java.awt.Component;
import java.awt.Dimension;
import java.awt.FlowLayout;
import java.awt.Font;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;
import java.util.function.Consumer;
import javax.swing.BorderFactory;
import javax.swing.Box;
import javax.swing.BoxLayout;
import javax.swing.ButtonGroup;
import javax.swing.DefaultListModel;
import javax.swing.JButton;
import javax.swing.JCheckBox;
import javax.swing.JComponent;
import javax.swing.JDialog;
import javax.swing.JLabel;
import javax.swing.JList;
import javax.swing.JOptionPane;
import javax.swing.JPanel;
import javax.swing.JRadioButton;
import javax.swing.JScrollPane;
import javax.swing.JTextField;
import javax.swing.JTree;
import javax.swing.WindowConstants;
import javax.swing.event.DocumentEvent;
import javax.swing.event.DocumentListener;
import javax.swing.tree.DefaultMutableTreeNode;
import javax.swing.tree.DefaultTreeModel;
import javax.swing.tree.TreePath;
import javax.swing.tree.TreeSelectionModel;

/**
 * JDialog "&lt;account&gt; Trader Workstation Configuration" (gateway-ui.md §2.4). JTree root "Configuration" with
 * "API" &gt; {"Settings", "Precautions"} and "Lock and Exit"; only the selected page is in the hierarchy (the right
 * panel is rebuilt synchronously in the TreeSelectionListener). Every edit goes straight into a working copy of
 * the settings, so values survive page switches; OK = apply + persist + close, Apply = apply + persist,
 * Cancel = discard.
 */
public final class ConfigDialog {
    final JDialog dialog;
    final Sim sim;
    final SimSettings w;
    final JPanel right = new JPanel(new BorderLayout());
    final JTree tree;
    String lockTimeText;

    ConfigDialog(Sim sim, String account) {
        this.sim = sim;
        this.w = sim.settings.copy();
        this.lockTimeText = w.lockTime;
        dialog = Ui.track(new JDialog(sim.mainFrame(), account + " Trader Workstation Configuration", false));
        dialog.setDefaultCloseOperation(WindowConstants.DO_NOTHING_ON_CLOSE);
        dialog.addWindowListener(new WindowAdapter() {
            @Override public void windowClosing(WindowEvent e) {
                Sim.log("clicked", "window", dialog.getTitle(), "button", "close");
                Ui.dispose(dialog);
            }
        });

        DefaultMutableTreeNode root = new DefaultMutableTreeNode("Configuration");
        DefaultMutableTreeNode api = new DefaultMutableTreeNode("API");
        DefaultMutableTreeNode settings = new DefaultMutableTreeNode("Settings");
        api.add(settings);
        api.add(new DefaultMutableTreeNode("Precautions"));
        root.add(api);
        root.add(new DefaultMutableTreeNode("Lock and Exit"));
        tree = new JTree(new DefaultTreeModel(root));
        tree.getSelectionModel().setSelectionMode(TreeSelectionModel.SINGLE_TREE_SELECTION);
        for (int i = 0; i < tree.getRowCount(); i++) tree.expandRow(i);
        tree.addTreeSelectionListener(e -> Ui.safe(() -> show(e.getNewLeadSelectionPath())));

        JScrollPane treeScroll = new JScrollPane(tree);
        treeScroll.setPreferredSize(new Dimension(190, 420));

        JPanel buttons = new JPanel(new FlowLayout(FlowLayout.RIGHT));
        buttons.add(Ui.button("OK", () -> { if (apply()) Ui.dispose(dialog); }));
        buttons.add(Ui.button("Apply", this::apply));
        buttons.add(Ui.button("Cancel", () -> Ui.dispose(dialog)));

        JPanel content = new JPanel(new BorderLayout(6, 6));
        content.setBorder(BorderFactory.createEmptyBorder(6, 6, 6, 6));
        content.add(treeScroll, BorderLayout.WEST);
        right.setPreferredSize(new Dimension(560, 420));
        content.add(right, BorderLayout.CENTER);
        content.add(buttons, BorderLayout.SOUTH);
        dialog.setContentPane(content);
        tree.setSelectionPath(new TreePath(new Object[] {root, api, settings}));
        dialog.pack();
        dialog.setLocationRelativeTo(sim.mainFrame());
    }

    private void show(TreePath path) {
        right.removeAll();
        if (path != null) {
            String leaf = path.getLastPathComponent().toString();
            String parent = path.getPathCount() > 2 ? path.getPathComponent(path.getPathCount() - 2).toString() : "";
            JComponent page;
            if (leaf.equals("Settings") && parent.equals("API")) page = settingsPage();
            else if (leaf.equals("Precautions")) page = precautionsPage();
            else if (leaf.equals("Lock and Exit")) page = lockAndExitPage();
            else page = emptyPage(leaf);
            right.add(page, BorderLayout.CENTER);
        }
        right.revalidate();
        right.repaint();
    }

    private static JPanel column(String title) {
        JPanel p = new JPanel();
        p.setLayout(new BoxLayout(p, BoxLayout.Y_AXIS));
        p.setBorder(BorderFactory.createEmptyBorder(4, 10, 4, 4));
        JLabel t = new JLabel(title);
        t.setFont(t.getFont().deriveFont(Font.BOLD, 14f));
        t.setAlignmentX(Component.LEFT_ALIGNMENT);
        p.add(t);
        p.add(Box.createVerticalStrut(8));
        return p;
    }

    private static <C extends JComponent> C left(C c) {
        c.setAlignmentX(Component.LEFT_ALIGNMENT);
        return c;
    }

    private JCheckBox check(String text, boolean value, Consumer<Boolean> set) {
        JCheckBox b = new JCheckBox(text, value);
        Ui.onClick(b, null);
        b.addItemListener(e -> set.accept(b.isSelected()));
        return left(b);
    }

    private static JTextField field(String text, int cols, Consumer<String> set) {
        JTextField f = new JTextField(text, cols);
        f.setMaximumSize(f.getPreferredSize());
        f.getDocument().addDocumentListener(new DocumentListener() {
            void upd() { set.accept(f.getText()); }
            @Override public void insertUpdate(DocumentEvent e) { upd(); }
            @Override public void removeUpdate(DocumentEvent e) { upd(); }
            @Override public void changedUpdate(DocumentEvent e) { upd(); }
        });
        return f;
    }

    /** A container NAMED name (IBC's findComponent) holding a label and a text field. */
    private static JPanel named(String name, String label, JTextField f) {
        JPanel p = new JPanel(new FlowLayout(FlowLayout.LEFT, 0, 2));
        p.setName(name);
        JLabel l = new JLabel(label + "  ");
        l.setPreferredSize(new Dimension(150, l.getPreferredSize().height));
        p.add(l);
        p.add(f);
        p.setMaximumSize(new Dimension(Integer.MAX_VALUE, p.getPreferredSize().height));
        return left(p);
    }

    String portText;
    JComponent settingsPage() {
        JPanel p = column("API - Settings");
        if (!sim.gateway) p.add(check("Enable ActiveX and Socket Clients", w.enableActiveX, v -> w.enableActiveX = v));
        p.add(check("Read-Only API", w.readOnlyApi, v -> w.readOnlyApi = v));
        p.add(check("Create API message log file", w.createApiLog, v -> w.createApiLog = v));
        if (portText == null) portText = String.valueOf(sim.effectivePort(w));
        p.add(named("Socket port", "Socket port", field(portText, 7, v -> portText = v)));
        p.add(named("Master API client ID", "Master API client ID", field(w.masterClientId, 7, v -> w.masterClientId = v)));
        p.add(check("Allow connections from localhost only", w.localhostOnly, v -> w.localhostOnly = v));
        p.add(check("Send market data in lots for US stocks for dual-mode API clients", w.sendLots, v -> w.sendLots = v));
        p.add(Box.createVerticalStrut(8));
        p.add(left(new JLabel("Trusted IPs")));
        DefaultListModel<String> ips = new DefaultListModel<>();
        for (String ip : w.trustedIps) ips.addElement(ip);
        JList<String> list = new JList<>(ips);
        list.setVisibleRowCount(4);
        JScrollPane sp = left(new JScrollPane(list));
        sp.setMaximumSize(new Dimension(260, 90));
        p.add(sp);
        JPanel ipButtons = left(new JPanel(new FlowLayout(FlowLayout.LEFT, 0, 2)));
        ipButtons.add(Ui.button("Create", () -> {
            String ip = JOptionPane.showInputDialog(dialog, "Trusted IP address", "Create", JOptionPane.PLAIN_MESSAGE);
            if (ip != null && !ip.trim().isEmpty()) {
                w.trustedIps.add(ip.trim());
                ips.addElement(ip.trim());
            }
        }));
        ipButtons.add(Ui.button("Delete", () -> {
            int i = list.getSelectedIndex();
            if (i >= 0) {
                w.trustedIps.remove(i);
                ips.remove(i);
            }
        }));
        ipButtons.setMaximumSize(new Dimension(Integer.MAX_VALUE, ipButtons.getPreferredSize().height));
        p.add(ipButtons);
        p.add(Box.createVerticalStrut(8));
        p.add(left(Ui.button("Reset API order ID sequence", () -> Dialogs.confirmOrderIdReset(sim, dialog))));
        return p;
    }

    JComponent precautionsPage() {
        JPanel p = column("API - Precautions");
        for (String b : SimSettings.BYPASSES) p.add(check(b, Boolean.TRUE.equals(w.bypass.get(b)), v -> w.bypass.put(b, v)));
        return p;
    }

    JComponent lockAndExitPage() {
        JPanel page = column("Lock and Exit");
        // Container C: IBC takes the label's parent's parent (gateway-ui.md §2.4).
        JPanel c = left(new JPanel());
        c.setLayout(new BoxLayout(c, BoxLayout.Y_AXIS));
        c.setBorder(BorderFactory.createTitledBorder("Auto Logoff / Restart"));
        JPanel labelPanel = left(new JPanel(new FlowLayout(FlowLayout.LEFT, 0, 2)));
        labelPanel.add(new JLabel(sim.lockLabel()));
        c.add(labelPanel);

        JPanel timeRow = left(new JPanel(new FlowLayout(FlowLayout.LEFT, 4, 2)));
        timeRow.add(field(lockTimeText, 5, v -> lockTimeText = v));
        JRadioButton am = new JRadioButton("AM", !w.lockPm);
        JRadioButton pm = new JRadioButton("PM", w.lockPm);
        ButtonGroup g = new ButtonGroup();
        g.add(am);
        g.add(pm);
        Ui.onClick(am, null);
        Ui.onClick(pm, null);
        pm.addItemListener(e -> w.lockPm = pm.isSelected());
        timeRow.add(am);
        timeRow.add(pm);
        c.add(timeRow);

        JPanel actionRow = left(new JPanel(new FlowLayout(FlowLayout.LEFT, 4, 2)));
        JRadioButton logoff = new JRadioButton("Auto logoff", "logoff".equals(w.lockAction));
        JRadioButton restart = new JRadioButton("Auto restart", "restart".equals(w.lockAction));
        ButtonGroup g2 = new ButtonGroup();
        g2.add(logoff);
        g2.add(restart);
        Ui.onClick(logoff, null);
        Ui.onClick(restart, null);
        restart.addItemListener(e -> w.lockAction = restart.isSelected() ? "restart" : "logoff");
        actionRow.add(logoff);
        actionRow.add(restart);
        c.add(actionRow);
        c.setMaximumSize(new Dimension(Integer.MAX_VALUE, c.getPreferredSize().height));
        page.add(c);
        return page;
    }

    JComponent emptyPage(String leaf) {
        JPanel p = column(leaf);
        JLabel l = left(new JLabel("Select a section on the left."));
        l.setForeground(Color.GRAY);
        p.add(l);
        return p;
    }

    /** Validates the working copy and hands it to the simulator; false (and an error box) when invalid. */
    boolean apply() {
        if (portText != null) {
            try {
                int port = Integer.parseInt(portText.trim());
                if (port < 1 || port > 65535) throw new NumberFormatException("range");
                if (port != sim.effectivePort(sim.settings) || w.port != null) w.port = port;
            } catch (NumberFormatException e) {
                Dialogs.error(sim, dialog, "Invalid socket port: " + portText);
                return false;
            }
        }
        String t = lockTimeText == null ? "" : lockTimeText.trim();
        if (!t.matches("(0?[1-9]|1[0-2]):[0-5]\\d")) {
            Dialogs.error(sim, dialog, "Invalid time: " + t + " (expected hh:mm)");
            return false;
        }
        w.lockTime = t;
        SimSettings n = w.copy();
        if (!sim.gateway && sim.sc.bool("api_port_confirm", false) && sim.settings.enableActiveX && n.enableActiveX
                && sim.effectivePort(n) != sim.effectivePort(sim.settings)) {
            // TWS asks before moving the API port (gateway-ui.md §2.2 #16); the dialog stays open until answered
            Notices.confirmApiPort(sim, yes -> {
                if (!yes) n.port = sim.settings.port;
                sim.applySettings(n);
                Ui.dispose(dialog);
            });
            return false;
        }
        sim.applySettings(n);
        return true;
    }
}
