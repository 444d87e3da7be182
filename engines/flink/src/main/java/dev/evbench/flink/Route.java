package dev.evbench.flink;

import dev.evbench.core.Envelope;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/** Before keying: refused records to the dead-letter side output, signals on to their charger. */
public class Route extends ProcessFunction<Envelope, Envelope> {
    private static final long serialVersionUID = 1L;
    public static final OutputTag<OutRecord> DEAD_LETTERS = new OutputTag<>("dead-letters") {};

    @Override
    public void processElement(Envelope e, Context ctx, Collector<Envelope> out) {
        if (e.isDead()) {
            Counters.DEAD_LETTERS.increment();
            ctx.output(DEAD_LETTERS, OutRecord.dead(e.partition, e.offset, e.deadReason, e.raw));
        } else {
            out.collect(e);
        }
    }
}
