package dev.evbench.flink;

import dev.evbench.core.Config;
import dev.evbench.core.Envelope;
import dev.evbench.core.OutputTopics;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.sink.TransactionNamingStrategy;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.execution.ExecutionState;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionVertex;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/**
 * Runs the sessionizer job in a local Flink MiniCluster, configured from the environment only
 * (see {@link Config} and docs/flink.md). Restores from the latest retained checkpoint under
 * {@code $EVBENCH_STATE_DIR/checkpoints}; SIGTERM cancels the job (keeping its checkpoint) and
 * exits 0; invalid settings exit 2; a job that fails for good exits 1.
 */
public final class SessionizerJob {
    private static final Logger LOG = LoggerFactory.getLogger(SessionizerJob.class);

    private final Config cfg;
    private volatile MiniCluster cluster;
    private volatile JobID jobId;
    private volatile boolean stopping;

    private SessionizerJob(Config cfg) {
        this.cfg = cfg;
    }

    public static void main(String[] args) {
        Config cfg = Config.fromEnvOrExit(args, "flink", "docs/flink.md");
        int code;
        try {
            code = new SessionizerJob(cfg).run();
        } catch (Throwable t) {
            LOG.error("evbench-flink failed", t);
            code = 1;
        }
        System.exit(code);
    }

    private int run() throws Exception {
        LOG.info("evbench-flink starting: {}", cfg);
        if (cfg.readyFile != null) {
            Files.deleteIfExists(cfg.readyFile);
        }
        Signal.handle(new Signal("TERM"), s -> stop("SIGTERM"));
        Signal.handle(new Signal("INT"), s -> stop("SIGINT"));

        ensureOutputTopics();
        Path checkpoints = cfg.stateDir.resolve("checkpoints");
        Files.createDirectories(checkpoints);
        Optional<Path> restore = latestCheckpoint(checkpoints);
        restore.ifPresentOrElse(
                p -> LOG.info("restoring from retained checkpoint {}", p),
                () -> LOG.info("no retained checkpoint in {}: starting from the committed offsets (else the earliest)", checkpoints));

        Configuration conf = flinkConfiguration(checkpoints, restore);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(conf);
        buildPipeline(env, cfg);
        StreamGraph graph = env.getStreamGraph();
        graph.setJobName("evbench-flink sessionizer");
        JobID id = new JobID();
        graph.setJobId(id);

        MiniCluster mc = new MiniCluster(new MiniClusterConfiguration.Builder()
                .setConfiguration(conf)
                .setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(cfg.parallelism)
                .build());
        mc.start();
        cluster = mc;
        mc.submitJob(graph).get();
        jobId = id;
        LOG.info("job {} submitted (web UI {})", id, mc.getRestAddress().getNow(null));
        if (stopping) {
            cancel();
        }
        Thread watcher = new Thread(() -> watch(mc, id, checkpoints), "evbench-flink-watch");
        watcher.setDaemon(true);
        watcher.start();

        JobResult result = mc.requestJobResult(id).get();
        LOG.info("job ended: {}", result.getApplicationStatus());
        if (stopping) {
            closeCluster(mc);
            LOG.info("stopped; the latest checkpoint is retained in {}", checkpoints);
            return 0;
        }
        result.getSerializedThrowable().ifPresent(t -> LOG.error("job failed", t.deserializeError(SessionizerJob.class.getClassLoader())));
        closeCluster(mc);
        return result.isSuccess() ? 0 : 1;
    }

    private void stop(String why) {
        if (stopping) {
            return;
        }
        stopping = true;
        LOG.info("{}: cancelling the job", why);
        Thread t = new Thread(() -> {
            if (jobId == null) {
                // Not submitted yet: run() cancels right after the submission; before it, just leave.
                if (cluster == null) {
                    Runtime.getRuntime().halt(0);
                }
                return;
            }
            cancel();
        }, "evbench-flink-stop");
        t.setDaemon(true);
        t.start();
    }

    private void cancel() {
        try {
            cluster.cancelJob(jobId).get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("cancel failed: {}", e.toString());
            Runtime.getRuntime().halt(1);
        }
    }

    private static void closeCluster(MiniCluster mc) {
        try {
            mc.closeAsync().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("closing the MiniCluster: {}", e.toString());
        }
    }

