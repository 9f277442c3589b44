package ibgateway;

/**
 * The simulated IB Gateway's main class, named like the real one (IBC calls ibgateway.GWClient.main with
 * args[0] = the settings directory). Returns immediately; the Swing UI runs on the EDT.
 */
public class GWClient {
    public static void main(String[] args) {
        ibpilot.sim.Sim.launch(args, true);
    }
}
