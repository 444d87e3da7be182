package dev.evbench.core;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * An engine's settings, from environment variables only: the contract evbench gives every
 * aggregator engine (docs/engines.md). Each engine reads what applies to it: Flink commits on
 * checkpoints, Kafka Streams at its commit interval.
 */
public final class Config {
    public String bootstrap;
    public String signalsTopic = "charger-station-signals";
    public String sessionsTopic = "charging-sessions";
    public String deadLetterTopic = "charger-station-signals-dead-letter";
    /** Default: {@code evbench-<engine>}. */
    public String groupId;
    public long overstayGraceMs = 360_000;
    public long reorderToleranceMs = 5_000;
    public long inactivityGapMs = 21_600_000;
    public long maxClockSkewMs = 86_400_000;
    public long idleTimeoutMs = 2_000;
    public long checkpointIntervalMs = 200;
    public long commitIntervalMs = 100;
    public int parallelism = 2;
    public boolean exactlyOnce = true;
    public Path stateDir;
    /** Where to serve Prometheus metrics ({@code EVBENCH_METRICS_PORT}), 0 for nowhere. */
    public int metricsPort;
    public Path readyFile;
    /**
     * Kafka client settings of a secured cluster (SASL over TLS, from {@code EVBENCH_KAFKA_SASL_*}
     * and {@code EVBENCH_KAFKA_CA_FILE}); empty for plaintext. Holds the password: never print it.
     */
    private Map<String, String> kafkaSecurity = Map.of();
    /** The SASL user, or null for plaintext (what may be printed of the security). */
    public String kafkaUser;

    /** Every variable this job reads (other {@code EVBENCH_*} variables belong to evbench itself). */
    public static final Set<String> KNOWN = Set.of(
            "EVBENCH_KAFKA_BOOTSTRAP", "EVBENCH_SIGNALS_TOPIC", "EVBENCH_SESSIONS_TOPIC",
            "EVBENCH_DEAD_LETTER_TOPIC", "EVBENCH_GROUP_ID", "EVBENCH_OVERSTAY_GRACE_MS",
            "EVBENCH_REORDER_TOLERANCE_MS", "EVBENCH_INACTIVITY_GAP_MS", "EVBENCH_MAX_CLOCK_SKEW_MS",
            "EVBENCH_IDLE_TIMEOUT_MS", "EVBENCH_CHECKPOINT_INTERVAL_MS", "EVBENCH_COMMIT_INTERVAL_MS",
            "EVBENCH_PARALLELISM", "EVBENCH_METRICS_PORT", "EVBENCH_EXACTLY_ONCE", "EVBENCH_INSTANCE", "EVBENCH_STATE_DIR",
            "EVBENCH_READY_FILE", "EVBENCH_KAFKA_SASL_USERNAME", "EVBENCH_KAFKA_SASL_PASSWORD",
            "EVBENCH_KAFKA_SASL_PASSWORD_FILE", "EVBENCH_KAFKA_SASL_MECHANISM", "EVBENCH_KAFKA_CA_FILE",
            "EVBENCH_KAFKA_CERT_FILE", "EVBENCH_KAFKA_KEY_FILE");

    /** Invalid settings: the message lists every problem. */
    public static final class Invalid extends Exception {
        Invalid(String message) {
            super(message);
        }
    }

    /** The longest inactivity gap (as the Rust sessionizer: visit times are 32-bit offsets). */
    static final long MAX_GAP_MS = 30L * 24 * 3600 * 1000;

    /** This instance's number ({@code EVBENCH_INSTANCE}, 0 … n−1). */
    public int instance;

    /**
     * The settings of engine {@code engine} for its {@code main}: from this process's environment,
     * or, when {@code args} are given or a setting is invalid, every problem on stderr and exit 2
     * (bad input, in the contract's exit codes). {@code docs} names the page that explains them.
     */
    public static Config fromEnvOrExit(String[] args, String engine, String docs) {
        if (args.length > 0) {
            System.err.println("evbench-" + engine + " takes no arguments: it is configured by EVBENCH_* environment variables (" + docs + ")");
            System.exit(2);
        }
        try {
            return fromEnv(System.getenv(), engine);
        } catch (Invalid e) {
            System.err.println("evbench-" + engine + ": invalid configuration:");
            for (String line : e.getMessage().split("\n")) {
                System.err.println("  - " + line);
            }
            System.exit(2);
            throw new IllegalStateException("unreachable");
        }
    }

