//! The aggregator catching up a backlog: every signal is in Kafka before it starts, so its
//! partitions are consumed far apart in event time (one partition's whole day before the next
//! one's first hour). Inactivity closures must follow the slowest partition still delivering,
//! not the fastest: every session comes out exactly as the ground truth, none closed early.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aggregator::SessionizerConfig;
use events::Session;
use harness::{ProviderKind, Services};
use pipeline::aggregate::AggregateOptions;
use pipeline::produce::{self, ProduceOptions};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use simulator::{Compression, FleetConfig, Pacer, Simulator};

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_sessionized_exactly() {
    let services = Services::start(ProviderKind::Native).await.unwrap();
    // 2 000 chargers sharing 50 partitions, 4 simulated hours, all produced before aggregating.
    let options = ProduceOptions {
        max_partitions: 50,
        linger: Duration::from_millis(50),
        ..ProduceOptions::default()
    };
    produce::prepare_topic(&services.kafka, &options, 2_000)
        .await
        .unwrap();
    let kafka = services.kafka.clone();
    let truth: Vec<Session> = tokio::task::spawn_blocking(move || {
        let config = FleetConfig {
            chargers: 2_000,
            seed: 8,
            span_ms: 4 * 3_600_000,
            ..FleetConfig::default()
        };
        let mut sim = Simulator::new(config).unwrap();
        let pacer = Pacer::new(Compression::Max, sim.config().start_ms);
        let mut truth = Vec::new();
        produce::produce(
            &mut sim,
            &pacer,
            &kafka,
            &options,
            &AtomicBool::new(false),
            &mut |s, _| truth.push(s),
            &mut |_| {},
        )
        .unwrap();
        truth
    })
    .await
    .unwrap();

    // An inactivity gap shorter than the span: the global stream time runs hours ahead of the
    // partitions not yet consumed.
    let aggregate_options = AggregateOptions {
        sessionizer: SessionizerConfig {
            inactivity_gap: Duration::from_secs(3600),
            ..SessionizerConfig::default()
        },
        ..AggregateOptions::default()
    };
    // The backlog is already there: no need to wait for the partitions before reading.
    let common::Running {
        stop,
        stats,
        worker,
    } = common::start_aggregator(&services, &aggregate_options, 0).await;

    let consumer: BaseConsumer = services
        .kafka
        .client_config()
        .set("group.id", "backlog-check")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..8 {
        assignment
            .add_partition_offset(events::SESSIONS_TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let expected = truth.len();
    let observed: Vec<Session> = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while out.len() < expected && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
                out.push(serde_json::from_slice(m.payload().unwrap()).unwrap());
            }
        }
        out
    })
    .await
    .unwrap();
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap().unwrap();

    assert_eq!(
        stats.dead_letters.load(Ordering::Relaxed),
        0,
        "no signal was refused as late"
    );
    let by_id: HashMap<&str, &Session> = observed
        .iter()
        .map(|s| (s.session_id.as_str(), s))
        .collect();
    assert_eq!(observed.len(), truth.len());
    for t in &truth {
        let o = by_id
            .get(t.session_id.as_str())
            .unwrap_or_else(|| panic!("{} missing", t.session_id));
        assert_eq!(
            *o,
            t,
            "{} differs in {:?}",
            t.session_id,
            t.differing_fields(o)
        );
    }
}
