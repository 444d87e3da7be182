package dev.evbench.flink;

import dev.evbench.core.ChargerState;
import dev.evbench.core.Envelope;
import dev.evbench.core.Session;
import dev.evbench.core.Sessionizer;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The sessionizer as a keyed process function, keyed by charger id: the charger's state
 * ({@link ChargerState}) in keyed value state, the Rust sessionizer's rules applied to each
 * admitted signal ({@link Sessionizer}), and one event-time timer per charger for what only the
 * passing of event time settles: a visit held for a missing or out-of-order signal (released
 * once the watermark passes its closing signal) and a charger silent for longer than the
 * inactivity gap (its visit closed at its last signal).
 */
public class SessionizerFunction extends KeyedProcessFunction<String, Envelope, OutRecord> {
    private static final long serialVersionUID = 1L;

    private final long overstayGraceMs;
    private final long reorderToleranceMs;
    private final long inactivityGapMs;

    private transient ValueState<ChargerState> state;
    private transient Sessionizer core;
    private transient Emitter emitter;

    public SessionizerFunction(long overstayGraceMs, long reorderToleranceMs, long inactivityGapMs) {
        this.overstayGraceMs = overstayGraceMs;
        this.reorderToleranceMs = reorderToleranceMs;
        this.inactivityGapMs = inactivityGapMs;
    }

    @Override
    public void open(OpenContext openContext) {
        state = getRuntimeContext().getState(new ValueStateDescriptor<>("charger", ChargerStateSerializer.INSTANCE));
        core = new Sessionizer(overstayGraceMs, reorderToleranceMs, inactivityGapMs);
        emitter = new Emitter();
    }

    /** Hands the core's outputs to Flink's collector. */
    private static final class Emitter implements Sessionizer.Output {
        Collector<OutRecord> out;
        long signalTs;

        @Override
        public void session(ChargerState charger, Session session) {
            Counters.SESSIONS.increment();
            out.collect(OutRecord.session(charger.id, session.toJsonBytes(), signalTs));
        }

        @Override
        public void deadLetter(int partition, long offset, String reason, byte[] payload, boolean reencoded) {
            Counters.DEAD_LETTERS.increment();
            out.collect(OutRecord.dead(partition, offset, reason, payload));
        }
    }

    @Override
    public void processElement(Envelope e, Context ctx, Collector<OutRecord> out) throws Exception {
        ChargerState ch = state.value();
        if (ch == null) {
            ch = new ChargerState(ctx.getCurrentKey(), e.partition);
        }
        emitter.out = out;
        emitter.signalTs = e.kafkaTs;
        long duplicates = core.stats.duplicates;
        core.push(ch, e, emitter);
        Counters.DUPLICATES.add(core.stats.duplicates - duplicates);
        afterChange(ch, ctx.timerService());
        state.update(ch);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<OutRecord> out) throws Exception {
        ChargerState ch = state.value();
        if (ch == null) {
            return;
        }
        if (ch.timerAt == timestamp) {
            ch.timerAt = ChargerState.NO_TIMER;
        }
        emitter.out = out;
        emitter.signalTs = -1;
        afterChange(ch, ctx.timerService());
        state.update(ch);
    }

    /**
     * Settles what the watermark already decides (a charger silent past the gap, held visits and
     * refused signals at or before the watermark), then keeps one timer at the next such moment.
     */
    private void afterChange(ChargerState ch, TimerService timers) {
        long watermark = timers.currentWatermark();
        Long inactive = core.inactivityTime(ch);
        if (inactive != null && inactive <= watermark) {
            core.flush(ch, emitter);
        }
        Long fin = core.finalityTime(ch);
        if (fin != null && fin <= watermark) {
            core.settleByWatermark(ch, watermark, emitter);
        }
        Long next = min(core.inactivityTime(ch), core.finalityTime(ch));
        long desired = next == null ? ChargerState.NO_TIMER : next;
        if (desired != ch.timerAt) {
            if (ch.timerAt != ChargerState.NO_TIMER) {
                timers.deleteEventTimeTimer(ch.timerAt);
            }
            if (desired != ChargerState.NO_TIMER) {
                timers.registerEventTimeTimer(desired);
            }
            ch.timerAt = desired;
        }
    }

    private static Long min(Long a, Long b) {
        if (a == null) {
            return b;
        }
        return b == null ? a : Math.min(a, b);
    }
}
