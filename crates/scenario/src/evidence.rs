//! Collecting the evidence once the pipeline has stopped: what ClickHouse holds (sessions,
//! signal and dead-letter counts, the KPI queries) beside what the observers saw.

use schema::kpi::{self, KpiParams};
use simulator::FleetConfig;

use crate::Result;
use crate::checks::KpiEvidence;
use crate::storage::Storage;

/// What ClickHouse holds at the end of a run.
#[derive(Debug)]
pub(crate) struct Stored {
    pub sessions: Vec<events::Session>,
    pub signals: u64,
    pub dead_letters: u64,
}

/// Reads sessions (`FINAL`), signal and dead-letter counts.
pub(crate) async fn stored(storage: &Storage) -> Result<Stored> {
    let (reader, schema) = (&storage.reader, &storage.schema);
    Ok(Stored {
        sessions: schema::store::fetch_sessions(reader, schema).await?,
        signals: schema::store::count_signals(reader, schema).await?,
        dead_letters: schema::store::count_dead_letters(reader, schema).await?,
    })
}

/// The KPIs computed from the ground truth and queried from ClickHouse, over the simulated
/// span and the day after it (visits under way at its end finish later).
pub(crate) async fn kpis(
    storage: &Storage,
    fleet: &FleetConfig,
    truth: &[events::Session],
) -> KpiEvidence {
    let params = KpiParams::window(
        fleet.start_ms,
        fleet.start_ms + fleet.span_ms.max(1) + 24 * 3_600_000,
    );
    KpiEvidence {
        queries: kpi::queries(&storage.schema),
        expected: kpi::compute(truth, &params),
        actual: kpi::fetch(&storage.reader, &storage.schema, &params).await,
    }
}
