//! The exactly-once floor against the native broker: the aggregator's runner in pass-through
//! mode copies every record exactly once, committed, and the floor reports their latencies.

use std::time::Duration;

use harness::{ProviderKind, Services};
use pipeline::aggregate::AggregateOptions;
use pipeline::floor::{PassThroughLoad, exactly_once_floor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pass_through_copies_every_record_once_and_is_measured() {
    let services = Services::start(ProviderKind::Native)
        .await
        .expect("services");
    let options = AggregateOptions {
        commit_interval: Duration::from_millis(50),
        output_partitions: 2,
        ..AggregateOptions::default()
    };
    let load = PassThroughLoad {
        rate: 400.0,
        duration: Duration::from_secs(2),
        record_bytes: 112,
        partitions: 2,
    };
    let floor = exactly_once_floor(&services.kafka, &options, &load)
        .await
        .expect("the floor ran");
    assert_eq!(
        floor.records, 800,
        "every measured record's copy read: {floor:?}"
    );
    assert_eq!(floor.duplicates, 0, "{floor:?}");
    assert_eq!(floor.commit_interval_ms, 50.0);
    assert!(
        0.0 < floor.p50_ms && floor.p50_ms <= floor.p99_ms && floor.p99_ms <= floor.max_ms,
        "{floor:?}"
    );
}
