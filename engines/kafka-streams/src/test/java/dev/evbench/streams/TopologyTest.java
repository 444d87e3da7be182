package dev.evbench.streams;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.evbench.core.Config;
import dev.evbench.core.Golden;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The application's topology as Kafka Streams runs it (TopologyTestDriver: the real processor,
 * state store with its serde, punctuation and sinks; no broker): topics, keys and headers of what
 * comes out, and the wall-clock idle timeout releasing what event time alone would hold.
 */
class TopologyTest {
    @TempDir
    Path state;

    Config config() throws Exception {
        return Config.fromEnv(Map.of(
                "EVBENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9",
                "EVBENCH_STATE_DIR", state.toString(),
                "EVBENCH_OVERSTAY_GRACE_MS", Long.toString(Golden.GRACE_STUDY),
                "EVBENCH_INACTIVITY_GAP_MS", Long.toString(GoldenTest.GAP)), "kafka-streams");
    }

    @Test
    void aSimulatorFileGivesItsTruthWithHeaders() throws Exception {
        Config cfg = config();
        Properties props = StreamsApp.properties(cfg);
        Instant start = Instant.parse("2026-01-01T00:00:00Z");
        try (TopologyTestDriver driver = new TopologyTestDriver(StreamsApp.topology(cfg), props, start)) {
            TestInputTopic<byte[], byte[]> in = driver.createInputTopic(cfg.signalsTopic, new ByteArraySerializer(), new ByteArraySerializer());
            TestOutputTopic<byte[], byte[]> sessions = driver.createOutputTopic(cfg.sessionsTopic, new ByteArrayDeserializer(), new ByteArrayDeserializer());
            TestOutputTopic<byte[], byte[]> dead = driver.createOutputTopic(cfg.deadLetterTopic, new ByteArrayDeserializer(), new ByteArrayDeserializer());
            long kafkaTs = 1_000_000;
            for (byte[] line : GoldenTest.lines("/golden/study-20x1h-s7.signals.jsonl")) {
                if (line.length > 0) {
                    in.pipeInput(new TestRecord<>(null, line, null, kafkaTs++));
                }
            }
            in.pipeInput(new TestRecord<>(null, "{not json".getBytes(StandardCharsets.UTF_8), null, kafkaTs));
            List<TestRecord<byte[], byte[]>> early = sessions.readRecordsToList();
            // Past the idle timeout the task's event time moves to its largest timestamp.
            driver.advanceWallClockTime(Duration.ofMillis(cfg.idleTimeoutMs + 200));
            List<TestRecord<byte[], byte[]>> all = new ArrayList<>(early);
            all.addAll(sessions.readRecordsToList());

            List<String> values = all.stream().map(r -> new String(r.value(), StandardCharsets.UTF_8)).toList();
            Golden.assertSameSessions(Golden.lines("/golden/study-20x1h-s7.truth.jsonl"), values);
            assertTrue(!early.isEmpty(), "complete visits come out on their departure signal, not at the idle timeout");
            for (TestRecord<byte[], byte[]> r : early) {
                String charger = new String(r.key(), StandardCharsets.UTF_8);
                assertTrue(new String(r.value(), StandardCharsets.UTF_8).contains("\"charger_id\":\"" + charger + "\""));
                Header ts = r.headers().lastHeader(SessionizerProcessor.SIGNAL_TS_HEADER);
                assertNotNull(ts, "a session emitted by a signal carries its Kafka timestamp");
                long signalTs = Long.parseLong(new String(ts.value(), StandardCharsets.UTF_8));
                assertTrue(signalTs >= 1_000_000 && signalTs < kafkaTs, "header " + signalTs);
            }

            TestRecord<byte[], byte[]> letter = dead.readRecord();
            assertNull(letter.key());
            assertEquals("{not json", new String(letter.value(), StandardCharsets.UTF_8));
            String source = new String(letter.headers().lastHeader("source").value(), StandardCharsets.UTF_8);
            assertTrue(source.startsWith("0/"), source);
            String reason = new String(letter.headers().lastHeader("reason").value(), StandardCharsets.UTF_8);
            assertTrue(reason.startsWith("undecodable signal: malformed JSON"), reason);
            assertTrue(dead.isEmpty());
        }
    }
}
