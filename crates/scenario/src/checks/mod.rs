//! The checks: each a pure function of what the run observed (`Evidence`) and the run's
//! figures (`Measures`), returning a [`Check`] (or none, where the scenario does not ask for
//! it). Nothing here talks to a server: the evidence was collected before.

mod components;
mod dead_letters;
mod drained;
mod faults;
mod kpis;
mod produced;
mod raw_signals;
mod sessions;
mod thresholds;

use std::time::Duration;

use events::Session;
use pipeline::produce::ProduceReport;
use schema::kpi::{KpiQuery, KpiValues};

use crate::drain::Drained;
use crate::engine::EngineOutcome;
use crate::file::{Ingestion, Scenario};
use crate::ingestion::IngestionOutcome;
use crate::measure::Measures;
use crate::observe::SeenDeadLetter;
use crate::report::{Check, KpiSummary};

/// Everything the run observed, collected once the pipeline stopped.
#[derive(Debug)]
pub(crate) struct Evidence {
    pub produced: ProduceReport,
    /// The ground truth, every visit simulated.
    pub truth: Vec<Session>,
    pub drained: Drained,
    /// The pipeline's consumer lag once the data had drained.
    pub lag_at_end: crate::drain::LagAtEnd,
    pub drain_timeout: Duration,
    /// Seconds from the last signal sent to the end of the drain.
    pub drain_s: f64,
    /// Sessions in ClickHouse (`FINAL`).
    pub stored_sessions: Vec<Session>,
    /// Sessions read from `charging-sessions` (`read_committed`), every copy.
    pub topic_sessions: Vec<Session>,
    pub stored_signals: u64,
    /// Records Kafka took into the signals topic during the run, when its ends could be read.
    pub signals_in_topic: Option<u64>,
    /// Records in the dead-letter topic (`read_committed`).
    pub dead_letters: Vec<SeenDeadLetter>,
    /// Rows in ClickHouse's `dead_letters` (what the sink could not store).
    pub stored_dead_letters: u64,
    pub ingestion: Ingestion,
    /// The KPIs from the ground truth and from ClickHouse (or why the queries failed).
    pub kpis: Option<KpiEvidence>,
    pub engine: EngineOutcome,
    pub ingestion_outcome: IngestionOutcome,
    /// Process faults the scenario asked for, and what failed while making them happen.
    pub process_faults: usize,
    pub fault_errors: Vec<String>,
}

/// KPI values both ways.
#[derive(Debug)]
pub(crate) struct KpiEvidence {
    pub queries: Vec<KpiQuery>,
    pub expected: KpiValues,
    /// What ClickHouse answered, or why it did not.
    pub actual: Result<KpiValues, schema::Error>,
}

impl Evidence {
    /// Signals ClickHouse must hold: every signal, every injected copy (duplicates and late
    /// copies: records of their own) and the well-formed records with impossible values (raw
    /// storage keeps what was sent; the aggregator dead-letters them); undecodable records are
    /// dead letters instead.
    pub fn expected_stored_signals(&self) -> u64 {
        self.produced.well_formed_records()
    }
}

/// Every check the scenario asks for, in report order, and the KPI table.
pub(crate) fn all(
    scenario: &Scenario,
    evidence: &Evidence,
    measures: &Measures,
) -> (Vec<Check>, KpiSummary) {
    let mut checks = Vec::new();
    checks.extend(components::engine_ran(evidence));
    checks.extend(components::sink_ran(evidence));
    checks.extend(faults::happened(evidence));
    checks.push(drained::drained(evidence));
    checks.push(produced::produced(evidence));
    if scenario.checks.sessions_exact {
        checks.push(sessions::exact_in_clickhouse(evidence));
        checks.push(sessions::exactly_once_in_topic(evidence));
    }
    if scenario.checks.raw_counts {
        checks.push(raw_signals::stored(evidence));
        checks.push(dead_letters::dead_letters(evidence));
    }
    let mut summary = KpiSummary::default();
    if scenario.checks.kpis {
        let (check, table) = kpis::kpis(evidence);
        checks.extend(check);
        summary = table;
    }
    checks.extend(thresholds::thresholds(&scenario.checks, measures));
    (checks, summary)
}
