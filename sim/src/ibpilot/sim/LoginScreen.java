package ibpilot.sim;

import java.awt.BorderLayout;
import java.awt.Color;
import java.awt.Dimension;
import java.awt.FlowLayout;
import java.awt.Font;
import java.awt.GridBagConstraints;
import java.awt.GridBagLayout;
import java.awt.GridLayout;
import java.awt.Insets;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;
import javax.swing.BorderFactory;
import javax.swing.ButtonGroup;
import javax.swing.JButton;
import javax.swing.JCheckBox;
import javax.swing.JFrame;
import javax.swing.JLabel;
import javax.swing.JPanel;
import javax.swing.JPasswordField;
import javax.swing.JTextField;
import javax.swing.JToggleButton;
import javax.swing.SwingConstants;
import javax.swing.WindowConstants;

/**
 * The login frame (gateway-ui.md §2.3, §7). Gateway: JFrame "IBKR Gateway" with the language JButton "English",
 * JLabel "API Type" + JToggleButtons "FIX CTCI"/"IB API", JLabel "Trading Mode" + "Live Trading"/"Paper Trading",
 * username JTextField then JPasswordField, JButton "Log In" (text "Paper Log In" when paper is selected),
 * JCheckBox "Use SSL". TWS: JFrame "Login", the same without the API type, plus "Use/store settings on server".
 * "FIX CTCI" selected: the FIX login area comes first (see {@link #buildCredentials}). TWS 1016+ shows its second
 * factor inside this frame ({@link #morph}).
 */
public final class LoginScreen {
    public final JFrame frame;
    final JToggleButton ibApi = new JToggleButton("IB API");
    final JToggleButton fix = new JToggleButton("FIX CTCI");
    final JToggleButton live = new JToggleButton("Live Trading");
    final JToggleButton paper = new JToggleButton("Paper Trading");
    final JTextField user = new JTextField(16);
    final JPasswordField password = new JPasswordField(16);
    final JTextField fixUser = new JTextField(16);
    final JPasswordField fixPassword = new JPasswordField(16);
    /** The credential rows: rebuilt when the API type changes (FIX CTCI adds its own login area first). */
    private final JPanel creds = new JPanel(new GridBagLayout());
    private final JPanel root = new JPanel(new BorderLayout());
    final JCheckBox ssl = new JCheckBox("Use SSL", true);
    final JButton login;
    final JLabel status = new JLabel(" ");

    LoginScreen(Sim sim, String initialMode) {
        gatewayProduct = sim.gateway;
        frame = Ui.track(new JFrame(sim.gateway ? "IBKR Gateway" : "Login"));
        frame.setDefaultCloseOperation(WindowConstants.DO_NOTHING_ON_CLOSE);
        frame.addWindowListener(new WindowAdapter() {
            @Override public void windowClosing(WindowEvent e) {
                Sim.log("clicked", "window", frame.getTitle(), "button", "close");
                sim.exit(0, "login frame closed");
            }
        });
        login = Ui.button("Log In", () -> sim.onLogInClicked(this));

        root.setBackground(Color.WHITE);

        JPanel header = new JPanel(new BorderLayout());
        header.setBackground(new Color(0xD8, 0x1E, 0x2C));
        // TWS: a JLabel containing "Login" (IBC's TWS 1016+ poll for the in-frame second factor looks for one)
        JLabel brand = new JLabel(sim.gateway ? "  IBKR Gateway" : "  Trader Workstation Login");
        brand.setForeground(Color.WHITE);
        brand.setFont(brand.getFont().deriveFont(Font.BOLD, 18f));
        brand.setPreferredSize(new Dimension(100, 46));
        header.add(brand, BorderLayout.CENTER);
        JButton english = Ui.button("English", null);
        JPanel lang = new JPanel(new FlowLayout(FlowLayout.RIGHT, 8, 8));
        lang.setOpaque(false);
        lang.add(english);
        header.add(lang, BorderLayout.EAST);
        root.add(header, BorderLayout.NORTH);

        JPanel body = new JPanel(new GridBagLayout());
        body.setBackground(Color.WHITE);
        body.setBorder(BorderFactory.createEmptyBorder(14, 28, 10, 28));
        GridBagConstraints c = new GridBagConstraints();
        c.insets = new Insets(5, 4, 5, 4);
        c.fill = GridBagConstraints.HORIZONTAL;
        int row = 0;

        if (sim.gateway) {
            ButtonGroup api = new ButtonGroup();
            api.add(fix);
            api.add(ibApi);
            ibApi.setSelected(true);
            Ui.onClick(fix, this::apiTypeChanged);
            Ui.onClick(ibApi, this::apiTypeChanged);
            addRow(body, c, row++, new JLabel("API Type"), pair(fix, ibApi));
        }
        ButtonGroup tm = new ButtonGroup();
        tm.add(live);
        tm.add(paper);
        (initialMode.equals("paper") ? paper : live).setSelected(true);
        Ui.onClick(live, this::modeChanged);
        Ui.onClick(paper, this::modeChanged);
        live.addItemListener(e -> modeChanged());
        addRow(body, c, row++, new JLabel("Trading Mode"), pair(live, paper));

        creds.setOpaque(false);
        c.gridx = 0;
        c.gridy = row++;
        c.gridwidth = 2;
        body.add(creds, c);
        c.gridwidth = 1;
        buildCredentials();

        c.gridx = 1;
        c.gridy = row++;
        c.gridwidth = 1;
        login.setFont(login.getFont().deriveFont(Font.BOLD, 14f));
        login.setPreferredSize(new Dimension(220, 34));
        body.add(login, c);

        c.gridy = row++;
        JPanel opts = new JPanel(new FlowLayout(FlowLayout.LEFT, 0, 0));
        opts.setOpaque(false);
        ssl.setOpaque(false);
        Ui.onClick(ssl, null);
        opts.add(ssl);
        if (!sim.gateway) {
            JCheckBox store = new JCheckBox("Use/store settings on server");
            store.setOpaque(false);
            Ui.onClick(store, null);
            opts.add(store);
        }
        body.add(opts, c);

        c.gridy = row++;
        status.setForeground(new Color(0x99, 0, 0));
        body.add(status, c);

        root.add(body, BorderLayout.CENTER);
        JLabel foot = new JLabel(sim.gateway ? "Gateway (simulated by ibpilot)" : "TWS (simulated by ibpilot)",
                SwingConstants.CENTER);
        foot.setForeground(Color.GRAY);
        foot.setBorder(BorderFactory.createEmptyBorder(4, 4, 8, 4));
        root.add(foot, BorderLayout.SOUTH);

        frame.setContentPane(root);
        modeChanged();
        frame.pack();
        frame.setResizable(false);
        frame.setLocationRelativeTo(null);
    }

