package dev.evbench.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Decoding, time and number formatting, and the environment contract. */
class CoreTest {
    @Test
    void floatsAreWrittenAsSerdeJsonWritesThem() {
        assertEquals("10.0", Floats.json(10.0));
        assertEquals("0.57", Floats.json(0.57));
        assertEquals("0.0", Floats.json(0.0));
        assertEquals("0.00001", Floats.json(1e-5));
        assertEquals("1e-6", Floats.json(1e-6));
        assertEquals("1e16", Floats.json(1e16));
        assertEquals("1234567890123456.0", Floats.json(1234567890123456.0));
        assertEquals("1.2345678901234568e17", Floats.json(123456789012345680.0));
        assertEquals("9.166666666666666", Floats.json(22 * 1_500_000 / 3_600_000.0));
        assertEquals("-1", Floats.display(-1.0));
        assertEquals("0.0000001", Floats.display(1e-7));
        assertEquals("inf", Floats.display(Double.POSITIVE_INFINITY));
    }

    @Test
    void timestampsInEveryForm() throws Exception {
        assertEquals(1_700_000_000_000L, Times.fromInteger(1_700_000_000L));
        assertEquals(1_700_000_000_250L, Times.fromFloat(1_700_000_000.25));
        assertEquals(1_700_000_000_000L, Times.fromText("2023-11-14 22:13:20"));
        assertEquals(1_700_000_000_500L, Times.fromText("2023-11-14T22:13:20.5Z"));
        assertEquals(1_700_000_000_000L, Times.fromText("2023-11-15T00:13:20+02:00"));
        assertEquals(1_700_000_000_000L, Times.fromText("1700000000"));
        assertThrows(Times.BadTimestamp.class, () -> Times.fromText("2023-02-29 00:00:00"));
        assertThrows(Times.BadTimestamp.class, () -> Times.fromText("2023-11-14 25:00:00"));
        assertEquals("2023-11-14 22:13:20.000", Times.formatUtc(1_700_000_000_000L));
        assertEquals("1m 30s", Times.humanMs(90_000));
        assertEquals("250ms", Times.humanMs(250));
        assertEquals("1day 2h", Times.humanMs(26 * 3600_000L));
    }

    static Envelope decode(String json) throws SignalDecoder.Bad {
        Envelope e = new Envelope();
        SignalDecoder.decode(json.getBytes(StandardCharsets.UTF_8), e);
        return e;
    }

    static String error(String json) {
        return assertThrows(SignalDecoder.Bad.class, () -> decode(json)).getMessage();
    }

    @Test
    void decodesAsTheRustDecoder() throws Exception {
        Envelope e = decode("{\"timestamp\": 1700000000, \"charger_id\": \"charger-7\", \"vehicle_detected\": true, \"plate\": \"AB12CD34\", \"extra\": [1, {\"a\": null}]}");
        assertEquals(1_700_000_000_000L, e.ts);
        assertEquals(Kinds.A, e.kind);
        assertEquals("AB12CD34", e.text);
        assertTrue(!e.hasSeq);
        e = decode("{\"timestamp\":1700000000123,\"charger_id\":\"c\",\"user_id\":\"U\",\"price\":0.57,\"user_connection\":false,\"seq\":18446744073709551615}");
        assertEquals(Kinds.D, e.kind);
        assertEquals(0.57, e.price);
        assertEquals(-1L, e.seq);
        e = decode("{\"timestamp\":1,\"charger_id\":\"c\",\"recharging\":false,\"vehicle_detected\":null}");
        assertEquals(Kinds.E, e.kind);
        assertEquals("unknown sensor: none of `vehicle_detected`, `user_connection`, `recharging` is present",
                error("{\"timestamp\":1,\"charger_id\":\"c\"}"));
        assertEquals("ambiguous sensor: more than one of `vehicle_detected`, `user_connection`, `recharging` is present",
                error("{\"timestamp\":1,\"charger_id\":\"c\",\"recharging\":true,\"vehicle_detected\":true}"));
        assertEquals("missing field `timestamp`", error("{\"charger_id\":\"c\",\"recharging\":true}"));
        assertEquals("impossible value: price -1", error("{\"timestamp\":1,\"charger_id\":\"c\",\"user_connection\":true,\"price\":-1}"));
        assertEquals("impossible value: empty charger_id", error("{\"timestamp\":1,\"charger_id\":\"\",\"recharging\":true}"));
        assertTrue(error("{\"timestamp\":1,\"charger_id\":\"c\",\"recharging\":true,\"energy_delivered\":-3}").startsWith("malformed JSON: "));
        assertTrue(error("{\"timestamp\":1,\"charger_id\":\"c\",\"recharging\":true,\"recharging\":false}").contains("duplicate field"));
        assertTrue(error("{\"timestamp\":1,\"charger_id\":\"c\",\"recharging\":true} x").startsWith("malformed JSON: "));
    }

