//! evbench's run reports read across runs, for people who must trust a figure before they act
//! on it. (The runs themselves are `scenario`'s; the criterion benchmarks are each crate's
//! `benches/`; the recorded figures are `bench/`.)
//!
//! * [`figures`]: every figure of a `report.json` (throughput, each latency percentile of each
//!   path, the aggregator's commit timings, CPU and memory per process), by its key in the
//!   report, with its unit and whether higher or lower is better. Reports that lack a field
//!   (older ones) simply have fewer figures.
//! * [`baseline`]: a report against a baseline, figure by figure, with a gate:
//!   throughput that fell or a latency percentile that rose beyond a tolerance is a regression.
//! * [`repeat`]: N runs of one scenario summarised as median, min and max, and the run closest
//!   to the medians reduced to a baseline.
//! * [`sweep`]: `--set KEY=V1,V2,…` applied to the scenario's TOML (any dotted key), the
//!   cartesian product of the values as points, `sweep.json` and the self-contained `sweep.html`.
//! * [`junit`]: runs as JUnit XML for CI systems, a test case per check.
//!
//! The runs themselves are `scenario::run::run`'s; this crate only reads and writes their
//! reports, as `serde_json::Value`s so that a report written by another version of evbench
//! still reads.

pub mod baseline;
pub mod figures;
pub mod junit;
pub mod repeat;
pub mod sweep;
mod sweep_page;
mod table;

use std::path::Path;

/// Errors of the report analysis. [`Error::is_bad_input`] tells bad input (exit code 2) from
/// a failure to write results (exit code 3).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A report or summary that cannot be read.
    #[error("cannot read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A file that is not JSON.
    #[error("{path} is not JSON")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// JSON, but not a report this tool can compare.
    #[error("{path} is not an evbench report: {reason}")]
    NotAReport { path: String, reason: String },
    /// A `--set KEY=V1,V2,…` that cannot be applied to the scenario. (Sources are boxed here:
    /// a refusal is rare, and every result of this crate would carry their size.)
    #[error("--set {set}")]
    Set {
        set: String,
        #[source]
        source: Box<sweep::SetError>,
    },
    /// A point of a sweep whose scenario is invalid.
    #[error("sweep point {point}")]
    Point {
        point: String,
        #[source]
        source: Box<scenario::file::Invalid>,
    },
    /// The scenario file of a sweep.
    #[error("{path}")]
    Scenario {
        path: String,
        #[source]
        source: Box<scenario::file::Invalid>,
    },
    /// A result that could not be written.
    #[error("{context}")]
    Write {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether this is bad input (exit code 2) rather than a failure to write (exit code 3).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Error::Write { .. })
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Reads a JSON file (a report, a reduced report, a `repeat.json`).
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: path.display().to_string(),
        source,
    })
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| Error::Write {
        context: format!("encode {}", path.display()),
        source: std::io::Error::other(e),
    })?;
    write_file(path, &text)
}

/// Writes `bytes` to `path`.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| Error::Write {
        context: format!("write {}", path.display()),
        source,
    })
}
