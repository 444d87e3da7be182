package dev.evbench.flink;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import org.apache.flink.connector.kafka.lineage.DefaultKafkaDatasetFacet;
import org.apache.flink.connector.kafka.lineage.DefaultKafkaDatasetIdentifier;
import org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet;
import org.apache.flink.connector.kafka.lineage.KafkaDatasetFacetProvider;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Sessions to the sessions topic (key = charger id, header {@code evbench-signal-ts}), dead
 * letters to the dead-letter topic (no key, headers {@code reason} and {@code source}), as the
 * Rust runner writes them.
 */
public class OutRecordSerializer implements KafkaRecordSerializationSchema<OutRecord>, KafkaDatasetFacetProvider {
    private static final long serialVersionUID = 1L;
    public static final String SIGNAL_TS_HEADER = "evbench-signal-ts";
    public static final String REASON_HEADER = "reason";
    public static final String SOURCE_HEADER = "source";

    private final String sessionsTopic;
    private final String deadLetterTopic;

    public OutRecordSerializer(String sessionsTopic, String deadLetterTopic) {
        this.sessionsTopic = sessionsTopic;
        this.deadLetterTopic = deadLetterTopic;
    }

    /** The topics written (the POOLING transaction naming strategy needs them). */
    @Override
    public Optional<KafkaDatasetFacet> getKafkaDatasetFacet() {
        return Optional.of(new DefaultKafkaDatasetFacet(
                DefaultKafkaDatasetIdentifier.ofTopics(List.of(sessionsTopic, deadLetterTopic))));
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(OutRecord o, KafkaSinkContext context, Long timestamp) {
        RecordHeaders headers = new RecordHeaders();
        if (o.deadLetter) {
            headers.add(REASON_HEADER, o.reason.getBytes(StandardCharsets.UTF_8));
            headers.add(SOURCE_HEADER, o.source.getBytes(StandardCharsets.UTF_8));
            return new ProducerRecord<>(deadLetterTopic, null, null, null, o.value, headers);
        }
        if (o.signalTs >= 0) {
            headers.add(SIGNAL_TS_HEADER, Long.toString(o.signalTs).getBytes(StandardCharsets.UTF_8));
        }
        return new ProducerRecord<>(sessionsTopic, null, null,
                o.key.getBytes(StandardCharsets.UTF_8), o.value, headers);
    }
}
