//! The DDL of every table, per dialect.

use crate::dialect::Codec;
use crate::migrate::Migration;
use crate::{Schema, table};

/// Columns the sink writes into `signals`, in RowBinary order (the others have defaults).
pub(crate) const SIGNAL_INSERT_COLUMNS: &str = "timestamp_ms, charger_id, sensor, vehicle_detected, plate, user_id, price, user_connection, recharging, energy_delivered, seq, kafka_partition, kafka_offset";

/// Columns the sink writes into `sessions`, in RowBinary order.
pub(crate) const SESSION_INSERT_COLUMNS: &str = "session_id, charger_id, plate, arrived_at, identified_at, user_id, price_eur_per_kwh, charge_started_at, charge_ended_at, power_kw, departed_at, energy_kwh, revenue_eur, dwell_ms, charging_ms, idle_after_charge_ms, outcome, overstay, flags, kafka_partition, kafka_offset";

/// Columns the sink writes into `dead_letters`, in RowBinary order.
pub(crate) const DEAD_LETTER_INSERT_COLUMNS: &str = "topic, partition, offset, reason, payload";

/// `Enum8` of the sensors; the codes are what RowBinary carries.
pub(crate) const SENSOR_ENUM: &str = "Enum8('parking' = 1, 'user_data' = 2, 'charger' = 3)";
/// `Enum8` of session outcomes.
pub(crate) const OUTCOME_ENUM: &str = "Enum8('charged' = 1, 'no_charge' = 2)";

pub(crate) fn bootstrap(schema: &Schema) -> Vec<String> {
    let db = schema.database();
    let on = on_cluster(schema);
    // On a cluster, one table replicated to every server (not per shard): the record of a
    // migration applied ON CLUSTER is read back from whichever server a client reaches.
    let engine = match schema.cluster() {
        None => "ReplacingMergeTree()".to_owned(),
        Some(cluster) => format!(
            "ReplicatedReplacingMergeTree('/clickhouse/tables/{cluster}/{db}/{t}', '{{shard}}-{{replica}}')",
            t = table::MIGRATIONS
        ),
    };
    vec![
        format!("CREATE DATABASE IF NOT EXISTS {db}{on}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {db}.{t}{on}
(
    version UInt32,
    name String,
    checksum String,
    dialect String,
    applied_at DateTime('UTC') DEFAULT now()
)
ENGINE = {engine}
ORDER BY version",
            t = table::MIGRATIONS
        ),
    ]
}

/// ` ON CLUSTER <name>` for DDL on a cluster; nothing on one server.
fn on_cluster(schema: &Schema) -> String {
    schema
        .cluster()
        .map(|cluster| format!(" ON CLUSTER {cluster}"))
        .unwrap_or_default()
}

/// A table of the schema: its columns, its `MergeTree` family engine and what follows it.
struct TableDef {
    name: &'static str,
    columns: String,
    /// `ReplacingMergeTree` or `SummingMergeTree` (`Replicated…` on a cluster).
    engine: &'static str,
    /// `PARTITION BY …` / `ORDER BY …` lines.
    tail: String,
    /// The `Distributed` sharding key on a cluster: every copy of a row goes to one shard.
    shard_key: &'static str,
}

/// The statements that create `def`: on one server the table itself; on a cluster the
/// replicated `<name>_local` on every server and `<name>` as `Distributed` over them.
fn create(schema: &Schema, def: TableDef) -> Vec<String> {
    let db = schema.database();
    let TableDef {
        name,
        columns,
        engine,
        tail,
        shard_key,
    } = def;
    match schema.cluster() {
        None => vec![format!(
            "CREATE TABLE IF NOT EXISTS {db}.{name}\n{columns}\nENGINE = {engine}()\n{tail}"
        )],
        Some(cluster) => {
            let local = local_name(name);
            vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {db}.{local} ON CLUSTER {cluster}\n{columns}\nENGINE = Replicated{engine}('/clickhouse/tables/{{shard}}/{db}/{local}', '{{replica}}')\n{tail}"
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {db}.{name} ON CLUSTER {cluster} AS {db}.{local}\nENGINE = Distributed({cluster}, {db}, {local}, {shard_key})"
                ),
            ]
        }
    }
}

/// The replicated table under the `Distributed` table `name` on a cluster.
pub(crate) fn local_name(name: &str) -> String {
    format!("{name}_local")
}

