package dev.evbench.core;

import java.nio.charset.StandardCharsets;

/** {@code events::encode_into}: a signal's JSON in evbench's fixed layout (dead-letter re-encodings). */
public final class SignalEncoder {
    private SignalEncoder() {}

    public static byte[] encode(Rec r, String chargerId) {
        StringBuilder sb = new StringBuilder(160);
        sb.append("{\"timestamp\":").append(r.key.ts());
        sb.append(",\"charger_id\":");
        str(sb, chargerId);
        switch (r.kind) {
            case Kinds.A, Kinds.L -> {
                sb.append(",\"vehicle_detected\":").append(r.kind == Kinds.A);
                sb.append(",\"plate\":");
                optStr(sb, r.text);
            }
            case Kinds.I, Kinds.D -> {
                sb.append(",\"user_id\":");
                optStr(sb, r.text);
                sb.append(",\"price\":");
                sb.append(Double.isFinite(r.price) ? Floats.json(r.price) : "null");
                sb.append(",\"user_connection\":").append(r.kind == Kinds.I);
            }
            default -> {
                sb.append(",\"recharging\":").append(r.kind == Kinds.S);
                sb.append(",\"energy_delivered\":").append(r.power);
            }
        }
        if (r.seq) {
            sb.append(",\"seq\":").append(Long.toUnsignedString(r.key.tb()));
        }
        sb.append('}');
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    private static void optStr(StringBuilder sb, String s) {
        if (s == null) {
            sb.append("null");
        } else {
            str(sb, s);
        }
    }

    private static void str(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"') {
                sb.append("\\\"");
            } else if (c == '\\') {
                sb.append("\\\\");
            } else if (c < 0x20) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        sb.append('"');
    }
}
