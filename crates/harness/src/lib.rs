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

pub mod delay_proxy;
pub mod docker;
mod external;
pub mod floor;
pub mod insert_floor;
pub mod layout;
mod native;
pub mod netns;
pub mod ports;
pub mod process;
pub mod prometheus;
mod server;
mod services;
pub mod smoke;
pub mod storage;
mod topology;
pub mod zookeeper;

pub use layout::KafkaLibsError;
pub use native::{
    Grant, KAFKA_VERSION, KafkaUser, NativeClickHouse, NativeKafka, PipelineNames, SecuredKafka,
    TlsFiles, cache_dir, grants, kafka_libs_dir,
};
pub use server::{ManagedServer, Placement};
pub use services::{
    ProviderKind, Services, UnknownProvider, network_node_name, network_node_names,
};
pub use storage::{SERVICES_DIR_ENV, StorageInfo, services_dir};
pub use topology::{CLICKHOUSE_CLUSTER, NodeRef, Topology, TopologyError};
pub use zookeeper::{NativeZooKeeper, ZOOKEEPER_VERSION};

/// Errors of the harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{name} exited ({status}); last lines of its log:\n{log_tail}")]
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
    /// Kafka's jars are nowhere evbench looks for them.
    #[error(transparent)]
    KafkaLibs(#[from] KafkaLibsError),
    /// A Kafka release was named for a provider that does not run evbench's jars.
    #[error(
        "[services.kafka] version = {version:?} picks the jars the native provider runs; the {provider} provider runs its own Kafka (leave the version out)"
    )]
    KafkaVersionNotNative {
        version: String,
        provider: &'static str,
    },
    /// ZooKeeper's jars are not where `ci/setup` puts them.
    #[error("ZooKeeper {version} jars not found in {} (run ci/setup, or set EVBENCH_ZOOKEEPER_LIBS)", dir.display())]
    ZooKeeperLibs {
        version: &'static str,
        dir: std::path::PathBuf,
    },
    /// A program a native server needs is not on `PATH`.
    #[error("{program} not found on PATH ({hint})")]
    NotOnPath {
        program: &'static str,
        hint: &'static str,
    },
    /// A variable the external provider needs is not set.
    #[error("the external provider needs {0}")]
    ExternalUnset(&'static str),
    #[error("EVBENCH_CLICKHOUSE_URL names no server")]
    NoClickHouseUrl,
    /// Every port the OS offered had been handed out already.
    #[error("no free loopback port found in {tries} tries")]
    NoFreePort { tries: u32 },
    /// The external Kafka answers without a broker.
    #[error("Kafka at {bootstrap} lists no broker")]
    NoBroker { bootstrap: String },
    /// Why no Docker engine can be used, as the `docker` command line said it.
    #[error("the docker provider is not available: {0}")]
    DockerUnavailable(String),
    #[cfg(feature = "testcontainers")]
    #[error("the docker provider is not available: testcontainers")]
    Testcontainers(#[source] testcontainers::TestcontainersError),
    #[error(transparent)]
    Endpoints(#[from] endpoints::Error),
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    ClickHouse(#[from] clickhouse::error::Error),
    /// A topology the provider cannot give (counts out of range, a cluster from `docker`, an
    /// external cluster of another shape).
    #[error("topology: {0}")]
    Topology(#[from] TopologyError),
    /// A node of a provider whose servers are not evbench's to stop.
    #[error(
        "no such node: {node}: the {provider} provider's servers are not evbench's to stop or start"
    )]
    NotManaged {
        node: NodeRef,
        provider: ProviderKind,
    },
    /// A node that is not part of the services.
    #[error("no such node: {node} is not a server of {topology}")]
    NoSuchNode { node: NodeRef, topology: Topology },
    /// A node asked to start before what it depends on: a ClickHouse server of a cluster while
    /// ZooKeeper is stopped.
    #[error(
        "start order: {0} cannot start while ZooKeeper is stopped (a ClickHouse server with replicated tables refuses to start without it): start ZooKeeper first"
    )]
    StartOrder(NodeRef),
    /// The run's network could not be made or changed (a command of `ip`, `nft` or `tc`
    /// failed, a node unknown).
    #[error("network: {0}")]
    Network(String),
    /// Nodes cannot have their own addresses on this machine; says why.
    #[error("nodes cannot have their own addresses here: {0}")]
    NetworkUnavailable(String),
    /// The environment's Kafka security settings are half there or unreadable.
    #[error(transparent)]
    KafkaSecuritySettings(#[from] endpoints::security::SettingsError),
    /// The external ClickHouse's password is given twice, or its file unreadable.
    #[error("ClickHouse password: {0}")]
    ClickHousePassword(String),
    /// ClickHouse's TLS settings are half there, or a file of them unreadable.
    #[error(transparent)]
    ClickHouseTlsSettings(#[from] endpoints::clickhouse_tls::TlsSettingsError),
    /// A secured Kafka was asked of a provider whose servers evbench does not configure.
    #[error(
        "a secured Kafka is made by the native provider only; the {provider} provider's security is its own (set EVBENCH_KAFKA_SASL_* for an external cluster)"
    )]
    SecurityNotNative { provider: &'static str },
    /// A task of the harness (a blocking probe, a server's start-up) panicked or was cancelled.
    #[error("the {task} task failed")]
    Join {
        task: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
    /// A thread of the harness panicked.
    #[error("{0} panicked")]
    Panicked(&'static str),
    #[error("no random bytes for the cluster id")]
    Random(#[source] getrandom::Error),
    /// The ClickHouse replicas of a cluster did not fetch what the others hold in time.
    #[error("the ClickHouse replicas did not catch up within {waited_s} s")]
    ReplicasBehind { waited_s: u64 },
}

/// Runs the blocking `work` (a Kafka metadata request, a server's start-up) on the runtime's
/// blocking threads, started at once; `task` names it in the error when it panics.
pub(crate) fn blocking<T: Send + 'static>(
    task: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = Result<T>> {
    let handle = tokio::task::spawn_blocking(work);
    async move { handle.await.map_err(|source| Error::Join { task, source }) }
}

/// Asserts that `pom` (a path from the repository's root) pins `property` to `version`.
#[cfg(test)]
pub(crate) fn assert_pom_pins(pom: &str, property: &str, version: &str) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(pom),
    )
    .unwrap();
    assert!(
        text.contains(&format!("<{property}>{version}</{property}>")),
        "{pom} pins another {property} than {version}"
    );
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
