package dev.evbench.core;

/**
 * The canonical order of a charger's signals: event time, then the producer's {@code seq} when
 * it sends one, else the order in which the signals came in. {@code tb} is unsigned.
 */
public record Key(long ts, long tb) implements Comparable<Key> {
    public static final Key MIN = new Key(Long.MIN_VALUE, 0);

    @Override
    public int compareTo(Key o) {
        int c = Long.compare(ts, o.ts);
        return c != 0 ? c : Long.compareUnsigned(tb, o.tb);
    }

    public boolean lt(Key o) {
        return compareTo(o) < 0;
    }

    public boolean gt(Key o) {
        return compareTo(o) > 0;
    }

    /** The smallest key above this one. */
    public Key succ() {
        if (tb != -1L) {
            return new Key(ts, tb + 1);
        }
        return new Key(ts == Long.MAX_VALUE ? ts : ts + 1, 0);
    }

    public static Key max(Key a, Key b) {
        if (a == null) {
            return b;
        }
        if (b == null) {
            return a;
        }
        return a.compareTo(b) >= 0 ? a : b;
    }
}
