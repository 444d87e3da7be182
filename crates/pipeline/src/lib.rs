//! The Kafka edges of the pipeline. The cores they feed are pure (`simulator`, `aggregator`);
//! everything that talks to a broker, waits or keeps time lives here.
//!
//! * [`produce`]: plays a [`simulator::Simulator`] into `charger-station-signals`, paced or
//!   unpaced, one partition per charger up to a limit, idempotent, every delivery accounted for.

pub mod aggregate;
pub mod produce;

/// Errors of the pipeline's Kafka edges.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Harness(#[from] harness::Error),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Other(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