pub(crate) fn migrations(schema: &Schema) -> Vec<Migration> {
    let mut rollup = create(schema, station_hourly(schema));
    rollup.push(station_hourly_mv(schema));
    vec![
        Migration::new(1, "raw signals", create(schema, signals(schema))),
        Migration::new(2, "sessions", create(schema, sessions(schema))),
        Migration::new(3, "dead letters", create(schema, dead_letters(schema))),
        Migration::new(4, "hourly station rollup", rollup),
    ]
}

fn signals(schema: &Schema) -> TableDef {
    let d = schema.dialect();
    let (time, mono, float, general) = (
        d.codec(Codec::Time),
        d.codec(Codec::Monotonic),
        d.codec(Codec::Float),
        d.codec(Codec::General),
    );
    let columns = format!(
        "(
    timestamp_ms Int64{time},
    event_time {time_type} DEFAULT {event_time}{time},
    charger_id {dict}{general},
    sensor {SENSOR_ENUM}{general},
    vehicle_detected Nullable(UInt8){general},
    plate Nullable(String){general},
    user_id Nullable(String){general},
    price Nullable(Float64){float},
    user_connection Nullable(UInt8){general},
    recharging Nullable(UInt8){general},
    energy_delivered Nullable(UInt32){general},
    seq Nullable(UInt64){mono},
    kafka_partition Int32{general},
    kafka_offset Int64{mono},
    ingested_at {time_type} DEFAULT {now}{general}
)",
        time_type = d.time_type(),
        event_time = d.time_from_ms("timestamp_ms"),
        dict = d.dictionary_string(),
        now = now(schema),
    );
    TableDef {
        name: table::SIGNALS,
        columns,
        engine: "ReplacingMergeTree",
        tail: "PARTITION BY toYYYYMM(event_time)
ORDER BY (charger_id, timestamp_ms, kafka_partition, kafka_offset)"
            .to_owned(),
        shard_key: "cityHash64(charger_id)",
    }
}

fn now(schema: &Schema) -> &'static str {
    if schema.dialect().datetime64 {
        "now64(3)"
    } else {
        "now()"
    }
}

fn sessions(schema: &Schema) -> TableDef {
    let d = schema.dialect();
    let (time, float, general) = (
        d.codec(Codec::Time),
        d.codec(Codec::Float),
        d.codec(Codec::General),
    );
    let columns = format!(
        "(
    session_id String{general},
    charger_id {dict}{general},
    plate Nullable(String){general},
    arrived_at Int64{time},
    identified_at Nullable(Int64){general},
    user_id Nullable(String){general},
    price_eur_per_kwh Nullable(Float64){float},
    charge_started_at Nullable(Int64){general},
    charge_ended_at Nullable(Int64){general},
    power_kw Nullable(UInt32){general},
    departed_at Int64{time},
    energy_kwh Float64{float},
    revenue_eur Float64{float},
    dwell_ms Int64{general},
    charging_ms Int64{general},
    idle_after_charge_ms Nullable(Int64){general},
    outcome {OUTCOME_ENUM}{general},
    overstay UInt8{general},
    flags Array({dict}){general},
    arrived_time {time_type} DEFAULT {arrived_time}{time},
    departed_time {time_type} DEFAULT {departed_time}{time},
    kafka_partition Int32{general},
    kafka_offset Int64{general},
    ingested_at {time_type} DEFAULT {now}{general}
)",
        dict = d.dictionary_string(),
        time_type = d.time_type(),
        arrived_time = d.time_from_ms("arrived_at"),
        departed_time = d.time_from_ms("departed_at"),
        now = now(schema),
    );
    TableDef {
        name: table::SESSIONS,
        columns,
        engine: "ReplacingMergeTree",
        tail: "PARTITION BY toYYYYMM(arrived_time)
ORDER BY session_id"
            .to_owned(),
        shard_key: "cityHash64(charger_id)",
    }
}

fn dead_letters(schema: &Schema) -> TableDef {
    let d = schema.dialect();
    let general = d.codec(Codec::General);
    let columns = format!(
        "(
    topic {dict}{general},
    partition Int32{general},
    offset Int64{general},
    reason String{general},
    payload String{general},
    received_at DateTime('UTC') DEFAULT now(){general}
)",
        dict = d.dictionary_string(),
    );
    TableDef {
        name: table::DEAD_LETTERS,
        columns,
        engine: "ReplacingMergeTree",
        tail: "ORDER BY (topic, partition, offset)".to_owned(),
        shard_key: "cityHash64(topic, partition, offset)",
    }
}

