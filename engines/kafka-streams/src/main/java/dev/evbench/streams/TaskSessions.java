package dev.evbench.streams;

import dev.evbench.core.Admission;
import dev.evbench.core.ChargerState;
import dev.evbench.core.Envelope;
import dev.evbench.core.Sessionizer;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.BiConsumer;

/**
 * What one Kafka Streams task (one input partition) does, without Kafka: admit each signal,
 * sessionize it in its charger's state, and settle what the passing of time decides. No clock or
 * thread inside: the processor passes wall-clock time in, which is what makes it testable on the
 * golden files.
 *
 * <p>Time follows evbench's own aggregator rather than Flink's watermarks: a charger's visits
 * are settled by the charger's own signals (the core does it as it pushes them); the partition's
 * event time (its largest admitted timestamp) closes the visits of chargers silent for longer
 * than the inactivity gap; and after {@code idleTimeoutMs} of wall time without input, visits
 * held back for a late signal are released up to the partition's event time. The chargers due
 * for either are found through two indexes, rebuilt from the store when the task starts.
 */
public final class TaskSessions {
    /** The charger states of this task (a Kafka Streams state store, or a map in tests). */
    public interface Store {
        ChargerState get(String chargerId);

        void put(String chargerId, ChargerState state);

        /** Every stored state, to rebuild the indexes. */
        void forEach(BiConsumer<String, ChargerState> action);
    }

    /** Where outputs go: the core's, plus the Kafka timestamp of the record that caused them. */
    public interface Output extends Sessionizer.Output {
        /** The Kafka timestamp of the record being processed; -1 when time passing emits. */
        void cause(long kafkaTs);
    }

    private final Sessionizer core;
    private final Admission admission;
    private final Store store;
    private final long idleTimeoutMs;
    /** Event time at which each charger is silent past the gap → chargers. */
    private final Due inactivity = new Due();
    /** Event time from which each charger's held visits may be released → chargers. */
    private final Due finality = new Due();
    /** The partition's event time: its largest admitted timestamp. */
    private long partitionTime = Long.MIN_VALUE;
    /** Up to where held visits have been released (moves only when the input is idle). */
    private long releasedTo = Long.MIN_VALUE;
    private long lastActivityMs;
    private boolean idle;

    public TaskSessions(Sessionizer core, Admission admission, Store store, long idleTimeoutMs, long nowMs) {
        this.core = core;
        this.admission = admission;
        this.store = store;
        this.idleTimeoutMs = idleTimeoutMs;
        this.lastActivityMs = nowMs;
        store.forEach((id, ch) -> index(ch));
    }

    /** The core's counters (duplicates, …). */
    public Sessionizer.Stats stats() {
        return core.stats;
    }

    /** One record of the input partition. */
    public void onRecord(byte[] value, int partition, long offset, long kafkaTs, long nowMs, Output out) {
        lastActivityMs = nowMs;
        idle = false;
        Envelope e = Envelope.of(value == null ? new byte[0] : value, partition, offset, kafkaTs);
        admission.admit(e);
        out.cause(kafkaTs);
        if (e.isDead()) {
            out.deadLetter(e.partition, e.offset, e.deadReason, e.raw, false);
            return;
        }
        partitionTime = Math.max(partitionTime, e.ts);
        ChargerState ch = store.get(e.chargerId);
        if (ch == null) {
            ch = new ChargerState(e.chargerId, partition);
        }
        core.push(ch, e, out);
        settle(ch, out);
        store.put(ch.id, ch);
        fireDue(out);
    }

    /** Wall-clock time passing: after the idle timeout, held visits are released. */
    public void onWallClock(long nowMs, Output out) {
        if (!idle && nowMs - lastActivityMs >= idleTimeoutMs) {
            idle = true;
            if (partitionTime > releasedTo) {
                releasedTo = partitionTime;
                out.cause(-1);
                fireDue(out);
            }
        }
    }

    /** End of input (tests): time to the end, every charger settled. */
    public void finish(Output out) {
        partitionTime = Long.MAX_VALUE;
        releasedTo = Long.MAX_VALUE;
        out.cause(-1);
        fireDue(out);
    }

    /** Settles the chargers whose time has come, earliest first. */
    private void fireDue(Output out) {
        while (true) {
            String id = inactivity.pollDue(partitionTime);
            if (id == null) {
                id = finality.pollDue(releasedTo);
            }
            if (id == null) {
                return;
            }
            ChargerState ch = store.get(id);
            if (ch != null) {
                settle(ch, out);
                store.put(ch.id, ch);
            }
        }
    }

    /**
     * Closes the charger's visit if it has been silent past the gap, releases what the idle
     * input made final, and files the charger under its next due times.
     */
    private void settle(ChargerState ch, Output out) {
        Long inactive = core.inactivityTime(ch);
        if (inactive != null && inactive <= partitionTime) {
            core.flush(ch, out);
        }
        Long fin = core.finalityTime(ch);
        if (fin != null && fin <= releasedTo) {
            core.settleByWatermark(ch, releasedTo, out);
        }
        index(ch);
    }

    private void index(ChargerState ch) {
        inactivity.set(ch.id, core.inactivityTime(ch));
        finality.set(ch.id, core.finalityTime(ch));
    }

    /** Chargers by the time something is due for them (at most one time each). */
    private static final class Due {
        private final TreeMap<Long, Set<String>> byTime = new TreeMap<>();
        private final Map<String, Long> byCharger = new HashMap<>();

        void set(String id, Long at) {
            Long old = at == null ? byCharger.remove(id) : byCharger.put(id, at);
            if (old != null && !old.equals(at)) {
                Set<String> ids = byTime.get(old);
                if (ids != null && ids.remove(id) && ids.isEmpty()) {
                    byTime.remove(old);
                }
            }
            if (at != null && !at.equals(old)) {
                byTime.computeIfAbsent(at, t -> new HashSet<>()).add(id);
            }
        }

        /** A charger due at or before {@code now} (taken off the index), or null. */
        String pollDue(long now) {
            if (byTime.isEmpty() || byTime.firstKey() > now) {
                return null;
            }
            Map.Entry<Long, Set<String>> first = byTime.firstEntry();
            Iterator<String> it = first.getValue().iterator();
            String id = it.next();
            it.remove();
            if (first.getValue().isEmpty()) {
                byTime.remove(first.getKey());
            }
            byCharger.remove(id);
            return id;
        }
    }
}
