package dev.evbench.core;

import java.util.ArrayList;
import java.util.List;

/**
 * One visit: a slot per step (arrival, identification, charge start, charge end, user
 * disconnect, departure). A port of {@code Visit} in {@code crates/aggregator/src/visit.rs},
 * with absolute times instead of compact offsets (the compact form's range limits are checked
 * the same way, so the same signals are refused as out of range).
 */
public final class Visit {
    /** {@code present} bit: every signal of the visit carried a {@code seq}. */
    static final int ALL_SEQ = 1 << 6;
    static final int SLOT_BITS = 0b11_1111;
    /** The plate came from the departure signal (the arrival had none). */
    static final int PLATE_FROM_L = 1;
    /** The departure signal carried a plate (equal to the visit's). */
    static final int L_PLATE = 2;
    /** User id and price came from the disconnect signal (no identification seen). */
    static final int USER_FROM_D = 4;
    /** The disconnect signal carried a user id (equal to the visit's). */
    static final int D_USER = 8;

    public long[] ts = new long[6];
    public long[] tb = new long[6];
    /** Smallest input offset among its signals. */
    public long firstOffset;
    /** The offset of its arrival signal. */
    public long arrivalOffset;
    /** EUR/kWh; NaN when none. */
    public double price = Double.NaN;
    public String plate;
    public String user;
    public int power;
    public int present;
    public int bits;
    /** The slot holding the largest key. */
    public int last;

    public Visit() {}

    public Visit copy() {
        Visit v = new Visit();
        v.ts = ts.clone();
        v.tb = tb.clone();
        v.firstOffset = firstOffset;
        v.arrivalOffset = arrivalOffset;
        v.price = price;
        v.plate = plate;
        v.user = user;
        v.power = power;
        v.present = present;
        v.bits = bits;
        v.last = last;
        return v;
    }

    static Visit arrive(Rec r) {
        Visit v = new Visit();
        v.ts[Kinds.A] = r.key.ts();
        v.tb[Kinds.A] = r.key.tb();
        v.firstOffset = r.offset;
        v.arrivalOffset = r.offset;
        v.present = 1 | (r.seq ? ALL_SEQ : 0);
        v.plate = r.text;
        return v;
    }

    public boolean has(int slot) {
        return (present & (1 << slot)) != 0;
    }

    public boolean allSeq() {
        return (present & ALL_SEQ) != 0;
    }

    public int count() {
        return Integer.bitCount(present & SLOT_BITS);
    }

    public Key key(int slot) {
        return new Key(ts[slot], tb[slot]);
    }

    public Key arrivalKey() {
        return key(Kinds.A);
    }

    public Key maxKey() {
        return key(last);
    }

    public double priceOrNaN() {
        return price;
    }

    /** Fills {@code slot} with {@code r}'s key; false when it does not fit the compact form. */
    boolean fill(int slot, Rec r) {
        long dts;
        try {
            dts = Math.subtractExact(r.key.ts(), ts[Kinds.A]);
        } catch (ArithmeticException e) {
            return false;
        }
        if (dts < 0 || dts > 0xFFFF_FFFFL) {
            return false;
        }
        long a = tb[Kinds.A], b = r.key.tb();
        boolean fits = Long.compareUnsigned(b, a) >= 0
                ? Long.compareUnsigned(b - a, 32767) <= 0
                : Long.compareUnsigned(a - b, 32768) <= 0;
        if (!fits) {
            return false;
        }
        ts[slot] = r.key.ts();
        tb[slot] = r.key.tb();
        if (r.key.gt(maxKey())) {
            last = slot;
        }
        present |= 1 << slot;
        if (!r.seq) {
            present &= ~ALL_SEQ;
        }
        if (r.offset < firstOffset) {
            firstOffset = r.offset;
        }
        return true;
    }

