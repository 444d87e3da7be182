package dev.evbench.core;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * The engines' own topic administration: brokers here do not auto-create topics, so an engine
 * creates its output topics when they are missing, as evbench's aggregator does. (kafka-clients
 * is the engine's own, at its own version: this module only compiles against it.)
 */
public final class OutputTopics {
    /** Partitions of the output topics when an engine creates them (as the Rust runner). */
    public static final int PARTITIONS = 8;

    private OutputTopics() {}

    /** An admin client of {@code cfg}'s cluster, with bounded timeouts. */
    public static Admin admin(Config cfg) {
        Properties p = new Properties();
        p.setProperty(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, cfg.bootstrap);
        p.setProperty(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.setProperty(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "60000");
        p.putAll(cfg.kafkaSecurityProperties());
        return Admin.create(p);
    }

    /**
     * Creates the sessions and dead-letter topics that are missing; returns those it created. On
     * a secured cluster whose admin made them, the engine's user may not create topics: a topic
     * that exists is then fine, one that does not is the error.
     */
    public static List<String> ensure(Admin admin, Config cfg) throws IOException, InterruptedException, TimeoutException {
        List<String> created = new ArrayList<>();
        for (String topic : List.of(cfg.sessionsTopic, cfg.deadLetterTopic)) {
            try {
                admin.createTopics(List.of(new NewTopic(topic, Optional.of(PARTITIONS), Optional.empty())))
                        .all().get(60, TimeUnit.SECONDS);
                created.add(topic);
            } catch (ExecutionException e) {
                boolean exists = e.getCause() instanceof TopicExistsException
                        || (e.getCause() instanceof TopicAuthorizationException && exists(admin, topic));
                if (!exists) {
                    throw new IOException("cannot create topic " + topic + " on " + cfg.bootstrap + ": " + e.getCause(), e);
                }
            }
        }
        return created;
    }

    /** Whether {@code topic} exists and this user may see it. */
    private static boolean exists(Admin admin, String topic) throws InterruptedException, TimeoutException {
        try {
            admin.describeTopics(List.of(topic)).allTopicNames().get(60, TimeUnit.SECONDS);
            return true;
        } catch (ExecutionException e) {
            return false;
        }
    }
}
