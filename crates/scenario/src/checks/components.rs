//! `aggregator`, `sink`: the processes of the pipeline under test kept running until the run
//! stopped them.

use crate::checks::Evidence;
use crate::report::Check;

/// `aggregator`: present only when an engine instance exited on its own.
pub(super) fn engine_ran(evidence: &Evidence) -> Option<Check> {
    exited("aggregator", &evidence.engine.exits)
}

/// `sink`: present only when a sink exited on its own.
pub(super) fn sink_ran(evidence: &Evidence) -> Option<Check> {
    exited("sink", &evidence.ingestion_outcome.exits)
}

fn exited(name: &str, exits: &[String]) -> Option<Check> {
    (!exits.is_empty()).then(|| Check {
        name: name.into(),
        passed: false,
        detail: format!("exited during the run: {}", exits.join("; ")),
    })
}