fn station_hourly(schema: &Schema) -> TableDef {
    let d = schema.dialect();
    let general = d.codec(Codec::General);
    let columns = format!(
        "(
    charger_id {dict}{general},
    hour DateTime('UTC'){general},
    occupied_ms Int64{general},
    charging_ms Int64{general},
    sessions UInt64{general},
    charged_sessions UInt64{general},
    energy_kwh Float64{general},
    revenue_eur Float64{general},
    no_charge UInt64{general},
    overstay UInt64{general}
)",
        dict = d.dictionary_string(),
    );
    TableDef {
        name: table::STATION_HOURLY,
        columns,
        engine: "SummingMergeTree",
        tail: "PARTITION BY toYYYYMM(hour)
ORDER BY (charger_id, hour)"
            .to_owned(),
        shard_key: "cityHash64(charger_id)",
    }
}

/// The rollup's aggregation over `source` (`db.sessions` or `db.sessions FINAL`): one row per
/// station and hour the visit touched. Occupied and charging time are split over the hours they
/// overlap; sessions, energy, revenue and violations count in the hour the visit ended.
fn station_hourly_select(schema: &Schema, source: &str) -> String {
    let _ = schema;
    "SELECT
    charger_id,
    toDateTime(h * 3600, 'UTC') AS hour,
    sum(greatest(toInt64(0), least(departed_at, (h + 1) * 3600000) - greatest(arrived_at, h * 3600000))) AS occupied_ms,
    sum(greatest(toInt64(0), least(ifNull(charge_ended_at, toInt64(0)), (h + 1) * 3600000) - greatest(ifNull(charge_started_at, toInt64(0)), h * 3600000))) AS charging_ms,
    toUInt64(sum(h = intDiv(departed_at, 3600000))) AS sessions,
    toUInt64(sum(h = intDiv(departed_at, 3600000) AND outcome = 'charged')) AS charged_sessions,
    sum(if(h = intDiv(departed_at, 3600000), energy_kwh, 0.)) AS energy_kwh,
    sum(if(h = intDiv(departed_at, 3600000), revenue_eur, 0.)) AS revenue_eur,
    toUInt64(sum(h = intDiv(departed_at, 3600000) AND outcome = 'no_charge')) AS no_charge,
    toUInt64(sum(h = intDiv(departed_at, 3600000) AND overstay = 1)) AS overstay
FROM SOURCE
ARRAY JOIN arrayMap(i -> intDiv(arrived_at, 3600000) + toInt64(i), range(toUInt64(intDiv(departed_at, 3600000) - intDiv(arrived_at, 3600000) + 1))) AS h
GROUP BY charger_id, h"
        .replace("SOURCE", source)
}

/// On a cluster the view runs on every server over the local sessions, into the local rollup
/// (a session and its station's rollup are on the same shard: both are sharded by charger).
fn station_hourly_mv(schema: &Schema) -> String {
    let (sessions, rollup) = match schema.cluster() {
        None => (table::SESSIONS.to_owned(), table::STATION_HOURLY.to_owned()),
        Some(_) => (
            local_name(table::SESSIONS),
            local_name(table::STATION_HOURLY),
        ),
    };
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{mv}{on} TO {db}.{rollup} AS
{select}",
        db = schema.database(),
        mv = table::STATION_HOURLY_MV,
        on = on_cluster(schema),
        select = station_hourly_select(schema, &schema.qualified(&sessions)),
    )
}

