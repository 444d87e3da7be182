//! One interface over the three providers.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use endpoints::{ClickHouseEndpoint, KafkaEndpoint};

use crate::{NativeClickHouse, NativeKafka, Result, docker, external};

/// Where the servers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Started here from the machine's installs (Kafka jars from `ci/setup`, `clickhouse-server`).
    #[default]
    Native,
    /// Containers (`apache/kafka`, `clickhouse/clickhouse-server`) where a Docker engine answers.
    Docker,
    /// A cluster the user runs: `EVBENCH_KAFKA_BOOTSTRAP`, `EVBENCH_CLICKHOUSE_URL`,
    /// `EVBENCH_CLICKHOUSE_USER`, `EVBENCH_CLICKHOUSE_PASSWORD`.
    External,
}

impl ProviderKind {
    /// The provider's name as written in scenarios and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Native => "native",
            ProviderKind::Docker => "docker",
            ProviderKind::External => "external",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProviderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(ProviderKind::Native),
            "docker" => Ok(ProviderKind::Docker),
            "external" => Ok(ProviderKind::External),
            other => Err(format!(
                "unknown provider {other:?} (expected native, docker or external)"
            )),
        }
    }
}

/// Running Kafka and ClickHouse. Dropping it stops what the provider started.
#[derive(Debug)]
pub struct Services {
    pub provider: ProviderKind,
    pub kafka: KafkaEndpoint,
    pub clickhouse: ClickHouseEndpoint,
    /// Where native servers keep their data (`None` for the other providers).
    pub storage: Option<crate::storage::StorageInfo>,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    // Boxed: the servers' handles are large, the external backend holds nothing.
    Native {
        kafka: Box<NativeKafka>,
        clickhouse: Box<NativeClickHouse>,
    },
    /// The containers are removed when this drops.
    Docker {
        _containers: Box<docker::DockerServices>,
    },
    External,
}

impl Services {
    /// Starts (or, for `external`, connects to) Kafka and ClickHouse and waits until both answer.
    /// Native servers keep their data under [`crate::storage::services_dir`].
    pub async fn start(provider: ProviderKind) -> Result<Services> {
        Services::start_in(provider, &crate::storage::services_dir()).await
    }

    /// [`Services::start`] with the native servers' data under `services_dir`.
    pub async fn start_in(provider: ProviderKind, services_dir: &Path) -> Result<Services> {
        match provider {
            ProviderKind::Native => {
                std::fs::create_dir_all(services_dir).map_err(|e| {
                    crate::Error::io(format!("create {}", services_dir.display()), e)
                })?;
                // ClickHouse starts in well under a second; start Kafka's JVM beside it.
                let kafka_dir = services_dir.to_path_buf();
                let kafka = tokio::task::spawn_blocking(move || NativeKafka::start_in(&kafka_dir));
                let clickhouse = NativeClickHouse::start_in(services_dir).await?;
                let kafka = kafka
                    .await
                    .map_err(|e| crate::Error::Other(format!("kafka start-up task: {e}")))??;
                Ok(Services {
                    provider,
                    kafka: kafka.endpoint().clone(),
                    clickhouse: clickhouse.endpoint().clone(),
                    storage: Some(crate::storage::describe(services_dir)),
                    backend: Backend::Native {
                        kafka: Box::new(kafka),
                        clickhouse: Box::new(clickhouse),
                    },
                })
            }
            ProviderKind::Docker => {
                let containers = docker::start().await?;
                Ok(Services {
                    provider,
                    kafka: containers.kafka.clone(),
                    clickhouse: containers.clickhouse.clone(),
                    storage: None,
                    backend: Backend::Docker {
                        _containers: Box::new(containers),
                    },
                })
            }
            ProviderKind::External => {
                let (kafka, clickhouse) = external::connect().await?;
                Ok(Services {
                    provider,
                    kafka,
                    clickhouse,
                    storage: None,
                    backend: Backend::External,
                })
            }
        }
    }

    /// The native ClickHouse server, for fault injection (stop, restart) and extra users.
    pub fn native_clickhouse(&mut self) -> Option<&mut NativeClickHouse> {
        match &mut self.backend {
            Backend::Native { clickhouse, .. } => Some(clickhouse),
            Backend::Docker { .. } | Backend::External => None,
        }
    }

    /// The native Kafka broker, for its directory and process group.
    pub fn native_kafka(&mut self) -> Option<&mut NativeKafka> {
        match &mut self.backend {
            Backend::Native { kafka, .. } => Some(kafka),
            Backend::Docker { .. } | Backend::External => None,
        }
    }

    /// Stops what the provider started (also done on drop).
    pub fn stop(self) {}
}

impl Drop for Services {
    fn drop(&mut self) {
        // ClickHouse first: its Kafka engine tables stall its shutdown once the broker is gone.
        if let Backend::Native { kafka, clickhouse } = &mut self.backend {
            clickhouse.stop();
            kafka.stop();
        }
    }
}
