package dev.evbench.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.evbench.core.Envelope;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.util.clock.RelativeClock;
import org.junit.jupiter.api.Test;

/** The per-partition watermark: bounded out-of-orderness, then idle at its own largest timestamp. */
class SignalWatermarksTest {
    static final class Clock implements RelativeClock {
        long now;

        @Override
        public long relativeTimeMillis() {
            return now;
        }

        @Override
        public long relativeTimeNanos() {
            return now * 1_000_000;
        }
    }

    static final class Out implements WatermarkOutput {
        final List<String> events = new ArrayList<>();

        @Override
        public void emitWatermark(Watermark w) {
            events.add("wm " + w.getTimestamp());
        }

        @Override
        public void markIdle() {
            events.add("idle");
        }

        @Override
        public void markActive() {
            events.add("active");
        }
    }

    @Test
    void boundedThenIdleAtTheLargestTimestamp() {
        Clock clock = new Clock();
        SignalWatermarks g = new SignalWatermarks(5_000, 2_000, clock);
        Out out = new Out();
        g.onPeriodicEmit(out);
        assertEquals(List.of(), out.events, "nothing before the first signal");
        Envelope e = new Envelope();
        g.onEvent(e, 100_000, out);
        g.onEvent(e, 90_000, out);
        g.onEvent(e, Long.MIN_VALUE, out); // a dead letter: no timestamp
        clock.now = 1_000;
        g.onPeriodicEmit(out);
        clock.now = 2_500;
        g.onPeriodicEmit(out);
        g.onPeriodicEmit(out);
        g.onEvent(e, 101_000, out);
        g.onPeriodicEmit(out);
        assertEquals(List.of("wm 94999", "wm 100000", "idle", "wm 95999"), out.events);
    }

    @Test
    void aPartitionThatNeverDeliversGoesIdle() {
        Clock clock = new Clock();
        SignalWatermarks g = new SignalWatermarks(5_000, 2_000, clock);
        Out out = new Out();
        clock.now = 2_000;
        g.onPeriodicEmit(out);
        assertEquals(List.of("idle"), out.events);
    }
}
