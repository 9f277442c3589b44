package ibpilot.sim.api;

import java.io.DataInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Framing of the TWS API wire (tws-api.md §1): the "API\0" handshake and its version range, 4-byte
 * big-endian length-prefixed frames of NUL-terminated fields, and lenient field readers. Stateless:
 * no sockets, no server, no session.
 */
final class Wire {
    /** Frames above this are garbage: close (tws-api.md has no limit; ours protects the JVM). */
    static final int MAX_FRAME = 16 << 20;
    static final int MAX_HANDSHAKE = 4096;

    private Wire() {}

    /** The peer broke the framing; the message is the reason for the api_protocol_error event. */
    static final class ProtocolError extends Exception {
        private static final long serialVersionUID = 1L;

        ProtocolError(String reason) {
            super(reason, null, false, false);
        }
    }

    /** Reads "API\0" + one length-prefixed version string; returns it trimmed (ISO-8859-1). */
    static String readHandshake(DataInputStream in) throws IOException, ProtocolError {
        byte[] magic = new byte[4];
        in.readFully(magic);
        if (magic[0] != 'A' || magic[1] != 'P' || magic[2] != 'I' || magic[3] != 0) {
            throw new ProtocolError("no API\\0 prefix");
        }
        int n = in.readInt();
        if (n <= 0 || n > MAX_HANDSHAKE) throw new ProtocolError("bad handshake length " + n);
        byte[] b = new byte[n];
        in.readFully(b);
        return new String(b, StandardCharsets.ISO_8859_1).trim();
    }

    /** Reads one frame and returns its fields (empty for an empty frame). */
    static List<String> readMessage(DataInputStream in) throws IOException, ProtocolError {
        int n = in.readInt();
        if (n < 0 || n > MAX_FRAME) throw new ProtocolError("bad frame length " + n);
        if (n == 0) return List.of();
        byte[] payload = new byte[n];
        in.readFully(payload);
        return split(payload);
    }

    /** "v<min>..<max>[ options]" or "v<n>" → min(max, 176), or -1 when there is no overlap. */
    static int negotiate(String s) {
        if (!s.startsWith("v")) return -1;
        String body = s.substring(1);
        int sp = body.indexOf(' ');
        if (sp >= 0) body = body.substring(0, sp);
        int lo;
        int hi;
        try {
            int dots = body.indexOf("..");
            if (dots >= 0) {
                lo = Integer.parseInt(body.substring(0, dots));
                hi = Integer.parseInt(body.substring(dots + 2));
            } else {
                lo = hi = Integer.parseInt(body);
            }
        } catch (NumberFormatException e) {
            return -1;
        }
        int v = Math.min(hi, ApiServer.SERVER_VERSION);
        if (v < lo || v < ApiServer.MIN_CLIENT_VERSION) return -1;
        return v;
    }

    static List<String> split(byte[] payload) {
        List<String> f = new ArrayList<>();
        int start = 0;
        for (int k = 0; k < payload.length; k++) {
            if (payload[k] == 0) {
                f.add(new String(payload, start, k - start, StandardCharsets.UTF_8));
                start = k + 1;
            }
        }
        if (start < payload.length) f.add(new String(payload, start, payload.length - start, StandardCharsets.UTF_8));
        return f;
    }

    /** Length prefix + each field UTF-8 encoded and NUL-terminated (null → empty). */
    static byte[] frame(String... fields) {
        int len = 0;
        byte[][] enc = new byte[fields.length][];
        for (int k = 0; k < fields.length; k++) {
            enc[k] = (fields[k] == null ? "" : fields[k]).getBytes(StandardCharsets.UTF_8);
            len += enc[k].length + 1;
        }
        byte[] b = new byte[4 + len];
        b[0] = (byte) (len >>> 24);
        b[1] = (byte) (len >>> 16);
        b[2] = (byte) (len >>> 8);
        b[3] = (byte) len;
        int p = 4;
        for (byte[] e : enc) {
            System.arraycopy(e, 0, b, p, e.length);
            p += e.length;
            b[p++] = 0;
        }
        return b;
    }

    // ------------------------------------------------------------------ field readers

    /** Field i, or "" when the message is shorter. */
    static String f(List<String> fields, int i) {
        return i < fields.size() ? fields.get(i) : "";
    }

    /** Field i as an int ("1.0" accepted), or dflt when missing or not a number. */
    static int i(List<String> fields, int i, int dflt) {
        String s = f(fields, i).trim();
        if (s.isEmpty()) return dflt;
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            try {
                return (int) Double.parseDouble(s);
            } catch (NumberFormatException e2) {
                return dflt;
            }
        }
    }

    /** Field i as a boolean: "1" or "true". */
    static boolean b(List<String> fields, int i) {
        String s = f(fields, i).trim();
        return s.equals("1") || s.equalsIgnoreCase("true");
    }
}
