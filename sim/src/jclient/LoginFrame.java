package jclient;

/**
 * The simulated TWS's main class, named like the real one (IBC calls jclient.LoginFrame.main with
 * args[0] = the settings directory). Returns immediately; the Swing UI runs on the EDT.
 */
public class LoginFrame {
    public static void main(String[] args) {
        ibpilot.sim.Sim.launch(args, false);
    }
}
