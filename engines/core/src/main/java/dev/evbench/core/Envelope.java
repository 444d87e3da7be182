package dev.evbench.core;

/**
 * One input record: where it came from, its bytes, and either its decoded signal or the reason
 * it is a dead letter before keying. A Flink POJO (public fields, no-arg constructor).
 */
public class Envelope {
    /** Kafka partition (0 for a file). */
    public int partition;
    /** Offset in the partition (the line number for a file). */
    public long offset;
    /** Kafka timestamp of the record (epoch ms), or -1. */
    public long kafkaTs = -1;
    /** The bytes as received. */
    public byte[] raw;
    /** Non-null: the record is a dead letter with this reason (undecodable, impossible, skewed). */
    public String deadReason;

    /** Event time, epoch ms. */
    public long ts;
    public String chargerId;
    /** Whether the producer sent a {@code seq}; then {@link #seq} (unsigned 64 bits) is it. */
    public boolean hasSeq;
    public long seq;
    /** {@link Kinds}. */
    public byte kind;
    /** Plate (parking) or user id (user data); null when absent. */
    public String text;
    /** EUR/kWh of user data; NaN when absent. */
    public double price = Double.NaN;
    /** {@code energy_delivered} (an unsigned 32-bit value). */
    public long power;

    public Envelope() {}

    /** An envelope of a record at this position. */
    public static Envelope of(byte[] raw, int partition, long offset, long kafkaTs) {
        Envelope e = new Envelope();
        e.raw = raw;
        e.partition = partition;
        e.offset = offset;
        e.kafkaTs = kafkaTs;
        return e;
    }

    public boolean isDead() {
        return deadReason != null;
    }
}