    private static JPanel pair(JToggleButton a, JToggleButton b) {
        JPanel p = new JPanel(new GridLayout(1, 2, 0, 0));
        p.setOpaque(false);
        p.add(a);
        p.add(b);
        return p;
    }

    private static void addRow(JPanel body, GridBagConstraints c, int row, JLabel label, java.awt.Component field) {
        c.gridx = 0;
        c.gridy = row;
        c.gridwidth = 1;
        c.weightx = 0;
        body.add(label, c);
        c.gridx = 1;
        c.weightx = 1;
        body.add(field, c);
    }

    boolean fixSelected() { return gatewayProduct && fix.isSelected(); }

    private final boolean gatewayProduct;

    /**
     * IB API: Username, Password. FIX CTCI: the FIX login area (FIX Username, FIX Password) first, then the optional
     * IB API login for market data: so in DFS order 0..3 = FIX user, FIX password, API user, API password, the
     * indexes IBC's setFields uses (gateway-ui.md §2.3). The FIX rows are removed, not hidden, in IB API mode: IBC's
     * findTextField counts invisible fields too.
     */
    private void buildCredentials() {
        creds.removeAll();
        GridBagConstraints c = new GridBagConstraints();
        c.insets = new Insets(5, 4, 5, 4);
        c.fill = GridBagConstraints.HORIZONTAL;
        int row = 0;
        if (fixSelected()) {
            addRow(creds, c, row++, new JLabel("FIX Username"), fixUser);
            addRow(creds, c, row++, new JLabel("FIX Password"), fixPassword);
            c.gridx = 0;
            c.gridy = row++;
            c.gridwidth = 2;
            creds.add(new JLabel("Market data login (IB API, optional)"), c);
            c.gridwidth = 1;
        }
        addRow(creds, c, row++, new JLabel("Username"), user);
        addRow(creds, c, row, new JLabel("Password"), password);
    }

    void apiTypeChanged() {
        buildCredentials();
        creds.revalidate();
        creds.repaint();
        if (frame.isDisplayable()) frame.pack();
    }

    /** TWS 1016+: the frame itself becomes the second factor panel (gateway-ui.md §2.3). */
    void morph(java.awt.Container panel) {
        frame.setContentPane(panel);
        frame.pack();
        frame.setVisible(true);
    }

    /** The login form again (after a cancelled / failed in-frame second factor). */
    void unmorph() {
        if (frame.getContentPane() != root) {
            frame.setContentPane(root);
            frame.pack();
        }
    }

    void modeChanged() {
        login.setText(paper.isSelected() ? "Paper Log In" : "Log In");
    }

    String mode() { return paper.isSelected() ? "paper" : "live"; }

    void setBusy(boolean busy, String message) {
        login.setEnabled(!busy);
        status.setText(message == null || message.isEmpty() ? " " : message);
    }
}
