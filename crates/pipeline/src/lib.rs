//! The Kafka edges of the pipeline. The cores they feed are pure (`simulator`, `aggregator`);
//! everything that talks to a broker, waits or keeps time lives here.
//!
//! * [`produce`]: plays a [`simulator::Simulator`] into `charger-station-signals`, paced or
//!   unpaced, one partition per charger up to a limit, idempotent, every delivery accounted for.
//! * [`aggregate`]: the aggregator service, signals in, sessions and dead letters out, exactly
//!   once (transactions with the consumed offsets).
//! * [`sink`]: raw signals, sessions and dead letters from Kafka into ClickHouse, offsets
//!   committed only after ClickHouse acknowledged the rows.
//! * [`kafka`]: what the three share (handing records to a client whose queue may be full).
//! * [`metrics`]: the aggregator's and the sink's Prometheus metrics, consumer lag among them,
//!   served on `--metrics-addr`.

pub mod aggregate;
pub mod floor;
pub mod kafka;
pub mod metrics;
pub mod observe;
pub mod produce;
pub mod sink;

pub use sink::{Sink, SinkConfig, SinkProgress, SinkStats, run_sink};

/// Milliseconds since the epoch, now: the send times of the producer and the arrival times of
/// the observers, on this machine's one clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Errors of the pipeline's Kafka edges.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Endpoints(#[from] endpoints::Error),
    #[error(transparent)]
    Storage(#[from] schema::Error),
    #[error("aggregator settings")]
    Sessionizer(#[from] aggregator::Error),
    #[error("simulator")]
    Simulator(#[from] simulator::Error),
    /// A setting the component cannot run with (the message says which and why).
    #[error("invalid setting: {0}")]
    Invalid(String),
    #[error("encoding a session")]
    Encode(#[from] serde_json::Error),
    /// A signal held back by the fault injector that no longer decodes.
    #[error("a held-back signal")]
    Signal(#[from] events::Error),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no consumer group metadata: the aggregator is not a member of its group yet")]
    NoGroupMetadata,
    #[error("the aggregator's commit thread is gone")]
    CommitThreadGone,
    #[error("{missing} of {records} records unaccounted for after the final flush")]
    Unaccounted { missing: u64, records: u64 },
    #[error("{led} of {partitions} partitions of {topic} have a leader after 30 s")]
    NoLeaders {
        topic: String,
        led: usize,
        partitions: u32,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
