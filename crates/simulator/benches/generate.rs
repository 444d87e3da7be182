//! Events generated and encoded per second, unpaced, no Kafka: the simulator's own ceiling.
//!
//! Run with `cargo bench -p simulator`. Throughput is reported in events (elements) per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use simulator::{FleetConfig, Simulator};

fn config(chargers: u32, span_ms: i64) -> FleetConfig {
    FleetConfig {
        chargers,
        seed: 42,
        span_ms,
        ..FleetConfig::default()
    }
}

fn simulator(config: &FleetConfig, truth: bool) -> Simulator {
    let mut sim = Simulator::new(config.clone()).expect("valid config");
    sim.record_truth(truth);
    sim
}

/// Runs the whole fleet; returns the number of events (and sessions taken, when `truth`).
fn run(mut sim: Simulator, truth: bool) -> (u64, u64, Simulator) {
    let mut buf = Vec::with_capacity(256);
    let mut events = 0u64;
    let mut sessions = 0u64;
    while let Some(meta) = sim.next_event(&mut buf) {
        black_box((&buf, sim.charger_id(meta.charger_index)));
        events += 1;
        if truth && sim.pending_sessions() > 0 {
            sim.take_completed_sessions(|s| {
                black_box(&s);
                sessions += 1;
            });
        }
    }
    (events, sessions, sim)
}

fn generate(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    for (name, cfg, truth) in [
        ("10k_chargers_2h", config(10_000, 2 * 3_600_000), false),
        ("100k_chargers_30m", config(100_000, 30 * 60_000), false),
        (
            "10k_chargers_2h_with_truth",
            config(10_000, 2 * 3_600_000),
            true,
        ),
    ] {
        let (events, _, _) = run(simulator(&cfg, truth), truth);
        group.throughput(Throughput::Elements(events));
        // Building the fleet is left out of the timing; the simulator is dropped outside it.
        group.bench_function(name, |b| {
            b.iter_batched(
                || simulator(&cfg, truth),
                |sim| run(sim, truth),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, generate);
criterion_main!(benches);
