package dev.evbench.streams;

import dev.evbench.core.Admission;
import dev.evbench.core.ChargerState;
import dev.evbench.core.ChargerStateCodec;
import dev.evbench.core.Golden;
import dev.evbench.core.Session;
import dev.evbench.core.Sessionizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The engines' shared golden files ({@link Golden}) through one task's path ({@link TaskSessions},
 * the store a map of encoded states as a state store keeps them). Each file runs whole, and once with the task restarted
 * half-way from its store (what a restart restored from the changelog sees).
 */
class GoldenTest {
    static final long TOLERANCE = 5_000;
    static final long GAP = 7_200_000; // evbench sessionize's default

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Golden.Case c : Golden.CASES) {
            out.add(Arguments.of(c, false));
            out.add(Arguments.of(c, true));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} (restarted half-way: {1})")
    @MethodSource("cases")
    void sameAsReference(Golden.Case c, boolean restart) throws Exception {
        Collected out = new Collected();
        MapStore store = new MapStore();
        TaskSessions task = newTask(c.grace(), store);
        List<byte[]> lines = lines(c.signals());
        for (int i = 0; i < lines.size(); i++) {
            if (restart && i == lines.size() / 2) {
                task = newTask(c.grace(), store);
            }
            if (lines.get(i).length > 0) {
                task.onRecord(lines.get(i), 0, i + 1, -1, 0, out);
            }
        }
        task.finish(out);
        Golden.assertSameSessions(c.expectedSessions(), out.sessions);
        Golden.assertSameDeadLetters(c.expectedDeadLetters(), out.dead);
    }

    static TaskSessions newTask(long grace, MapStore store) {
        return new TaskSessions(new Sessionizer(grace, TOLERANCE, GAP), new Admission(86_400_000), store, 2_000, 0);
    }

    /** The file's lines, trimmed (blank ones kept, empty, so that line numbers stay offsets). */
    static List<byte[]> lines(String resource) throws IOException {
        byte[] all;
        try (InputStream in = GoldenTest.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("missing " + resource);
            }
            all = in.readAllBytes();
        }
        List<byte[]> out = new ArrayList<>();
        int start = 0;
        while (start < all.length) {
            int end = start;
            while (end < all.length && all[end] != '\n') {
                end++;
            }
            out.add(new String(Arrays.copyOfRange(all, start, end), StandardCharsets.UTF_8).strip().getBytes(StandardCharsets.UTF_8));
            start = end + 1;
        }
        return out;
    }

    /** A state store kept as the real one keeps it: encoded bytes. */
    static final class MapStore implements TaskSessions.Store {
        final Map<String, byte[]> states = new HashMap<>();

        @Override
        public ChargerState get(String chargerId) {
            byte[] b = states.get(chargerId);
            return b == null ? null : ChargerStateCodec.fromBytes(b);
        }

        @Override
        public void put(String chargerId, ChargerState state) {
            states.put(chargerId, ChargerStateCodec.toBytes(state));
        }

        @Override
        public void forEach(BiConsumer<String, ChargerState> action) {
            states.forEach((k, v) -> action.accept(k, ChargerStateCodec.fromBytes(v)));
        }
    }

    static final class Collected implements TaskSessions.Output {
        final List<String> sessions = new ArrayList<>();
        final List<Golden.DeadLetter> dead = new ArrayList<>();

        @Override
        public void cause(long kafkaTs) {}

        @Override
        public void session(ChargerState charger, Session session) {
            sessions.add(new String(session.toJsonBytes(), StandardCharsets.UTF_8));
        }

        @Override
        public void deadLetter(int partition, long offset, String reason, byte[] payload, boolean reencoded) {
            dead.add(new Golden.DeadLetter(partition + "/" + offset, reason, payload));
        }
    }
}
