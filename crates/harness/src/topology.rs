//! How many servers of each kind the services have, and how one of them is named.
//!
//! A [`Topology`] of one broker and one ClickHouse server is the single-node set-up; more
//! brokers make a KRaft cluster (every node a broker and a controller), more than one ClickHouse
//! server a cluster of `shards × replicas` servers coordinated by a ZooKeeper. Nodes are
//! numbered from 1, as the servers number themselves (Kafka's `node.id`, ClickHouse's
//! `shard_num` and `replica_num` in `system.clusters`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The name of the ClickHouse cluster in the native servers' `remote_servers`.
pub const CLICKHOUSE_CLUSTER: &str = "evbench";

/// How many servers the native provider starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Kafka brokers (each also a KRaft controller).
    pub kafka_brokers: u32,
    /// ClickHouse shards (the data is split over them by charger).
    pub clickhouse_shards: u32,
    /// ClickHouse replicas of each shard.
    pub clickhouse_replicas: u32,
}

impl Default for Topology {
    fn default() -> Self {
        Topology::single()
    }
}

impl Topology {
    /// Most nodes of a kind the native provider starts on one machine.
    pub const MAX_NODES: u32 = 9;

    /// One broker, one ClickHouse server: the single-node set-up.
    pub fn single() -> Topology {
        Topology {
            kafka_brokers: 1,
            clickhouse_shards: 1,
            clickhouse_replicas: 1,
        }
    }

    /// The cluster of the issue: three brokers, two shards of two replicas.
    pub fn cluster() -> Topology {
        Topology {
            kafka_brokers: 3,
            clickhouse_shards: 2,
            clickhouse_replicas: 2,
        }
    }

    /// ClickHouse servers in all.
    pub fn clickhouse_servers(&self) -> u32 {
        self.clickhouse_shards * self.clickhouse_replicas
    }

    /// Whether ClickHouse runs as a cluster (replicated tables, `Distributed` tables, a
    /// ZooKeeper), i.e. on more than one server.
    pub fn clickhouse_cluster(&self) -> bool {
        self.clickhouse_servers() > 1
    }

    /// Whether anything runs on more than one node.
    pub fn is_cluster(&self) -> bool {
        self.kafka_brokers > 1 || self.clickhouse_cluster()
    }

    /// Refuses counts of zero and more nodes than fit on one machine.
    pub fn validate(&self) -> Result<(), TopologyError> {
        for (what, n) in [
            ("Kafka brokers", self.kafka_brokers),
            ("ClickHouse shards", self.clickhouse_shards),
            ("ClickHouse replicas", self.clickhouse_replicas),
        ] {
            if !(1..=Self::MAX_NODES).contains(&n) {
                return Err(TopologyError::Count { what, count: n });
            }
        }
        if self.clickhouse_servers() > Self::MAX_NODES {
            return Err(TopologyError::TooManyClickHouseServers {
                servers: self.clickhouse_servers(),
                shards: self.clickhouse_shards,
                replicas: self.clickhouse_replicas,
            });
        }
        Ok(())
    }

    /// Every node, in start order: ZooKeeper (when ClickHouse is a cluster), the ClickHouse
    /// servers shard by shard, the brokers.
    pub fn nodes(&self) -> Vec<NodeRef> {
        let mut nodes = Vec::new();
        if self.clickhouse_cluster() {
            nodes.push(NodeRef::ZooKeeper);
        }
        for shard in 1..=self.clickhouse_shards {
            for replica in 1..=self.clickhouse_replicas {
                nodes.push(NodeRef::ClickHouseReplica { shard, replica });
            }
        }
        nodes.extend((1..=self.kafka_brokers).map(NodeRef::KafkaBroker));
        nodes
    }

    /// Whether `node` is part of this topology.
    pub fn contains(&self, node: &NodeRef) -> bool {
        match *node {
            NodeRef::KafkaBroker(id) => (1..=self.kafka_brokers).contains(&id),
            NodeRef::ClickHouseReplica { shard, replica } => {
                (1..=self.clickhouse_shards).contains(&shard)
                    && (1..=self.clickhouse_replicas).contains(&replica)
            }
            NodeRef::ZooKeeper => self.clickhouse_cluster(),
        }
    }

    /// The `n`-th ClickHouse server (from 1), counting replicas shard by shard: with 2 shards
    /// of 2 replicas, 1 = shard 1 replica 1, 2 = shard 1 replica 2, 3 = shard 2 replica 1.
    /// (A fault's `node = n` for ClickHouse kinds.)
    pub fn clickhouse_node(&self, n: u32) -> Option<NodeRef> {
        if n == 0 || n > self.clickhouse_servers() {
            return None;
        }
        let i = n - 1;
        Some(NodeRef::ClickHouseReplica {
            shard: i / self.clickhouse_replicas + 1,
            replica: i % self.clickhouse_replicas + 1,
        })
    }

    /// The position of a ClickHouse server in the shard-by-shard order (from 0).
    pub(crate) fn clickhouse_index(&self, shard: u32, replica: u32) -> usize {
        ((shard - 1) * self.clickhouse_replicas + (replica - 1)) as usize
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let brokers = match self.kafka_brokers {
            1 => "1 Kafka broker".to_owned(),
            n => format!("{n} Kafka brokers"),
        };
        if self.clickhouse_cluster() {
            write!(
                f,
                "{brokers}, ClickHouse {} shard(s) × {} replica(s) with ZooKeeper",
                self.clickhouse_shards, self.clickhouse_replicas
            )
        } else {
            write!(f, "{brokers}, 1 ClickHouse server")
        }
    }
}

