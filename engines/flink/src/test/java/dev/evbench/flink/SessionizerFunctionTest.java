package dev.evbench.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.evbench.core.Envelope;
import dev.evbench.core.Golden;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.operators.ProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/** The keyed process function on hand-made visits, in Flink's keyed operator test harness. */
class SessionizerFunctionTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final long T0 = 1_767_225_600_000L; // 2026-01-01T00:00:00Z
    static final long MIN = 60_000;

    static String arrival(String c, long t, String plate, Integer seq) {
        return "{\"timestamp\":" + t + ",\"charger_id\":\"" + c + "\",\"vehicle_detected\":true,\"plate\":\"" + plate + "\"" + seq(seq) + "}";
    }

    static String departure(String c, long t, String plate, Integer seq) {
        return "{\"timestamp\":" + t + ",\"charger_id\":\"" + c + "\",\"vehicle_detected\":false,\"plate\":\"" + plate + "\"" + seq(seq) + "}";
    }

    static String ident(String c, long t, boolean on, String user, double price, Integer seq) {
        return "{\"timestamp\":" + t + ",\"charger_id\":\"" + c + "\",\"user_id\":\"" + user + "\",\"price\":" + price
                + ",\"user_connection\":" + on + seq(seq) + "}";
    }

    static String charge(String c, long t, boolean on, int kw, Integer seq) {
        return "{\"timestamp\":" + t + ",\"charger_id\":\"" + c + "\",\"recharging\":" + on + ",\"energy_delivered\":" + kw + seq(seq) + "}";
    }

    static String seq(Integer s) {
        return s == null ? "" : ",\"seq\":" + s;
    }

    /** A normal charged visit of charger {@code c} arriving at {@code a}: 7 signals in order. */
    static List<String> visit(String c, long a, boolean withSeq) {
        Integer[] s = withSeq ? new Integer[] {0, 1, 2, 3, 4, 5} : new Integer[6];
        return List.of(
                arrival(c, a, "AB12CD34", s[0]),
                ident(c, a + 2 * MIN, true, "U123456789012345", 0.57, s[1]),
                charge(c, a + 4 * MIN, true, 22, s[2]),
                charge(c, a + 34 * MIN, false, 0, s[3]),
                ident(c, a + 34 * MIN, false, "U123456789012345", 0.57, s[4]),
                departure(c, a + 38 * MIN, "AB12CD34", s[5]));
    }

    static JsonNode json(OutRecord o) throws Exception {
        return JSON.readTree(new String(o.value, StandardCharsets.UTF_8));
    }

    @Test
    void inOrderVisitComesOutOnItsDepartureWithTheSignalTimestamp() throws Exception {
        for (boolean withSeq : new boolean[] {true, false}) {
            try (Run run = new Run(Run.GRACE_STUDY)) {
                List<String> v = visit("charger-1", T0, withSeq);
                for (int i = 0; i < v.size() - 1; i++) {
                    run.push(v.get(i).getBytes(StandardCharsets.UTF_8), i + 1, 1000 + i);
                    assertTrue(run.outputs.isEmpty(), "nothing before the departure");
                }
                run.push(v.get(5).getBytes(StandardCharsets.UTF_8), 6, 4242);
                // No watermark, no timer: the departure itself emitted it.
                assertEquals(1, run.outputs.size());
                OutRecord out = run.outputs.get(0);
                assertEquals("charger-1", out.key);
                assertEquals(4242, out.signalTs);
                JsonNode s = json(out);
                assertEquals("charger-1@" + T0, s.get("session_id").asText());
                assertEquals(30 * MIN, s.get("charging_ms").asLong());
                assertEquals(11.0, s.get("energy_kwh").asDouble());
                assertEquals(11.0 * 0.57, s.get("revenue_eur").asDouble());
                assertEquals(4 * MIN, s.get("idle_after_charge_ms").asLong());
                assertEquals("charged", s.get("outcome").asText());
                assertEquals(0, s.get("flags").size());
                assertEquals(0, run.harness.numEventTimeTimers(), "no timer once the visit is out");
            }
        }
    }

    @Test
    void exactDuplicatesAreIgnored() throws Exception {
        for (boolean withSeq : new boolean[] {true, false}) {
            try (Run run = new Run(Run.GRACE_STUDY)) {
                long offset = 0;
                for (String signal : visit("charger-2", T0, withSeq)) {
                    run.push(signal, ++offset);
                    run.push(signal, ++offset);
                }
                // A duplicate of the departure after the session is out: still ignored.
                run.push(visit("charger-2", T0, withSeq).get(5), ++offset);
                run.finish();
                assertEquals(1, run.sessions().size());
                assertEquals(0, run.deadLetters().size());
                assertEquals(0, json(run.sessions().get(0)).get("flags").size());
            }
        }
    }

    @Test
    void signalReorderedWithinTheToleranceIsPutInItsPlace() throws Exception {
        try (Run reference = new Run(Run.GRACE_LITERAL); Run run = new Run(Run.GRACE_LITERAL)) {
            // study-literal timing: seconds apart, so a swap stays within the 5 s tolerance.
            List<String> v = List.of(
                    arrival("c", T0, "P1", null),
                    ident("c", T0 + 2000, true, "U", 0.5, null),
                    charge("c", T0 + 3000, true, 20, null),
                    charge("c", T0 + 12000, false, 0, null),
                    ident("c", T0 + 12000, false, "U", 0.5, null),
                    departure("c", T0 + 15000, "P1", null),
                    arrival("c", T0 + 30000, "P2", null),
                    departure("c", T0 + 40000, "P2", null));
            long o = 0;
            for (String s : v) {
                reference.push(s, ++o);
            }
            reference.finish();
            // The identification comes after the charge start.
            int[] order = {0, 2, 1, 3, 4, 5, 6, 7};
            o = 0;
            for (int i : order) {
                run.push(v.get(i), ++o);
            }
            run.finish();
            assertEquals(0, run.deadLetters().size());
            assertEquals(2, run.sessions().size());
            for (int i = 0; i < 2; i++) {
                assertEquals(json(reference.sessions().get(i)), json(run.sessions().get(i)));
            }
        }
    }

    @Test
    void heldVisitIsReleasedByTheWatermarkWhenTheInputGoesQuiet() throws Exception {
        try (Run run = new Run(Run.GRACE_LITERAL)) {
            // Without seq and without a disconnect the visit is not canonical: it waits for the
            // tolerance, and no later signal of the charger comes.
            run.push(arrival("c", T0, "P1", null), 1);
            run.push(ident("c", T0 + 1000, true, "U", 0.5, null), 2);
            run.push(charge("c", T0 + 2000, true, 20, null), 3);
            run.push(charge("c", T0 + 11000, false, 0, null), 4);
            run.push(departure("c", T0 + 14000, "P1", null), 5);
            assertEquals(0, run.outputs.size(), "held: a signal of it may still come");
            run.watermark(T0 + 13999);
            assertEquals(0, run.outputs.size());
            run.watermark(T0 + 14000); // every signal at or before the departure has come
            assertEquals(1, run.sessions().size());
            JsonNode s = json(run.sessions().get(0));
            assertEquals("[\"inferred_user_disconnect\"]", s.get("flags").toString());
        }
    }

    @Test
    void silentChargerIsClosedByInactivity() throws Exception {
        try (Run run = new Run(Run.GRACE_STUDY, Run.TOLERANCE, 2 * 3600_000L, null)) {
            run.push(arrival("c", T0, "P1", 0), 1);
            run.push(ident("c", T0 + MIN, true, "U", 0.4, 1), 2);
            run.push(charge("c", T0 + 2 * MIN, true, 11, 2), 3);
            run.watermark(T0 + 2 * MIN + 2 * 3600_000L); // last + gap: not yet beyond
            assertEquals(0, run.outputs.size());
            run.watermark(T0 + 2 * MIN + 2 * 3600_000L + 1);
            assertEquals(1, run.sessions().size());
            JsonNode s = json(run.sessions().get(0));
            assertEquals("[\"inferred_user_disconnect\",\"inferred_charge_end\",\"closed_by_inactivity\"]", s.get("flags").toString());
            assertEquals(T0 + 2 * MIN, s.get("departed_at").asLong());
            assertEquals(0, s.get("charging_ms").asLong());
            // A departure of it afterwards finds the bay free (as in the Rust sessionizer).
            run.push(departure("c", T0 + 2 * MIN + 1000, "P1", 5), 4);
            run.finish();
            assertEquals(1, run.deadLetters().size());
            assertEquals("departure (vehicle_detected=false) with no visit: no vehicle is parked",
                    run.deadLetters().get(0).reason);
        }
    }

    @Test
    void deadLettersCarryTheRustReasons() throws Exception {
        try (Run run = new Run(Run.GRACE_STUDY)) {
            run.push("{\"timestamp\":" + T0 + ",\"charger_id\":\"c\",\"vehicle", 1);
            run.push(charge("c", T0, true, 0, null), 2);
            run.push(departure("c", T0, "X", null), 3);
            run.push(arrival("c", T0 + MIN, "P", null), 4);
            run.push(departure("c", T0 + 2 * MIN, "OTHER", null), 5);
            run.push(departure("c", T0 + 3 * MIN, "P", null), 6);
            run.push(arrival("c", T0 + 3 * MIN - 10_000, "Q", null), 7);
            run.push(arrival("c", T0 + 3 * 86_400_000L, "FUTURE", null), 8);
            run.finish();
            List<String> reasons = run.deadLetters().stream().map(o -> o.source + " " + o.reason).toList();
            assertTrue(reasons.get(0).startsWith("0/1 undecodable signal: malformed JSON: "), reasons.get(0));
            assertEquals(java.util.stream.Stream.of(
                    "0/2 impossible power: charge start with energy_delivered = 0 kW, outside 1..=1000",
                    "0/3 departure (vehicle_detected=false) with no visit: no vehicle is parked",
                    "0/7 late signal: arrival (vehicle_detected=true) is 10s behind the charger's latest signal, beyond the reorder tolerance of 5s",
                    "0/8 timestamp 2026-01-04 00:00:00.000 is 2days 23h 57m ahead of the stream's event time 2026-01-01 00:03:00.000 (max_clock_skew 1day)",
                    "0/5 departure (vehicle_detected=false) with a plate different from the parked vehicle's")
                            .sorted().toList(),
                    reasons.subList(1, reasons.size()).stream().sorted().toList());
            assertEquals(1, run.sessions().size());
        }
    }

    @Test
    void routeSendsRefusedRecordsToTheSideOutput() throws Exception {
        var harness = new OneInputStreamOperatorTestHarness<>(new ProcessOperator<>(new Route()));
        harness.setup(Types.POJO(Envelope.class).createSerializer(new org.apache.flink.api.common.serialization.SerializerConfigImpl()));
        harness.open();
        var admission = new dev.evbench.core.Admission(86_400_000);
        Envelope good = Envelope.of(arrival("c", T0, "P", null).getBytes(StandardCharsets.UTF_8), 3, 17, 5);
        Envelope bad = Envelope.of("{".getBytes(StandardCharsets.UTF_8), 3, 18, 6);
        admission.admit(good);
        admission.admit(bad);
        harness.processElement(new StreamRecord<>(good, T0));
        harness.processElement(new StreamRecord<>(bad, Long.MIN_VALUE));
        assertEquals(1, harness.extractOutputValues().size());
        var side = harness.getSideOutput(Route.DEAD_LETTERS);
        assertEquals(1, side.size());
        OutRecord dl = side.peek().getValue();
        assertEquals("3/18", dl.source);
        assertEquals("{", new String(dl.value, StandardCharsets.UTF_8));
        harness.close();
    }

    @Test
    void stateSurvivesACheckpointAndRestore() throws Exception {
        List<String> lines = Golden.lines("/golden/faults-lossy-late.signals.jsonl");
        try (Run straight = new Run(Run.GRACE_LITERAL); Run restarted = new Run(Run.GRACE_LITERAL)) {
            long o = 0;
            for (String l : lines) {
                o++;
                straight.push(l.getBytes(StandardCharsets.UTF_8), o, -1);
                restarted.push(l.getBytes(StandardCharsets.UTF_8), o, -1);
                if (o % 50 == 0) {
                    straight.boundedWatermark();
                    restarted.boundedWatermark();
                }
                if (o % 400 == 0) {
                    restarted.restart(o);
                }
            }
            straight.finish();
            restarted.finish();
            assertEquals(straight.outputs.stream().map(OutRecord::toString).toList(),
                    restarted.outputs.stream().map(OutRecord::toString).toList());
        }
    }
}
