//! The aggregator through real Kafka, exactly once: killed with SIGKILL at random points and
//! restarted, or sharing its group with a second instance while partitions move, a
//! `read_committed` consumer of `charging-sessions` sees every ground-truth session once and
//! nothing else.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use events::Session;
use harness::{ProviderKind, Services};
use pipeline::aggregate::{self, AggregateOptions};
use pipeline::produce::{self, ProduceOptions};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use simulator::{Compression, FleetConfig, Pacer, Simulator};

const CHARGERS: u32 = 200;

struct Aggregator {
    child: Child,
}

impl Aggregator {
    fn start(bootstrap: &str, instance: &str) -> Aggregator {
        let child = Command::new(env!("CARGO_BIN_EXE_evbench"))
            .args([
                "aggregate",
                "--brokers",
                bootstrap,
                "--instance",
                instance,
                "--commit-interval",
                "100ms",
            ])
            .env("EVBENCH_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start evbench aggregate");
        Aggregator { child }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }

    fn terminate(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "aggregator stopped cleanly: {status:?}");
    }
}

impl Drop for Aggregator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small deterministic generator for the kill times (the seed is printed, to replay a failure).
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

/// Starts producing 30 simulated minutes of 200 chargers, paced so it takes ~20 s of wall time.
async fn start_producing(services: &Services) -> std::thread::JoinHandle<Vec<Session>> {
    let options = ProduceOptions::default();
    produce::prepare_topic(&services.kafka, &options, CHARGERS)
        .await
        .unwrap();
    aggregate::prepare_topics(&services.kafka, &AggregateOptions::default())
        .await
        .unwrap();
    let kafka = services.kafka.clone();
    std::thread::spawn(move || {
        let config = FleetConfig {
            chargers: CHARGERS,
            seed: 11,
            span_ms: 30 * 60_000,
            ..FleetConfig::default()
        };
        let mut sim = Simulator::new(config).unwrap();
        let end = sim.end_ms();
        let start = sim.config().start_ms;
        // Whole run (arrivals for 30 min, visits finishing after) in about 20 s.
        let factor = (end - start) as f64 / 20_000.0;
        let pacer = Pacer::new(Compression::factor(factor).unwrap(), start);
        let mut truth = Vec::new();
        let report = produce::produce(
            &mut sim,
            &pacer,
            &kafka,
            &options,
            &AtomicBool::new(false),
            &mut |s, _| truth.push(s),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(report.failed, 0);
        truth
    })
}

/// Reads `charging-sessions` with `read_committed` until `expected` sessions came and nothing
/// more arrives for a few seconds (so duplicates would be seen too).
fn read_sessions(bootstrap: &str, expected: usize) -> Vec<Session> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "exactly-once-check")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let metadata = consumer
        .fetch_metadata(Some(events::SESSIONS_TOPIC), Duration::from_secs(5))
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in metadata.topics()[0].partitions() {
        assignment
            .add_partition_offset(events::SESSIONS_TOPIC, p.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut sessions = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(message) => {
                let message = message.unwrap();
                sessions.push(serde_json::from_slice(message.payload().unwrap()).unwrap());
                quiet_since = Instant::now();
            }
            None if sessions.len() >= expected
                && quiet_since.elapsed() > Duration::from_secs(4) =>
            {
                break;
            }
            None => {}
        }
    }
    sessions
}

fn assert_exactly_once(truth: &[Session], observed: &[Session]) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for s in observed {
        *seen.entry(s.session_id.as_str()).or_default() += 1;
    }
    let duplicated: Vec<_> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    assert!(
        duplicated.is_empty(),
        "{} sessions duplicated, e.g. {:?}",
        duplicated.len(),
        &duplicated[..duplicated.len().min(5)]
    );
    let by_id: HashMap<&str, &Session> = observed
        .iter()
        .map(|s| (s.session_id.as_str(), s))
        .collect();
    let missing: Vec<_> = truth
        .iter()
        .filter(|t| !by_id.contains_key(t.session_id.as_str()))
        .map(|t| &t.session_id)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} sessions missing, e.g. {:?}",
        missing.len(),
        truth.len(),
        &missing[..missing.len().min(5)]
    );
    for t in truth {
        let o = by_id[t.session_id.as_str()];
        assert_eq!(
            o,
            t,
            "session {} differs in {:?}",
            t.session_id,
            t.differing_fields(o)
        );
    }
    assert_eq!(observed.len(), truth.len(), "unexpected sessions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_three_times_loses_and_duplicates_nothing() {
    let services = Services::start(ProviderKind::Native).await.unwrap();
    let producer = start_producing(&services).await;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill-time seed {seed}");
    let mut rng = Lcg(seed);
    let mut aggregator = Aggregator::start(&services.kafka.bootstrap, "0");
    let kills = Arc::new(Mutex::new(0));
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(rng.next_ms(2_000, 5_000))).await;
        aggregator.kill();
        *kills.lock().unwrap() += 1;
        aggregator = Aggregator::start(&services.kafka.bootstrap, "0");
    }
    let truth = tokio::task::spawn_blocking(move || producer.join().unwrap())
        .await
        .unwrap();
    assert!(truth.len() > 100, "a real load: {} sessions", truth.len());
    let bootstrap = services.kafka.bootstrap.clone();
    let expected = truth.len();
    let observed = tokio::task::spawn_blocking(move || read_sessions(&bootstrap, expected))
        .await
        .unwrap();
    aggregator.terminate();
    assert_eq!(*kills.lock().unwrap(), 3);
    assert_exactly_once(&truth, &observed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_and_rebalances_lose_and_duplicate_nothing() {
    let services = Services::start(ProviderKind::Native).await.unwrap();
    let producer = start_producing(&services).await;
    let first = Aggregator::start(&services.kafka.bootstrap, "a");
    tokio::time::sleep(Duration::from_secs(5)).await;
    // A second instance joins: the partitions are split between the two.
    let second = Aggregator::start(&services.kafka.bootstrap, "b");
    tokio::time::sleep(Duration::from_secs(6)).await;
    // The first leaves: the second takes every partition over.
    first.terminate();
    let truth = tokio::task::spawn_blocking(move || producer.join().unwrap())
        .await
        .unwrap();
    let bootstrap = services.kafka.bootstrap.clone();
    let expected = truth.len();
    let observed = tokio::task::spawn_blocking(move || read_sessions(&bootstrap, expected))
        .await
        .unwrap();
    second.terminate();
    assert_exactly_once(&truth, &observed);
}
