package dev.evbench.flink.tools;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads a sessions topic {@code read_committed} from the beginning until it has been idle for a
 * while, compares it with a ground-truth file (parsed JSON, field by field, doubles by value)
 * and prints: truth, observed, matched, missing, unexpected, duplicated, mismatched. Run it while
 * the job runs to measure latency too: receive time minus the {@code evbench-signal-ts} header.
 * Exit 0 when every truth session came exactly once and nothing else did.
 *
 * <pre>
 * java -cp ... dev.evbench.flink.tools.Verify --bootstrap H:P --truth truth.jsonl
 *      [--topic charging-sessions] [--idle-ms 10000] [--dead-letter-topic T --expect-dead N]
 * </pre>
 */
public final class Verify {
    static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] argv) throws Exception {
        Args a = new Args(argv);
        String bootstrap = a.required("bootstrap");
        String topic = a.get("topic", "charging-sessions");
        long idleMs = a.num("idle-ms", 10_000);
        Map<String, JsonNode> truth = new HashMap<>();
        for (String l : Files.readAllLines(Path.of(a.required("truth")))) {
            if (!l.isBlank()) {
                JsonNode n = JSON.readTree(l);
                truth.put(n.get("session_id").asText(), n);
            }
        }
        Map<String, Integer> seen = new HashMap<>();
        List<String> mismatched = new ArrayList<>();
        List<String> unexpected = new ArrayList<>();
        List<Long> latencies = new ArrayList<>();
        long observed = 0;
        for (ConsumerRecord<byte[], byte[]> r : readAll(bootstrap, topic, idleMs, truth.size(), latencies)) {
            observed++;
            JsonNode n = JSON.readTree(new String(r.value(), StandardCharsets.UTF_8));
            String id = n.get("session_id").asText();
            seen.merge(id, 1, Integer::sum);
            JsonNode want = truth.get(id);
            if (want == null) {
                unexpected.add(id);
            } else if (!want.equals(n) && seen.get(id) == 1) {
                mismatched.add(id + ": want " + want + "\n   got " + n);
            }
        }
        long missing = truth.keySet().stream().filter(id -> !seen.containsKey(id)).count();
        long duplicated = seen.values().stream().filter(c -> c > 1).mapToLong(c -> c - 1).sum();
        long matched = truth.keySet().stream().filter(id -> seen.getOrDefault(id, 0) >= 1).count() - mismatched.size();
        System.out.printf("truth %d, observed %d, matched %d, missing %d, unexpected %d, duplicated %d, mismatched %d%n",
                truth.size(), observed, matched, missing, unexpected.size(), duplicated, mismatched.size());
        mismatched.stream().limit(5).forEach(m -> System.out.println("mismatch " + m));
        unexpected.stream().limit(5).forEach(u -> System.out.println("unexpected " + u));
        truth.keySet().stream().filter(id -> !seen.containsKey(id)).limit(5).forEach(m -> System.out.println("missing " + m));
        if (!latencies.isEmpty()) {
            Collections.sort(latencies);
            System.out.printf("latency (receive - evbench-signal-ts) over %d sessions: p50 %d ms, p90 %d ms, p99 %d ms, max %d ms%n",
                    latencies.size(), pct(latencies, 50), pct(latencies, 90), pct(latencies, 99), latencies.get(latencies.size() - 1));
        }
        boolean ok = missing == 0 && unexpected.isEmpty() && duplicated == 0 && mismatched.isEmpty();
        String deadTopic = a.get("dead-letter-topic", null);
        if (deadTopic != null) {
            List<ConsumerRecord<byte[], byte[]>> dead = readAll(bootstrap, deadTopic, 3000, Long.MAX_VALUE, null);
            Map<String, Integer> reasons = new HashMap<>();
            for (var r : dead) {
                Header h = r.headers().lastHeader("reason");
                String reason = h == null ? "?" : new String(h.value(), StandardCharsets.UTF_8);
                reasons.merge(reason.length() > 60 ? reason.substring(0, 60) + "…" : reason, 1, Integer::sum);
            }
            System.out.printf("dead letters %d%s%n", dead.size(), reasons.isEmpty() ? "" : ": " + reasons);
            long expect = a.num("expect-dead", -1);
            if (expect >= 0 && expect != dead.size()) {
                System.out.println("expected " + expect + " dead letters");
                ok = false;
            }
        }
        System.exit(ok ? 0 : 1);
    }

    static long pct(List<Long> sorted, int p) {
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p / 100.0 * sorted.size()) - 1));
    }

    /** Every committed record of the topic, read until nothing new came for {@code idleMs}. */
    static List<ConsumerRecord<byte[], byte[]>> readAll(String bootstrap, String topic, long idleMs, long expect,
            List<Long> latencies) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("isolation.level", "read_committed");
        p.put("enable.auto.commit", "false");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> parts = new ArrayList<>();
            c.partitionsFor(topic, Duration.ofSeconds(30)).forEach(i -> parts.add(new TopicPartition(topic, i.partition())));
            c.assign(parts);
            c.seekToBeginning(parts);
            long lastNew = System.currentTimeMillis();
            long startedAt = lastNew;
            while (System.currentTimeMillis() - lastNew < idleMs) {
                var batch = c.poll(Duration.ofMillis(50));
                long now = System.currentTimeMillis();
                for (var r : batch) {
                    out.add(r);
                    lastNew = now;
                    Header h = r.headers().lastHeader("evbench-signal-ts");
                    if (latencies != null && h != null) {
                        long signalTs = Long.parseLong(new String(h.value(), StandardCharsets.UTF_8));
                        // Only sessions closed while this reader ran: the rest is a backlog.
                        if (signalTs >= startedAt) {
                            latencies.add(now - signalTs);
                        }
                    }
                }
            }
        }
        return out;
    }
}
