package dev.evbench.core;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;

/**
 * The per-charger rules of evbench's sessionizer: a port of {@code accept}, {@code duplicate},
 * {@code rebuild}, {@code settle}, {@code flush}, {@code emit} and {@code is_final}
 * ({@code crates/aggregator/src/sessionizer.rs}) and of the state machine {@code step} /
 * {@code apply} ({@code visit.rs}), operating on one {@link ChargerState}. No Flink in here: the
 * keyed process function and the tests drive it.
 */
public final class Sessionizer {
    /** Where outputs go. */
    public interface Output {
        void session(ChargerState charger, Session session);

        /** A dead letter: position of the rejected signal, reason, payload (re-encoded or not). */
        void deadLetter(int partition, long offset, String reason, byte[] payload, boolean reencoded);
    }

    /** Counts since start. */
    public static final class Stats {
        public long sessions;
        public long deadLetters;
        public long duplicates;
    }

    private final long graceMs;
    private final long toleranceMs;
    private final long gapMs;
    public final Stats stats = new Stats();

    public Sessionizer(long overstayGraceMs, long reorderToleranceMs, long inactivityGapMs) {
        this.graceMs = overstayGraceMs;
        this.toleranceMs = reorderToleranceMs;
        this.gapMs = inactivityGapMs;
    }

    public long inactivityGapMs() {
        return gapMs;
    }

    /** A decoded, admitted signal of this charger (the part of {@code push} after admission). */
    public void push(ChargerState ch, Envelope e, Output out) {
        if (ch.partition != e.partition) {
            if (ch.open != null || ch.hasExtra()) {
                dead(out, e.partition, e.offset,
                        "charger " + ch.id + " moved from partition " + ch.partition + " to partition "
                                + e.partition + " while a visit of it was open; a visit must stay in one partition",
                        e.raw, false);
                return;
            }
            ch.partition = e.partition;
        }
        long tb;
        if (e.hasSeq) {
            tb = e.seq;
        } else {
            tb = ch.nextTb;
            ch.nextTb = (ch.nextTb + 1) & 0xFFFF_FFFFL;
        }
        Rec r = new Rec(e.kind, new Key(e.ts, tb), e.hasSeq, e.offset, e.text, e.price, e.power);
        accept(ch, r, e.raw, out);
    }

    private void dead(Output out, int partition, long offset, String reason, byte[] payload, boolean reencoded) {
        stats.deadLetters++;
        out.deadLetter(partition, offset, reason, payload, reencoded);
    }

    private void accept(ChargerState ch, Rec r, byte[] raw, Output out) {
        Long maxBefore = ch.maxTs();
        if (maxBefore != null && r.key.ts() < Sat.sub(maxBefore, toleranceMs)) {
            dead(out, ch.partition, r.offset,
                    "late signal: " + Kinds.name(r.kind) + " is " + Times.humanMs(maxBefore - r.key.ts())
                            + " behind the charger's latest signal, beyond the reorder tolerance of "
                            + Times.humanMs(toleranceMs),
                    raw, false);
            return;
        }
        int dup = duplicate(ch, r);
        if (dup == DUP_SAME) {
            stats.duplicates++;
            return;
        }
        if (dup == DUP_CONFLICT) {
            dead(out, ch.partition, r.offset,
                    Kinds.name(r.kind) + " has the same seq " + Long.toUnsignedString(r.key.tb())
                            + " as an earlier signal of the charger but other content",
                    raw, false);
            return;
        }
        if (r.key.lt(ch.closedBelow)) {
            dead(out, ch.partition, r.offset,
                    Kinds.name(r.kind) + " arrived after the visit it belongs to was closed and emitted", raw, false);
            return;
        }
        Key mu = ch.maxUnsettled();
        boolean inOrder = mu == null || r.key.gt(mu);
        Long maxNow;
        if (inOrder) {
            Step step = step(ch, r);
            if (step.rejected != null) {
                Rec rec = r.copy();
                rec.raw = raw;
                rec.reject = step.rejected;
                ch.ensureExtra();
                ch.pending.add(rec);
            }
            maxNow = maxBefore == null ? r.key.ts() : Math.max(maxBefore, r.key.ts());
            if (step.closed != null) {
                Long wm = Sat.sub(maxNow, toleranceMs);
                if (!ch.hasExtra() && isFinal(step.closed, wm, List.of())) {
                    emit(ch, step.closed, out);
                } else {
                    ch.ensureExtra();
                    ch.awaiting.add(step.closed);
                }
            }
        } else {
            rebuild(ch, r, raw);
            maxNow = ch.maxTs();
        }
        settle(ch, maxNow == null ? null : Sat.sub(maxNow, toleranceMs), out);
    }

