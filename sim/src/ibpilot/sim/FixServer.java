package ibpilot.sim;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

/**
 * The FIX CTCI gateway's local port, as far as the simulator models it: a TCP listener on 127.0.0.1 that accepts
 * connections from a FIX engine while the FIX session is logged in. It does not speak FIX (no Logon, no heartbeats):
 * ibpilot's readiness for a FIX gateway is only "the port accepts a connection from our JVM's listener", and the
 * FIX protocol itself is between the user's FIX engine and IB. Events: fix_listening {port}, fix_connect {peer},
 * fix_disconnect {peer}, fix_stopped, fix_error {port, message}.
 */
final class FixServer {
    private volatile ServerSocket server;

    synchronized void start(int port) {
        if (server != null && !server.isClosed()) return;
        try {
            ServerSocket s = new ServerSocket();
            s.setReuseAddress(true);
            s.bind(new java.net.InetSocketAddress(InetAddress.getLoopbackAddress(), port), 50);
            server = s;
        } catch (IOException e) {
            Sim.log("fix_error", "port", port, "message", String.valueOf(e));
            return;
        }
        Sim.log("fix_listening", "port", port);
        ServerSocket s = server;
        Thread t = new Thread(() -> accept(s), "sim-fix-accept");
        t.setDaemon(true);
        t.start();
    }

    private void accept(ServerSocket s) {
        while (!s.isClosed()) {
            Socket c;
            try {
                c = s.accept();
            } catch (IOException e) {
                return;
            }
            String peer = c.getInetAddress().getHostAddress() + ":" + c.getPort();
            Sim.log("fix_connect", "peer", peer);
            Thread t = new Thread(() -> drain(c, peer), "sim-fix-conn");
            t.setDaemon(true);
            t.start();
        }
    }

    private static void drain(Socket c, String peer) {
        try (Socket sock = c; InputStream in = sock.getInputStream()) {
            byte[] buf = new byte[4096];
            while (in.read(buf) >= 0) {
                // a FIX engine's messages are read and dropped (not simulated)
            }
        } catch (IOException e) {
            // connection reset: same as a close
        }
        Sim.log("fix_disconnect", "peer", peer);
    }

    synchronized void stop() {
        ServerSocket s = server;
        server = null;
        if (s == null) return;
        try {
            s.close();
        } catch (IOException e) {
            // already closed
        }
        Sim.log("fix_stopped");
    }
}
