package dev.evbench.streams;

import dev.evbench.core.ChargerState;
import dev.evbench.core.ChargerStateCodec;
import dev.evbench.core.Config;
import dev.evbench.core.OutputTopics;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.ThreadMetadata;
import org.apache.kafka.streams.TaskMetadata;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.Stores;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the sessionizer as a Kafka Streams application, configured from the environment only
 * (the engine contract of docs/engines.md, read by {@link Config}). The application id is
 * {@code EVBENCH_GROUP_ID} (so also the consumer group and the base of the transactional ids),
 * the stores live under {@code $EVBENCH_STATE_DIR/streams}. SIGTERM closes it cleanly (the open
 * transaction committed) and exits 0; invalid settings exit 2; a failure it cannot recover from
 * exits 1.
 */
public final class StreamsApp {
    private static final Logger LOG = LoggerFactory.getLogger(StreamsApp.class);
    /** Stream threads replaced after an unexpected error before the application gives up. */
    static final int MAX_THREAD_REPLACEMENTS = 10;

    private StreamsApp() {}

    public static void main(String[] args) {
        Config cfg = Config.fromEnvOrExit(args, "kafka-streams", "docs/kafka-streams.md");
        int code;
        try {
            code = run(cfg);
        } catch (Throwable t) {
            LOG.error("evbench-kafka-streams failed", t);
            code = 1;
        }
        System.exit(code);
    }

    /** The serde of the charger-state store: {@link ChargerStateCodec}'s binary form. */
    static Serde<ChargerState> chargerStateSerde() {
        return Serdes.serdeFrom(
                (topic, state) -> state == null ? null : ChargerStateCodec.toBytes(state),
                (topic, bytes) -> bytes == null ? null : ChargerStateCodec.fromBytes(bytes));
    }

    /** signals → sessionizer (with its store) → sessions | dead letters. */
    static Topology topology(Config cfg) {
        Topology t = new Topology();
        t.addSource("signals", Serdes.ByteArray().deserializer(), Serdes.ByteArray().deserializer(), cfg.signalsTopic);
        t.addProcessor("sessionizer", () -> new SessionizerProcessor(cfg), "signals");
        t.addStateStore(Stores.keyValueStoreBuilder(
                        Stores.persistentKeyValueStore(SessionizerProcessor.STORE), Serdes.String(), chargerStateSerde())
                // Between commits a charger's state is written to the changelog once, not per signal.
                .withCachingEnabled(), "sessionizer");
        t.addSink(SessionizerProcessor.SESSIONS, cfg.sessionsTopic,
                Serdes.ByteArray().serializer(), Serdes.ByteArray().serializer(), "sessionizer");
        t.addSink(SessionizerProcessor.DEAD_LETTERS, cfg.deadLetterTopic,
                Serdes.ByteArray().serializer(), Serdes.ByteArray().serializer(), "sessionizer");
        return t;
    }

