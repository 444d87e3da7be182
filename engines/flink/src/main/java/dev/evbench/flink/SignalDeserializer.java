package dev.evbench.flink;

import dev.evbench.core.Admission;
import dev.evbench.core.Envelope;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Kafka record → {@link Envelope}: decodes the signal and applies the checks the Rust
 * sessionizer makes before it looks at a charger (see {@link Admission}). Every record comes out,
 * the refused ones carrying their dead-letter reason, so that they never move event time.
 */
public class SignalDeserializer implements KafkaRecordDeserializationSchema<Envelope> {
    private static final long serialVersionUID = 1L;
    private final long maxClockSkewMs;
    private transient Admission admission;

    public SignalDeserializer(long maxClockSkewMs) {
        this.maxClockSkewMs = maxClockSkewMs;
    }

    @Override
    public void open(DeserializationSchema.InitializationContext context) {
        admission = new Admission(maxClockSkewMs);
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Envelope> out) {
        if (admission == null) {
            admission = new Admission(maxClockSkewMs);
        }
        byte[] value = record.value() == null ? new byte[0] : record.value();
        Envelope e = Envelope.of(value, record.partition(), record.offset(), record.timestamp());
        admission.admit(e);
        Counters.SIGNALS.increment();
        out.collect(e);
    }

    @Override
    public TypeInformation<Envelope> getProducedType() {
        return TypeInformation.of(Envelope.class);
    }
}
