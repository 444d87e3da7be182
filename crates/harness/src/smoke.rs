//! A short proof that both servers work: a Kafka produce/consume round trip and a ClickHouse
//! insert/select (`endpoints::smoke`, where the clients live). `evbench services check` runs it.

use crate::{Result, Services};

/// Produces and consumes back 1 000 messages in order, and inserts and reads back 10 000
/// rows; fails naming what did not come back.
pub async fn round_trip(services: &Services) -> Result<()> {
    Ok(endpoints::smoke::round_trip(&services.kafka, &services.clickhouse).await?)
}
