//! What the aggregator's tests against real Kafka share: an aggregator started on its own
//! thread, holding its input partitions before the test sends anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use harness::Services;
use pipeline::aggregate::{self, AggregateOptions, AggregateStats};

/// A running aggregator: set `stop` and join `worker` to end it.
pub struct Running {
    pub stop: Arc<AtomicBool>,
    pub stats: Arc<AggregateStats>,
    pub worker: JoinHandle<pipeline::Result<()>>,
}

/// Prepares the output topics, starts the aggregator with `options` and waits until it holds
/// `partitions` input partitions (a consumer group's first rebalance takes a moment).
pub async fn start_aggregator(
    services: &Services,
    options: &AggregateOptions,
    partitions: u64,
) -> Running {
    aggregate::prepare_topics(&services.kafka, options)
        .await
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(AggregateStats::default());
    let worker = aggregate::spawn(
        services.kafka.clone(),
        options.clone(),
        Arc::clone(&stop),
        Arc::clone(&stats),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while stats.assigned_partitions.load(Ordering::Relaxed) < partitions {
        assert!(
            Instant::now() < deadline,
            "the aggregator never got its partitions"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Running {
        stop,
        stats,
        worker,
    }
}
