package dev.evbench.flink;

import dev.evbench.core.Admission;
import dev.evbench.core.Envelope;
import dev.evbench.core.Golden;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;

/**
 * Drives the job's per-record path in Flink's keyed operator test harness: admission (as the
 * source's deserializer and the route before keying do), then the keyed process function.
 * Records get partition 0 and their line number as offset, as {@code evbench sessionize} does.
 */
final class Run implements AutoCloseable {
    static final long GRACE_STUDY = Golden.GRACE_STUDY;
    static final long GRACE_LITERAL = Golden.GRACE_LITERAL;
    static final long TOLERANCE = 5_000;
    static final long GAP = 7_200_000; // evbench sessionize's default

    final long grace;
    final long tolerance;
    final long gap;
    final Admission admission = new Admission(86_400_000);
    KeyedOneInputStreamOperatorTestHarness<String, Envelope, OutRecord> harness;
    /** Outputs taken so far (sessions and dead letters, in order). */
    final List<OutRecord> outputs = new ArrayList<>();
    private long maxTs = Long.MIN_VALUE;

    Run(long grace) throws Exception {
        this(grace, TOLERANCE, GAP, null);
    }

    Run(long grace, long tolerance, long gap, OperatorSubtaskState restore) throws Exception {
        this.grace = grace;
        this.tolerance = tolerance;
        this.gap = gap;
        harness = newHarness(restore);
    }

    private KeyedOneInputStreamOperatorTestHarness<String, Envelope, OutRecord> newHarness(OperatorSubtaskState restore)
            throws Exception {
        var h = new KeyedOneInputStreamOperatorTestHarness<>(
                new KeyedProcessOperator<>(new SessionizerFunction(grace, tolerance, gap)),
                (KeySelector<Envelope, String>) e -> e.chargerId,
                Types.STRING);
        h.setup();
        if (restore != null) {
            h.initializeState(restore);
        }
        h.open();
        return h;
    }

    /** Takes a snapshot, closes the operator and opens a new one restored from it. */
    void restart(long checkpointId) throws Exception {
        drain();
        OperatorSubtaskState snapshot = harness.snapshot(checkpointId, checkpointId);
        long watermark = harness.getCurrentWatermark();
        harness.close();
        harness = newHarness(snapshot);
        if (watermark != Long.MIN_VALUE) {
            harness.processWatermark(new Watermark(watermark));
        }
    }

    /** One record with its Kafka timestamp (-1: none). */
    void push(byte[] raw, long offset, long kafkaTs) throws Exception {
        Envelope e = Envelope.of(raw, 0, offset, kafkaTs);
        admission.admit(e);
        if (e.isDead()) {
            outputs.add(OutRecord.dead(e.partition, e.offset, e.deadReason, e.raw)); // what Route does
            return;
        }
        maxTs = Math.max(maxTs, e.ts);
        harness.processElement(new StreamRecord<>(e, e.ts));
        drain();
    }

    void push(String json, long offset) throws Exception {
        push(json.getBytes(java.nio.charset.StandardCharsets.UTF_8), offset, -1);
    }

    /** A watermark as the source's would be: the largest timestamp minus the tolerance minus 1. */
    void boundedWatermark() throws Exception {
        if (maxTs != Long.MIN_VALUE) {
            watermark(maxTs - tolerance - 1);
        }
    }

    void watermark(long w) throws Exception {
        if (w > harness.getCurrentWatermark()) {
            harness.processWatermark(new Watermark(w));
        }
        drain();
    }

    /** End of input: the final watermark settles every charger. */
    void finish() throws Exception {
        watermark(Long.MAX_VALUE);
    }

    void drain() {
        outputs.addAll(harness.extractOutputValues());
        harness.getOutput().clear();
    }

    /** Feeds a JSON-lines file (line numbers as offsets); every {@code wmEvery} records a bounded watermark. */
    void file(String resource, int wmEvery) throws Exception {
        byte[] all;
        try (InputStream in = Run.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("missing test resource " + resource);
            }
            all = in.readAllBytes();
        }
        long line = 0;
        int start = 0;
        int n = 0;
        while (start < all.length) {
            int end = start;
            while (end < all.length && all[end] != '\n') {
                end++;
            }
            line++;
            byte[] record = trimAscii(Arrays.copyOfRange(all, start, end));
            start = end + 1;
            if (record.length == 0) {
                continue;
            }
            push(record, line, -1);
            if (wmEvery > 0 && ++n % wmEvery == 0) {
                boundedWatermark();
            }
        }
    }

    static byte[] trimAscii(byte[] b) {
        int s = 0, e = b.length;
        while (s < e && isSpace(b[s])) {
            s++;
        }
        while (e > s && isSpace(b[e - 1])) {
            e--;
        }
        return Arrays.copyOfRange(b, s, e);
    }

    private static boolean isSpace(byte c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0x0C;
    }

    List<OutRecord> sessions() {
        return outputs.stream().filter(o -> !o.deadLetter).toList();
    }

    List<OutRecord> deadLetters() {
        return outputs.stream().filter(o -> o.deadLetter).toList();
    }

    @Override
    public void close() throws Exception {
        harness.close();
    }
}
