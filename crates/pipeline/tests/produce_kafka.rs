//! The simulator's producer against the harness's real Kafka: 1 000 chargers, 10 simulated
//! minutes, unpaced. The topic gets one partition per charger, and every event is in its
//! charger's partition, in order, byte for byte what the simulator made, none missing.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use endpoints::kafka_admin;
use harness::{ProviderKind, Services};
use pipeline::produce::{ProduceOptions, partition_of, prepare_topic, produce};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use simulator::{Compression, FleetConfig, Pacer, Simulator};

const CHARGERS: u32 = 1_000;

fn fleet() -> FleetConfig {
    FleetConfig {
        chargers: CHARGERS,
        seed: 7,
        span_ms: 10 * 60_000,
        ..FleetConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_in_its_chargers_partition_in_order() {
    let services = Services::start(ProviderKind::Native).await.unwrap();
    let options = ProduceOptions::default();
    let partitions = prepare_topic(&services.kafka, &options, CHARGERS)
        .await
        .unwrap();
    assert_eq!(partitions, CHARGERS);
    let listed = kafka_admin::partition_count(
        &services.kafka.bootstrap,
        events::SIGNALS_TOPIC,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(listed, Some(CHARGERS as usize));

    let kafka = services.kafka.clone();
    let report = tokio::task::spawn_blocking(move || {
        let mut sim = Simulator::new(fleet()).unwrap();
        let pacer = Pacer::new(Compression::Max, sim.config().start_ms);
        let mut sessions = 0u64;
        let report = produce(
            &mut sim,
            &pacer,
            &kafka,
            &ProduceOptions::default(),
            &AtomicBool::new(false),
            &mut |_, _| sessions += 1,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(sessions, report.sessions);
        report
    })
    .await
    .unwrap();
    assert_eq!(report.failed, 0, "{:?}", report.first_error);
    assert_eq!(report.delivered, report.events);
    assert!(
        report.events > 1_000,
        "a real load: {} events",
        report.events
    );

    // What the simulator makes, regenerated (it is deterministic): charger -> payloads by seq.
    let mut expected: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    let mut sim = Simulator::new(fleet()).unwrap();
    let mut json = Vec::new();
    while let Some(meta) = sim.next_event(&mut json) {
        let list = expected
            .entry(sim.charger_id(meta.charger_index).to_owned())
            .or_default();
        assert_eq!(list.len() as u64, meta.seq);
        list.push(json.clone());
    }
    let total: usize = expected.values().map(Vec::len).sum();
    assert_eq!(total as u64, report.events);

    let consumer: BaseConsumer = services
        .kafka
        .client_config()
        .set("group.id", "produce-check")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for p in 0..CHARGERS as i32 {
        assignment
            .add_partition_offset(events::SIGNALS_TOPIC, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let received = tokio::task::spawn_blocking(move || {
        let mut next_seq: HashMap<String, usize> = HashMap::new();
        let mut count = 0usize;
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while count < total && std::time::Instant::now() < deadline {
            let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = message.unwrap();
            let key = std::str::from_utf8(message.key().unwrap())
                .unwrap()
                .to_owned();
            let index = simulator::charger_index_of(&key).unwrap();
            assert_eq!(
                message.partition(),
                partition_of(index, CHARGERS),
                "{key} in the wrong partition"
            );
            let seq = next_seq.entry(key.clone()).or_insert(0);
            let want = &expected[&key][*seq];
            assert_eq!(
                message.payload().unwrap(),
                want.as_slice(),
                "{key} event {seq} differs or is out of order"
            );
            *seq += 1;
            count += 1;
        }
        for (key, list) in &expected {
            assert_eq!(
                next_seq.get(key).copied().unwrap_or(0),
                list.len(),
                "{key}: events missing"
            );
        }
        count
    })
    .await
    .unwrap();
    assert_eq!(received, total);
}
