//! The study's ingestion path: ClickHouse reads Kafka itself, through Kafka engine tables and
//! materialized views into the same tables the sink fills.
//!
//! On a cluster every statement runs `ON CLUSTER`: each server has its own Kafka tables, all in
//! one consumer group, and its views write through the `Distributed` tables.
//!
//! Per topic, one Kafka engine table with a single `raw String` column (the message as it came)
//! and two materialized views: one parses valid messages into `signals` / `sessions`, the other
//! writes the rest into `dead_letters` with the reason. Parsing never fails inside the engine, so
//! one bad message can never stall the stream (18.16 has no `kafka_skip_broken_messages`).
//!
//! * **18.16 (portable core)**: `kafka_format = 'TabSeparated'` with `kafka_row_delimiter = '\n'`
//!   (neither `JSONAsString` nor `LineAsString` exist there), fields read with
//!   `visitParamExtract*` after removing blanks around `:` (the study's Python generator writes
//!   `"key": value`, which `visitParamExtract*` cannot read). TabSeparated unescapes `\\`, so a
//!   JSON string value with an escape (`\"`, `\u00e9`) loses its backslash: evbench's producers
//!   never write one. The engine exposes no partition or offset there: `kafka_partition` is -1
//!   and `kafka_offset` a 63-bit hash of the message, so a replayed message still collapses.
//!   18.16 parses decimal text into floats up to 1 ULP off, so prices are read exactly as
//!   `digits / 10^k`, and a session's energy and revenue are taken as `power × charging time`
//!   and `energy × price` (the arithmetic of `events::Session::new`) when the text agrees with
//!   them to 1e-12: bit-exact for evbench's sessions, faithful to the text otherwise.
//! * **modern**: `kafka_format = 'JSONAsString'`, `JSONExtract*`, and the real `_partition` /
//!   `_offset`, so both ingestion paths key rows identically.
//!
//! Low latency: the engine writes a block when it holds `kafka_max_block_size` rows or when the
//! flush interval passed (18.16: the `stream_flush_interval_ms` of the server's default profile,
//! default 7.5 s, set by [`flush_profile_xml`]; modern: `kafka_flush_interval_ms`), and ends a
//! block after 500 ms without messages. `read_committed` and `earliest` are set for the engine's
//! librdkafka in the server's `<kafka>` configuration section ([`server_config_xml`]).

use std::time::Duration;

use crate::{Dialect, Error, Result, Schema, execute, sql_string, table};

/// The Kafka engine table of the signals topic.
pub const SIGNALS_SOURCE: &str = "kafka_signals";
/// The Kafka engine table of the sessions topic.
pub const SESSIONS_SOURCE: &str = "kafka_sessions";
/// `config.d/` file name of [`server_config_xml`].
pub const SERVER_CONFIG_FILE: &str = "evbench-kafka.xml";
/// `users.d/` file name of [`flush_profile_xml`].
pub const FLUSH_PROFILE_FILE: &str = "evbench-kafka-flush.xml";

const MVS: [&str; 4] = [
    "kafka_signals_mv",
    "kafka_signals_dead_mv",
    "kafka_sessions_mv",
    "kafka_sessions_dead_mv",
];

/// Brokers, topics and latency settings of the Kafka engine tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaEngineConfig {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    /// The raw signals topic.
    pub signals_topic: String,
    /// The sessions topic.
    pub sessions_topic: String,
    /// Consumer group of the engine.
    pub group: String,
    /// Rows per block before the engine writes (`kafka_max_block_size`).
    pub max_block_size: u64,
    /// Consumers per table (`kafka_num_consumers`; at most the topic's partitions).
    pub num_consumers: u32,
    /// Longest time a block waits before it is written.
    pub flush_interval: Duration,
    /// How the engine's librdkafka logs in to a secured Kafka (SASL over TLS); `None` for
    /// plaintext. Written into the server's `<kafka>` section, password included, in a file
    /// only the server's user may read.
    pub security: Option<endpoints::KafkaSecurity>,
}

