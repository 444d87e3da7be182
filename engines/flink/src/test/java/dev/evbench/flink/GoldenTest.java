package dev.evbench.flink;

import dev.evbench.core.Golden;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The engines' shared golden files ({@link Golden}) fed through the job's per-record path. Each
 * file runs twice: without watermarks until the end (the Rust sessionizer's own event-time rules
 * alone) and with a bounded watermark every 50 records.
 */
class GoldenTest {
    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (Golden.Case c : Golden.CASES) {
            out.add(Arguments.of(c, 0));
            // The garbage file puts a charger's signals hours behind the others: with a
            // watermark they are beyond the inactivity gap (SessionizerFunctionTest covers it).
            if (!c.name().equals("faults-garbage")) {
                out.add(Arguments.of(c, 50));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} (watermark every {1})")
    @MethodSource("cases")
    void sameAsReference(Golden.Case c, int wmEvery) throws Exception {
        try (Run run = new Run(c.grace())) {
            run.file(c.signals(), wmEvery);
            run.finish();
            List<String> actual = run.sessions().stream().map(o -> new String(o.value, StandardCharsets.UTF_8)).toList();
            Golden.assertSameSessions(c.expectedSessions(), actual);
            List<Golden.DeadLetter> dead = run.deadLetters().stream()
                    .map(o -> new Golden.DeadLetter(o.source, o.reason, o.value)).toList();
            Golden.assertSameDeadLetters(c.expectedDeadLetters(), dead);
        }
    }
}