    /**
     * The settings of engine {@code engine} (its name gives the default group id and state
     * directory) from {@code env}; every problem at once in {@link Invalid}.
     */
    public static Config fromEnv(Map<String, String> env, String engine) throws Invalid {
        Config c = new Config();
        c.groupId = "evbench-" + engine;
        List<String> problems = new ArrayList<>();
        c.bootstrap = text(env, "EVBENCH_KAFKA_BOOTSTRAP", null, problems);
        if (c.bootstrap == null) {
            problems.add("EVBENCH_KAFKA_BOOTSTRAP is required (host:port[,host:port...])");
        } else {
            for (String hp : c.bootstrap.split(",")) {
                int colon = hp.lastIndexOf(':');
                if (colon <= 0 || !hp.substring(colon + 1).matches("[0-9]{1,5}")) {
                    problems.add("EVBENCH_KAFKA_BOOTSTRAP: " + quote(hp) + " is not host:port");
                }
            }
        }
        c.signalsTopic = topic(env, "EVBENCH_SIGNALS_TOPIC", c.signalsTopic, problems);
        c.sessionsTopic = topic(env, "EVBENCH_SESSIONS_TOPIC", c.sessionsTopic, problems);
        c.deadLetterTopic = topic(env, "EVBENCH_DEAD_LETTER_TOPIC", c.deadLetterTopic, problems);
        c.groupId = text(env, "EVBENCH_GROUP_ID", c.groupId, problems);
        c.overstayGraceMs = millis(env, "EVBENCH_OVERSTAY_GRACE_MS", c.overstayGraceMs, 0, problems);
        c.reorderToleranceMs = millis(env, "EVBENCH_REORDER_TOLERANCE_MS", c.reorderToleranceMs, 0, problems);
        c.inactivityGapMs = millis(env, "EVBENCH_INACTIVITY_GAP_MS", c.inactivityGapMs, 1, problems);
        c.maxClockSkewMs = millis(env, "EVBENCH_MAX_CLOCK_SKEW_MS", c.maxClockSkewMs, 0, problems);
        c.idleTimeoutMs = millis(env, "EVBENCH_IDLE_TIMEOUT_MS", c.idleTimeoutMs, 1, problems);
        c.checkpointIntervalMs = millis(env, "EVBENCH_CHECKPOINT_INTERVAL_MS", c.checkpointIntervalMs, 10, problems);
        c.commitIntervalMs = millis(env, "EVBENCH_COMMIT_INTERVAL_MS", c.commitIntervalMs, 1, problems);
        c.instance = (int) millis(env, "EVBENCH_INSTANCE", 0, 0, problems);
        c.parallelism = (int) millis(env, "EVBENCH_PARALLELISM", c.parallelism, 1, problems);
        c.metricsPort = (int) millis(env, "EVBENCH_METRICS_PORT", 0, 0, problems);
        if (c.metricsPort > 65535) {
            problems.add("EVBENCH_METRICS_PORT must be a port (at most 65535), not " + c.metricsPort);
        }
        if (c.parallelism > 256) {
            problems.add("EVBENCH_PARALLELISM must be at most 256, not " + c.parallelism);
        }
        String eo = env.get("EVBENCH_EXACTLY_ONCE");
        if (eo != null) {
            switch (eo.trim().toLowerCase()) {
                case "true", "1", "yes" -> c.exactlyOnce = true;
                case "false", "0", "no" -> c.exactlyOnce = false;
                default -> problems.add("EVBENCH_EXACTLY_ONCE must be true or false, not " + quote(eo));
            }
        }
        String state = env.get("EVBENCH_STATE_DIR");
        if (state == null || state.isBlank()) {
            c.stateDir = Path.of(System.getProperty("java.io.tmpdir"), "evbench-" + engine + "-" + ProcessHandle.current().pid());
        } else {
            c.stateDir = Path.of(state).toAbsolutePath();
        }
        String ready = env.get("EVBENCH_READY_FILE");
        c.readyFile = ready == null || ready.isBlank() ? null : Path.of(ready).toAbsolutePath();
        c.kafkaSecurity = kafkaSecurity(env, problems);
        c.kafkaUser = c.kafkaSecurity.isEmpty() ? null : env.get("EVBENCH_KAFKA_SASL_USERNAME").trim();
        // The Rust sessionizer's own consistency rules (SessionizerConfig::validate).
        if (c.inactivityGapMs > MAX_GAP_MS) {
            problems.add("EVBENCH_INACTIVITY_GAP_MS must be at most " + MAX_GAP_MS + " (30 days)");
        }
        if (c.reorderToleranceMs >= c.inactivityGapMs) {
            problems.add("EVBENCH_REORDER_TOLERANCE_MS (" + c.reorderToleranceMs
                    + ") must be shorter than EVBENCH_INACTIVITY_GAP_MS (" + c.inactivityGapMs + ")");
        }
        if (c.maxClockSkewMs < c.reorderToleranceMs) {
            problems.add("EVBENCH_MAX_CLOCK_SKEW_MS (" + c.maxClockSkewMs
                    + ") must be at least EVBENCH_REORDER_TOLERANCE_MS (" + c.reorderToleranceMs + ")");
        }
        if (c.overstayGraceMs > MAX_GAP_MS || c.maxClockSkewMs > (1L << 40) * 1000) {
            problems.add("EVBENCH_OVERSTAY_GRACE_MS or EVBENCH_MAX_CLOCK_SKEW_MS is absurdly large");
        }
        if (!problems.isEmpty()) {
            throw new Invalid(String.join("\n", problems));
        }
        return c;
    }