impl KafkaEngineConfig {
    /// The defaults for `brokers`: evbench's topics, 16 384-row blocks, 1 s flushes.
    pub fn new(brokers: &str) -> KafkaEngineConfig {
        KafkaEngineConfig {
            brokers: brokers.to_owned(),
            signals_topic: events::SIGNALS_TOPIC.to_owned(),
            sessions_topic: events::SESSIONS_TOPIC.to_owned(),
            group: "evbench-clickhouse".to_owned(),
            max_block_size: 16_384,
            num_consumers: 1,
            flush_interval: Duration::from_secs(1),
            security: None,
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |s: &str| s.is_empty() || s.chars().any(char::is_control);
        if bad(&self.brokers)
            || bad(&self.signals_topic)
            || bad(&self.sessions_topic)
            || bad(&self.group)
        {
            return Err(Error::Invalid(
                "Kafka engine brokers, topics and group must be non-empty text".into(),
            ));
        }
        if self.max_block_size == 0 || self.num_consumers == 0 || self.flush_interval.is_zero() {
            return Err(Error::Invalid(
                "Kafka engine block size, consumers and flush interval must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// How the SQL reads a JSON field, per dialect.
struct Json {
    modern: bool,
}

impl Json {
    /// The field's raw text: `''` when absent, `null`, `true`, `12.5`, `"text"`.
    fn raw(&self, field: &str) -> String {
        if self.modern {
            format!("JSONExtractRaw(j, '{field}')")
        } else {
            format!("visitParamExtractRaw(j, '{field}')")
        }
    }

    /// The field's string value (unescaped), `''` when absent or not a string.
    fn string(&self, field: &str) -> String {
        if self.modern {
            format!("JSONExtractString(j, '{field}')")
        } else {
            format!("visitParamExtractString(j, '{field}')")
        }
    }

    /// `Nullable(String)`: NULL when absent or `null`.
    fn nullable_string(&self, field: &str) -> String {
        format!(
            "if({raw} IN ('', 'null'), NULL, toNullable({string}))",
            raw = self.raw(field),
            string = self.string(field)
        )
    }

    /// `Nullable(Float64)` of a decimal field, exact on 18.16 for up to 15 digits.
    fn float(&self, field: &str) -> String {
        let raw = self.raw(field);
        if self.modern {
            format!("if({raw} IN ('', 'null'), NULL, toFloat64OrNull({raw}))")
        } else {
            format!(
                "multiIf({raw} IN ('', 'null'), NULL, \
match({raw}, '^-?[0-9]{{1,15}}(\\\\.[0-9]{{1,15}})?$') AND length(replaceAll(replaceAll({raw}, '-', ''), '.', '')) <= 15, \
toFloat64(toInt64OrZero(replaceAll({raw}, '.', ''))) / toFloat64(intExp10(if(position({raw}, '.') = 0, 0, length({raw}) - position({raw}, '.')))), \
toFloat64OrNull({raw}))"
            )
        }
    }

    /// The `WITH` head that defines `j`, the message with blanks around `:` removed on 18.16.
    fn head(&self) -> &'static str {
        if self.modern {
            "raw AS j"
        } else {
            "replaceRegexpAll(raw, '\"[ \\t\\r\\n]*:[ \\t\\r\\n]*', '\":') AS j"
        }
    }

    /// `kafka_partition`, `kafka_offset` of the message.
    fn position(&self) -> (&'static str, &'static str) {
        if self.modern {
            ("toInt32(_partition)", "toInt64(_offset)")
        } else {
            ("toInt32(-1)", "toInt64(bitShiftRight(cityHash64(raw), 1))")
        }
    }
}

fn now(schema: &Schema) -> &'static str {
    if schema.dialect().datetime64 {
        "now64(3, 'UTC')"
    } else {
        "toDateTime(now(), 'UTC')"
    }
}

fn json_for(dialect: &Dialect) -> Json {
    Json {
        modern: dialect.json_functions && dialect.kafka_virtual_columns,
    }
}

/// `WITH` definitions and the validity `reason` of a signal (`''` when valid).
fn signal_with(json: &Json) -> String {
    let ts_raw = json.raw("timestamp");
    let ts_text = json.string("timestamp");
    format!(
        "WITH
    {head},
    {ts_raw} AS ts_raw,
    {ts_text} AS ts_text,
    multiIf(
        match(ts_raw, '^[0-9]+$'), if(toInt64OrZero(ts_raw) < 100000000000, toInt64OrZero(ts_raw) * 1000, toInt64OrZero(ts_raw)),
        match(ts_raw, '^[0-9]*\\\\.[0-9]+$'), if(toFloat64OrZero(ts_raw) < 100000000000., toInt64(round(toFloat64OrZero(ts_raw) * 1000)), toInt64(round(toFloat64OrZero(ts_raw)))),
        match(ts_text, '^[0-9]+$'), if(toInt64OrZero(ts_text) < 100000000000, toInt64OrZero(ts_text) * 1000, toInt64OrZero(ts_text)),
        startsWith(ts_raw, '\"') AND isNotNull(parseDateTimeBestEffortOrNull(ts_text, 'UTC')),
            toInt64(assumeNotNull(parseDateTimeBestEffortOrNull(ts_text, 'UTC'))) * 1000
            + toInt64OrZero(substring(extract(ts_text, '^.{{19}}\\\\.([0-9]+)'), 1, 3)) * [1, 100, 10, 1][length(substring(extract(ts_text, '^.{{19}}\\\\.([0-9]+)'), 1, 3)) + 1],
        NULL) AS ts,
    {cid} AS cid,
    {vd} AS vd_raw,
    {uc} AS uc_raw,
    {rc} AS rc_raw,
    (vd_raw != '') + (uc_raw != '') + (rc_raw != '') AS sensors,
    multiIf(vd_raw != '', 'parking', uc_raw != '', 'user_data', 'charger') AS sensor_name,
    {price_raw} AS price_raw,
    {price} AS price_value,
    {energy_raw} AS energy_raw,
    multiIf(
        raw = '', 'empty message',
        NOT startsWith(j, '{{'), 'malformed JSON',
        ts_raw = '', 'missing field `timestamp`',
        isNull(ts), 'invalid timestamp',
        cid = '', 'missing field `charger_id`',
        sensors = 0, 'unknown sensor: none of `vehicle_detected`, `user_connection`, `recharging` is present',
        sensors > 1, 'ambiguous sensor: more than one of `vehicle_detected`, `user_connection`, `recharging` is present',
        (vd_raw NOT IN ('', 'true', 'false')) OR (uc_raw NOT IN ('', 'true', 'false')) OR (rc_raw NOT IN ('', 'true', 'false')), 'malformed JSON: a sensor flag is not a boolean',
        sensor_name = 'user_data' AND price_raw NOT IN ('', 'null') AND (isNull(price_value) OR NOT (assumeNotNull(price_value) >= 0.)), 'impossible value: price',
        sensor_name = 'charger' AND energy_raw NOT IN ('', 'null') AND isNull(toUInt32OrNull(energy_raw)), 'malformed JSON: energy_delivered',
        '') AS reason",
        head = json.head(),
        cid = json.string("charger_id"),
        vd = json.raw("vehicle_detected"),
        uc = json.raw("user_connection"),
        rc = json.raw("recharging"),
        price_raw = json.raw("price"),
        price = json.float("price"),
        energy_raw = json.raw("energy_delivered"),
    )
}

fn signals_mv(schema: &Schema, json: &Json) -> String {
    let (partition, offset) = json.position();
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_signals_mv TO {db}.{target} AS
{with}
SELECT
    assumeNotNull(ts) AS timestamp_ms,
    CAST(cid AS {dict}) AS charger_id,
    CAST(sensor_name AS {sensor_enum}) AS sensor,
    if(sensor_name = 'parking', toNullable(toUInt8(vd_raw = 'true')), NULL) AS vehicle_detected,
    if(sensor_name = 'parking', {plate}, NULL) AS plate,
    if(sensor_name = 'user_data', {user}, NULL) AS user_id,
    if(sensor_name = 'user_data', price_value, NULL) AS price,
    if(sensor_name = 'user_data', toNullable(toUInt8(uc_raw = 'true')), NULL) AS user_connection,
    if(sensor_name = 'charger', toNullable(toUInt8(rc_raw = 'true')), NULL) AS recharging,
    if(sensor_name = 'charger', toNullable(ifNull(toUInt32OrNull(energy_raw), toUInt32(0))), NULL) AS energy_delivered,
    toUInt64OrNull({seq}) AS seq,
    {partition} AS kafka_partition,
    {offset} AS kafka_offset,
    {event_time} AS event_time,
    {now} AS ingested_at
FROM {db}.{SIGNALS_SOURCE}
WHERE reason = ''",
        db = schema.database(),
        target = table::SIGNALS,
        event_time = schema.dialect().time_from_ms("assumeNotNull(ts)"),
        dict = schema.dialect().dictionary_string(),
        sensor_enum = crate::tables::SENSOR_ENUM,
        now = now(schema),
        with = signal_with(json),
        plate = json.nullable_string("plate"),
        user = json.nullable_string("user_id"),
        seq = json.raw("seq"),
    )
}

fn dead_mv(
    schema: &Schema,
    json: &Json,
    name: &str,
    source: &str,
    topic: &str,
    with: &str,
) -> String {
    let (partition, offset) = json.position();
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{name} TO {db}.{target} AS
{with}
SELECT
    CAST({topic} AS {dict}) AS topic,
    {partition} AS partition,
    {offset} AS `offset`,
    reason,
    raw AS payload,
    toDateTime(now(), 'UTC') AS received_at
FROM {db}.{source}
WHERE reason != ''",
        db = schema.database(),
        target = table::DEAD_LETTERS,
        topic = sql_string(topic),
        dict = schema.dialect().dictionary_string(),
    )
}

/// `WITH` definitions and the validity `reason` of a session.
fn session_with(json: &Json) -> String {
    // On 18.16 the text of energy and revenue is read up to 1 ULP off: snap it to the exact
    // arithmetic of `Session::new` when the two agree to 1e-12.
    let (energy, revenue) = if json.modern {
        ("energy_parsed", "revenue_parsed")
    } else {
        (
            "if(abs(energy_parsed - energy_exact) <= 1e-12 * abs(energy_exact), energy_exact, energy_parsed)",
            "if(abs(revenue_parsed - revenue_exact) <= 1e-12 * abs(revenue_exact), revenue_exact, revenue_parsed)",
        )
    };
    format!(
        "WITH
    {head},
    {sid} AS sid,
    {cid} AS cid,
    toInt64OrNull({arrived}) AS arrived,
    toInt64OrNull({departed}) AS departed,
    toInt64OrNull({dwell}) AS dwell,
    toInt64OrNull({charging}) AS charging,
    toUInt32OrNull({power}) AS power,
    {price} AS price,
    {outcome} AS outcome_name,
    {overstay} AS overstay_raw,
    toFloat64OrNull({energy_raw}) AS energy_parsed,
    toFloat64OrNull({revenue_raw}) AS revenue_parsed,
    toFloat64(ifNull(power, toUInt32(0))) * toFloat64(ifNull(charging, toInt64(0))) / 3600000. AS energy_exact,
    {energy} AS energy_value,
    energy_value * ifNull(price, 0.) AS revenue_exact,
    {revenue} AS revenue_value,
    multiIf(
        raw = '', 'empty message',
        NOT startsWith(j, '{{'), 'malformed session: not a JSON object',
        sid = '' OR cid = '', 'session without session_id or charger_id',
        isNull(arrived) OR isNull(departed) OR isNull(dwell) OR isNull(charging), 'malformed session: arrived_at, departed_at, dwell_ms and charging_ms must be integers',
        outcome_name NOT IN ('charged', 'no_charge'), 'malformed session: unknown outcome',
        overstay_raw NOT IN ('true', 'false'), 'malformed session: overstay must be a boolean',
        isNull(energy_parsed) OR isNull(revenue_parsed), 'malformed session: energy_kwh and revenue_eur must be numbers',
        '') AS reason",
        head = json.head(),
        sid = json.string("session_id"),
        cid = json.string("charger_id"),
        arrived = json.raw("arrived_at"),
        departed = json.raw("departed_at"),
        dwell = json.raw("dwell_ms"),
        charging = json.raw("charging_ms"),
        power = json.raw("power_kw"),
        price = json.float("price_eur_per_kwh"),
        outcome = json.string("outcome"),
        overstay = json.raw("overstay"),
        energy_raw = json.raw("energy_kwh"),
        revenue_raw = json.raw("revenue_eur"),
    )
}

fn sessions_mv(schema: &Schema, json: &Json) -> String {
    let (partition, offset) = json.position();
    let flags = if json.modern {
        "JSONExtract(j, 'flags', 'Array(String)')".to_owned()
    } else {
        format!("extractAll({}, '\"([^\"]*)\"')", json.raw("flags"))
    };
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.kafka_sessions_mv TO {db}.{target} AS
{with}
SELECT
    sid AS session_id,
    CAST(cid AS {dict}) AS charger_id,
    {plate} AS plate,
    assumeNotNull(arrived) AS arrived_at,
    toInt64OrNull({identified}) AS identified_at,
    {user} AS user_id,
    price AS price_eur_per_kwh,
    toInt64OrNull({started}) AS charge_started_at,
    toInt64OrNull({ended}) AS charge_ended_at,
    power AS power_kw,
    assumeNotNull(departed) AS departed_at,
    assumeNotNull(energy_value) AS energy_kwh,
    assumeNotNull(revenue_value) AS revenue_eur,
    assumeNotNull(dwell) AS dwell_ms,
    assumeNotNull(charging) AS charging_ms,
    toInt64OrNull({idle}) AS idle_after_charge_ms,
    CAST(outcome_name AS {outcome_enum}) AS outcome,
    toUInt8(overstay_raw = 'true') AS overstay,
    CAST({flags} AS Array({dict})) AS flags,
    {partition} AS kafka_partition,
    {offset} AS kafka_offset,
    {arrived_time} AS arrived_time,
    {departed_time} AS departed_time,
    {now} AS ingested_at
FROM {db}.{SESSIONS_SOURCE}
WHERE reason = ''",
        db = schema.database(),
        target = table::SESSIONS,
        arrived_time = schema.dialect().time_from_ms("assumeNotNull(arrived)"),
        departed_time = schema.dialect().time_from_ms("assumeNotNull(departed)"),
        dict = schema.dialect().dictionary_string(),
        outcome_enum = crate::tables::OUTCOME_ENUM,
        now = now(schema),
        with = session_with(json),
        plate = json.nullable_string("plate"),
        user = json.nullable_string("user_id"),
        identified = json.raw("identified_at"),
        started = json.raw("charge_started_at"),
        ended = json.raw("charge_ended_at"),
        idle = json.raw("idle_after_charge_ms"),
    )
}

fn source_table(schema: &Schema, name: &str, topic: &str, config: &KafkaEngineConfig) -> String {
    let d = schema.dialect();
    let (format, extra) = if json_for(d).modern {
        (
            "JSONAsString",
            format!(
                ",\n    kafka_flush_interval_ms = {},\n    kafka_poll_timeout_ms = 100",
                config.flush_interval.as_millis()
            ),
        )
    } else {
        (
            "TabSeparated",
            ",\n    kafka_row_delimiter = '\\n'".to_owned(),
        )
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{name}
(
    raw String
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {brokers},
    kafka_topic_list = {topic},
    kafka_group_name = {group},
    kafka_format = '{format}',
    kafka_num_consumers = {consumers},
    kafka_max_block_size = {block}{extra}",
        db = schema.database(),
        brokers = sql_string(&config.brokers),
        topic = sql_string(topic),
        group = sql_string(&config.group),
        consumers = config.num_consumers,
        block = config.max_block_size,
    )
}

/// The materialized views over sources named [`SIGNALS_SOURCE`] and [`SESSIONS_SOURCE`].
fn views(schema: &Schema, config: &KafkaEngineConfig) -> Vec<String> {
    let json = json_for(schema.dialect());
    vec![
        signals_mv(schema, &json),
        dead_mv(
            schema,
            &json,
            MVS[1],
            SIGNALS_SOURCE,
            &config.signals_topic,
            &signal_with(&json),
        ),
        sessions_mv(schema, &json),
        dead_mv(
            schema,
            &json,
            MVS[3],
            SESSIONS_SOURCE,
            &config.sessions_topic,
            &session_with(&json),
        ),
    ]
}

/// On a cluster, the statement runs `ON CLUSTER`: the clause goes right after the name of the
/// table or view it creates or drops. Every server then has its own Kafka tables, consuming in
/// one group (the topic's partitions spread over the servers), and its views write through the
/// `Distributed` tables, so that each row lands on its charger's shard whoever consumed it.
fn clustered(schema: &Schema, statement: String) -> String {
    let Some(cluster) = schema.cluster() else {
        return statement;
    };
    let Some(start) = ["IF NOT EXISTS ", "IF EXISTS "]
        .iter()
        .find_map(|marker| statement.find(marker).map(|at| at + marker.len()))
    else {
        return statement;
    };
    let end = statement[start..]
        .find(char::is_whitespace)
        .map_or(statement.len(), |n| start + n);
    format!(
        "{} ON CLUSTER {cluster}{}",
        &statement[..end],
        &statement[end..]
    )
}

/// Kafka engine tables and their materialized views (apply after the migrations); on a
/// cluster, on every server ([`clustered`]).
pub fn statements(schema: &Schema, config: &KafkaEngineConfig) -> Result<Vec<String>> {
    config.validate()?;
    let mut out = vec![
        source_table(schema, SIGNALS_SOURCE, &config.signals_topic, config),
        source_table(schema, SESSIONS_SOURCE, &config.sessions_topic, config),
    ];
    out.extend(views(schema, config));
    Ok(out
        .into_iter()
        .map(|statement| clustered(schema, statement))
        .collect())
}

/// The same views over `Null` tables instead of Kafka (a `raw String` column, plus
/// `_partition` and `_offset` on modern servers): the parsing can then be checked by inserting
/// messages, where no Kafka engine runs (chDB) or without waiting for one.
pub fn stand_in_statements(schema: &Schema, config: &KafkaEngineConfig) -> Result<Vec<String>> {
    config.validate()?;
    let columns = if json_for(schema.dialect()).modern {
        "raw String, _partition UInt64, _offset UInt64"
    } else {
        "raw String"
    };
    let mut out = vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({columns}) ENGINE = Null",
            schema.qualified(SIGNALS_SOURCE)
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({columns}) ENGINE = Null",
            schema.qualified(SESSIONS_SOURCE)
        ),
    ];
    out.extend(views(schema, config));
    Ok(out
        .into_iter()
        .map(|statement| clustered(schema, statement))
        .collect())
}