    private static final int DUP_NEW = 0;
    private static final int DUP_SAME = 1;
    private static final int DUP_CONFLICT = 2;

    private static int of(Boolean d) {
        return d ? DUP_SAME : DUP_CONFLICT;
    }

    private int duplicate(ChargerState ch, Rec r) {
        if (ch.open != null) {
            Boolean d = ch.open.duplicate(r);
            if (d != null) {
                return of(d);
            }
        }
        if (ch.hasExtra()) {
            for (ClosedVisit cv : ch.awaiting) {
                Boolean d = cv.visit.duplicate(r);
                if (d != null) {
                    return of(d);
                }
            }
            for (Rec p : ch.pending) {
                Boolean d = r.duplicateOf(p);
                if (d != null) {
                    return of(d);
                }
            }
        }
        Rec fp = ch.fps[r.kind];
        if (r.key.ts() <= ch.closedBelow.ts() && fp != null && fp.sameFingerprint(r)) {
            return DUP_SAME;
        }
        return DUP_NEW;
    }

    /** The slow path: {@code r} comes before signals already taken; replay in canonical order. */
    private void rebuild(ChargerState ch, Rec r, byte[] raw) {
        List<Rec> recs = new ArrayList<>();
        ch.ensureExtra();
        for (ClosedVisit cv : ch.awaiting) {
            cv.visit.decompose(recs);
        }
        ch.awaiting.clear();
        recs.addAll(ch.pending);
        ch.pending.clear();
        if (ch.open != null) {
            ch.open.decompose(recs);
            ch.open = null;
        }
        Rec nr = r.copy();
        nr.raw = raw;
        recs.add(nr);
        recs.sort(Comparator.comparing(rec -> rec.key));
        for (Rec rec : recs) {
            Step step = step(ch, rec);
            if (step.closed != null) {
                ch.awaiting.add(step.closed);
            }
            if (step.rejected != null) {
                rec.reject = step.rejected;
                ch.pending.add(rec);
            }
        }
    }

    /**
     * Emits what became final given the watermark {@code wm} (signals before it can no longer
     * come): waiting visits in order, refused signals no earlier signal can rescue any more.
     */
    public void settle(ChargerState ch, Long wm, Output out) {
        if (!ch.hasExtra()) {
            return;
        }
        while (ch.hasExtra() && !ch.awaiting.isEmpty()) {
            ClosedVisit front = ch.awaiting.get(0);
            if (!isFinal(front, wm, ch.pending)) {
                break;
            }
            ch.awaiting.remove(0);
            emit(ch, front, out);
        }
        if (ch.hasExtra()) {
            Key closedBelow = ch.closedBelow;
            List<Rec> done = null;
            for (Iterator<Rec> it = ch.pending.iterator(); it.hasNext(); ) {
                Rec p = it.next();
                if (p.key.lt(closedBelow) || (wm != null && p.key.ts() < wm)) {
                    if (done == null) {
                        done = new ArrayList<>();
                    }
                    done.add(p);
                    it.remove();
                }
            }
            if (done != null) {
                for (Rec rec : done) {
                    deadRec(ch, rec, out);
                }
            }
        }
        if (ch.hasExtra() && ch.awaiting.isEmpty() && ch.pending.isEmpty()) {
            ch.dropExtra();
        }
    }

