package dev.evbench.flink;

import dev.evbench.core.Envelope;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.util.clock.RelativeClock;

/**
 * Per-partition watermarks (Kafka split-level): bounded out-of-orderness equal to the reorder
 * tolerance ({@code max timestamp − tolerance − 1}), with idleness: a partition that delivered
 * nothing for {@code idleTimeout} of input-activity time is marked idle so it no longer holds
 * the others back ({@code withIdleness}), and — so that visits held for the tolerance still come
 * out when the input goes quiet — its watermark first moves up to its own largest timestamp (its
 * stragglers are taken to have arrived). Refused records (undecodable, impossible, skewed) carry
 * no timestamp and never move it.
 */
public final class SignalWatermarks implements WatermarkGenerator<Envelope> {
    private final long toleranceMs;
    private final long idleTimeoutMs;
    private final RelativeClock clock;
    private long maxTs = Long.MIN_VALUE;
    private long lastActivity;
    private boolean idle;

    SignalWatermarks(long toleranceMs, long idleTimeoutMs, RelativeClock clock) {
        this.toleranceMs = toleranceMs;
        this.idleTimeoutMs = idleTimeoutMs;
        this.clock = clock;
        this.lastActivity = clock.relativeTimeMillis();
    }

    public static WatermarkStrategy<Envelope> strategy(long toleranceMs, long idleTimeoutMs) {
        return WatermarkStrategy.<Envelope>forGenerator(
                        ctx -> new SignalWatermarks(toleranceMs, idleTimeoutMs, ctx.getInputActivityClock()))
                .withTimestampAssigner((e, recordTs) -> e.isDead() ? Long.MIN_VALUE : e.ts);
    }

    @Override
    public void onEvent(Envelope e, long eventTimestamp, WatermarkOutput output) {
        lastActivity = clock.relativeTimeMillis();
        if (eventTimestamp != Long.MIN_VALUE && eventTimestamp > maxTs) {
            maxTs = eventTimestamp;
        }
        idle = false;
    }

    @Override
    public void onPeriodicEmit(WatermarkOutput output) {
        if (clock.relativeTimeMillis() - lastActivity >= idleTimeoutMs) {
            if (!idle) {
                if (maxTs != Long.MIN_VALUE) {
                    output.emitWatermark(new Watermark(maxTs));
                }
                output.markIdle();
                idle = true;
            }
            return;
        }
        if (maxTs != Long.MIN_VALUE) {
            output.emitWatermark(new Watermark(maxTs - toleranceMs - 1));
        }
    }
}