/// Drops the views, then the Kafka tables (before stopping Kafka: an 18.16 Kafka table whose
/// broker is gone stalls the server's shutdown for about 46 s).
pub fn drop_statements(schema: &Schema) -> Vec<String> {
    let mut out: Vec<String> = MVS
        .iter()
        .map(|mv| format!("DROP TABLE IF EXISTS {}", schema.qualified(mv)))
        .collect();
    for source in [SIGNALS_SOURCE, SESSIONS_SOURCE] {
        out.push(format!("DROP TABLE IF EXISTS {}", schema.qualified(source)));
    }
    out.into_iter()
        .map(|statement| clustered(schema, statement))
        .collect()
}

/// The server's `<kafka>` section for the engine's librdkafka: `read_committed` (sessions come
/// from a transactional producer) and `earliest` (a new group reads the topic from its start);
/// on a secured Kafka, the login of `config.security` (the server turns each `a_b` element into
/// librdkafka's `a.b`).
pub fn server_config_xml(config: &KafkaEngineConfig) -> String {
    let mut login = String::new();
    if let Some(security) = &config.security {
        let mut setting = |name: &str, value: &str| {
            login.push_str(&format!("    <{name}>{}</{name}>\n", xml_text(value)));
        };
        setting("security_protocol", "sasl_ssl");
        setting("sasl_mechanisms", security.mechanism.as_str());
        setting("sasl_username", &security.username);
        setting("sasl_password", security.password.expose());
        setting("ssl_endpoint_identification_algorithm", "https");
        if let Some(ca) = &security.ca_file {
            setting("ssl_ca_location", &ca.display().to_string());
        }
        if let Some(client) = &security.client_certificate {
            setting(
                "ssl_certificate_location",
                &client.certificate.display().to_string(),
            );
            setting("ssl_key_location", &client.key.display().to_string());
        }
    }
    format!(
        r#"<?xml version="1.0"?>
<!-- Generated by evbench (schema::kafka_engine): librdkafka settings of the Kafka engine. -->
<yandex>
  <kafka>
    <isolation_level>read_committed</isolation_level>
    <auto_offset_reset>earliest</auto_offset_reset>
{login}  </kafka>
</yandex>
"#
    )
}

