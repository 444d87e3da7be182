//! Produce throughput to the real broker, beside Kafka's own `ProducerPerformance`
//! (`kafka-producer-perf-test`) on the same broker, same record count and record size, same
//! partition count and producer settings. Prints both rates and their ratio.
//!
//! `cargo bench -p pipeline --bench produce` (needs the jars `ci/setup` fetches).
//! `EVBENCH_BENCH_CHARGERS` (default 1000) and `EVBENCH_BENCH_SPAN` (default 60m, study-literal)
//! set the load; `EVBENCH_BENCH_LINGER_MS` (default 50) the batching of both producers.

use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use endpoints::kafka_admin::{self, TopicSpec};
use harness::{ProviderKind, Services};
use pipeline::produce::{ProduceOptions, prepare_topic, produce};
use simulator::{Compression, FleetConfig, Pacer, Profile, Simulator};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and `cargo test --benches` probe benches this way
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let chargers: u32 = env_or("EVBENCH_BENCH_CHARGERS", 1000);
        let span = humantime::parse_duration(&std::env::var("EVBENCH_BENCH_SPAN").unwrap_or_else(|_| "60m".into())).unwrap();
        let linger_ms: u32 = env_or("EVBENCH_BENCH_LINGER_MS", 50);
        let services = Services::start(ProviderKind::Native).await.expect("native services (run ci/setup)");
        let fleet = FleetConfig {
            chargers,
            seed: 1,
            span_ms: span.as_millis() as i64,
            profile: Profile::study_literal(),
            ..FleetConfig::default()
        };

        // Count and size of the simulator's records, for the Java tool to send the same.
        let mut sim = Simulator::new(fleet.clone()).unwrap();
        let (mut count, mut bytes, mut json) = (0u64, 0u64, Vec::new());
        while sim.next_event(&mut json).is_some() {
            count += 1;
            bytes += json.len() as u64;
        }
        let record_size = (bytes / count.max(1)).max(1);

        let options = ProduceOptions { linger: Duration::from_millis(u64::from(linger_ms)), ..ProduceOptions::default() };
        let partitions = prepare_topic(&services.kafka, &options, chargers).await.unwrap();
        kafka_admin::ensure_topic(&services.kafka.bootstrap, "perf-java", TopicSpec::single(partitions as usize)).await.unwrap();

        // Kafka's own tool first (a cold broker would otherwise favour whoever goes second).
        let libs = harness::kafka_libs_dir();
        let java = Command::new("java")
            .arg("-Xmx512m")
            .arg("-cp")
            .arg(format!("{}/*", libs.display()))
            .arg("org.apache.kafka.tools.ProducerPerformance")
            .args(["--topic", "perf-java", "--num-records", &count.to_string(), "--record-size", &record_size.to_string(), "--throughput", "-1"])
            .arg("--producer-props")
            .arg(format!("bootstrap.servers={}", services.kafka.bootstrap))
            .args(["acks=all", "enable.idempotence=true", &format!("linger.ms={linger_ms}"), "batch.size=1048576", "compression.type=lz4"])
            .output()
            .expect("run ProducerPerformance");
        let text = String::from_utf8_lossy(&java.stdout);
        let summary = text.lines().rev().find(|l| l.contains("records sent")).unwrap_or_else(|| panic!("no summary from ProducerPerformance:\n{text}\n{}", String::from_utf8_lossy(&java.stderr)));
        let java_rate: f64 = summary.split(',').nth(1).and_then(|p| p.split_whitespace().next()).and_then(|v| v.parse().ok()).unwrap();

        let kafka = services.kafka.clone();
        let report = tokio::task::spawn_blocking(move || {
            let mut sim = Simulator::new(fleet).unwrap();
            sim.record_truth(false);
            let pacer = Pacer::new(Compression::Max, sim.config().start_ms);
            produce(&mut sim, &pacer, &kafka, &options, &AtomicBool::new(false), &mut |_, _| {}, &mut |_| {}).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(report.failed, 0);
        assert_eq!(report.events, count);
        println!("records {count} of ~{record_size} B over {partitions} partitions, linger {linger_ms} ms, lz4, idempotent, acks=all");
        println!("kafka ProducerPerformance  {java_rate:>12.0} records/s   ({summary})");
        println!("evbench produce (sim+send) {:>12.0} records/s", report.events_per_s);
        println!("ratio evbench / kafka      {:>12.2}", report.events_per_s / java_rate);
    });
}