    @Test
    void environmentContract() throws Exception {
        Config c = Config.fromEnv(Map.of("EVBENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092", "EVBENCH_STATE_DIR", "/tmp/x",
                "EVBENCH_INSTANCE", "1"), "kafka-streams");
        assertEquals("charger-station-signals", c.signalsTopic);
        assertEquals("evbench-kafka-streams", c.groupId);
        assertEquals(1, c.instance);
        assertEquals(100, c.commitIntervalMs);
        assertEquals(21_600_000, c.inactivityGapMs);
        assertEquals(200, c.checkpointIntervalMs);
        assertEquals(2, c.parallelism);
        assertTrue(c.exactlyOnce);
        String msg = assertThrows(Config.Invalid.class, () -> Config.fromEnv(Map.of(
                "EVBENCH_KAFKA_BOOTSTRAP", "nohost",
                "EVBENCH_REORDER_TOLERANCE_MS", "5s",
                "EVBENCH_INACTIVITY_GAP_MS", "1000",
                "EVBENCH_MAX_CLOCK_SKEW_MS", "10"), "flink")).getMessage();
        assertTrue(msg.contains("EVBENCH_KAFKA_BOOTSTRAP: \"nohost\" is not host:port"), msg);
        assertTrue(msg.contains("EVBENCH_REORDER_TOLERANCE_MS must be a whole number of milliseconds"), msg);
        assertTrue(msg.contains("must be shorter than EVBENCH_INACTIVITY_GAP_MS"), msg);
    }

    @Test
    void kafkaSecurityFromTheEnvironment() throws Exception {
        Config plain = Config.fromEnv(Map.of("EVBENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9092"), "flink");
        assertTrue(plain.kafkaSecurityProperties().isEmpty());
        java.nio.file.Path file = java.nio.file.Files.createTempFile("evbench-password", ".txt");
        java.nio.file.Files.writeString(file, "pa\"ss\n");
        java.nio.file.Path ca = java.nio.file.Files.createTempFile("evbench-ca", ".pem");
        Config secured = Config.fromEnv(Map.of("EVBENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9093",
                "EVBENCH_KAFKA_SASL_USERNAME", "aggregator",
                "EVBENCH_KAFKA_SASL_PASSWORD_FILE", file.toString(),
                "EVBENCH_KAFKA_CA_FILE", ca.toString()), "flink");
        java.util.Properties p = secured.kafkaSecurityProperties();
        assertEquals("SASL_SSL", p.getProperty("security.protocol"));
        assertEquals("SCRAM-SHA-512", p.getProperty("sasl.mechanism"));
        assertEquals("org.apache.kafka.common.security.scram.ScramLoginModule required username=\"aggregator\" password=\"pa\\\"ss\";",
                p.getProperty("sasl.jaas.config"));
        assertEquals("PEM", p.getProperty("ssl.truststore.type"));
        assertEquals(ca.toString(), p.getProperty("ssl.truststore.location"));
        assertTrue(secured.toString().contains("user=aggregator"));
        assertTrue(!secured.toString().contains("pa\"ss"), "the password is never printed");
        // Half a configuration is refused, naming what is missing and never the password.
        String msg = assertThrows(Config.Invalid.class, () -> Config.fromEnv(Map.of(
                "EVBENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9093",
                "EVBENCH_KAFKA_SASL_PASSWORD", "s3cret"), "flink")).getMessage();
        assertTrue(msg.contains("without EVBENCH_KAFKA_SASL_USERNAME") && !msg.contains("s3cret"), msg);
        msg = assertThrows(Config.Invalid.class, () -> Config.fromEnv(Map.of(
                "EVBENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9093",
                "EVBENCH_KAFKA_SASL_USERNAME", "aggregator",
                "EVBENCH_KAFKA_SASL_PASSWORD", "s3cret",
                "EVBENCH_KAFKA_SASL_MECHANISM", "GSSAPI"), "flink")).getMessage();
        assertTrue(msg.contains("unknown SASL mechanism") && !msg.contains("s3cret"), msg);
        msg = assertThrows(Config.Invalid.class, () -> Config.fromEnv(Map.of(
                "EVBENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9093",
                "EVBENCH_KAFKA_SASL_USERNAME", "aggregator"), "flink")).getMessage();
        assertTrue(msg.contains("neither EVBENCH_KAFKA_SASL_PASSWORD"), msg);
        msg = assertThrows(Config.Invalid.class, () -> Config.fromEnv(Map.of(
                "EVBENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9093",
                "EVBENCH_KAFKA_SASL_USERNAME", "aggregator",
                "EVBENCH_KAFKA_SASL_PASSWORD", "s3cret",
                "EVBENCH_KAFKA_CERT_FILE", ca.toString()), "flink")).getMessage();
        assertTrue(msg.contains("needs both"), msg);
        java.nio.file.Files.writeString(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        Config withCertificate = Config.fromEnv(Map.of("EVBENCH_KAFKA_BOOTSTRAP", "127.0.0.1:9093",
                "EVBENCH_KAFKA_SASL_USERNAME", "aggregator",
                "EVBENCH_KAFKA_SASL_PASSWORD", "s3cret",
                "EVBENCH_KAFKA_CERT_FILE", ca.toString(),
                "EVBENCH_KAFKA_KEY_FILE", file.toString()), "flink");
        java.util.Properties q = withCertificate.kafkaSecurityProperties();
        assertEquals("PEM", q.getProperty("ssl.keystore.type"));
        assertTrue(q.getProperty("ssl.keystore.certificate.chain").startsWith("-----BEGIN CERTIFICATE-----"));
    }
}