    /** The security settings for every Kafka client of the engine (empty: plaintext). */
    public Properties kafkaSecurityProperties() {
        Properties p = new Properties();
        p.putAll(kafkaSecurity);
        return p;
    }

    /**
     * The same rules as evbench's own commands (endpoints::security): nothing set is plaintext; a
     * user needs exactly one of a password and a password file; a password, file, mechanism or
     * CA without a user is half a configuration. The password goes into {@code sasl.jaas.config}
     * only; no problem message repeats it.
     */
    static Map<String, String> kafkaSecurity(Map<String, String> env, List<String> problems) {
        List<String> names = List.of("EVBENCH_KAFKA_SASL_USERNAME", "EVBENCH_KAFKA_SASL_PASSWORD",
                "EVBENCH_KAFKA_SASL_PASSWORD_FILE", "EVBENCH_KAFKA_SASL_MECHANISM", "EVBENCH_KAFKA_CA_FILE",
            "EVBENCH_KAFKA_CERT_FILE", "EVBENCH_KAFKA_KEY_FILE");
        List<String> set = names.stream().filter(n -> env.get(n) != null && !env.get(n).isBlank()).toList();
        if (set.isEmpty()) {
            return Map.of();
        }
        String user = env.get("EVBENCH_KAFKA_SASL_USERNAME");
        if (user == null || user.isBlank()) {
            problems.add(String.join(", ", set) + " set without EVBENCH_KAFKA_SASL_USERNAME: a secured cluster needs a user");
            return Map.of();
        }
        String password = env.get("EVBENCH_KAFKA_SASL_PASSWORD");
        String passwordFile = env.get("EVBENCH_KAFKA_SASL_PASSWORD_FILE");
        boolean hasPassword = password != null && !password.isBlank();
        boolean hasFile = passwordFile != null && !passwordFile.isBlank();
        if (hasPassword && hasFile) {
            problems.add("both EVBENCH_KAFKA_SASL_PASSWORD and EVBENCH_KAFKA_SASL_PASSWORD_FILE are set: give one");
            return Map.of();
        }
        if (!hasPassword && !hasFile) {
            problems.add("EVBENCH_KAFKA_SASL_USERNAME is set but neither EVBENCH_KAFKA_SASL_PASSWORD nor EVBENCH_KAFKA_SASL_PASSWORD_FILE");
            return Map.of();
        }
        if (hasFile) {
            try {
                List<String> lines = Files.readAllLines(Path.of(passwordFile.trim()));
                password = lines.isEmpty() ? "" : lines.get(0);
            } catch (Exception e) {
                problems.add("EVBENCH_KAFKA_SASL_PASSWORD_FILE " + passwordFile + ": " + e.getMessage());
                return Map.of();
            }
            if (password.isEmpty()) {
                problems.add("the password of " + user.trim() + " is empty");
                return Map.of();
            }
        }
        String mechanism = env.getOrDefault("EVBENCH_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").trim().toUpperCase();
        String module = switch (mechanism) {
            case "SCRAM-SHA-512", "SCRAM-SHA-256" -> "org.apache.kafka.common.security.scram.ScramLoginModule";
            case "PLAIN" -> "org.apache.kafka.common.security.plain.PlainLoginModule";
            default -> null;
        };
        if (module == null) {
            problems.add("unknown SASL mechanism " + quote(mechanism) + " (SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN)");
            return Map.of();
        }
        Map<String, String> p = new LinkedHashMap<>();
        p.put("security.protocol", "SASL_SSL");
        p.put("sasl.mechanism", mechanism);
        p.put("sasl.jaas.config", module + " required username=" + jaasQuote(user.trim())
                + " password=" + jaasQuote(password) + ";");
        p.put("ssl.endpoint.identification.algorithm", "https");
        String ca = env.get("EVBENCH_KAFKA_CA_FILE");
        if (ca != null && !ca.isBlank()) {
            if (!Files.isRegularFile(Path.of(ca.trim()))) {
                problems.add("EVBENCH_KAFKA_CA_FILE " + ca.trim() + ": no such file");
                return Map.of();
            }
            p.put("ssl.truststore.type", "PEM");
            p.put("ssl.truststore.location", ca.trim());
        }
        // A client certificate beside the login: Kafka's PEM key store takes the certificate
        // and the (PKCS#8) key as text.
        String cert = env.get("EVBENCH_KAFKA_CERT_FILE");
        String key = env.get("EVBENCH_KAFKA_KEY_FILE");
        boolean hasCert = cert != null && !cert.isBlank();
        boolean hasKey = key != null && !key.isBlank();
        if (hasCert != hasKey) {
            problems.add("a client certificate needs both EVBENCH_KAFKA_CERT_FILE and EVBENCH_KAFKA_KEY_FILE");
            return Map.of();
        }
        if (hasCert) {
            try {
                p.put("ssl.keystore.type", "PEM");
                p.put("ssl.keystore.certificate.chain", Files.readString(Path.of(cert.trim())));
                p.put("ssl.keystore.key", Files.readString(Path.of(key.trim())));
            } catch (Exception e) {
                problems.add("the client certificate " + cert.trim() + " or its key " + key.trim() + ": " + e.getMessage());
                return Map.of();
            }
        }
        return p;
    }

