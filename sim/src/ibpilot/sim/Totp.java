package ibpilot.sim;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.ByteArrayOutputStream;

/** RFC 6238 TOTP: HMAC-SHA1, 30 s steps, 6 digits; base32 secrets (RFC 4648, padding and case ignored). */
public final class Totp {
    private Totp() {}

    public static byte[] base32(String s) {
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int buffer = 0;
        int bits = 0;
        for (char c : s.toUpperCase().toCharArray()) {
            if (c == '=' || c == ' ' || c == '-') continue;
            int v = alphabet.indexOf(c);
            if (v < 0) throw new IllegalArgumentException("not base32: " + c);
            buffer = (buffer << 5) | v;
            bits += 5;
            if (bits >= 8) {
                out.write((buffer >> (bits - 8)) & 0xff);
                bits -= 8;
            }
        }
        return out.toByteArray();
    }

    public static String code(byte[] key, long step) {
        try {
            Mac mac = Mac.getInstance("HmacSHA1");
            mac.init(new SecretKeySpec(key, "HmacSHA1"));
            byte[] msg = new byte[8];
            for (int i = 7; i >= 0; i--) {
                msg[i] = (byte) (step & 0xff);
                step >>= 8;
            }
            byte[] h = mac.doFinal(msg);
            int off = h[h.length - 1] & 0x0f;
            int bin = ((h[off] & 0x7f) << 24) | ((h[off + 1] & 0xff) << 16) | ((h[off + 2] & 0xff) << 8) | (h[off + 3] & 0xff);
            return String.format("%06d", bin % 1_000_000);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    public static String now(String secret) {
        return code(base32(secret), System.currentTimeMillis() / 1000 / 30);
    }

    /** Accepts the current step and one step either side. */
    public static boolean verify(String secret, String code) {
        if (code == null) return false;
        code = code.trim();
        if (!code.matches("\\d{6}")) return false;
        byte[] key = base32(secret);
        long step = System.currentTimeMillis() / 1000 / 30;
        for (long d = -1; d <= 1; d++) {
            if (code(key, step + d).equals(code)) return true;
        }
        return false;
    }
}
