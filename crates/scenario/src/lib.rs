//! Declarative evbench scenarios.
//!
//! * [`file`]: the TOML format (unknown keys rejected, naming the key and its line).

pub mod compare;
pub mod file;
pub mod metrics;
pub mod report;
pub mod run;

pub use file::Scenario;

/// Errors of scenarios and their runs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario file is malformed or inconsistent (exit code 2).
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Harness(#[from] harness::Error),
    #[error("{0}")]
    Run(String),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