    static Properties properties(Config cfg) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, cfg.groupId);
        p.put(StreamsConfig.CLIENT_ID_CONFIG, cfg.groupId + "-" + cfg.instance);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, cfg.bootstrap);
        // A secured cluster's login (EVBENCH_KAFKA_SASL_*), for every client of the app.
        p.putAll(cfg.kafkaSecurityProperties());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
                cfg.exactlyOnce ? StreamsConfig.EXACTLY_ONCE_V2 : StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Long.toString(cfg.commitIntervalMs));
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.toString(cfg.parallelism));
        p.put(StreamsConfig.STATE_DIR_CONFIG, cfg.stateDir.resolve("streams").toString());
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        // Static membership: an instance restarted after a crash takes its place in the group at
        // once, instead of waiting out the dead member's session timeout (45 s) in a rebalance.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG), cfg.groupId + "-" + cfg.instance);
        // Kafka Streams' own defaults favour throughput (a producer lingering 100 ms); evbench's
        // aggregator and the Flink engine send at once, and so does this.
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), "2");
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), "100");
        // A transaction must outlive a restart that has to restore the store.
        p.put(StreamsConfig.producerPrefix(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG), "60000");
        return p;
    }

    static int run(Config cfg) throws Exception {
        LOG.info("evbench-kafka-streams starting: {}", cfg);
        if (cfg.readyFile != null) {
            Files.deleteIfExists(cfg.readyFile);
        }
        ensureTopics(cfg);
        KafkaStreams streams = new KafkaStreams(topology(cfg), properties(cfg));
        CountDownLatch ended = new CountDownLatch(1);
        AtomicInteger failures = new AtomicInteger();
        AtomicInteger exitCode = new AtomicInteger(0);
        streams.setUncaughtExceptionHandler(e -> {
            if (failures.incrementAndGet() > MAX_THREAD_REPLACEMENTS) {
                LOG.error("stream thread failed {} times; shutting down", failures.get(), e);
                exitCode.set(1);
                return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
            }
            LOG.warn("stream thread failed ({} of {}): replacing it", failures.get(), MAX_THREAD_REPLACEMENTS, e);
            return StreamThreadExceptionResponse.REPLACE_THREAD;
        });
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
                LOG.info("restoring {} of partition {} from its changelog: offsets {} to {}", store, tp.partition(), start, end);
            }

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long restored) {}

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long restored) {
                LOG.info("restored {} of partition {}: {} records", store, tp.partition(), restored);
            }
        });
        streams.setStateListener((now, before) -> {
            LOG.info("state {} -> {}", before, now);
            if (now == KafkaStreams.State.RUNNING) {
                writeReady(cfg, streams);
            }
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                if (now == KafkaStreams.State.ERROR) {
                    exitCode.compareAndSet(0, 1);
                }
                ended.countDown();
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            LOG.info("stopping: closing the application (its open transaction is committed)");
            streams.close(Duration.ofSeconds(30));
            ended.countDown();
        }, "evbench-kafka-streams-stop"));
        streams.start();
        String last = "";
        while (!ended.await(10, TimeUnit.SECONDS)) {
            String line = String.format("signals %d, sessions %d, dead letters %d, duplicates %d",
                    Counters.SIGNALS.sum(), Counters.SESSIONS.sum(), Counters.DEAD_LETTERS.sum(), Counters.DUPLICATES.sum());
            if (!line.equals(last)) {
                LOG.info(line);
                last = line;
            }
        }
        return exitCode.get();
    }

    /** Once running: the ready file, holding how many input partitions this instance holds. */
    private static void writeReady(Config cfg, KafkaStreams streams) {
        if (cfg.readyFile == null) {
            return;
        }
        int held = 0;
        for (ThreadMetadata thread : streams.metadataForLocalThreads()) {
            for (TaskMetadata task : thread.activeTasks()) {
                for (TopicPartition tp : task.topicPartitions()) {
                    if (tp.topic().equals(cfg.signalsTopic)) {
                        held++;
                    }
                }
            }
        }
        try {
            Path parent = cfg.readyFile.getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            Files.writeString(cfg.readyFile, Integer.toString(held), StandardCharsets.UTF_8);
            LOG.info("running: {} input partitions held", held);
        } catch (IOException e) {
            LOG.warn("cannot write the ready file {}: {}", cfg.readyFile, e.toString());
        }
    }

    /**
     * Creates the output topics when missing, and waits for the input topic (Kafka Streams needs
     * its partitions to plan its tasks).
     */
    private static void ensureTopics(Config cfg) throws Exception {
        try (Admin admin = OutputTopics.admin(cfg)) {
            for (String topic : OutputTopics.ensure(admin, cfg)) {
                LOG.info("created topic {} ({} partitions)", topic, OutputTopics.PARTITIONS);
            }
            long since = System.nanoTime();
            while (!admin.listTopics().names().get(60, TimeUnit.SECONDS).containsAll(Set.of(cfg.signalsTopic))) {
                if (System.nanoTime() - since > 10_000_000_000L) {
                    LOG.info("waiting for the input topic {} to be created", cfg.signalsTopic);
                    since = System.nanoTime();
                }
                Thread.sleep(200);
            }
        }
    }
}