/// A topology the provider cannot give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Zero servers of a kind, or more than fit on one machine.
    #[error(
        "{what}: {count}; between 1 and {} on one machine",
        Topology::MAX_NODES
    )]
    Count { what: &'static str, count: u32 },
    #[error(
        "{servers} ClickHouse servers ({shards} shards × {replicas} replicas); at most {} on one machine",
        Topology::MAX_NODES
    )]
    TooManyClickHouseServers {
        servers: u32,
        shards: u32,
        replicas: u32,
    },
    #[error("the docker provider starts single nodes only, not {0}")]
    DockerSingleNodes(Topology),
    /// The external Kafka has fewer brokers than asked for.
    #[error("Kafka at {bootstrap} lists {brokers} broker(s); the scenario asks for {wanted}")]
    TooFewBrokers {
        bootstrap: String,
        brokers: u32,
        wanted: u32,
    },
    /// The external servers have no cluster of the name given.
    #[error(
        "EVBENCH_CLICKHOUSE_CLUSTER={name}, but the server at {url} has no such cluster in system.clusters"
    )]
    NoSuchCluster { name: String, url: String },
    /// The external ClickHouse cluster has another shape than asked for.
    #[error(
        "the ClickHouse cluster {name} has {shards} shard(s) × {replicas} replica(s); the scenario asks for {wanted_shards} × {wanted_replicas}"
    )]
    ClusterShape {
        name: String,
        shards: u32,
        replicas: u32,
        wanted_shards: u32,
        wanted_replicas: u32,
    },
    /// A ClickHouse cluster is asked for, but the external provider was not told its name.
    #[error(
        "the scenario asks for a ClickHouse cluster of {shards} × {replicas}: name it in EVBENCH_CLICKHOUSE_CLUSTER (its servers need the macros {{shard}} and {{replica}})"
    )]
    ClusterUnnamed { shards: u32, replicas: u32 },
}

/// One server of the services, for fault injection ([`crate::Services::stop_node`],
/// [`crate::Services::start_node`]). Numbers start at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum NodeRef {
    /// The Kafka broker with this `node.id` (1 … brokers).
    KafkaBroker(u32),
    /// The ClickHouse server of this shard and replica (both from 1).
    ClickHouseReplica { shard: u32, replica: u32 },
    /// The ZooKeeper of the ClickHouse cluster.
    ZooKeeper,
}

impl NodeRef {
    /// A short name: `kafka-2`, `clickhouse-s1r2`, `zookeeper` (also the name of its resource
    /// account in reports, and of its directory's prefix).
    pub fn name(&self) -> String {
        match self {
            NodeRef::KafkaBroker(id) => format!("kafka-{id}"),
            NodeRef::ClickHouseReplica { shard, replica } => {
                format!("clickhouse-s{shard}r{replica}")
            }
            NodeRef::ZooKeeper => "zookeeper".to_owned(),
        }
    }
}

impl fmt::Display for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cluster_has_its_nodes_in_start_order() {
        let t = Topology::cluster();
        assert_eq!(t.clickhouse_servers(), 4);
        let names: Vec<String> = t.nodes().iter().map(NodeRef::name).collect();
        assert_eq!(
            names,
            [
                "zookeeper",
                "clickhouse-s1r1",
                "clickhouse-s1r2",
                "clickhouse-s2r1",
                "clickhouse-s2r2",
                "kafka-1",
                "kafka-2",
                "kafka-3"
            ]
        );
        assert!(t.contains(&NodeRef::KafkaBroker(3)));
        assert!(!t.contains(&NodeRef::KafkaBroker(4)));
        assert!(!t.contains(&NodeRef::KafkaBroker(0)));
        assert!(!t.contains(&NodeRef::ClickHouseReplica {
            shard: 3,
            replica: 1
        }));
        assert!(!Topology::single().contains(&NodeRef::ZooKeeper));
        assert!(!Topology::single().is_cluster());
        assert_eq!(Topology::single().nodes().len(), 2);
    }

    #[test]
    fn clickhouse_nodes_count_replicas_shard_by_shard() {
        let t = Topology::cluster();
        assert_eq!(
            t.clickhouse_node(2),
            Some(NodeRef::ClickHouseReplica {
                shard: 1,
                replica: 2
            })
        );
        assert_eq!(
            t.clickhouse_node(3),
            Some(NodeRef::ClickHouseReplica {
                shard: 2,
                replica: 1
            })
        );
        assert_eq!(t.clickhouse_node(0), None);
        assert_eq!(t.clickhouse_node(5), None);
        assert_eq!(t.clickhouse_index(2, 2), 3);
    }

    #[test]
    fn counts_are_checked() {
        assert!(Topology::cluster().validate().is_ok());
        let zero = Topology {
            kafka_brokers: 0,
            ..Topology::single()
        };
        assert!(
            zero.validate()
                .unwrap_err()
                .to_string()
                .contains("Kafka brokers")
        );
        let big = Topology {
            clickhouse_shards: 5,
            clickhouse_replicas: 2,
            ..Topology::single()
        };
        assert!(
            big.validate()
                .unwrap_err()
                .to_string()
                .contains("10 ClickHouse servers")
        );
    }
}
