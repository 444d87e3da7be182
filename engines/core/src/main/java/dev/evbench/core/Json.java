package dev.evbench.core;

/** JSON text as serde_json writes it (strings, optional values, doubles). */
public final class Json {
    private Json() {}

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    /** serde_json's string escaping: short escapes for \b \t \n \f \r, \\u00XX for other controls. */
    public static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\b' -> sb.append("\\b");
                case '\t' -> sb.append("\\t");
                case '\n' -> sb.append("\\n");
                case '\f' -> sb.append("\\f");
                case '\r' -> sb.append("\\r");
                default -> {
                    if (c < 0x20) {
                        sb.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 0xF]);
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }

    public static void optString(StringBuilder sb, String s) {
        if (s == null) {
            sb.append("null");
        } else {
            string(sb, s);
        }
    }

    /** A double as serde_json writes it; non-finite values and null as {@code null}. */
    public static void optDouble(StringBuilder sb, Double d) {
        if (d == null || !Double.isFinite(d)) {
            sb.append("null");
        } else {
            sb.append(Floats.json(d));
        }
    }
}
