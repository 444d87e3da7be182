package dev.evbench.streams;

import java.util.concurrent.atomic.LongAdder;

/** Process-wide counts for the status line (every stream thread adds to them). */
final class Counters {
    private Counters() {}

    static final LongAdder SIGNALS = new LongAdder();
    static final LongAdder SESSIONS = new LongAdder();
    static final LongAdder DEAD_LETTERS = new LongAdder();
    static final LongAdder DUPLICATES = new LongAdder();
}
