//! The floors a load run measures beside its pipeline (`load.floors`), right after the load with
//! the pipeline stopped, on the run's own servers: what the same broker and the same ClickHouse
//! give on their own at the same moment (`docs/benchmarking.md#floors`).
//!
//! * the broker's produce → consume round trip (Kafka's `EndToEndLatency`);
//! * the exactly-once floor: the aggregator's runner copying records instead of sessionizing;
//! * the insert floor: `clickhouse-client` alone inserting the run's stored signals;
//! * the Kafka-engine floor: the study's own ingestion (ClickHouse's Kafka engine tables and
//!   materialized views) reading the run's signals topic from the start into a database of its
//!   own.
//!
//! Each is a `Result`: a floor that cannot be measured says why and the others still are.

use std::time::{Duration, Instant};

use harness::Services;

use crate::file::Scenario;
use crate::report::Report;
use crate::storage::Storage;

/// What each floor measured, or why it could not.
#[derive(Debug)]
pub(crate) struct Measured {
    pub broker: Result<harness::floor::EndToEndLatency, String>,
    pub exactly_once: Result<pipeline::floor::PassThroughFloor, String>,
    pub insert: Result<harness::insert_floor::InsertFloor, String>,
    pub kafka_engine: Result<KafkaEngineFloor, String>,
}

/// Measures every floor, one after the other (they would compete for the machine together).
pub(crate) async fn measure(
    services: &mut Services,
    scenario: &Scenario,
    storage: &Storage,
    report: &Report,
    signal_partitions: u32,
) -> Measured {
    let broker = broker_floor(services, report).await;
    let exactly_once = exactly_once_floor(services, scenario, report, signal_partitions).await;
    let insert = insert_floor(services, storage.schema.database()).await;
    let kafka_engine = kafka_engine_floor(services, storage).await;
    Measured {
        broker,
        exactly_once,
        insert,
        kafka_engine,
    }
}

/// Records the broker's floor measures: enough for a steady p99, short enough (~5 s) to sit
/// at the end of every load run that asks for it.
const FLOOR_MESSAGES: u32 = 3_000;
/// The topic the floor runs on, replicated as the pipeline's topics are.
const FLOOR_TOPIC: &str = "evbench-floor";

