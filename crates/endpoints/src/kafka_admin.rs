//! Kafka administration: metadata probes, explicit topics, consumer-group assignments.
//!
//! Topics are always created explicitly through the Admin API (brokers here have
//! `auto.create.topics.enable=false`), never by a first produce.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;

use crate::{Error, Result};

/// A cluster an admin call can reach: a bootstrap list (an open cluster), or an endpoint, which
/// brings its security along.
pub trait AdminTarget {
    /// The client configuration admin calls start from.
    fn admin_config(&self) -> ClientConfig;
}

impl AdminTarget for str {
    fn admin_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self).set("log_level", "3");
        config
    }
}

impl AdminTarget for String {
    fn admin_config(&self) -> ClientConfig {
        self.as_str().admin_config()
    }
}

impl AdminTarget for crate::KafkaEndpoint {
    fn admin_config(&self) -> ClientConfig {
        let mut config = self.client_config();
        config.set("log_level", "3");
        config
    }
}

impl AdminTarget for ClientConfig {
    fn admin_config(&self) -> ClientConfig {
        self.clone()
    }
}

/// How many brokers a metadata request lists (blocking; used as the readiness probe).
pub fn broker_count(cluster: &(impl AdminTarget + ?Sized), timeout: Duration) -> Result<usize> {
    let consumer: BaseConsumer = cluster.admin_config().create()?;
    let metadata = consumer.fetch_metadata(None, timeout)?;
    Ok(metadata.brokers().len())
}

/// The node ids of the brokers a metadata request lists, sorted (blocking).
pub fn broker_ids(cluster: &(impl AdminTarget + ?Sized), timeout: Duration) -> Result<Vec<i32>> {
    let consumer: BaseConsumer = cluster.admin_config().create()?;
    let metadata = consumer.fetch_metadata(None, timeout)?;
    let mut ids: Vec<i32> = metadata.brokers().iter().map(|b| b.id()).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Partitions of `topic` (of every topic when `None`) whose in-sync replicas are fewer than
/// their replicas (blocking): 0 once a restarted broker has caught up.
pub fn under_replicated(
    cluster: &(impl AdminTarget + ?Sized),
    topic: Option<&str>,
    timeout: Duration,
) -> Result<usize> {
    let consumer: BaseConsumer = cluster.admin_config().create()?;
    let metadata = consumer.fetch_metadata(topic, timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .filter(|p| p.isr().len() < p.replicas().len())
        .count())
}

/// The number of partitions of `topic`, or `None` when it does not exist (blocking).
pub fn partition_count(
    cluster: &(impl AdminTarget + ?Sized),
    topic: &str,
    timeout: Duration,
) -> Result<Option<usize>> {
    let consumer: BaseConsumer = cluster.admin_config().create()?;
    topic_partitions(&consumer, topic, timeout)
}

/// How many partitions the metadata lists for `topic`; `None` when it does not exist (or the
/// client may not see it).
fn topic_partitions(
    consumer: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Option<usize>> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len()))
}

/// Each partition's end offset (high watermark) of `topic`, indexed by partition (blocking);
/// empty when the topic does not exist. Fails when any partition's end cannot be read.
pub fn partition_ends(
    cluster: &(impl AdminTarget + ?Sized),
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i64>> {
    let consumer: BaseConsumer = cluster.admin_config().create()?;
    let partitions = topic_partitions(&consumer, topic, timeout)?.unwrap_or(0);
    (0..partitions)
        .map(|p| {
            let partition = i32::try_from(p).unwrap_or(i32::MAX);
            let (_, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
            Ok(high)
        })
        .collect()
}

/// Records appended between two readings of [`partition_ends`] (a partition missing from
/// `before` counts from 0).
pub fn records_appended(before: &[i64], after: &[i64]) -> u64 {
    after
        .iter()
        .enumerate()
        .map(|(p, &end)| {
            let start = before.get(p).copied().unwrap_or(0);
            u64::try_from(end.saturating_sub(start)).unwrap_or(0)
        })
        .sum()
}

/// How a topic is created: partitions, replication, and topic-level settings.
#[derive(Debug, Clone, Copy)]
pub struct TopicSpec<'a> {
    pub partitions: usize,
    /// Replication factor (1 on a single broker).
    pub replication: i32,
    /// Topic configs (`min.insync.replicas`, …), as given.
    pub configs: &'a [(&'a str, &'a str)],
}

impl TopicSpec<'_> {
    /// `partitions` partitions, one replica, no extra settings.
    pub fn single(partitions: usize) -> TopicSpec<'static> {
        TopicSpec {
            partitions,
            replication: 1,
            configs: &[],
        }
    }

    /// `partitions` partitions on a cluster of `brokers`: one replica on a single broker; on
    /// more, as many replicas as brokers up to 3, and `min.insync.replicas` one less (a write
    /// with `acks=all` then survives one broker down: 3 replicas, 2 in sync).
    pub fn replicated(partitions: usize, brokers: usize) -> TopicSpec<'static> {
        match brokers {
            0 | 1 => TopicSpec::single(partitions),
            2 => TopicSpec {
                partitions,
                replication: 2,
                configs: &[("min.insync.replicas", "1")],
            },
            _ => TopicSpec {
                partitions,
                replication: 3,
                configs: &[("min.insync.replicas", "2")],
            },
        }
    }
}

