package dev.evbench.flink;

import java.util.concurrent.atomic.LongAdder;

/** Process-wide counts for the launcher's status line (the MiniCluster runs in this JVM). */
public final class Counters {
    private Counters() {}

    public static final LongAdder SIGNALS = new LongAdder();
    public static final LongAdder SESSIONS = new LongAdder();
    public static final LongAdder DEAD_LETTERS = new LongAdder();
    public static final LongAdder DUPLICATES = new LongAdder();
}