    /** The signal that fills {@code slot}, as far as the visit keeps it. */
    public Rec slotRec(int slot) {
        String text = null;
        double p = Double.NaN;
        long pw = 0;
        switch (slot) {
            case Kinds.A -> text = (bits & PLATE_FROM_L) == 0 ? plate : null;
            case Kinds.L -> text = (bits & (PLATE_FROM_L | L_PLATE)) != 0 ? plate : null;
            case Kinds.I -> {
                text = user;
                p = price;
            }
            case Kinds.D -> {
                text = (bits & (USER_FROM_D | D_USER)) != 0 ? user : null;
                p = price;
            }
            case Kinds.S -> pw = power;
            default -> {}
        }
        return new Rec((byte) slot, key(slot), allSeq(), slot == Kinds.A ? arrivalOffset : firstOffset, text, p, pw);
    }

    /** TRUE duplicate of a signal of this visit, FALSE same seq other content, null not one. */
    public Boolean duplicate(Rec r) {
        if (!has(r.kind)) {
            return null;
        }
        return r.duplicateOf(slotRec(r.kind));
    }

    /** Takes the visit apart into its signals. */
    public void decompose(List<Rec> out) {
        for (int slot = Kinds.A; slot <= Kinds.L; slot++) {
            if (has(slot)) {
                out.add(slotRec(slot));
            }
        }
    }

    /** Its signals, for recognising their duplicates once it is emitted. */
    public Rec[] fingerprints() {
        Rec[] fps = new Rec[6];
        for (int slot = Kinds.A; slot <= Kinds.L; slot++) {
            if (has(slot)) {
                fps[slot] = slotRec(slot);
            }
        }
        return fps;
    }

    /**
     * One of the two shapes of a normal visit, complete and in canonical order: arrival then
     * departure only, or arrival, identification, charge start, charge end and user disconnect
     * (either order, after the identification), departure.
     */
    public boolean isCanonical() {
        int p = present & SLOT_BITS;
        if (p == 0b10_0001) {
            return true;
        }
        if (p == 0b11_1111) {
            Key a = key(Kinds.A), i = key(Kinds.I), s = key(Kinds.S), e = key(Kinds.E), d = key(Kinds.D), l = key(Kinds.L);
            return a.lt(i) && i.lt(s) && s.lt(e) && i.lt(d) && Key.max(e, d).lt(l) && (bits & USER_FROM_D) == 0;
        }
        return false;
    }

    /** Builds the session of a closed visit. */
    public Session intoSession(Closure closure, String chargerId, int ordinal, long graceMs) {
        long arrivedAt = ts[Kinds.A];
        long departedAt = switch (closure) {
            case DEPARTURE -> has(Kinds.L) ? ts[Kinds.L] : arrivedAt;
            case NEXT_ARRIVAL, INACTIVITY -> maxKey().ts();
        };
        List<Flag> flags = new ArrayList<>(4);
        switch (closure) {
            case DEPARTURE -> {}
            case NEXT_ARRIVAL -> flags.add(Flag.CLOSED_BY_NEXT_ARRIVAL);
            case INACTIVITY -> flags.add(Flag.CLOSED_BY_INACTIVITY);
        }
        Long chargeStartedAt = has(Kinds.S) ? ts[Kinds.S] : null;
        Long chargeEndedAt = has(Kinds.E) ? ts[Kinds.E] : null;
        if (chargeStartedAt != null && chargeEndedAt == null) {
            chargeEndedAt = departedAt;
            flags.add(Flag.INFERRED_CHARGE_END);
        }
        if (has(Kinds.I) && !has(Kinds.D)) {
            flags.add(Flag.INFERRED_USER_DISCONNECT);
        }
        if (has(Kinds.S) && !(has(Kinds.I) && key(Kinds.I).lt(key(Kinds.S)))) {
            flags.add(Flag.CHARGE_WITHOUT_IDENTIFICATION);
        }
        return Session.create(
                Session.idFor(chargerId, arrivedAt, ordinal),
                chargerId,
                plate,
                user,
                Double.isNaN(price) ? null : price,
                has(Kinds.S) ? (long) power : null,
                arrivedAt,
                has(Kinds.I) ? ts[Kinds.I] : null,
                chargeStartedAt,
                chargeEndedAt,
                departedAt,
                graceMs,
                flags);
    }
}
