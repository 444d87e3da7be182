//! A short proof that both servers work: a Kafka produce/consume round trip and a ClickHouse
//! insert/select. `evbench services check` runs it (through the harness).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::kafka_admin::{self, TopicSpec};
use crate::{ClickHouseEndpoint, Error, KafkaEndpoint, Result};

const TOPIC: &str = "evbench-smoke";
const MESSAGES: usize = 1_000;
const ROWS: u64 = 10_000;

/// Produces and consumes back 1 000 messages in order, and inserts and reads back 10 000
/// rows; fails naming what did not come back.
pub async fn round_trip(kafka: &KafkaEndpoint, clickhouse: &ClickHouseEndpoint) -> Result<()> {
    kafka_round_trip(kafka).await?;
    clickhouse_round_trip(clickhouse).await
}

async fn kafka_round_trip(kafka: &KafkaEndpoint) -> Result<()> {
    let bootstrap = &kafka.bootstrap;
    kafka_admin::ensure_topic(bootstrap, TOPIC, TopicSpec::single(1)).await?;
    // A marker unique to this run, so an external cluster's older messages do not count.
    let run = format!(
        "{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let producer: FutureProducer = kafka
        .client_config()
        .set("enable.idempotence", "true")
        .create()?;
    let mut deliveries = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let payload = format!("{run}:{i}");
        let record = FutureRecord::to(TOPIC).key("smoke").payload(&payload);
        deliveries.push(producer.send_result(record).map_err(|(e, _)| e)?);
    }
    let mut first_offset = i64::MAX;
    for delivery in deliveries {
        let delivered = delivery
            .await
            .map_err(|_| Error::DeliveryCancelled)?
            .map_err(|(e, _)| e)?;
        first_offset = first_offset.min(delivered.offset);
    }
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "evbench-smoke")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(TOPIC, 0, Offset::Offset(first_offset))?;
    consumer.assign(&assignment)?;
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut next = 0usize;
        while next < MESSAGES {
            if Instant::now() > deadline {
                return Err(Error::KafkaRoundTrip {
                    got: next,
                    expected: MESSAGES,
                });
            }
            let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = message?;
            let expected = format!("{run}:{next}");
            if message.payload() != Some(expected.as_bytes()) {
                return Err(Error::KafkaMismatch {
                    expected,
                    got: message
                        .payload()
                        .map(|p| String::from_utf8_lossy(p).into_owned()),
                });
            }
            next += 1;
        }
        Ok(())
    })
    .await?
}

#[derive(clickhouse::Row, serde::Serialize)]
struct SmokeRow {
    id: u64,
    value: f64,
}

async fn clickhouse_round_trip(clickhouse: &ClickHouseEndpoint) -> Result<()> {
    let client = clickhouse.client();
    let table = "evbench_smoke";
    client
        .query(&format!("DROP TABLE IF EXISTS {table}"))
        .execute()
        .await?;
    client
        .query(&format!(
            "CREATE TABLE {table} (id UInt64, value Float64) ENGINE = MergeTree ORDER BY id"
        ))
        .execute()
        .await?;
    let mut insert = client.insert::<SmokeRow>(table).await?;
    for id in 0..ROWS {
        insert
            .write(&SmokeRow {
                id,
                value: id as f64,
            })
            .await?;
    }
    insert.end().await?;
    let (count, sum): (u64, f64) = client
        .query(&format!("SELECT count(), sum(value) FROM {table}"))
        .fetch_one()
        .await?;
    client
        .query(&format!("DROP TABLE {table}"))
        .execute()
        .await?;
    let expected_sum = (ROWS * (ROWS - 1) / 2) as f64;
    if count != ROWS || sum != expected_sum {
        return Err(Error::ClickHouseRoundTrip {
            count,
            sum,
            expected_count: ROWS,
            expected_sum,
        });
    }
    Ok(())
}
