package dev.evbench.core;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.math.BigInteger;

/**
 * Decodes one signal from its JSON bytes: a port of {@code events::decode}
 * ({@code crates/events/src/signal.rs}) with the same acceptance rules: unknown fields are
 * ignored, known fields are type-checked whatever the sensor, a known field given twice is an
 * error, {@code null} is the same as absent, the timestamp is an integer (epoch s or ms), a
 * number (epoch s) or a date string, the sensor is decided by exactly one of
 * {@code vehicle_detected}, {@code user_connection}, {@code recharging}, and a negative or
 * non-finite price is impossible. Error texts are the Rust ones, except the wording of JSON
 * syntax errors (Jackson's, not serde_json's).
 */
public final class SignalDecoder {
    private SignalDecoder() {}

    private static final JsonFactory FACTORY = JsonFactory.builder().build();

    private static final String[] FIELDS = {
        "timestamp", "charger_id", "seq", "vehicle_detected", "plate",
        "user_connection", "user_id", "price", "recharging", "energy_delivered"
    };

    /** A decode error: its message is the Rust {@code events::Error} display. */
    public static final class Bad extends Exception {
        Bad(String message) {
            super(message, null, false, false);
        }
    }

    private static final class Raw {
        int seen;
        // timestamp: one of these
        int tsForm; // 0 absent, 1 integer, 2 float, 3 text
        long tsInt;
        double tsFloat;
        String tsText;
        String chargerId;
        boolean hasSeq;
        long seq;
        Boolean vehicleDetected;
        String plate;
        Boolean userConnection;
        String userId;
        Double price;
        Boolean recharging;
        Long energy;
    }