pub(crate) fn rollup_rebuild(schema: &Schema) -> Vec<String> {
    let truncated = match schema.cluster() {
        None => schema.qualified(table::STATION_HOURLY),
        Some(cluster) => format!(
            "{} ON CLUSTER {cluster}",
            schema.qualified(&local_name(table::STATION_HOURLY))
        ),
    };
    vec![
        format!("TRUNCATE TABLE {truncated}"),
        format!(
            "INSERT INTO {} {}",
            schema.qualified(table::STATION_HOURLY),
            station_hourly_select(
                schema,
                &format!("{} FINAL", schema.qualified(table::SESSIONS))
            )
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect;

    #[test]
    fn legacy_ddl_is_portable() {
        let schema = Schema::new(Dialect::legacy());
        let all = schema.all_statements().join("\n");
        for modern_only in [
            "CODEC",
            "DateTime64",
            "LowCardinality",
            "TTL",
            "JSONExtract",
            "toStartOfInterval",
        ] {
            assert!(
                !all.contains(modern_only),
                "{modern_only} in the legacy DDL"
            );
        }
        assert!(all.contains("ENGINE = ReplacingMergeTree()"));
        assert!(all.contains("PARTITION BY toYYYYMM(event_time)"));
        assert!(all.contains("ORDER BY (charger_id, timestamp_ms, kafka_partition, kafka_offset)"));
        assert!(all.contains("ORDER BY session_id"));
    }

    #[test]
    fn modern_ddl_uses_codecs_and_datetime64() {
        let schema = Schema::new(Dialect::modern());
        let signals = &schema.migrations()[0].statements[0];
        assert!(signals.contains("timestamp_ms Int64 CODEC(DoubleDelta, ZSTD(1))"));
        assert!(signals.contains(
            "event_time DateTime64(3, 'UTC') DEFAULT fromUnixTimestamp64Milli(timestamp_ms, 'UTC')"
        ));
        assert!(signals.contains("charger_id LowCardinality(String)"));
        assert!(signals.contains("price Nullable(Float64) CODEC(Gorilla, ZSTD(1))"));
        assert!(!signals.contains("TTL"), "storage is permanent");
    }

    #[test]
    fn a_cluster_gets_replicated_tables_under_distributed_ones() {
        let one = Schema::new(Dialect::legacy());
        for statement in one.all_statements() {
            assert!(
                !statement.contains("ON CLUSTER") && !statement.contains("_local"),
                "{statement}"
            );
        }
        let schema = Schema::new(Dialect::legacy()).on_cluster("prod").unwrap();
        let all = schema.all_statements();
        for statement in &all {
            assert!(statement.contains(" ON CLUSTER prod"), "{statement}");
        }
        let text = all.join("\n");
        for (t, key) in [
            ("signals", "cityHash64(charger_id)"),
            ("sessions", "cityHash64(charger_id)"),
            ("dead_letters", "cityHash64(topic, partition, offset)"),
            ("station_hourly", "cityHash64(charger_id)"),
        ] {
            assert!(
                text.contains(&format!(
                    "CREATE TABLE IF NOT EXISTS evbench.{t}_local ON CLUSTER prod\n("
                )),
                "{t}_local"
            );
            assert!(
                text.contains(&format!(
                    "('/clickhouse/tables/{{shard}}/evbench/{t}_local', '{{replica}}')"
                )),
                "{t}: replicated per shard"
            );
            assert!(
                text.contains(&format!(
                    "CREATE TABLE IF NOT EXISTS evbench.{t} ON CLUSTER prod AS evbench.{t}_local\nENGINE = Distributed(prod, evbench, {t}_local, {key})"
                )),
                "{t}: distributed by {key}"
            );
        }
        assert!(text.contains("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/evbench/sessions_local'"));
        assert!(text.contains("ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/evbench/station_hourly_local'"));
        // The migrations' record: one table replicated to every server of the cluster.
        assert!(text.contains(
            "ReplicatedReplacingMergeTree('/clickhouse/tables/prod/evbench/schema_migrations', '{shard}-{replica}')"
        ));
        // The rollup view runs on each server over its own shard's sessions.
        let view = all
            .iter()
            .find(|s| s.contains("MATERIALIZED VIEW"))
            .unwrap();
        assert!(view.contains("TO evbench.station_hourly_local AS"));
        assert!(view.contains("FROM evbench.sessions_local\n"));
        assert!(
            Schema::new(Dialect::legacy())
                .on_cluster("bad name")
                .is_err()
        );
        assert_eq!(
            schema.rollup_rebuild_statements()[0],
            "TRUNCATE TABLE evbench.station_hourly_local ON CLUSTER prod"
        );
    }

    #[test]
    fn database_name_is_used_everywhere() {
        let schema = Schema::new(Dialect::legacy())
            .with_database("other_db")
            .unwrap();
        for statement in schema.all_statements() {
            assert!(!statement.contains("evbench."), "{statement}");
        }
    }

    #[test]
    fn insert_columns_exist_in_the_tables() {
        let schema = Schema::new(Dialect::legacy());
        let migrations = schema.migrations();
        for (columns, ddl) in [
            (SIGNAL_INSERT_COLUMNS, &migrations[0].statements[0]),
            (SESSION_INSERT_COLUMNS, &migrations[1].statements[0]),
            (DEAD_LETTER_INSERT_COLUMNS, &migrations[2].statements[0]),
        ] {
            for column in columns.split(", ") {
                assert!(
                    ddl.contains(&format!("\n    {column} ")),
                    "{column} missing in {ddl}"
                );
            }
        }
    }
}
