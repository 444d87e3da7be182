//! The load: the simulator played into `charger-station-signals` on a thread of its own,
//! paced by the scenario's time compression, keeping the ground truth of every visit and when
//! the signal that completed it was sent.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use endpoints::KafkaEndpoint;
use events::Session;
use pipeline::produce::{self, ProduceOptions, ProduceReport, Sent};
use simulator::{Compression, FleetConfig, Pacer, Simulator};

use crate::Result;

/// A ground-truth session and when its last signal was sent.
#[derive(Debug, Clone)]
pub(crate) struct TruthSession {
    pub session: Session,
    pub sent: Sent,
}

/// What the load did.
#[derive(Debug)]
pub(crate) struct Played {
    pub report: ProduceReport,
    pub truth: Vec<TruthSession>,
    /// Signals sent in each second of the run.
    pub per_second: Vec<u64>,
    /// When the last signal had been delivered.
    pub finished: Instant,
}

/// Live counters of the load, for progress displays.
#[derive(Debug, Default)]
pub(crate) struct LoadProgress {
    pub produced: AtomicU64,
    /// Share of the simulated time played, in millionths.
    pub simulated_ppm: AtomicU64,
}

/// Plays `fleet` into Kafka. Blocking work runs on a thread of its own; this returns when
/// every signal has been delivered (or failed, counted in the report).
pub(crate) async fn play(
    kafka: &KafkaEndpoint,
    fleet: &FleetConfig,
    compression: Compression,
    options: &ProduceOptions,
    progress: Arc<LoadProgress>,
) -> Result<Played> {
    let (kafka, fleet, options) = (kafka.clone(), fleet.clone(), options.clone());
    let started = Instant::now();
    let per_second = Arc::new(Mutex::new(Vec::<u64>::new()));
    let seconds = Arc::clone(&per_second);
    let (report, truth) = tokio::task::spawn_blocking(move || {
        let mut sim = Simulator::new(fleet)?;
        let start = sim.config().start_ms;
        let end = sim.end_ms().max(start + 1);
        let pacer = Pacer::new(compression, start);
        let mut truth = Vec::new();
        let mut counted = 0u64;
        let report = produce::produce(
            &mut sim,
            &pacer,
            &kafka,
            &options,
            &AtomicBool::new(false),
            &mut |session, sent| truth.push(TruthSession { session, sent }),
            &mut |p| {
                let second = usize::try_from(p.elapsed.as_secs()).unwrap_or(usize::MAX);
                if let Ok(mut seconds) = seconds.lock() {
                    if seconds.len() <= second {
                        seconds.resize(second + 1, 0);
                    }
                    seconds[second] += p.events - counted;
                }
                counted = p.events;
                progress.produced.store(p.events, Ordering::Relaxed);
                let share = (p.sim_time_ms - start) as f64 / (end - start) as f64;
                progress
                    .simulated_ppm
                    .store((share.clamp(0.0, 1.0) * 1e6) as u64, Ordering::Relaxed);
            },
        )?;
        Ok::<_, crate::Error>((report, truth))
    })
    .await??;
    let per_second = per_second.lock().map(|s| s.clone()).unwrap_or_default();
    tracing::debug!(
        signals = report.events,
        ms = started.elapsed().as_millis() as u64,
        "load played"
    );
    Ok(Played {
        report,
        truth,
        per_second,
        finished: Instant::now(),
    })
}

/// The time compression that plays `fleet` at `rate` signals per second on average: the
/// simulator's events are counted (it is pure and fast: a few million events a second) and
/// their simulated span divided by the wall time that rate gives them.
pub(crate) async fn compression_for_rate(
    scenario: &str,
    fleet: &FleetConfig,
    rate: f64,
) -> Result<Compression> {
    let scenario = scenario.to_owned();
    let fleet = fleet.clone();
    tokio::task::spawn_blocking(move || {
        let mut sim = Simulator::new(fleet)?;
        let start = sim.config().start_ms;
        let (mut signals, mut last_ms) = (0u64, start);
        let mut scratch = Vec::with_capacity(256);
        while let Some(meta) = sim.next_event(&mut scratch) {
            signals += 1;
            last_ms = meta.timestamp_ms;
            scratch.clear();
        }
        let wall_s = signals as f64 / rate;
        let sim_s = (last_ms - start).max(1) as f64 / 1000.0;
        Compression::factor(sim_s / wall_s.max(1e-3)).map_err(|source| crate::Error::Invalid {
            path: scenario,
            source: Box::new(crate::file::Invalid::UnreachableRate { rate, source }),
        })
    })
    .await?
}
