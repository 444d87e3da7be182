//! Signals per second through decode + sessionizer, and bytes of state per open visit.
//!
//! Run with `cargo bench -p aggregator`. The input is the simulator's `study` fleet (its events
//! as JSON, with `seq`); a second input strips `seq` (the study's own producers send none).
//! `decode_only` is the peer measured in the same run: the general JSON decoder
//! (`events::decode`, serde_json) alone on the same bytes. The sessionizer reads evbench's own
//! layout with a byte scanner and everything else with that decoder, so `decode_and_sessionize`
//! being faster than `decode_only` is expected.

use std::hint::black_box;
use std::time::Duration;

use aggregator::{CHARGER_STATE_BYTES, Output, Sessionizer, SessionizerConfig, Source};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use simulator::{FleetConfig, Profile, Simulator};

fn corpus(chargers: u32, span_ms: i64) -> Vec<Vec<u8>> {
    let mut sim = Simulator::new(FleetConfig {
        chargers,
        seed: 42,
        span_ms,
        profile: Profile::study(),
        ..FleetConfig::default()
    })
    .expect("valid fleet");
    sim.record_truth(false);
    let mut json = Vec::new();
    let mut out = Vec::new();
    while sim.next_event(&mut json).is_some() {
        out.push(json.clone());
    }
    out
}

fn strip_seq(json: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(json).expect("utf-8");
    match text.find(",\"seq\":") {
        Some(at) => {
            let end = text[at + 1..]
                .find([',', '}'])
                .map_or(text.len(), |e| at + 1 + e);
            format!("{}{}", &text[..at], &text[end..]).into_bytes()
        }
        None => json.to_vec(),
    }
}

fn config() -> SessionizerConfig {
    SessionizerConfig::with_overstay_grace(Profile::study().overstay_grace)
}

/// Pushes every record; returns the sessions emitted.
fn sessionize(s: &mut Sessionizer, records: &[Vec<u8>]) -> u64 {
    let mut sessions = 0u64;
    let mut sink = |o: Output| {
        if let Output::Session { session, .. } = &o {
            black_box(session);
            sessions += 1;
        }
    };
    for (i, r) in records.iter().enumerate() {
        let src = Source {
            partition: 0,
            offset: i as i64,
        };
        s.push(r, src, &mut sink);
    }
    s.finish(&mut sink);
    sessions
}

/// Bytes of state per open visit, measured half-way through a large fleet.
fn report_memory(records: &[Vec<u8>], chargers: u32) {
    let mut s = Sessionizer::new(config()).expect("valid config");
    let half = &records[..records.len() / 2];
    for (i, r) in half.iter().enumerate() {
        let src = Source {
            partition: 0,
            offset: i as i64,
        };
        s.push(r, src, &mut |o| {
            black_box(o);
        });
    }
    let open = s.open_visits().max(1);
    let total = s.state_bytes();
    println!(
        "memory, half-way through {chargers} chargers: {open} open visits; fixed state \
         {CHARGER_STATE_BYTES} B per charger (open visit and id included); all in \
         (states, id index, commit-offset and inactivity heaps, side allocations) {total} B \
         = {} B per open visit",
        total / open,
    );
}

fn bench(c: &mut Criterion) {
    // Memory at a larger scale (not timed).
    report_memory(&corpus(100_000, 30 * 60_000), 100_000);

    // A small fleet (its state stays in the CPU caches: the cost of the code) and a large one
    // (signals in global time order hit a random charger each: the cost of memory).
    for (name, chargers, hours) in [("100_chargers", 100, 48), ("10k_chargers", 10_000, 4)] {
        let records = corpus(chargers, hours * 3_600_000);
        let no_seq: Vec<Vec<u8>> = records.iter().map(|r| strip_seq(r)).collect();
        let bytes: usize = records.iter().map(Vec::len).sum();
        println!(
            "{name}: {} signals over {hours} simulated hours, {:.0} B per signal",
            records.len(),
            bytes as f64 / records.len() as f64
        );
        report_memory(&records, chargers);

        let mut group = c.benchmark_group(format!("sessionize/{name}"));
        group
            .sample_size(10)
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(8))
            .throughput(Throughput::Elements(records.len() as u64));
        group.bench_function("decode_only", |b| {
            b.iter(|| {
                for r in &records {
                    black_box(events::decode(r).ok());
                }
            })
        });
        group.bench_function("decode_and_sessionize", |b| {
            b.iter_batched(
                || Sessionizer::new(config()).expect("valid config"),
                |mut s| sessionize(&mut s, &records),
                BatchSize::LargeInput,
            )
        });
        group.bench_function("decode_and_sessionize_without_seq", |b| {
            b.iter_batched(
                || Sessionizer::new(config()).expect("valid config"),
                |mut s| sessionize(&mut s, &no_seq),
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
