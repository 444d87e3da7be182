//! Kafka's own latency floor (`EndToEndLatency`) against the native broker: the tool runs from
//! the jars the provider uses and its figures come back ordered and plausible.

use harness::{ProviderKind, Services};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_floor_is_measured_on_the_native_broker() {
    let services = Services::start(ProviderKind::Native)
        .await
        .expect("services");
    let bootstrap = services.kafka.bootstrap.clone();
    let tools = services.kafka_tools_dir();
    let floor = tokio::task::spawn_blocking(move || {
        harness::floor::end_to_end_latency(&tools, &bootstrap, "floor-check", 500, "all", 120, None)
    })
    .await
    .unwrap()
    .expect("EndToEndLatency ran");
    assert_eq!((floor.messages, floor.record_bytes), (500, 120));
    assert!(floor.mean_ms > 0.0, "{floor:?}");
    assert!(
        floor.p50_ms <= floor.p99_ms && floor.p99_ms <= floor.p999_ms,
        "{floor:?}"
    );
    // A round trip on loopback: well under a second at the median.
    assert!(floor.p50_ms < 1000.0, "{floor:?}");
}
