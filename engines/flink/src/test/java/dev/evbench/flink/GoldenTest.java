package dev.evbench.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Golden files (src/test/make-golden.py): simulator output fed through the job's per-record path
 * must give the ground truth exactly; perturbed files must give exactly what the Rust reference
 * ({@code evbench sessionize}) gave: the same sessions and the same dead letters (position,
 * reason, payload). Each file runs twice: without watermarks until the end (the Rust
 * sessionizer's own event-time rules alone) and with a bounded watermark every 50 records.
 */
class GoldenTest {
    static final ObjectMapper JSON = new ObjectMapper();

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        Object[][] files = {
            {"study-20x2h-s1", Run.GRACE_STUDY, true},
            {"study-20x1h-s7", Run.GRACE_STUDY, true},
            {"literal-20x10m-s3", Run.GRACE_LITERAL, true},
            {"faults-dups-malformed", Run.GRACE_LITERAL, false},
            {"faults-reorder-seq", Run.GRACE_LITERAL, false},
            {"faults-reorder-noseq", Run.GRACE_LITERAL, false},
            {"faults-seconds-dates", Run.GRACE_LITERAL, false},
            {"faults-lossy-late", Run.GRACE_LITERAL, false},
            {"faults-lossy-noseq", Run.GRACE_LITERAL, false},
            {"faults-garbage", Run.GRACE_STUDY, false},
        };
        for (Object[] f : files) {
            out.add(Arguments.of(f[0], f[1], f[2], 0));
            // The garbage file puts a charger's signals hours behind the others: with a
            // watermark they are beyond the inactivity gap (SessionizerFunctionTest covers it).
            if (!f[0].equals("faults-garbage")) {
                out.add(Arguments.of(f[0], f[1], f[2], 50));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} (watermark every {3})")
    @MethodSource("cases")
    void sameAsReference(String name, long grace, boolean clean, int wmEvery) throws Exception {
        try (Run run = new Run(grace)) {
            run.file("/golden/" + name + ".signals.jsonl", wmEvery);
            run.finish();
            List<String> expected = lines("/golden/" + name + (clean ? ".truth.jsonl" : ".expected.jsonl"));
            List<String> actual = run.sessions().stream().map(o -> new String(o.value, StandardCharsets.UTF_8)).toList();
            assertSameSessions(expected, actual);
            // The text too: floats written as serde_json writes them.
            assertEquals(sorted(expected), sorted(actual), "session JSON text differs from the reference's");
            List<String> expectedDead = clean ? List.of() : lines("/golden/" + name + ".dead.jsonl");
            assertSameDeadLetters(expectedDead, run.deadLetters());
        }
    }

    static List<String> sorted(List<String> l) {
        return l.stream().sorted().toList();
    }

    static List<String> lines(String resource) throws IOException {
        try (InputStream in = GoldenTest.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("missing " + resource);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).toList();
        }
    }

    /** Parsed JSON objects, field by field (doubles by value), each session exactly once. */
    static void assertSameSessions(List<String> expected, List<String> actual) throws IOException {
        Map<String, JsonNode> want = byId(expected);
        Map<String, JsonNode> got = byId(actual);
        assertEquals(expected.size(), want.size(), "reference has duplicate session ids");
        assertEquals(actual.size(), got.size(), "a session id came out twice");
        List<String> problems = new ArrayList<>();
        for (var e : want.entrySet()) {
            JsonNode g = got.get(e.getKey());
            if (g == null) {
                problems.add("missing " + e.getKey());
                continue;
            }
            var fields = e.getValue().fieldNames();
            while (fields.hasNext()) {
                String f = fields.next();
                if (!e.getValue().get(f).equals(g.get(f))) {
                    problems.add(e.getKey() + "." + f + ": want " + e.getValue().get(f) + " got " + g.get(f));
                }
            }
            if (e.getValue().size() != g.size()) {
                problems.add(e.getKey() + ": field count " + g.size() + " instead of " + e.getValue().size());
            }
        }
        for (String id : got.keySet()) {
            if (!want.containsKey(id)) {
                problems.add("unexpected " + id + ": " + got.get(id));
            }
        }
        assertTrue(problems.isEmpty(), problems.size() + " differences:\n" + String.join("\n", problems.subList(0, Math.min(20, problems.size()))));
    }

    private static Map<String, JsonNode> byId(List<String> lines) throws IOException {
        Map<String, JsonNode> m = new TreeMap<>();
        for (String l : lines) {
            JsonNode n = JSON.readTree(l);
            m.put(n.get("session_id").asText(), n);
        }
        return m;
    }

    /** Same dead letters: position, reason (JSON syntax errors: their category), payload. */
    static void assertSameDeadLetters(List<String> expected, List<OutRecord> actual) throws IOException {
        List<String> want = new ArrayList<>();
        for (String l : expected) {
            JsonNode n = JSON.readTree(l);
            want.add(n.get("line").asLong() + " | " + normalise(n.get("reason").asText()) + " | " + n.get("payload").asText());
        }
        List<String> got = new ArrayList<>();
        for (OutRecord o : actual) {
            String line = o.source.substring(o.source.indexOf('/') + 1);
            // The reference writes payloads as lossy UTF-8.
            String payload = new String(o.value, StandardCharsets.UTF_8);
            got.add(line + " | " + normalise(o.reason) + " | " + payload);
        }
        want.sort(Comparator.naturalOrder());
        got.sort(Comparator.naturalOrder());
        List<String> missing = new ArrayList<>(want);
        for (String g : got) {
            missing.remove(g);
        }
        List<String> unexpected = new ArrayList<>(got);
        for (String w : want) {
            unexpected.remove(w);
        }
        assertTrue(missing.isEmpty() && unexpected.isEmpty(), "dead letters differ: missing\n  "
                + String.join("\n  ", missing) + "\nunexpected\n  " + String.join("\n  ", unexpected));
    }

    /** serde_json's and Jackson's syntax error texts differ: keep the category only. */
    static String normalise(String reason) {
        String json = "undecodable signal: malformed JSON: ";
        return reason.startsWith(json) ? json + "…" : reason;
    }
}