    /** A JAAS option value: quoted, with quotes and backslashes escaped. */
    private static String jaasQuote(String value) {
        return "\"" + value.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    private static String quote(String s) {
        return "\"" + s + "\"";
    }

    private static String text(Map<String, String> env, String name, String dflt, List<String> problems) {
        String v = env.get(name);
        if (v == null) {
            return dflt;
        }
        v = v.trim();
        if (v.isEmpty()) {
            problems.add(name + " is empty");
            return dflt;
        }
        return v;
    }

    private static String topic(Map<String, String> env, String name, String dflt, List<String> problems) {
        String v = text(env, name, dflt, problems);
        if (v != null && (!v.matches("[a-zA-Z0-9._-]{1,249}") || v.equals(".") || v.equals(".."))) {
            problems.add(name + ": " + quote(v) + " is not a valid Kafka topic name");
        }
        return v;
    }

    private static long millis(Map<String, String> env, String name, long dflt, long min, List<String> problems) {
        String v = env.get(name);
        if (v == null) {
            return dflt;
        }
        try {
            long n = Long.parseLong(v.trim());
            if (n < min) {
                problems.add(name + " must be at least " + min + ", not " + n);
                return dflt;
            }
            return n;
        } catch (NumberFormatException e) {
            problems.add(name + " must be a whole number" + (name.endsWith("_MS") ? " of milliseconds" : "") + ", not " + quote(v));
            return dflt;
        }
    }

    @Override
    public String toString() {
        return "bootstrap=" + bootstrap + " signals=" + signalsTopic + " sessions=" + sessionsTopic
                + " dead_letters=" + deadLetterTopic + " group=" + groupId + " grace=" + overstayGraceMs
                + "ms tolerance=" + reorderToleranceMs + "ms gap=" + inactivityGapMs + "ms skew=" + maxClockSkewMs
                + "ms idle=" + idleTimeoutMs + "ms checkpoint=" + checkpointIntervalMs + "ms commit=" + commitIntervalMs
                + "ms instance=" + instance + " parallelism="
                + parallelism + " exactly_once=" + exactlyOnce + " state=" + stateDir
                + (kafkaUser == null ? "" : " kafka=SASL_SSL user=" + kafkaUser);
    }
}