    /**
     * Settles what Flink's watermark {@code watermark} makes final: every signal at or before it
     * has been seen, so the charger's own watermark is raised to {@code watermark + 1}.
     */
    public void settleByWatermark(ChargerState ch, long watermark, Output out) {
        Long maxTs = ch.maxTs();
        long own = maxTs == null ? Long.MIN_VALUE : Sat.sub(maxTs, toleranceMs);
        settle(ch, Math.max(own, Sat.add(watermark, 1)), out);
        if (maxTs != null && !maxTs.equals(ch.maxTs())) {
            ch.settledMax = maxTs;
        }
    }

    /** The earliest watermark at which {@link #settleByWatermark} would emit something, or null. */
    public Long finalityTime(ChargerState ch) {
        if (!ch.hasExtra()) {
            return null;
        }
        Long t = ch.awaiting.isEmpty() ? null : ch.awaiting.get(0).closer.ts();
        for (Rec p : ch.pending) {
            t = t == null ? p.key.ts() : Math.min(t, p.key.ts());
        }
        return t;
    }

    /** The watermark past which the charger counts as silent for longer than the gap, or null. */
    public Long inactivityTime(ChargerState ch) {
        if (!ch.hasState()) {
            return null;
        }
        return Sat.add(Sat.add(ch.lastEvent(), gapMs), 1);
    }

    /** Settles everything of a charger at once (silent longer than the gap, or end of input). */
    public void flush(ChargerState ch, Output out) {
        Key max = ch.maxUnsettled();
        List<Rec> pending = List.of();
        if (ch.hasExtra()) {
            List<ClosedVisit> awaiting = ch.awaiting;
            pending = ch.pending;
            ch.dropExtra();
            for (ClosedVisit closed : awaiting) {
                emit(ch, closed, out);
            }
        }
        if (ch.open != null) {
            Visit visit = ch.open;
            ch.open = null;
            emit(ch, new ClosedVisit(visit, Closure.INACTIVITY, visit.maxKey(), visit.allSeq()), out);
        }
        for (Rec rec : pending) {
            deadRec(ch, rec, out);
        }
        if (max != null) {
            ch.closedBelow = Key.max(ch.closedBelow, max.succ());
        }
    }

    private void deadRec(ChargerState ch, Rec rec, Output out) {
        boolean reencoded = rec.raw == null;
        byte[] payload = reencoded ? SignalEncoder.encode(rec, ch.id) : rec.raw;
        dead(out, ch.partition, rec.offset, rec.reject.describe(rec.kind), payload, reencoded);
    }

    /** Emits a final visit as a session and makes it the charger's last emitted visit. */
    private void emit(ChargerState ch, ClosedVisit closed, Output out) {
        Visit v = closed.visit;
        long arrivedAt = v.arrivalKey().ts();
        int ordinal = (ch.lastArrivedAt != null && ch.lastArrivedAt == arrivedAt)
                ? Math.min(ch.ordinal + 1, 0xFFFF) : 0;
        ch.fps = v.fingerprints();
        ch.closedBelow = Key.max(ch.closedBelow, closed.closedBelow());
        ch.lastArrivedAt = arrivedAt;
        ch.ordinal = ordinal;
        Session session = v.intoSession(closed.closure, ch.id, ordinal, graceMs);
        stats.sessions++;
        out.session(ch, session);
    }

    /** Whether a closed visit is final: no signal that could change it can arrive any more. */
    static boolean isFinal(ClosedVisit closed, Long wm, List<Rec> pending) {
        if (wm != null && closed.closer.ts() < wm) {
            return true;
        }
        Visit v = closed.visit;
        Key start = v.arrivalKey();
        long inRange = 0;
        for (Rec p : pending) {
            if (p.key.gt(start) && p.key.lt(closed.closer)) {
                inRange++;
            }
        }
        if (v.allSeq() && closed.closerSeq) {
            if (Long.compareUnsigned(closed.closer.tb(), start.tb()) < 0) {
                return false;
            }
            long span = closed.closer.tb() - start.tb();
            long closerOutside = closed.closure != Closure.DEPARTURE ? 1 : 0;
            return Long.compareUnsigned(v.count() + inRange + closerOutside, span) > 0;
        }
        return closed.closure == Closure.DEPARTURE && inRange == 0 && v.isCanonical();
    }

