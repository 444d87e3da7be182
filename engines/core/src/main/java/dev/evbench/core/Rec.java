package dev.evbench.core;

import java.util.Objects;

/**
 * A signal as the state machine sees it: its kind, key, content and position; {@code raw} is
 * the bytes received when it was buffered straight from the input (null when it was taken back
 * out of a visit, then it is re-encoded for a dead letter).
 */
public final class Rec {
    public byte kind;
    public Key key;
    /** Whether the producer sent a {@code seq} (then {@code key.tb} is it). */
    public boolean seq;
    /** Position in its partition (for a signal taken back out of a visit: the visit's first). */
    public long offset;
    /** Plate (parking) or user id (user data). */
    public String text;
    /** NaN: none. */
    public double price = Double.NaN;
    /** kW of a charge start. */
    public long power;
    public byte[] raw;
    /** Why the state machine last refused it. */
    public Reject reject = Reject.NO_VEHICLE;

    public Rec() {}

    public Rec(byte kind, Key key, boolean seq, long offset, String text, double price, long power) {
        this.kind = kind;
        this.key = key;
        this.seq = seq;
        this.offset = offset;
        this.text = text;
        this.price = price;
        this.power = power;
    }

    public Rec copy() {
        Rec r = new Rec(kind, key, seq, offset, text, price, power);
        r.raw = raw;
        r.reject = reject;
        return r;
    }

    private static boolean samePrice(double a, double b) {
        boolean na = Double.isNaN(a), nb = Double.isNaN(b);
        if (na || nb) {
            return na && nb;
        }
        return Double.doubleToRawLongBits(a) == Double.doubleToRawLongBits(b);
    }

    /**
     * Same content for duplicate detection: the fields that make a signal what it is (a
     * disconnect's price and a charge end's power are not kept, so they do not count).
     */
    public boolean sameContent(Rec o) {
        if (kind != o.kind || !Objects.equals(text, o.text)) {
            return false;
        }
        return switch (kind) {
            case Kinds.I -> samePrice(price, o.price);
            case Kinds.S -> power == o.power;
            default -> true;
        };
    }

    /**
     * Duplicate test: same kind, same time, and then the same {@code seq} (when both have one)
     * or, without, the same content. TRUE duplicate, FALSE same seq with other content, null new.
     */
    public Boolean duplicateOf(Rec o) {
        if (kind != o.kind || key.ts() != o.key.ts()) {
            return null;
        }
        if (seq && o.seq) {
            if (key.tb() != o.key.tb()) {
                return null;
            }
            return sameContent(o);
        }
        return sameContent(o) ? Boolean.TRUE : null;
    }

    /**
     * The Rust fingerprint's equality (kind, time, seq when sent, text, an identification's price,
     * a charge start's power), compared exactly rather than through a 32-bit hash.
     */
    public boolean sameFingerprint(Rec o) {
        if (kind != o.kind || key.ts() != o.key.ts() || seq != o.seq || (seq && key.tb() != o.key.tb())) {
            return false;
        }
        if (!Objects.equals(text, o.text)) {
            return false;
        }
        return switch (kind) {
            case Kinds.I -> samePrice(price, o.price);
            case Kinds.S -> power == o.power;
            default -> true;
        };
    }
}
