package dev.evbench.core;

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

/**
 * The golden files every engine's tests share (src/test/make-golden.py; shipped in this
 * module's test-jar): simulator output that must give its ground truth exactly, and perturbed
 * files that must give exactly what the Rust reference ({@code evbench sessionize}) gave: the
 * same sessions and the same dead letters (position, reason, payload).
 */
public final class Golden {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The overstay grace of the {@code study} profile, in ms. */
    public static final long GRACE_STUDY = 360_000;
    /** The overstay grace of the {@code study-literal} profile, in ms. */
    public static final long GRACE_LITERAL = 6_000;

    private Golden() {}

    /** One golden file: its name, the overstay grace it was made with, and whether it is clean. */
    public record Case(String name, long grace, boolean clean) {
        public String signals() {
            return "/golden/" + name + ".signals.jsonl";
        }

        /** The sessions it must give (the ground truth, or the reference's output). */
        public List<String> expectedSessions() throws IOException {
            return lines("/golden/" + name + (clean ? ".truth.jsonl" : ".expected.jsonl"));
        }

        /** The dead letters it must give (none for a clean file). */
        public List<String> expectedDeadLetters() throws IOException {
            return clean ? List.of() : lines("/golden/" + name + ".dead.jsonl");
        }

        @Override
        public String toString() {
            return name;
        }
    }

    /** A dead letter as an engine wrote it: header {@code source} (partition/offset), reason, payload. */
    public record DeadLetter(String source, String reason, byte[] payload) {}

    public static final List<Case> CASES = List.of(
            new Case("study-20x2h-s1", GRACE_STUDY, true),
            new Case("study-20x1h-s7", GRACE_STUDY, true),
            new Case("literal-20x10m-s3", GRACE_LITERAL, true),
            new Case("faults-dups-malformed", GRACE_LITERAL, false),
            new Case("faults-reorder-seq", GRACE_LITERAL, false),
            new Case("faults-reorder-noseq", GRACE_LITERAL, false),
            new Case("faults-seconds-dates", GRACE_LITERAL, false),
            new Case("faults-lossy-late", GRACE_LITERAL, false),
            new Case("faults-lossy-noseq", GRACE_LITERAL, false),
            new Case("faults-garbage", GRACE_STUDY, false));

    /** The non-blank lines of a classpath resource. */
    public static List<String> lines(String resource) throws IOException {
        try (InputStream in = Golden.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IOException("missing " + resource);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).toList();
        }
    }

    /**
     * The same sessions: parsed JSON objects field by field (doubles by value), each exactly once,
     * and then the text too (floats written as serde_json writes them).
     */
    public static void assertSameSessions(List<String> expected, List<String> actual) throws IOException {
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
        assertEquals(sorted(expected), sorted(actual), "session JSON text differs from the reference's");
    }

    private static List<String> sorted(List<String> l) {
        return l.stream().sorted().toList();
    }

    private static Map<String, JsonNode> byId(List<String> lines) throws IOException {
        Map<String, JsonNode> m = new TreeMap<>();
        for (String l : lines) {
            JsonNode n = JSON.readTree(l);
            m.put(n.get("session_id").asText(), n);
        }
        return m;
    }

    /**
     * The same dead letters: position (the offset of {@code source} is the line number), reason
     * (JSON syntax errors: their category) and payload.
     */
    public static void assertSameDeadLetters(List<String> expected, List<DeadLetter> actual) throws IOException {
        List<String> want = new ArrayList<>();
        for (String l : expected) {
            JsonNode n = JSON.readTree(l);
            want.add(n.get("line").asLong() + " | " + normalise(n.get("reason").asText()) + " | " + n.get("payload").asText());
        }
        List<String> got = new ArrayList<>();
        for (DeadLetter d : actual) {
            String line = d.source().substring(d.source().indexOf('/') + 1);
            // The reference writes payloads as lossy UTF-8.
            String payload = new String(d.payload(), StandardCharsets.UTF_8);
            got.add(line + " | " + normalise(d.reason()) + " | " + payload);
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
    public static String normalise(String reason) {
        String json = "undecodable signal: malformed JSON: ";
        return reason.startsWith(json) ? json + "…" : reason;
    }
}