    /** The outcome of one step of the state machine. */
    private record Step(ClosedVisit closed, Reject rejected) {}

    /** One step of the state machine, for the charger's next signal in canonical order. */
    private Step step(ChargerState ch, Rec r) {
        ClosedVisit closed = null;
        Visit open = ch.open;
        if (open != null && Sat.sub(r.key.ts(), open.maxKey().ts()) > gapMs) {
            closed = new ClosedVisit(open, Closure.INACTIVITY, r.key, r.seq);
            ch.open = open = null;
        }
        if (open == null) {
            if (r.kind == Kinds.A) {
                ch.open = Visit.arrive(r);
                return new Step(closed, null);
            }
            return new Step(closed, Reject.NO_VEHICLE);
        }
        Reject rejected = apply(open, r);
        if (rejected == null) {
            if (r.kind == Kinds.A) {
                ch.open = Visit.arrive(r);
                closed = new ClosedVisit(open, Closure.NEXT_ARRIVAL, r.key, r.seq);
            } else if (r.kind == Kinds.L) {
                ch.open = null;
                closed = new ClosedVisit(open, Closure.DEPARTURE, r.key, r.seq);
            }
        }
        return new Step(closed, rejected);
    }

    /** Applies {@code r} to the open visit {@code v}, or says why not. */
    private static Reject apply(Visit v, Rec r) {
        switch (r.kind) {
            case Kinds.A: {
                // The same vehicle reported again (a bouncing sensor) is not a new visit.
                boolean same = r.text != null && r.text.equals(v.plate) && v.count() == 1;
                return same ? Reject.ALREADY_PARKED : null;
            }
            case Kinds.L: {
                String parked = v.plate;
                if (parked != null && r.text != null && !parked.equals(r.text)) {
                    return Reject.PLATE_MISMATCH;
                }
                boolean parkedUnknown = parked == null;
                if (!v.fill(Kinds.L, r)) {
                    return Reject.OUT_OF_RANGE;
                }
                if (r.text != null) {
                    if (parkedUnknown) {
                        v.plate = r.text;
                        v.bits |= Visit.PLATE_FROM_L;
                    }
                    v.bits |= Visit.L_PLATE;
                }
                return null;
            }
            case Kinds.I: {
                if (v.has(Kinds.I)) {
                    return Reject.ALREADY_IDENTIFIED;
                }
                if (v.has(Kinds.D)) {
                    return Reject.IDENTIFIED_AFTER_DISCONNECT;
                }
                if (!v.fill(Kinds.I, r)) {
                    return Reject.OUT_OF_RANGE;
                }
                v.user = r.text;
                v.price = r.price;
                return null;
            }
            case Kinds.D: {
                if (v.has(Kinds.D)) {
                    return Reject.ALREADY_DISCONNECTED;
                }
                if (v.has(Kinds.I) && v.user != null && r.text != null && !v.user.equals(r.text)) {
                    return Reject.USER_MISMATCH;
                }
                if (!v.fill(Kinds.D, r)) {
                    return Reject.OUT_OF_RANGE;
                }
                if (!v.has(Kinds.I)) {
                    v.user = r.text;
                    v.price = r.price;
                    v.bits |= Visit.USER_FROM_D;
                }
                if (r.text != null) {
                    v.bits |= Visit.D_USER;
                }
                return null;
            }
            case Kinds.S: {
                if (v.has(Kinds.E)) {
                    return Reject.SECOND_CHARGE;
                }
                if (v.has(Kinds.S)) {
                    return Reject.ALREADY_CHARGING;
                }
                if (!v.fill(Kinds.S, r)) {
                    return Reject.OUT_OF_RANGE;
                }
                v.power = (int) Math.min(r.power, 0xFFFF);
                return null;
            }
            default: {
                if (!v.has(Kinds.S)) {
                    return Reject.END_WITHOUT_START;
                }
                if (v.has(Kinds.E)) {
                    return Reject.ALREADY_ENDED;
                }
                if (!v.fill(Kinds.E, r)) {
                    return Reject.OUT_OF_RANGE;
                }
                return null;
            }
        }
    }
}
