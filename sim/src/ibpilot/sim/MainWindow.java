package ibpilot.sim;

import java.awt.BorderLayout;
import java.awt.Color;
import java.awt.Dimension;
import java.awt.FlowLayout;
import java.awt.Font;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;
import javax.swing.BorderFactory;
import javax.swing.JButton;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JMenu;
import javax.swing.JMenuBar;
import javax.swing.JMenuItem;
import javax.swing.JPanel;
import javax.swing.JScrollPane;
import javax.swing.JTextArea;
import javax.swing.WindowConstants;

/**
 * The main window (gateway-ui.md §2.5, §7). Gateway: JFrame titled "Loading..." until login completes, then
 * "IBKR Gateway"; JMenuBar File > Close (+ Save Settings), Configure > Settings (disabled until login completes),
 * Help > About IB Gateway. TWS: File > Lock Application / Save Settings / Restart... / Exit, Edit > Global
 * Configuration..., Help > About Trader Workstation. Ctrl+Alt+R / Ctrl+Alt+F: see {@link Commands}. Undecorated, so IBC's RESTART setOpacity(0.8f) cannot throw (§3 RESTART).
 */
public final class MainWindow {
    public final JFrame frame;
    final JMenuItem settingsItem;
    final JLabel titleBar = new JLabel();
    final JLabel status = new JLabel("Connecting...");
    final JTextArea log = new JTextArea(12, 60);

    MainWindow(Sim sim) {
        frame = Ui.track(new JFrame("Loading..."));
        frame.setUndecorated(true);
        frame.setDefaultCloseOperation(WindowConstants.DO_NOTHING_ON_CLOSE);
        frame.addWindowListener(new WindowAdapter() {
            @Override public void windowClosing(WindowEvent e) {
                Sim.log("clicked", "window", frame.getTitle(), "button", "close");
                sim.confirmExit();
            }
        });
        JMenuBar bar = new JMenuBar();
        if (sim.gateway) {
            JMenu file = new JMenu("File");
            file.add(item("Save Settings", () -> Sim.log("settings_saved_menu")));
            file.addSeparator();
            file.add(item("Close", sim::confirmExit));
            JMenu configure = new JMenu("Configure");
            settingsItem = item("Settings", sim::openConfig);
            settingsItem.setEnabled(false);
            configure.add(settingsItem);
            JMenu help = new JMenu("Help");
            help.add(item("About IB Gateway", () -> Dialogs.about(sim)));
            bar.add(file);
            bar.add(configure);
            bar.add(help);
        } else {
            JMenu file = new JMenu("File");
            file.add(item("Lock Application", () -> Sim.log("locked")));
            file.add(item("Save Settings", () -> Sim.log("settings_saved_menu")));
            file.add(item("Restart...", sim.commands::restartMenu)); // IBC's RESTART tries it first (gateway-ui.md §3)
            file.addSeparator();
            file.add(item("Exit", sim::confirmExit));
            JMenu edit = new JMenu("Edit");
            settingsItem = item("Global Configuration...", sim::openConfig);
            edit.add(settingsItem);
            JMenu account = new JMenu("Account");
            account.add(item("Trade Log", () -> Notices.trades(sim))); // IBC reopens the Trades frame through it
            JMenu help = new JMenu("Help");
            help.add(item("About Trader Workstation", () -> Dialogs.about(sim)));
            bar.add(file);
            bar.add(edit);
            bar.add(account);
            bar.add(help);
        }

        JPanel root = new JPanel(new BorderLayout());
        root.setBorder(BorderFactory.createLineBorder(Color.DARK_GRAY));
        JPanel top = new JPanel(new BorderLayout());
        top.setBackground(new Color(0xD8, 0x1E, 0x2C));
        titleBar.setForeground(Color.WHITE);
        titleBar.setFont(titleBar.getFont().deriveFont(Font.BOLD, 13f));
        titleBar.setBorder(BorderFactory.createEmptyBorder(4, 8, 4, 8));
        titleBar.setText("Loading...");
        top.add(titleBar, BorderLayout.CENTER);
        JPanel ctl = new JPanel(new FlowLayout(FlowLayout.RIGHT, 2, 2));
        ctl.setOpaque(false);
        // title-bar buttons as on the real custom title bar: named, not labelled (gateway-ui.md §7)
        for (String n : new String[] {"Minimize", "Close"}) {
            JButton b = new JButton(n.equals("Close") ? "x" : "_");
            b.setName(n);
            b.setMargin(new java.awt.Insets(0, 6, 0, 6));
            b.setFocusable(false);
            if (n.equals("Close")) b.addActionListener(e -> Ui.safe(sim::confirmExit));
            else b.addActionListener(e -> frame.setState(JFrame.ICONIFIED));
            ctl.add(b);
        }
        top.add(ctl, BorderLayout.EAST);
        // the custom title bar sits above the menu bar (undecorated frame); IBC searches every JMenuBar in the window
        JPanel north = new JPanel(new BorderLayout());
        north.add(top, BorderLayout.NORTH);
        north.add(bar, BorderLayout.SOUTH);
        root.add(north, BorderLayout.NORTH);

        JPanel center = new JPanel(new BorderLayout(6, 6));
        center.setBorder(BorderFactory.createEmptyBorder(8, 8, 8, 8));
        status.setFont(status.getFont().deriveFont(Font.BOLD));
        center.add(status, BorderLayout.NORTH);
        log.setEditable(false);
        log.setFont(new Font(Font.MONOSPACED, Font.PLAIN, 11));
        center.add(new JScrollPane(log), BorderLayout.CENTER);
        root.add(center, BorderLayout.CENTER);
        frame.setContentPane(root);
        frame.setPreferredSize(new Dimension(640, 360));
        frame.pack();
        frame.setLocation(60, 60);
    }

    private static JMenuItem item(String text, Runnable action) {
        JMenuItem it = new JMenuItem(text);
        it.addActionListener(e -> {
            Sim.log("menu", "item", text);
            Ui.safe(action);
        });
        return it;
    }

    void setTitle(String t) {
        frame.setTitle(t);
        titleBar.setText(t);
    }

    void append(String line) {
        Ui.edt(() -> {
            log.append(java.time.LocalTime.now().withNano(0) + "  " + line + "\n");
            log.setCaretPosition(log.getDocument().getLength());
        });
    }
}
