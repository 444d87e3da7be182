package dev.evbench.core;

/**
 * What the Rust sessionizer decides about a record before it looks at its charger
 * ({@code Sessionizer::push}): undecodable bytes, a charge start with an impossible power, and a
 * timestamp further than {@code max_clock_skew} ahead of the stream's event time (the largest
 * timestamp admitted so far by this instance) are dead letters. One per source reader here, so
 * the stream's time is that of the partitions the reader consumes (as it is per instance of the
 * Rust runner).
 */
public final class Admission {
    private final long maxClockSkewMs;
    private long streamTime = Long.MIN_VALUE;
    private boolean seen;

    public Admission(long maxClockSkewMs) {
        this.maxClockSkewMs = maxClockSkewMs;
    }

    /** Decodes and checks {@code e} (whose {@code raw} is set): fills its signal or its dead reason. */
    public void admit(Envelope e) {
        try {
            SignalDecoder.decode(e.raw, e);
        } catch (SignalDecoder.Bad bad) {
            e.deadReason = "undecodable signal: " + bad.getMessage();
            return;
        }
        if (e.kind == Kinds.S && (e.power < 1 || e.power > 1000)) {
            e.deadReason = "impossible power: charge start with energy_delivered = " + e.power
                    + " kW, outside 1..=1000";
            return;
        }
        if (seen && e.ts > Sat.add(streamTime, maxClockSkewMs)) {
            e.deadReason = "timestamp " + Times.formatUtc(e.ts) + " is " + Times.humanMs(e.ts - streamTime)
                    + " ahead of the stream's event time " + Times.formatUtc(streamTime)
                    + " (max_clock_skew " + Times.humanMs(maxClockSkewMs) + ")";
            return;
        }
        streamTime = seen ? Math.max(streamTime, e.ts) : e.ts;
        seen = true;
    }

    /** The largest timestamp admitted so far ({@code Long.MIN_VALUE} before the first). */
    public long streamTime() {
        return streamTime;
    }
}
