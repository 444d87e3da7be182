package dev.evbench.flink;

import java.nio.charset.StandardCharsets;

/** One output record: a session (to the sessions topic) or a dead letter. A Flink POJO. */
public class OutRecord {
    public boolean deadLetter;
    /** Record key: the charger id of a session; null for a dead letter. */
    public String key;
    public byte[] value;
    /** Session: Kafka timestamp of the signal that closed it (header evbench-signal-ts), or -1. */
    public long signalTs = -1;
    /** Dead letter: why (header {@code reason}). */
    public String reason;
    /** Dead letter: {@code partition/offset} of the rejected record (header {@code source}). */
    public String source;

    public OutRecord() {}

    public static OutRecord session(String chargerId, byte[] json, long signalTs) {
        OutRecord o = new OutRecord();
        o.key = chargerId;
        o.value = json;
        o.signalTs = signalTs;
        return o;
    }

    public static OutRecord dead(int partition, long offset, String reason, byte[] payload) {
        OutRecord o = new OutRecord();
        o.deadLetter = true;
        o.value = payload == null ? new byte[0] : payload;
        o.reason = reason;
        o.source = partition + "/" + offset;
        return o;
    }

    @Override
    public String toString() {
        return (deadLetter ? "dead[" + source + " " + reason + "] " : "session ")
                + new String(value, StandardCharsets.UTF_8);
    }
}