/// `text` escaped for an XML element's content.
fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A `users.d` fragment lowering `stream_flush_interval_ms` in the default profile, which the
/// Kafka engine of old servers (18.16) uses as its flush interval.
pub fn flush_profile_xml(config: &KafkaEngineConfig) -> String {
    format!(
        r#"<?xml version="1.0"?>
<!-- Generated by evbench (schema::kafka_engine): how long the Kafka engine batches at most. -->
<yandex>
  <profiles>
    <default>
      <stream_flush_interval_ms>{}</stream_flush_interval_ms>
    </default>
  </profiles>
</yandex>
"#,
        config.flush_interval.as_millis()
    )
}

/// Creates the Kafka engine tables and views.
pub async fn apply(
    client: &clickhouse::Client,
    schema: &Schema,
    config: &KafkaEngineConfig,
) -> Result<()> {
    for statement in statements(schema, config)? {
        execute(client, &statement).await?;
    }
    Ok(())
}

/// Drops them (see [`drop_statements`]).
pub async fn drop(client: &clickhouse::Client, schema: &Schema) -> Result<()> {
    for statement in drop_statements(schema) {
        execute(client, &statement).await?;
    }
    Ok(())
}

/// On a native server: writes the `<kafka>` section (and, on 18.16, the flush interval), restarts
/// the server so they apply, and creates the tables and views.
pub async fn install_native(
    native: &mut impl endpoints::ManagedClickHouse,
    schema: &Schema,
    config: &KafkaEngineConfig,
) -> Result<()> {
    configure_native(native, schema, config).await?;
    apply(&native.endpoint().client(), schema, config).await
}

