//! Declarative evbench scenarios: the file format, the runner that plays them on real services,
//! the checks, the measurements and the reports.
//!
//! * [`file`](mod@file): the TOML format (unknown keys rejected, naming the key and its line).
//! * [`run`]: the runner, one named phase after another (see its module documentation).
//! * [`engine`]: the aggregator under test — evbench's own or any command — and
//!   [`ingestion`]: how ClickHouse is fed (evbench's sink, or the Kafka engine tables).
//! * `checks`: one module per check, each a pure function of the run's evidence;
//!   [`ground_truth`]: the sessions observed against the simulator's ground truth.
//! * [`report`]: `report.json`, `report.html` and the terminal summary.

pub mod checks;
mod component;
mod drain;
pub mod engine;
pub mod environment;
mod evidence;
pub mod faults;
pub mod file;
pub mod floors;
pub mod ground_truth;
pub mod ingestion;
pub mod lag;
mod load;
mod measure;
pub mod metrics;
mod observe;
pub mod report;
pub mod resources;
pub mod run;
mod storage;

pub use file::Scenario;
pub use run::{RunContext, RunProgress};

/// Errors of scenarios and their runs. [`Error::Invalid`] is bad input; every other variant
/// means the run could not be carried out (a failed check is not an error: it is in the
/// report).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario (a file, or the scenario named) is malformed or inconsistent.
    #[error("{path}")]
    Invalid {
        path: String,
        /// Boxed: a refusal is rare, and every `Result` of the runner would carry its size.
        #[source]
        source: Box<file::Invalid>,
    },
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the services")]
    Services(#[from] harness::Error),
    #[error("Kafka administration")]
    Kafka(#[from] endpoints::Error),
    #[error("a Kafka client of the runner")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("ClickHouse storage")]
    Storage(#[from] schema::Error),
    #[error("the load")]
    Pipeline(#[from] pipeline::Error),
    #[error("the simulator")]
    Simulator(#[from] simulator::Error),
    /// A part of the pipeline under test could not be started or never became ready.
    #[error("{component} {problem}")]
    Component { component: String, problem: String },
    #[error("a task of the runner")]
    Task(#[from] tokio::task::JoinError),
    #[error("writing the report")]
    Report(#[from] serde_json::Error),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether this is bad input (exit code 2) rather than a run that could not be carried out
    /// (exit code 3).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::Invalid { .. }
                | Error::Read { .. }
                | Error::Services(
                    harness::Error::KafkaSecuritySettings(_)
                        | harness::Error::ClickHouseTlsSettings(_)
                        | harness::Error::ClickHousePassword(_)
                )
        )
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes on one line, `outer: cause: cause` (for report details).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}
