//! The native provider: Kafka and ClickHouse started from this machine's own installs, each a
//! [`ManagedServer`](crate::server::ManagedServer) in its own directory on free loopback ports.
//! * [`kafka`]: KRaft nodes from the Kafka jars, run with the machine's Java;
//! * [`clickhouse`]: `clickhouse-server` from `PATH`, alone or one server of a cluster, with
//!   the configuration files [`clickhouse_config`] writes.

mod clickhouse;
mod clickhouse_config;
mod kafka;
mod kafka_security;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

pub use clickhouse::NativeClickHouse;
pub(crate) use clickhouse::{ClickHousePorts, ClusterRole};
pub use kafka::{KAFKA_VERSION, NativeKafka, kafka_libs_dir};
pub use kafka_security::{Grant, KafkaUser, PipelineNames, SecuredKafka, grants};
pub(crate) use kafka_security::{new_password, write_private};
pub use tls::TlsFiles;

/// How long a server may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// Where `ci/setup` puts what it fetches and builds: `$EVBENCH_CACHE`, else `~/.cache/evbench`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("EVBENCH_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache").join("evbench")
}