/// The first half of [`install_native`]: the server's `<kafka>` section (and, on 18.16, the
/// flush interval) written and the server restarted, no table created yet.
pub async fn configure_native(
    native: &mut impl endpoints::ManagedClickHouse,
    schema: &Schema,
    config: &KafkaEngineConfig,
) -> Result<()> {
    native.add_config_file(SERVER_CONFIG_FILE, &server_config_xml(config))?;
    if !schema.dialect().is_modern() {
        native.add_users_file(FLUSH_PROFILE_FILE, &flush_profile_xml(config))?;
    }
    native.restart().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secured_kafka_s_login_goes_into_the_kafka_section() {
        let plain = server_config_xml(&KafkaEngineConfig::new("b:1"));
        assert!(plain.contains("<isolation_level>read_committed</isolation_level>"));
        assert!(!plain.contains("sasl"));
        let config = KafkaEngineConfig {
            security: Some(endpoints::KafkaSecurity {
                mechanism: endpoints::SaslMechanism::ScramSha512,
                username: "sink".into(),
                password: endpoints::Secret::new("p<&>w"),
                ca_file: Some("/run/ca.pem".into()),
                client_certificate: None,
            }),
            ..KafkaEngineConfig::new("b:1")
        };
        let secured = server_config_xml(&config);
        for line in [
            "<security_protocol>sasl_ssl</security_protocol>",
            "<sasl_mechanisms>SCRAM-SHA-512</sasl_mechanisms>",
            "<sasl_username>sink</sasl_username>",
            "<sasl_password>p&lt;&amp;&gt;w</sasl_password>",
            "<ssl_ca_location>/run/ca.pem</ssl_ca_location>",
        ] {
            assert!(secured.contains(line), "{line} in {secured}");
        }
        assert!(!format!("{config:?}").contains("p<&>w"), "Debug redacts it");
    }

    #[test]
    fn legacy_uses_tabseparated_and_visit_param() {
        let schema = Schema::new(Dialect::legacy());
        let all = statements(&schema, &KafkaEngineConfig::new("127.0.0.1:9092"))
            .unwrap()
            .join("\n");
        assert!(all.contains("kafka_format = 'TabSeparated'"));
        assert!(all.contains("kafka_row_delimiter = '\\n'"));
        assert!(all.contains("visitParamExtractRaw(j, 'timestamp')"));
        assert!(!all.contains("JSONExtract") && !all.contains("toInt32(_partition)"));
        assert!(all.contains("kafka_broker_list = '127.0.0.1:9092'"));
    }

    #[test]
    fn modern_uses_json_as_string_and_positions() {
        let schema = Schema::new(Dialect::modern());
        let all = statements(&schema, &KafkaEngineConfig::new("b:1"))
            .unwrap()
            .join("\n");
        assert!(all.contains("kafka_format = 'JSONAsString'"));
        assert!(all.contains("toInt32(_partition) AS kafka_partition"));
        assert!(all.contains("kafka_flush_interval_ms = 1000"));
    }

    #[test]
    fn on_a_cluster_every_statement_runs_on_every_server_and_views_write_through_distributed() {
        let schema = Schema::new(Dialect::legacy()).on_cluster("prod").unwrap();
        let config = KafkaEngineConfig::new("b:1");
        let all = statements(&schema, &config).unwrap();
        assert_eq!(all.len(), 6);
        for statement in &all {
            let head = statement.lines().next().unwrap();
            assert!(head.contains(" ON CLUSTER prod"), "{head}");
            assert!(!statement.contains("_local"), "{statement}");
        }
        assert!(
            all[0]
                .starts_with("CREATE TABLE IF NOT EXISTS evbench.kafka_signals ON CLUSTER prod\n")
        );
        assert!(all[2].starts_with(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS evbench.kafka_signals_mv ON CLUSTER prod TO evbench.signals AS"
        ));
        for statement in drop_statements(&schema) {
            assert!(statement.ends_with(" ON CLUSTER prod"), "{statement}");
        }
        // One server: no clause.
        let single = statements(&Schema::new(Dialect::legacy()), &config).unwrap();
        assert!(single.iter().all(|s| !s.contains("ON CLUSTER")));
    }

    #[test]
    fn text_is_quoted() {
        let schema = Schema::new(Dialect::legacy());
        let mut config = KafkaEngineConfig::new("b:1");
        config.group = "it's".into();
        let all = statements(&schema, &config).unwrap().join("\n");
        assert!(all.contains(r"kafka_group_name = 'it\'s'"));
        config.brokers = String::new();
        assert!(statements(&schema, &config).is_err());
    }
}
