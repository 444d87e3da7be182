//! Liveness: a completed visit must not wait for the next signal. A visit held back for late
//! signals (here: its user disconnect never came, so the sessionizer waits for the reorder
//! tolerance in its charger's event time) is the last thing the producer sends; nothing moves
//! event time any more. After `idle_timeout` without input the aggregator emits it: readable
//! within `idle_timeout` + one commit interval (plus the transaction's own time), not before
//! the input went idle.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use endpoints::kafka_admin::{self, TopicSpec};
use events::Session;
use harness::{ProviderKind, Services};

mod common;
use pipeline::aggregate::AggregateOptions;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

const T0: i64 = 1_767_225_600_000;
const MIN: i64 = 60_000;

fn visit_without_disconnect() -> Vec<String> {
    let c = "charger-7";
    vec![
        format!(
            r#"{{"timestamp":{T0},"charger_id":"{c}","vehicle_detected":true,"plate":"AB12CD34"}}"#
        ),
        format!(
            r#"{{"timestamp":{},"charger_id":"{c}","user_id":"USER000000000001","price":0.5,"user_connection":true}}"#,
            T0 + MIN
        ),
        format!(
            r#"{{"timestamp":{},"charger_id":"{c}","recharging":true,"energy_delivered":20}}"#,
            T0 + 2 * MIN
        ),
        format!(
            r#"{{"timestamp":{},"charger_id":"{c}","recharging":false,"energy_delivered":0}}"#,
            T0 + 32 * MIN
        ),
        format!(
            r#"{{"timestamp":{},"charger_id":"{c}","vehicle_detected":false,"plate":"AB12CD34"}}"#,
            T0 + 35 * MIN
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_visit_comes_out_once_the_input_is_idle() {
    let services = Services::start(ProviderKind::Native).await.unwrap();
    let bootstrap = services.kafka.bootstrap.clone();
    kafka_admin::ensure_topic(&bootstrap, events::SIGNALS_TOPIC, TopicSpec::single(4))
        .await
        .unwrap();
    let idle_timeout = Duration::from_secs(2);
    let commit_interval = Duration::from_millis(100);
    let options = AggregateOptions {
        idle_timeout,
        commit_interval,
        ..AggregateOptions::default()
    };
    let common::Running {
        stop,
        stats,
        worker,
    } = common::start_aggregator(&services, &options, 4).await;

    let producer: ThreadedProducer<DefaultProducerContext> = services
        .kafka
        .client_config()
        .set("linger.ms", "0")
        .create()
        .unwrap();
    // Latency is measured from just before the last signal is sent: the aggregator cannot have
    // it (and start its idle clock) any earlier. (Measured from after the flush, a session could
    // come out a fraction of a millisecond "before" the idle timeout: the aggregator may fetch
    // the record before the broker's acknowledgement reaches the producer.)
    let mut sent = Instant::now();
    for line in visit_without_disconnect() {
        sent = Instant::now();
        producer
            .send(
                BaseRecord::to(events::SIGNALS_TOPIC)
                    .key("charger-7")
                    .partition(3)
                    .payload(&line),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let consumer: BaseConsumer = services
        .kafka
        .client_config()
        .set("group.id", "idle-test-reader")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "5")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..8 {
        assignment
            .add_partition_offset(events::SESSIONS_TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut sessions: Vec<(Session, Duration)> = Vec::new();
    let watch_until = sent + idle_timeout + Duration::from_secs(10);
    while Instant::now() < watch_until {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(20)) {
            let session: Session = serde_json::from_slice(message.payload().unwrap()).unwrap();
            sessions.push((session, sent.elapsed()));
        }
    }
    stop.store(true, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || worker.join())
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    assert_eq!(sessions.len(), 1, "exactly one session: {sessions:?}");
    let (session, after) = &sessions[0];
    assert_eq!(session.session_id, format!("charger-7@{T0}"));
    assert_eq!(session.flags, vec![events::Flag::InferredUserDisconnect]);
    assert!(
        *after >= idle_timeout,
        "held until the input was idle, yet out after {after:?}"
    );
    // The commit that carries it starts at once after the expiry; a transaction takes tens of
    // milliseconds, and the reader polls every 20 ms.
    let bound = idle_timeout + commit_interval + Duration::from_secs(1);
    assert!(
        *after <= bound,
        "readable {after:?} after the last signal; the bound is {bound:?}"
    );
    assert!(stats.expiries.load(Ordering::Relaxed) >= 1);
}