    /** The job's dataflow: source → decode/admit → key by charger → sessionize → sink. */
    static void buildPipeline(StreamExecutionEnvironment env, Config cfg) {
        KafkaSource<Envelope> source = KafkaSource.<Envelope>builder()
                .setBootstrapServers(cfg.bootstrap)
                // A pattern, not a topic list: the input topic may not exist yet when the job
                // starts (the producer creates it); partition discovery picks it up within 1 s.
                .setTopicPattern(Pattern.compile(Pattern.quote(cfg.signalsTopic)))
                .setGroupId(cfg.groupId)
                .setClientIdPrefix(cfg.groupId)
                .setStartingOffsets(OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST))
                .setDeserializer(new SignalDeserializer(cfg.maxClockSkewMs))
                .setProperty("isolation.level", cfg.exactlyOnce ? "read_committed" : "read_uncommitted")
                .setProperty("partition.discovery.interval.ms", "1000")
                .setProperty("commit.offsets.on.checkpoint", "true")
                .setProperty("fetch.max.wait.ms", "100")
                // A secured cluster's login (EVBENCH_KAFKA_SASL_*); nothing for plaintext.
                .setProperties(cfg.kafkaSecurityProperties())
                .build();
        DataStream<Envelope> signals = env
                .fromSource(source, SignalWatermarks.strategy(cfg.reorderToleranceMs, cfg.idleTimeoutMs), "signals")
                .uid("signals-source");
        SingleOutputStreamOperator<Envelope> admitted = signals.process(new Route()).uid("route").name("admit");
        DataStream<OutRecord> sessions = admitted
                .keyBy(e -> e.chargerId, Types.STRING)
                .process(new SessionizerFunction(cfg.overstayGraceMs, cfg.reorderToleranceMs, cfg.inactivityGapMs))
                .uid("sessionizer")
                .name("sessionizer");
        DataStream<OutRecord> out = sessions.union(admitted.getSideOutput(Route.DEAD_LETTERS));
        Properties producer = new Properties();
        // At most the broker's transaction.max.timeout.ms (15 min by default); a prepared
        // transaction must still be open when a restarted job commits it.
        producer.setProperty("transaction.timeout.ms", "600000");
        producer.setProperty("linger.ms", "2");
        producer.putAll(cfg.kafkaSecurityProperties());
        KafkaSink<OutRecord> sink = KafkaSink.<OutRecord>builder()
                .setBootstrapServers(cfg.bootstrap)
                .setDeliveryGuarantee(cfg.exactlyOnce ? DeliveryGuarantee.EXACTLY_ONCE : DeliveryGuarantee.AT_LEAST_ONCE)
                .setTransactionalIdPrefix(cfg.groupId)
                .setTransactionNamingStrategy(TransactionNamingStrategy.POOLING)
                .setKafkaProducerConfig(producer)
                .setRecordSerializer(new OutRecordSerializer(cfg.sessionsTopic, cfg.deadLetterTopic))
                .build();
        out.sinkTo(sink).uid("outputs-sink").name("outputs");
    }

    private Configuration flinkConfiguration(Path checkpoints, Optional<Path> restore) {
        Configuration conf = new Configuration();
        conf.set(CoreOptions.DEFAULT_PARALLELISM, cfg.parallelism);
        conf.set(TaskManagerOptions.NUM_TASK_SLOTS, cfg.parallelism);
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(cfg.checkpointIntervalMs));
        conf.set(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE, CheckpointingMode.EXACTLY_ONCE);
        conf.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION, ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
        conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
        conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 2);
        conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMinutes(2));
        conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 10);
        conf.set(StateBackendOptions.STATE_BACKEND, "hashmap");
        restore.ifPresent(p -> conf.set(StateRecoveryOptions.SAVEPOINT_PATH, p.toUri().toString()));
        conf.set(ExecutionOptions.BUFFER_TIMEOUT, Duration.ofMillis(5));
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "exponential-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_EXPONENTIAL_DELAY_INITIAL_BACKOFF, Duration.ofMillis(500));
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_EXPONENTIAL_DELAY_MAX_BACKOFF, Duration.ofSeconds(10));
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_EXPONENTIAL_DELAY_ATTEMPTS, 50);
        conf.set(RestOptions.ADDRESS, "127.0.0.1");
        conf.set(RestOptions.BIND_ADDRESS, "127.0.0.1");
        conf.set(RestOptions.BIND_PORT, "0");
        if (cfg.metricsPort > 0) {
            // Flink's own Prometheus reporter (flink-metrics-prometheus): every metric of the
            // job, the Kafka source's pendingRecords (its consumer lag) among them.
            conf.setString("metrics.reporter.prom.factory.class",
                    "org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
            conf.setString("metrics.reporter.prom.port", Integer.toString(cfg.metricsPort));
        }
        return conf;
    }

    /** Creates the output topics when missing (brokers here do not auto-create topics). */
    private void ensureOutputTopics() throws Exception {
        try (Admin admin = OutputTopics.admin(cfg)) {
            for (String topic : OutputTopics.ensure(admin, cfg)) {
                LOG.info("created topic {} ({} partitions)", topic, OutputTopics.PARTITIONS);
            }
        }
    }

    /** The newest retained checkpoint whose metadata reads back, if any. */
    static Optional<Path> latestCheckpoint(Path checkpoints) throws IOException {
        List<Path> metadata = new ArrayList<>();
        try (Stream<Path> jobs = Files.list(checkpoints)) {
            for (Path job : jobs.filter(Files::isDirectory).toList()) {
                try (Stream<Path> chks = Files.list(job)) {
                    chks.filter(c -> c.getFileName().toString().startsWith("chk-"))
                            .map(c -> c.resolve("_metadata"))
                            .filter(Files::isRegularFile)
                            .forEach(metadata::add);
                }
            }
        }
        metadata.sort(Comparator.comparing((Path m) -> {
            try {
                return Files.getLastModifiedTime(m).toMillis();
            } catch (IOException e) {
                return 0L;
            }
        }).thenComparing(m -> chkNumber(m.getParent())).reversed());
        for (Path m : metadata) {
            try (InputStream in = Files.newInputStream(m); DataInputStream din = new DataInputStream(in)) {
                Checkpoints.loadCheckpointMetadata(din, SessionizerJob.class.getClassLoader(), m.getParent().toString());
                return Optional.of(m.getParent());
            } catch (Exception e) {
                LOG.warn("skipping unreadable checkpoint {}: {}", m.getParent(), e.toString());
            }
        }
        return Optional.empty();
    }

    private static long chkNumber(Path chk) {
        try {
            return Long.parseLong(chk.getFileName().toString().substring(4));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /**
     * Writes the ready file once every task runs, logs a status line every 10 s, and once this
     * job has retained a checkpoint of its own, deletes those of earlier runs.
     */
    private void watch(MiniCluster mc, JobID id, Path checkpoints) {
        boolean ready = false;
        boolean cleaned = false;
        long lastStatus = System.nanoTime();
        String lastLine = "";
        while (!stopping) {
            try {
                if (!ready) {
                    AccessExecutionGraph g = mc.getExecutionGraph(id).get(10, TimeUnit.SECONDS);
                    boolean all = g.getState() == JobStatus.RUNNING;
                    for (AccessExecutionVertex v : g.getAllExecutionVertices()) {
                        all &= v.getExecutionState() == ExecutionState.RUNNING;
                    }
                    if (all) {
                        ready = true;
                        LOG.info("job {} is running", id);
                        if (cfg.readyFile != null) {
                            Path parent = cfg.readyFile.getParent();
                            if (parent != null) {
                                Files.createDirectories(parent);
                            }
                            Files.write(cfg.readyFile, new byte[0]);
                        }
                    }
                }
                if (!cleaned) {
                    Path own = checkpoints.resolve(id.toHexString());
                    if (latestCheckpoint(checkpoints).map(p -> p.getParent().equals(own)).orElse(false)) {
                        try (Stream<Path> jobs = Files.list(checkpoints)) {
                            for (Path job : jobs.filter(j -> !j.equals(own)).toList()) {
                                deleteTree(job);
                            }
                        }
                        cleaned = true;
                    }
                }
                if (System.nanoTime() - lastStatus > 10_000_000_000L) {
                    lastStatus = System.nanoTime();
                    String line = String.format("signals %d, sessions %d, dead letters %d, duplicates %d",
                            Counters.SIGNALS.sum(), Counters.SESSIONS.sum(), Counters.DEAD_LETTERS.sum(),
                            Counters.DUPLICATES.sum());
                    if (!line.equals(lastLine)) {
                        LOG.info(line);
                        lastLine = line;
                    }
                }
                Thread.sleep(ready ? 500 : 100);
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                LOG.debug("watch: {}", e.toString());
                try {
                    Thread.sleep(500);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