/// Partitions created (or added) by one request: under KRaft's 10 000 records per operation.
const PARTITIONS_PER_REQUEST: usize = 5000;

/// Creates `topic` as `spec` says, or, when it exists with fewer partitions, adds partitions up
/// to `spec.partitions`; returns once the metadata shows every partition. Idempotent.
pub async fn ensure_topic(
    cluster: &(impl AdminTarget + ?Sized),
    topic: &str,
    spec: TopicSpec<'_>,
) -> Result<()> {
    let config = cluster.admin_config();
    let admin: AdminClient<DefaultClientContext> = config.create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let partitions = spec.partitions;
    i32::try_from(partitions).map_err(|_| Error::TooManyPartitions(partitions))?;
    // A KRaft controller takes at most 10 000 records per request (a topic record plus one
    // per partition, times the replicas' share): bigger topics are created, then grown, in
    // steps below that.
    let first = partitions.min(PARTITIONS_PER_REQUEST);
    let mut new_topic = NewTopic::new(
        topic,
        first as i32,
        TopicReplication::Fixed(spec.replication),
    );
    for (key, value) in spec.configs {
        new_topic = new_topic.set(key, value);
    }
    for result in admin.create_topics([&new_topic], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            // On a secured cluster only an admin creates topics: a part without that right
            // works on the topics the admin made, when they are there and big enough.
            Err((
                topic,
                code @ (RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed),
            )) => {
                if blocking_partition_count(&config, &topic).await? >= partitions {
                    return Ok(());
                }
                return Err(Error::Topic {
                    operation: "create (not allowed for this user, and an admin has not made it) topic",
                    topic,
                    code,
                });
            }
            Err((topic, code)) => {
                return Err(Error::Topic {
                    operation: "create topic",
                    topic,
                    code,
                });
            }
        }
    }
    let mut existing = blocking_partition_count(&config, topic).await?;
    if existing == 0 {
        // Just created: the metadata may not show it yet.
        existing = first;
    }
    while existing < partitions {
        let next = partitions.min(existing + PARTITIONS_PER_REQUEST);
        let grow = NewPartitions::new(topic, next);
        for r in admin.create_partitions([&grow], &options).await? {
            r.map_err(|(topic, code)| Error::Topic {
                operation: "add partitions to",
                topic,
                code,
            })?;
        }
        existing = next;
    }
    // Creation is asynchronous in the controller: wait until the metadata shows every partition.
    let deadline = Instant::now() + Duration::from_secs(60);
    while blocking_partition_count(&config, topic).await? < partitions {
        if Instant::now() > deadline {
            return Err(Error::Timeout {
                what: format!("topic {topic} showing {partitions} partitions"),
                waited_s: 60,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn blocking_partition_count(config: &ClientConfig, topic: &str) -> Result<usize> {
    let (bootstrap, topic) = (config.clone(), topic.to_owned());
    Ok(tokio::task::spawn_blocking(move || {
        partition_count(&bootstrap, &topic, Duration::from_secs(5))
    })
    .await??
    .unwrap_or(0))
}

/// [`TopicSpec::replicated`] for the cluster at `bootstrap` (as many brokers as a metadata
/// request lists).
pub async fn replicated_spec(
    cluster: &(impl AdminTarget + ?Sized),
    partitions: usize,
) -> Result<TopicSpec<'static>> {
    let bootstrap = cluster.admin_config();
    let brokers =
        tokio::task::spawn_blocking(move || broker_count(&bootstrap, Duration::from_secs(10)))
            .await??;
    Ok(TopicSpec::replicated(partitions, brokers))
}

/// Deletes `topic` (missing topics are fine).
pub async fn delete_topic(cluster: &(impl AdminTarget + ?Sized), topic: &str) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> = cluster.admin_config().create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.delete_topics(&[topic], &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => {
                return Err(Error::Topic {
                    operation: "delete topic",
                    topic,
                    code,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replication_follows_the_broker_count() {
        assert_eq!(TopicSpec::replicated(4, 1).replication, 1);
        assert!(TopicSpec::replicated(4, 1).configs.is_empty());
        let three = TopicSpec::replicated(4, 3);
        assert_eq!((three.partitions, three.replication), (4, 3));
        assert_eq!(three.configs, [("min.insync.replicas", "2")]);
        assert_eq!(TopicSpec::replicated(4, 7).replication, 3);
        assert_eq!(
            TopicSpec::replicated(4, 2).configs,
            [("min.insync.replicas", "1")]
        );
    }

    #[test]
    fn appended_records_are_counted_per_partition() {
        assert_eq!(records_appended(&[10, 0, 5], &[15, 3, 5]), 8);
        // A partition added after the first reading counts from its start.
        assert_eq!(records_appended(&[10], &[12, 4]), 6);
        // An end that went backwards (a truncated log) adds nothing rather than wrapping.
        assert_eq!(records_appended(&[10], &[7]), 0);
    }
}
