package dev.evbench.flink.tools;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Plays a signals file (from {@code evbench simulate --out}) into Kafka as evbench's producer
 * does (key = charger id, partition = charger index mod partitions), optionally with its faults:
 * an exact duplicate right after a signal, a malformed record (its first half) after one.
 *
 * <pre>
 * java -cp ... dev.evbench.flink.tools.Produce --bootstrap H:P --in signals.jsonl
 *      [--topic charger-station-signals] [--partitions 20] [--duplicates 0.05] [--malformed 0.02]
 *      [--seed 1] [--rate 0 (records/s, 0 = unpaced)]
 * </pre>
 */
public final class Produce {
    public static void main(String[] argv) throws Exception {
        Args a = new Args(argv);
        String bootstrap = a.required("bootstrap");
        String topic = a.get("topic", "charger-station-signals");
        int partitions = (int) a.num("partitions", 20);
        double dup = a.real("duplicates", 0), bad = a.real("malformed", 0);
        Random rng = new Random(a.num("seed", 1));
        double rate = a.real("rate", 0);
        List<String> lines = Files.readAllLines(Path.of(a.required("in")));
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(List.of(new NewTopic(topic, Optional.of(partitions), Optional.empty()))).all().get();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw e;
            }
        }
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.put("linger.ms", "5");
        long records = 0, dups = 0, malformed = 0;
        java.util.concurrent.atomic.AtomicLong failed = new java.util.concurrent.atomic.AtomicLong();
        org.apache.kafka.clients.producer.Callback check = (meta, e) -> {
            if (e != null && failed.getAndIncrement() == 0) {
                System.err.println("send failed: " + e);
            }
        };
        long start = System.nanoTime();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            // A topic just created may not show all its partitions in the metadata at once.
            while (producer.partitionsFor(topic).size() < partitions
                    || producer.partitionsFor(topic).stream().anyMatch(i -> i.leader() == null || i.leader().id() < 0)) {
                Thread.sleep(100);
            }
            start = System.nanoTime();
            for (String line : lines) {
                if (line.isBlank()) {
                    continue;
                }
                int i = line.indexOf("\"charger_id\":\"");
                String charger = line.substring(i + 14, line.indexOf('"', i + 14));
                int index = charger.startsWith("charger-") ? Integer.parseInt(charger.substring(8)) - 1 : Math.abs(charger.hashCode());
                int partition = index % partitions;
                byte[] key = charger.getBytes(StandardCharsets.UTF_8);
                byte[] value = line.getBytes(StandardCharsets.UTF_8);
                if (rate > 0) {
                    long due = start + (long) (records / rate * 1e9);
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                }
                producer.send(new ProducerRecord<>(topic, partition, key, value), check);
                records++;
                if (rng.nextDouble() < dup) {
                    producer.send(new ProducerRecord<>(topic, partition, key, value), check);
                    records++;
                    dups++;
                }
                if (rng.nextDouble() < bad) {
                    byte[] half = java.util.Arrays.copyOf(value, value.length / 2);
                    producer.send(new ProducerRecord<>(topic, partition, key, half), check);
                    records++;
                    malformed++;
                }
            }
            producer.flush();
        }
        System.out.printf("produced %d records (%d duplicates, %d malformed, %d failed) to %s in %.1f s%n",
                records, dups, malformed, failed.get(), topic, (System.nanoTime() - start) / 1e9);
        System.exit(failed.get() == 0 ? 0 : 1);
    }
}
