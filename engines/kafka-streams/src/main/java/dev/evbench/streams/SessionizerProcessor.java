package dev.evbench.streams;

import dev.evbench.core.Admission;
import dev.evbench.core.ChargerState;
import dev.evbench.core.Config;
import dev.evbench.core.Session;
import dev.evbench.core.Sessionizer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.BiConsumer;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The sessionizer as a Kafka Streams processor: one instance per task (input partition), the
 * chargers' states in the task's persistent store {@value #STORE}, {@link TaskSessions} doing the
 * work. Sessions go to the child {@value #SESSIONS} (key = charger id, header
 * {@code evbench-signal-ts}), dead letters to {@value #DEAD_LETTERS} (no key, headers
 * {@code reason} and {@code source}), as evbench's own aggregator writes them.
 */
final class SessionizerProcessor implements Processor<byte[], byte[], byte[], byte[]> {
    static final String STORE = "charger-state";
    static final String SESSIONS = "sessions";
    static final String DEAD_LETTERS = "dead-letters";
    static final String SIGNAL_TS_HEADER = "evbench-signal-ts";

    private final long overstayGraceMs;
    private final long reorderToleranceMs;
    private final long inactivityGapMs;
    private final long maxClockSkewMs;
    private final long idleTimeoutMs;

    private ProcessorContext<byte[], byte[]> context;
    private TaskSessions sessions;
    private final Forward forward = new Forward();

    SessionizerProcessor(Config cfg) {
        this.overstayGraceMs = cfg.overstayGraceMs;
        this.reorderToleranceMs = cfg.reorderToleranceMs;
        this.inactivityGapMs = cfg.inactivityGapMs;
        this.maxClockSkewMs = cfg.maxClockSkewMs;
        this.idleTimeoutMs = cfg.idleTimeoutMs;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        this.context = context;
        KeyValueStore<String, ChargerState> store = context.getStateStore(STORE);
        // The store is restored by the time init runs: the indexes are rebuilt from it.
        sessions = new TaskSessions(
                new Sessionizer(overstayGraceMs, reorderToleranceMs, inactivityGapMs),
                new Admission(maxClockSkewMs),
                new StoreAdapter(store),
                idleTimeoutMs,
                context.currentSystemTimeMs());
        long every = Math.max(10, Math.min(100, idleTimeoutMs / 4));
        context.schedule(Duration.ofMillis(every), PunctuationType.WALL_CLOCK_TIME,
                now -> sessions.onWallClock(now, forward));
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        RecordMetadata at = context.recordMetadata().orElseThrow();
        Counters.SIGNALS.increment();
        long duplicates = sessions.stats().duplicates;
        sessions.onRecord(record.value(), at.partition(), at.offset(), record.timestamp(), context.currentSystemTimeMs(), forward);
        Counters.DUPLICATES.add(sessions.stats().duplicates - duplicates);
    }

    /** Outputs to the sink nodes. */
    private final class Forward implements TaskSessions.Output {
        private long signalTs = -1;

        @Override
        public void cause(long kafkaTs) {
            signalTs = kafkaTs;
        }

        @Override
        public void session(ChargerState charger, Session session) {
            Counters.SESSIONS.increment();
            RecordHeaders headers = new RecordHeaders();
            if (signalTs >= 0) {
                headers.add(SIGNAL_TS_HEADER, Long.toString(signalTs).getBytes(StandardCharsets.UTF_8));
            }
            context.forward(new Record<>(charger.id.getBytes(StandardCharsets.UTF_8), session.toJsonBytes(),
                    context.currentSystemTimeMs(), headers), SESSIONS);
        }

        @Override
        public void deadLetter(int partition, long offset, String reason, byte[] payload, boolean reencoded) {
            Counters.DEAD_LETTERS.increment();
            RecordHeaders headers = new RecordHeaders();
            headers.add("reason", reason.getBytes(StandardCharsets.UTF_8));
            headers.add("source", (partition + "/" + offset).getBytes(StandardCharsets.UTF_8));
            context.forward(new Record<byte[], byte[]>(null, payload == null ? new byte[0] : payload,
                    context.currentSystemTimeMs(), headers), DEAD_LETTERS);
        }
    }

    /** The task's state store as {@link TaskSessions} sees it. */
    private record StoreAdapter(KeyValueStore<String, ChargerState> store) implements TaskSessions.Store {
        @Override
        public ChargerState get(String chargerId) {
            return store.get(chargerId);
        }

        @Override
        public void put(String chargerId, ChargerState state) {
            store.put(chargerId, state);
        }

        @Override
        public void forEach(BiConsumer<String, ChargerState> action) {
            try (KeyValueIterator<String, ChargerState> all = store.all()) {
                while (all.hasNext()) {
                    KeyValue<String, ChargerState> kv = all.next();
                    action.accept(kv.key, kv.value);
                }
            }
        }
    }
}