/// The broker's own produce → consume floor, right after the load, on the run's broker, with
/// records of the signals' mean size and the producer's `acks`: the pipeline's processes have
/// stopped, so it measures the broker, not the broker competing with them.
async fn broker_floor(
    services: &Services,
    report: &Report,
) -> std::result::Result<harness::floor::EndToEndLatency, String> {
    let bootstrap = services.kafka.bootstrap.clone();
    let tools = services.kafka_tools_dir();
    // On a secured Kafka the floor runs as the admin (the harness's own measure, not a part of
    // the pipeline), over the same TLS and SASL as the pipeline's clients.
    let login = services
        .kafka_security()
        .map(|secured| secured.admin_properties().to_path_buf());
    let spec = endpoints::kafka_admin::replicated_spec(&services.kafka, 1)
        .await
        .map_err(|e| e.to_string())?;
    endpoints::kafka_admin::ensure_topic(&services.kafka, FLOOR_TOPIC, spec)
        .await
        .map_err(|e| e.to_string())?;
    let record_bytes = report
        .events
        .produced_bytes
        .checked_div(report.events.produced)
        .map_or(128, |b| b.clamp(1, 1 << 20) as u32);
    tokio::task::spawn_blocking(move || {
        harness::floor::end_to_end_latency(
            &tools,
            &bootstrap,
            FLOOR_TOPIC,
            FLOOR_MESSAGES,
            "all",
            record_bytes,
            login.as_deref(),
        )
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| crate::error_chain(&e))
}

/// The insert floor: `clickhouse-client` inserting the run's stored signals into a twin table on
/// the same server, after the checks (the pipeline has stopped). Native single servers only: a
/// cluster's `signals` is a `Distributed` table (a twin would insert across shards) and other
/// providers' servers are not this machine's to time.
async fn insert_floor(
    services: &Services,
    database: &str,
) -> std::result::Result<harness::insert_floor::InsertFloor, String> {
    if services.topology.clickhouse_cluster() {
        return Err("measured on a single ClickHouse server only, not on a cluster".into());
    }
    if services.clickhouse.tls.is_some() {
        return Err("ClickHouse speaks TLS only here, and clickhouse-client would need the run's client certificate".into());
    }
    let tcp = services.clickhouse_tcp_address().ok_or_else(|| {
        format!(
            "the {} provider's ClickHouse is not this machine's to time",
            services.provider
        )
    })?;
    let database = database.to_owned();
    tokio::task::spawn_blocking(move || {
        harness::insert_floor::client_insert(tcp, &database, schema::table::SIGNALS)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| crate::error_chain(&e))
}

/// How long the exactly-once floor sends its measured records for.
const EXACTLY_ONCE_FLOOR_FOR: Duration = Duration::from_secs(4);

/// The exactly-once floor: the aggregator's runner in pass-through mode with the scenario's
/// commit interval, delivery and output partitions, at the run's rate, with records of the
/// signals' mean size, over as many partitions as the signals had.
async fn exactly_once_floor(
    services: &Services,
    scenario: &Scenario,
    report: &Report,
    partitions: u32,
) -> std::result::Result<pipeline::floor::PassThroughFloor, String> {
    let options = pipeline::aggregate::AggregateOptions {
        commit_interval: scenario.aggregator.commit_interval,
        idle_timeout: scenario.aggregator.idle_timeout,
        exactly_once: scenario.aggregator.exactly_once,
        output_partitions: scenario.aggregator.output_partitions,
        ..pipeline::aggregate::AggregateOptions::default()
    };
    let rate = scenario
        .load
        .rate
        .unwrap_or(report.throughput.events_per_s)
        .max(1.0);
    let record_bytes = report
        .events
        .produced_bytes
        .checked_div(report.events.produced)
        .map_or(128, |b| b.clamp(40, 1 << 20) as usize);
    let load = pipeline::floor::PassThroughLoad {
        rate,
        duration: EXACTLY_ONCE_FLOOR_FOR,
        record_bytes,
        partitions: partitions.max(1),
    };
    pipeline::floor::exactly_once_floor(&services.kafka, &options, &load)
        .await
        .map_err(|e| e.to_string())
}

/// The study's Kafka-engine path reading the same signals topic: rows per second into
/// ClickHouse over its steady part.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KafkaEngineFloor {
    /// Signals it had to read (the run's stored signals).
    pub rows: u64,
    /// Seconds from its tables' creation to its first rows in ClickHouse.
    pub first_rows_s: f64,
    /// Seconds from its first rows to 90 % of `rows`.
    pub steady_s: f64,
    /// Rows per second: over `steady_s` (the start and the last partial blocks left out), or,
    /// when the rows came in too few blocks for that, over the whole time from the tables'
    /// creation (`rate_over`: `steady` or `whole`).
    pub rows_per_s: f64,
    pub rate_over: String,
    /// Rows per block and consumers, as the path's own ingestion runs them.
    pub max_block_size: u64,
    pub num_consumers: u32,
}

/// How long the Kafka-engine floor may take to read the topic.
const KAFKA_ENGINE_FLOOR_TIMEOUT: Duration = Duration::from_secs(120);

/// The Kafka-engine floor: the schema in a database of its own (`<database>_kafka_engine_floor`),
/// the Kafka engine tables and views of `schema::kafka_engine` with a consumer group of their own
/// over the run's topics (so they read from the start), the signals counted every 100 ms until
/// 90 % are in, then everything dropped. Native single servers only (the path is built for one
/// server, and its `<kafka>` settings need a restart of the server, which is evbench's to do).
async fn kafka_engine_floor(
    services: &mut Services,
    storage: &Storage,
) -> std::result::Result<KafkaEngineFloor, String> {
    if services.topology.clickhouse_cluster() {
        return Err("the Kafka engine path runs on a single ClickHouse server only".into());
    }
    let rows = schema::store::count_signals(&storage.reader, &storage.schema)
        .await
        .map_err(|e| crate::error_chain(&e))?;
    let database = format!("{}_kafka_engine_floor", storage.schema.database());
    let floor_schema = storage
        .schema
        .clone()
        .with_database(&database)
        .map_err(|e| crate::error_chain(&e))?;
    let mut config = crate::ingestion::kafka_engine_config(services);
    // A group of its own, under the engine's prefix (the sink's ACLs cover it when secured).
    config.group = format!("{}-floor-{}", config.group, std::process::id());
    let Some(native) = services.native_clickhouse() else {
        return Err(format!(
            "the {} provider's ClickHouse is not evbench's to reconfigure",
            services.provider
        ));
    };
    let admin = native.endpoint().client();
    let drop_all = |admin: clickhouse::Client, floor_schema: schema::Schema| async move {
        let _ = schema::kafka_engine::drop(&admin, &floor_schema).await;
        let _ = admin
            .query(&format!(
                "DROP DATABASE IF EXISTS {}",
                floor_schema.database()
            ))
            .execute()
            .await;
    };
    drop_all(admin.clone(), floor_schema.clone()).await;
    schema::migrate::apply(&admin, &floor_schema)
        .await
        .map_err(|e| crate::error_chain(&e))?;
    // The server's restart (for the engine's `<kafka>` settings) is not the path's time.
    let measured =
        match schema::kafka_engine::configure_native(native, &floor_schema, &config).await {
            Ok(()) => {
                let started = Instant::now();
                match schema::kafka_engine::apply(&admin, &floor_schema, &config).await {
                    Ok(()) => watch_kafka_engine(&admin, &floor_schema, rows, started).await,
                    Err(e) => Err(crate::error_chain(&e)),
                }
            }
            Err(e) => Err(crate::error_chain(&e)),
        };
    // Whatever happened, the floor's tables and database go.
    drop_all(admin, floor_schema).await;
    let watched = measured?;
    Ok(KafkaEngineFloor {
        rows,
        first_rows_s: watched.first_rows_s,
        steady_s: watched.steady_s,
        rows_per_s: watched.rows_per_s(),
        rate_over: watched.rate_over(),
        max_block_size: config.max_block_size,
        num_consumers: config.num_consumers,
    })
}

/// What the count of the floor's signals showed.
#[derive(Debug, Clone, Copy)]
struct Watched {
    first_rows_s: f64,
    /// From the first rows to 90 %.
    steady_s: f64,
    /// Rows that came in over `steady_s`.
    steady_rows: u64,
    /// Rows counted at 90 %, and the seconds from the tables' creation to then.
    rows_at_end: u64,
    total_s: f64,
}

/// A steady rate needs at least a second and some rows after the first block; below that (a
/// small run whose rows came in a block or two) the rate is taken over the whole time.
const STEADY_AT_LEAST: f64 = 1.0;

impl Watched {
    fn steady(&self) -> bool {
        self.steady_s >= STEADY_AT_LEAST && self.steady_rows > 0
    }

    fn rows_per_s(&self) -> f64 {
        let (rows, seconds) = if self.steady() {
            (self.steady_rows, self.steady_s)
        } else {
            (self.rows_at_end, self.total_s)
        };
        if seconds > 0.0 {
            rows as f64 / seconds
        } else {
            0.0
        }
    }

    fn rate_over(&self) -> String {
        if self.steady() { "steady" } else { "whole" }.to_owned()
    }
}

/// Counts the floor's signals every 100 ms until 90 % of `rows` are in.
async fn watch_kafka_engine(
    admin: &clickhouse::Client,
    floor_schema: &schema::Schema,
    rows: u64,
    started: Instant,
) -> std::result::Result<Watched, String> {
    let target = rows * 9 / 10;
    let mut first: Option<(Instant, u64)> = None;
    loop {
        let count = schema::store::count_signals(admin, floor_schema)
            .await
            .unwrap_or(0);
        let now = Instant::now();
        if count > 0 && first.is_none() {
            first = Some((now, count));
        }
        if let Some((at, first_count)) = first
            && count >= target.max(1)
        {
            return Ok(Watched {
                first_rows_s: (at - started).as_secs_f64(),
                steady_s: (now - at).as_secs_f64(),
                steady_rows: count - first_count,
                rows_at_end: count,
                total_s: (now - started).as_secs_f64(),
            });
        }
        if started.elapsed() > KAFKA_ENGINE_FLOOR_TIMEOUT {
            return Err(format!(
                "the Kafka engine stored {count} of {rows} signals in {} s",
                KAFKA_ENGINE_FLOOR_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kafka_engine_rate_is_steady_when_it_can_be() {
        let steady = Watched {
            first_rows_s: 1.0,
            steady_s: 2.0,
            steady_rows: 40_000,
            rows_at_end: 56_384,
            total_s: 3.0,
        };
        assert_eq!(
            (steady.rows_per_s(), steady.rate_over().as_str()),
            (20_000.0, "steady")
        );
        // Everything in the first block: no steady part to time.
        let one_block = Watched {
            steady_s: 0.0,
            steady_rows: 0,
            rows_at_end: 1_940,
            total_s: 2.0,
            ..steady
        };
        assert_eq!(
            (one_block.rows_per_s(), one_block.rate_over().as_str()),
            (970.0, "whole")
        );
    }
}
