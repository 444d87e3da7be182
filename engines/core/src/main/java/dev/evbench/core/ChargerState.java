package dev.evbench.core;

import java.util.ArrayList;
import java.util.List;

/**
 * Everything kept for one charger (Flink keyed state): a port of {@code Charger} in
 * {@code crates/aggregator/src/sessionizer.rs} without the offset bookkeeping the Rust runner
 * needs for its replay protocol (Flink checkpoints the state instead).
 */
public final class ChargerState {
    public static final long NO_TIMER = Long.MIN_VALUE;

    public String id;
    /** The partition the charger's signals come from. */
    public int partition;
    /** The visit in progress; null when the bay is free. */
    public Visit open;
    /** Keys below this belong to visits already emitted. */
    public Key closedBelow = Key.MIN;
    /** Arrival time of the last emitted visit (for ordinals); null when none. */
    public Long lastArrivedAt;
    /** Ordinal of the last emitted visit among those that arrived in its millisecond. */
    public int ordinal;
    /** The last emitted visit's signals, by slot (duplicates of them are ignored). */
    public Rec[] fps = new Rec[6];
    /** Tiebreak for signals without {@code seq}: their arrival order (unsigned 32 bits). */
    public long nextTb;
    /** Visits closed, not yet final, in canonical order; null with {@link #pending} when none. */
    public List<ClosedVisit> awaiting;
    /** Signals the state machine refused at their place, dead-lettered once none can rescue them. */
    public List<Rec> pending;
    /**
     * The latest event time of refused signals that Flink's watermark settled (dead-lettered)
     * while the charger's own event time would still have held them; null when none. The Rust
     * sessionizer's latest event time never goes down (what settles a refusal there always leaves
     * a later signal holding it), so this keeps lateness judged as it would be there.
     */
    public Long settledMax;
    /** The event-time timer registered for this charger, or {@link #NO_TIMER}. */
    public long timerAt = NO_TIMER;

    public ChargerState() {}

    public ChargerState(String id, int partition) {
        this.id = id;
        this.partition = partition;
    }

    public boolean hasExtra() {
        return awaiting != null;
    }

    void ensureExtra() {
        if (awaiting == null) {
            awaiting = new ArrayList<>(2);
            pending = new ArrayList<>(2);
        }
    }

    void dropExtra() {
        awaiting = null;
        pending = null;
    }

    /** Whether anything is open or waiting (what an inactivity closure would settle). */
    public boolean hasState() {
        return open != null || awaiting != null;
    }

    /**
     * Latest event time among the signals taken so far: in visits, emitted or not, and buffered
     * refusals; null when none.
     */
    public Long maxTs() {
        Long m = closedBelow.equals(Key.MIN) ? null : closedBelow.ts();
        if (settledMax != null) {
            m = max(m, settledMax);
        }
        if (open != null) {
            m = max(m, open.maxKey().ts());
        }
        if (awaiting != null) {
            for (ClosedVisit cv : awaiting) {
                m = max(m, cv.visit.maxKey().ts());
            }
            if (!pending.isEmpty()) {
                m = max(m, pending.get(pending.size() - 1).key.ts());
            }
        }
        return m;
    }

    private static Long max(Long a, long b) {
        return a == null ? b : Math.max(a, b);
    }

    /** The largest key of any signal not yet final; null when none. */
    public Key maxUnsettled() {
        Key m = open != null ? open.maxKey() : null;
        if (awaiting != null) {
            for (ClosedVisit cv : awaiting) {
                m = Key.max(m, cv.visit.maxKey());
            }
            if (!pending.isEmpty()) {
                m = Key.max(m, pending.get(pending.size() - 1).key);
            }
        }
        return m;
    }

    /** The latest event time of anything the charger holds ({@code last_event}). */
    public long lastEvent() {
        Key m = maxUnsettled();
        long a = m == null ? Long.MIN_VALUE : m.ts();
        long c = closedBelow.equals(Key.MIN) ? Long.MIN_VALUE : closedBelow.ts();
        return Math.max(a, c);
    }

    /** A deep copy (what Flink's copy-on-write heap state needs). */
    public ChargerState copy() {
        ChargerState c = new ChargerState(id, partition);
        c.open = open == null ? null : open.copy();
        c.closedBelow = closedBelow;
        c.lastArrivedAt = lastArrivedAt;
        c.ordinal = ordinal;
        for (int i = 0; i < 6; i++) {
            c.fps[i] = fps[i] == null ? null : fps[i].copy();
        }
        c.nextTb = nextTb;
        if (awaiting != null) {
            c.awaiting = new ArrayList<>(awaiting.size());
            for (ClosedVisit cv : awaiting) {
                c.awaiting.add(cv.copy());
            }
            c.pending = new ArrayList<>(pending.size());
            for (Rec r : pending) {
                c.pending.add(r.copy());
            }
        }
        c.settledMax = settledMax;
        c.timerAt = timerAt;
        return c;
    }
}
