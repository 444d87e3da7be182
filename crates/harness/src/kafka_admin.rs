//! Kafka administration the harness and the pipeline need: metadata probes and explicit topics.
//!
//! Topics are always created explicitly through the Admin API (brokers here have
//! `auto.create.topics.enable=false`), never by a first produce.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;

use crate::{Error, Result};

fn base_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("log_level", "3");
    config
}

/// How many brokers a metadata request lists (blocking; used as the readiness probe).
pub fn broker_count(bootstrap: &str, timeout: Duration) -> Result<usize> {
    let consumer: BaseConsumer = base_config(bootstrap).create()?;
    let metadata = consumer.fetch_metadata(None, timeout)?;
    Ok(metadata.brokers().len())
}

/// The number of partitions of `topic`, or `None` when it does not exist (blocking).
pub fn partition_count(bootstrap: &str, topic: &str, timeout: Duration) -> Result<Option<usize>> {
    let consumer: BaseConsumer = base_config(bootstrap).create()?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len()))
}

/// Creates `topic` with `partitions` partitions (replication factor 1, `configs` as given), or,
/// when it exists with fewer partitions, adds partitions up to `partitions`. Idempotent.
pub async fn ensure_topic(
    bootstrap: &str,
    topic: &str,
    partitions: usize,
    configs: &[(&str, &str)],
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = base_config(bootstrap).create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let partitions_i32 = i32::try_from(partitions)
        .map_err(|_| Error::Other(format!("too many partitions: {partitions}")))?;
    let mut new_topic = NewTopic::new(topic, partitions_i32, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let results = admin.create_topics([&new_topic], &options).await?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                let bootstrap = bootstrap.to_owned();
                let name = topic.to_owned();
                let existing = tokio::task::spawn_blocking(move || {
                    partition_count(&bootstrap, &name, Duration::from_secs(10))
                })
                .await
                .map_err(|e| Error::Other(e.to_string()))??
                .unwrap_or(0);
                if existing < partitions {
                    let grow = NewPartitions::new(topic, partitions);
                    for r in admin.create_partitions([&grow], &options).await? {
                        r.map_err(|(t, code)| {
                            Error::Other(format!("add partitions to {t}: {code}"))
                        })?;
                    }
                }
            }
            Err((name, code)) => return Err(Error::Other(format!("create topic {name}: {code}"))),
        }
    }
    // Creation is asynchronous in the controller: wait until the metadata shows every partition.
    let bootstrap = bootstrap.to_owned();
    let name = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        for _ in 0..300 {
            if partition_count(&bootstrap, &name, Duration::from_secs(5))?.unwrap_or(0)
                >= partitions
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::Other(format!(
            "topic {name} did not show {partitions} partitions within 30 s"
        )))
    })
    .await
    .map_err(|e| Error::Other(e.to_string()))?
}

/// Deletes `topic` (missing topics are fine).
pub async fn delete_topic(bootstrap: &str, topic: &str) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = base_config(bootstrap).create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.delete_topics(&[topic], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((name, code)) => return Err(Error::Other(format!("delete topic {name}: {code}"))),
        }
    }
    Ok(())
}