    /**
     * Decodes {@code bytes} into the signal fields of {@code out}.
     *
     * @throws Bad with the Rust error text when the bytes are no signal
     */
    public static void decode(byte[] bytes, Envelope out) throws Bad {
        Raw raw = new Raw();
        try (JsonParser p = FACTORY.createParser(bytes)) {
            JsonToken t = p.nextToken();
            if (t == JsonToken.START_OBJECT) {
                while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                    String name = p.currentName();
                    p.nextToken();
                    int field = indexOf(name);
                    if (field < 0) {
                        p.skipChildren();
                        continue;
                    }
                    if ((raw.seen & (1 << field)) != 0) {
                        throw json("duplicate field `" + name + "`", p);
                    }
                    raw.seen |= 1 << field;
                    readField(p, field, raw);
                }
            } else if (t == JsonToken.START_ARRAY) {
                // serde's derived structs also read a sequence of all their fields, in order.
                for (int field = 0; field < FIELDS.length; field++) {
                    if (p.nextToken() == JsonToken.END_ARRAY) {
                        throw json("invalid length " + field + ", expected struct RawSignal with 10 elements", p);
                    }
                    readField(p, field, raw);
                }
                if (p.nextToken() != JsonToken.END_ARRAY) {
                    throw json("trailing characters", p);
                }
            } else if (t == null) {
                throw json("EOF while parsing a value", p);
            } else {
                throw json("invalid type: " + describe(t) + ", expected struct RawSignal", p);
            }
            if (p.nextToken() != null) {
                throw json("trailing characters", p);
            }
        } catch (JsonProcessingException e) {
            JsonLocation loc = e.getLocation();
            String where = loc == null ? "" : " at line " + loc.getLineNr() + " column " + loc.getColumnNr();
            throw new Bad("malformed JSON: " + e.getOriginalMessage().replace('\n', ' ') + where);
        } catch (IOException e) {
            throw new Bad("malformed JSON: " + e.getMessage());
        }
        long timestampMs;
        try {
            timestampMs = switch (raw.tsForm) {
                case 1 -> Times.fromInteger(raw.tsInt);
                case 2 -> Times.fromFloat(raw.tsFloat);
                case 3 -> Times.fromText(raw.tsText);
                default -> throw new Bad("missing field `timestamp`");
            };
        } catch (Times.BadTimestamp e) {
            throw new Bad("invalid timestamp: " + e.getMessage());
        }
        if (raw.chargerId == null) {
            throw new Bad("missing field `charger_id`");
        }
        if (raw.chargerId.isEmpty()) {
            throw new Bad("impossible value: empty charger_id");
        }
        out.ts = timestampMs;
        out.chargerId = raw.chargerId;
        out.hasSeq = raw.hasSeq;
        out.seq = raw.seq;
        out.text = null;
        out.price = Double.NaN;
        out.power = 0;
        boolean v = raw.vehicleDetected != null, u = raw.userConnection != null, r = raw.recharging != null;
        if (v && !u && !r) {
            out.kind = raw.vehicleDetected ? Kinds.A : Kinds.L;
            out.text = raw.plate;
        } else if (!v && u && !r) {
            if (raw.price != null && (!Double.isFinite(raw.price) || raw.price < 0.0)) {
                throw new Bad("impossible value: price " + Floats.display(raw.price));
            }
            out.kind = raw.userConnection ? Kinds.I : Kinds.D;
            out.text = raw.userId;
            out.price = raw.price == null ? Double.NaN : raw.price;
        } else if (!v && !u && r) {
            out.kind = raw.recharging ? Kinds.S : Kinds.E;
            out.power = raw.energy == null ? 0 : raw.energy;
        } else if (!v && !u) {
            throw new Bad("unknown sensor: none of `vehicle_detected`, `user_connection`, `recharging` is present");
        } else {
            throw new Bad("ambiguous sensor: more than one of `vehicle_detected`, `user_connection`, `recharging` is present");
        }
    }

    private static int indexOf(String name) {
        for (int i = 0; i < FIELDS.length; i++) {
            if (FIELDS[i].equals(name)) {
                return i;
            }
        }
        return -1;
    }

    private static void readField(JsonParser p, int field, Raw raw) throws IOException {
        JsonToken t = p.currentToken();
        if (t == JsonToken.VALUE_NULL) {
            return; // Option: null is None
        }
        switch (field) {
            case 0 -> {
                switch (t) {
                    case VALUE_NUMBER_INT -> {
                        if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                            raw.tsForm = 2;
                            raw.tsFloat = p.getBigIntegerValue().doubleValue();
                        } else {
                            raw.tsForm = 1;
                            raw.tsInt = p.getLongValue();
                        }
                    }
                    case VALUE_NUMBER_FLOAT -> {
                        raw.tsForm = 2;
                        raw.tsFloat = floatValue(p);
                    }
                    case VALUE_STRING -> {
                        raw.tsForm = 3;
                        raw.tsText = p.getText();
                    }
                    default -> throw json("data did not match any variant of untagged enum RawTimestamp", p);
                }
            }
            case 1 -> raw.chargerId = string(p, "charger_id");
            case 2 -> {
                raw.hasSeq = true;
                raw.seq = unsigned(p, 64, "seq");
            }
            case 3 -> raw.vehicleDetected = bool(p, "vehicle_detected");
            case 4 -> raw.plate = string(p, "plate");
            case 5 -> raw.userConnection = bool(p, "user_connection");
            case 6 -> raw.userId = string(p, "user_id");
            case 7 -> {
                switch (t) {
                    case VALUE_NUMBER_INT -> raw.price = p.getNumberType() == JsonParser.NumberType.BIG_INTEGER
                            ? p.getBigIntegerValue().doubleValue()
                            : (double) p.getLongValue();
                    case VALUE_NUMBER_FLOAT -> raw.price = floatValue(p);
                    default -> throw json("invalid type: " + describe(t) + ", expected f64 for `price`", p);
                }
            }
            case 8 -> raw.recharging = bool(p, "recharging");
            default -> raw.energy = unsigned(p, 32, "energy_delivered");
        }
    }

    private static double floatValue(JsonParser p) throws IOException {
        double d = p.getDoubleValue();
        if (Double.isInfinite(d)) {
            throw json("number out of range", p);
        }
        return d;
    }

    private static final BigInteger U64 = BigInteger.ONE.shiftLeft(64);

    private static long unsigned(JsonParser p, int bits, String name) throws IOException {
        JsonToken t = p.currentToken();
        String expected = bits == 64 ? "u64" : "u32";
        if (t != JsonToken.VALUE_NUMBER_INT) {
            throw json("invalid type: " + describe(t) + ", expected " + expected + " for `" + name + "`", p);
        }
        BigInteger v = p.getBigIntegerValue();
        if (v.signum() < 0 || v.compareTo(bits == 64 ? U64 : BigInteger.ONE.shiftLeft(32)) >= 0) {
            throw json("invalid value: integer `" + v + "`, expected " + expected + " for `" + name + "`", p);
        }
        return v.longValue();
    }

    private static Boolean bool(JsonParser p, String name) throws IOException {
        JsonToken t = p.currentToken();
        if (t == JsonToken.VALUE_TRUE) {
            return Boolean.TRUE;
        }
        if (t == JsonToken.VALUE_FALSE) {
            return Boolean.FALSE;
        }
        throw json("invalid type: " + describe(t) + ", expected a boolean for `" + name + "`", p);
    }

    private static String string(JsonParser p, String name) throws IOException {
        JsonToken t = p.currentToken();
        if (t != JsonToken.VALUE_STRING) {
            throw json("invalid type: " + describe(t) + ", expected a string for `" + name + "`", p);
        }
        return p.getText();
    }

    private static String describe(JsonToken t) {
        return switch (t) {
            case START_OBJECT -> "map";
            case START_ARRAY -> "sequence";
            case VALUE_STRING -> "string";
            case VALUE_NUMBER_INT -> "integer";
            case VALUE_NUMBER_FLOAT -> "floating point";
            case VALUE_TRUE, VALUE_FALSE -> "boolean";
            case VALUE_NULL -> "null";
            default -> t.toString();
        };
    }

    private static JsonProcessingException json(String message, JsonParser p) {
        return new JsonProcessingException(message, p.currentLocation()) {};
    }
}
