//! Real Kafka and ClickHouse for evbench, behind one interface.
//!
//! [`Services::start`] gives a running Kafka broker and ClickHouse server from one of three
//! providers ([`ProviderKind`]); [`Services::start_topology`] gives clusters ([`Topology`]):
//! * `native`: Apache Kafka (KRaft, one node or a cluster) from the jars `ci/setup` fetches, run
//!   with the machine's Java, and `clickhouse-server` from `PATH` (one server, or shards ×
//!   replicas with an Apache ZooKeeper, see [`zookeeper`]), each on free loopback ports in its
//!   own temporary directory under the services directory (`EVBENCH_SERVICES_DIR`, else the
//!   system's temporary directory; see [`storage`]), torn down on drop, Ctrl-C, panic, or the
//!   harness's death; each server a [`NodeRef`] that fault injection stops and starts;
//! * `docker`: containers, where a Docker engine answers;
//! * `external`: a cluster the user runs (`EVBENCH_KAFKA_BOOTSTRAP`, `EVBENCH_CLICKHOUSE_URL`, …).
//!
//! Whatever the provider, the caller gets endpoints with the servers' versions and clients
//! configured for them (see [`endpoints::ClickHouseEndpoint::client`]).

/// Waits between readiness probes.
pub(crate) const PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

pub mod docker;
mod external;
pub mod layout;
mod native;
pub mod ports;
pub mod process;
mod services;
pub mod smoke;
pub mod storage;
mod topology;
pub mod zookeeper;

pub use native::{KAFKA_VERSION, NativeClickHouse, NativeKafka, cache_dir, kafka_libs_dir};
pub use services::{ProviderKind, Services};
pub use storage::{SERVICES_DIR_ENV, StorageInfo, services_dir};
pub use topology::{CLICKHOUSE_CLUSTER, NodeRef, Topology};
pub use zookeeper::{NativeZooKeeper, ZOOKEEPER_VERSION};

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{name} exited during start-up ({status}); last lines of its log:\n{log_tail}")]
    ServerExited {
        name: String,
        status: String,
        log_tail: String,
    },
    #[error(
        "{name} did not become ready within {waited_s} s ({last_error}); last lines of its log:\n{log_tail}"
    )]
    NotReady {
        name: String,
        waited_s: u64,
        last_error: String,
        log_tail: String,
    },
    #[error("{0}")]
    Missing(String),
    #[error("the docker provider is not available: {0}")]
    DockerUnavailable(String),
    #[error(transparent)]
    Endpoints(#[from] endpoints::Error),
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    ClickHouse(#[from] clickhouse::error::Error),
    /// A topology the provider cannot give (counts out of range, a cluster from `docker`, an
    /// external cluster of another shape).
    #[error("topology: {0}")]
    Topology(String),
    /// A node that is not part of the services (or not evbench's to stop).
    #[error("no such node: {0}")]
    NoSuchNode(String),
    /// A node asked to start before what it depends on.
    #[error("start order: {0}")]
    StartOrder(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias of the harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;
