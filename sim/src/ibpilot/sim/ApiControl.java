package ibpilot.sim;

import ibpilot.json.Json;
import ibpilot.sim.api.ApiServer;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The TWS API server's lifecycle inside the app: it listens only while logged in (tws-api.md §4), on the saved or
 * mode-default port, silent while the paper warning is pending or the API is hung, and follows the configuration
 * dialog's settings. The server itself is {@link ApiServer}.
 */
final class ApiControl {
    private final Sim sim;
    private final Object lock = new Object();
    private ApiServer api;

    ApiControl(Sim sim) {
        this.sim = sim;
    }

    int effectivePort(SimSettings s) {
        if (s.port != null) return s.port;
        Double p = sim.sc.num("api_port", null);
        if (p != null) return p.intValue();
        boolean paper = "paper".equals(sim.mode);
        return sim.gateway ? (paper ? 4002 : 4001) : (paper ? 7497 : 7496);
    }

    void start() {
        synchronized (lock) {
            if (!sim.loggedIn || sim.exiting) return;
            if (!sim.gateway && !sim.settings.enableActiveX) {
                Sim.log("api_disabled", "reason", "Enable ActiveX and Socket Clients is unticked");
                return;
            }
            boolean blockClosed = sim.warningPending && "closed".equals(sim.sc.str("paper_warning_api", "silent"));
            if (blockClosed) {
                Sim.log("api_blocked", "reason", "paper warning not accepted");
                return;
            }
            if (api != null && api.isListening()) return;
            SimSettings settings = sim.settings;
            ApiServer.Config cfg = new ApiServer.Config();
            cfg.port = effectivePort(settings);
            cfg.accounts = new ArrayList<>(sim.accounts);
            cfg.readOnly = settings.readOnlyApi || sim.flow.readOnlySession; // "Enter Read Only" login
            cfg.localhostOnly = settings.localhostOnly;
            cfg.trustedIps = new ArrayList<>(settings.trustedIps);
            cfg.silent = sim.apiHang || sim.warningPending;
            cfg.tickIntervalMs = sim.sc.num("tick_interval_ms", 100.0).intValue();
            ApiServer s = new ApiServer(cfg, new ApiServer.Listener() {
                @Override public void event(String name, Map<String, Object> fields) {
                    Sim.logMap(name, fields);
                    MainWindow m = sim.main;
                    if (m != null) m.append(name + " " + Json.write(fields));
                }
                @Override public boolean acceptIncoming(String peerIp) throws InterruptedException {
                    return askAcceptIncoming(peerIp);
                }
            });
            try {
                s.start();
                api = s;
            } catch (Exception e) {
                Sim.log("api_error", "port", cfg.port, "message", String.valueOf(e));
            }
        }
    }

    void stop() {
        synchronized (lock) {
            if (api != null) {
                api.stop();
                api = null;
            }
        }
    }

    /** The paper warning was accepted: the server answers again (unless the API is hung). */
    void unblock() {
        synchronized (lock) {
            if (api != null) api.setSilent(sim.apiHang);
        }
    }

    /** Scenario hang_at kind api: accept and never answer. */
    void hang() {
        synchronized (lock) {
            if (api != null) api.setSilent(true);
        }
    }

    /**
     * The settings were saved: TWS's "Enable ActiveX and Socket Clients" starts or stops the server, a new port
     * restarts it, the rest is applied to the running one.
     */
    void settingsChanged(int oldPort, boolean oldEnabled) {
        synchronized (lock) {
            boolean enabled = sim.settings.enableActiveX;
            if (!sim.gateway && enabled != oldEnabled) {
                if (enabled) {
                    start();
                } else {
                    stop();
                    Sim.log("api_disabled", "reason", "Enable ActiveX and Socket Clients is unticked");
                }
                return;
            }
            if (api != null) {
                SimSettings settings = sim.settings;
                if (effectivePort(settings) != oldPort) {
                    stop();
                    start();
                } else {
                    api.setReadOnly(settings.readOnlyApi || sim.flow.readOnlySession);
                    api.setLocalhostOnly(settings.localhostOnly);
                    api.setTrustedIps(new ArrayList<>(settings.trustedIps));
                }
            }
        }
    }

    /**
     * Reconnect data: every connected API client sees the market data farm drop and come back (2103 then 2104).
     * Returns how many clients were told.
     */
    int marketDataFarmFlap() {
        synchronized (lock) {
            if (api == null) return 0;
            return api.broadcastError(new int[] {2103, 2104}, new String[] {
                "Market data farm connection is broken:usfarm", "Market data farm connection is OK:usfarm"});
        }
    }

    private boolean askAcceptIncoming(String ip) throws InterruptedException {
        List<String> bl = sim.sc.strings("accept_incoming_buttons");
        if (bl == null || bl.isEmpty()) bl = java.util.Arrays.asList("Yes", "No");
        String title = sim.sc.str("accept_incoming_title", sim.gateway ? "IBKR Gateway" : "IBKR Trader Workstation");
        String[] buttons = bl.toArray(new String[0]);
        Dialogs.Win w = Ui.call(() -> Dialogs.acceptIncoming(sim, ip, title, buttons));
        sim.autoClick(w, buttons[0]);
        try {
            String a = w.answer.get();
            boolean ok = "OK".equalsIgnoreCase(a) || "Yes".equalsIgnoreCase(a);
            Sim.log("accept_incoming_answer", "peer", ip, "button", a, "accepted", ok);
            return ok;
        } catch (InterruptedException e) {
            w.close();
            throw e;
        } catch (Exception e) {
            return false;
        }
    }
}
