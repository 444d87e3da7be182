//! ClickHouse rows of the pipeline's tables, encoded as RowBinary straight from the JSON
//! that travels in Kafka, and the inserts that write them.
//!
//! Both ingestion paths store the same columns; this is the one the `sink` (in the `pipeline`
//! crate) writes with: one message in, one row appended to a batch buffer, no allocation or
//! formatting per row. What cannot be encoded comes back as the reason, for a dead letter.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use crate::rowbinary::*;
use crate::tables::{DEAD_LETTER_INSERT_COLUMNS, SESSION_INSERT_COLUMNS, SIGNAL_INSERT_COLUMNS};
use crate::{Result, check_identifier, table};

/// Which table a topic's messages go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// Raw signals (`charger-station-signals` → `signals`).
    Signals,
    /// Charging sessions (`charging-sessions` → `sessions`).
    Sessions,
}

impl RowKind {
    /// `INSERT INTO <database>.<table> (<columns>) FORMAT RowBinary` for this kind's table.
    pub fn insert_sql(self, database: &str) -> Result<String> {
        check_identifier(database)?;
        let (table_name, columns) = match self {
            RowKind::Signals => (table::SIGNALS, SIGNAL_INSERT_COLUMNS),
            RowKind::Sessions => (table::SESSIONS, SESSION_INSERT_COLUMNS),
        };
        Ok(format!(
            "INSERT INTO {database}.{table_name} ({columns}) FORMAT RowBinary"
        ))
    }

    /// Appends the message's row to `out`, or returns why it cannot be stored.
    pub fn encode(
        self,
        out: &mut Vec<u8>,
        payload: &[u8],
        partition: i32,
        offset: i64,
    ) -> Result<(), Unstorable> {
        match self {
            RowKind::Signals => encode_signal(out, payload, partition, offset),
            RowKind::Sessions => encode_session(out, payload, partition, offset),
        }
    }
}

/// Why a message cannot be stored as a row: its text is the dead letter's reason.
#[derive(Debug, thiserror::Error)]
pub enum Unstorable {
    /// Not a signal.
    #[error(transparent)]
    Signal(#[from] events::Error),
    /// Not session JSON (serde's error is part of the reason, not chained: the reason is one
    /// line of text stored with the dead letter).
    #[error("malformed session: {json}")]
    Session { json: serde_json::Error },
    #[error("session without session_id or charger_id")]
    SessionWithoutIds,
    #[error("session with a non-finite energy or revenue")]
    NonFinite,
}

/// `INSERT INTO <database>.dead_letters (…) FORMAT RowBinary`.
pub fn dead_letter_insert_sql(database: &str) -> Result<String> {
    check_identifier(database)?;
    Ok(format!(
        "INSERT INTO {database}.{} ({DEAD_LETTER_INSERT_COLUMNS}) FORMAT RowBinary",
        table::DEAD_LETTERS
    ))
}

/// Appends a `dead_letters` row: where the message was, why it was refused, its bytes.
pub fn encode_dead_letter(
    out: &mut Vec<u8>,
    topic: &str,
    partition: i32,
    offset: i64,
    reason: &str,
    payload: &[u8],
) {
    put_str(out, topic);
    put_i32(out, partition);
    put_i64(out, offset);
    put_str(out, reason);
    put_bytes(out, payload);
}

/// One signal as a `signals` row, in the column order of `INSERT INTO signals` ([`RowKind::insert_sql`]).
pub fn encode_signal(
    out: &mut Vec<u8>,
    payload: &[u8],
    partition: i32,
    offset: i64,
) -> Result<(), Unstorable> {
    let signal = events::decode(payload)?;
    put_i64(out, signal.timestamp_ms);
    put_str(out, &signal.charger_id);
    let (sensor, vehicle, plate, user, price, connection, recharging, energy) =
        match &signal.reading {
            events::Reading::Parking {
                vehicle_detected,
                plate,
            } => (
                1,
                Some(*vehicle_detected),
                plate.as_deref(),
                None,
                None,
                None,
                None,
                None,
            ),
            events::Reading::UserData {
                user_connection,
                user_id,
                price,
            } => (
                2,
                None,
                None,
                user_id.as_deref(),
                *price,
                Some(*user_connection),
                None,
                None,
            ),
            events::Reading::Charger {
                recharging,
                energy_delivered,
            } => (
                3,
                None,
                None,
                None,
                None,
                None,
                Some(*recharging),
                Some(*energy_delivered),
            ),
        };
    put_i8(out, sensor);
    put_nullable(out, vehicle, |o, v| put_u8(o, u8::from(v)));
    put_nullable(out, plate, put_str);
    put_nullable(out, user, put_str);
    put_nullable(out, price, put_f64);
    put_nullable(out, connection, |o, v| put_u8(o, u8::from(v)));
    put_nullable(out, recharging, |o, v| put_u8(o, u8::from(v)));
    put_nullable(out, energy, put_u32);
    put_nullable(out, signal.seq, put_u64);
    put_i32(out, partition);
    put_i64(out, offset);
    Ok(())
}

/// The session record as it travels, borrowing its strings from the message.
#[derive(Deserialize)]
struct WireSession<'a> {
    #[serde(borrow)]
    session_id: Cow<'a, str>,
    #[serde(borrow)]
    charger_id: Cow<'a, str>,
    #[serde(borrow, default)]
    plate: Option<Cow<'a, str>>,
    arrived_at: i64,
    #[serde(default)]
    identified_at: Option<i64>,
    #[serde(borrow, default)]
    user_id: Option<Cow<'a, str>>,
    #[serde(default)]
    price_eur_per_kwh: Option<f64>,
    #[serde(default)]
    charge_started_at: Option<i64>,
    #[serde(default)]
    charge_ended_at: Option<i64>,
    #[serde(default)]
    power_kw: Option<u32>,
    departed_at: i64,
    energy_kwh: f64,
    revenue_eur: f64,
    dwell_ms: i64,
    charging_ms: i64,
    #[serde(default)]
    idle_after_charge_ms: Option<i64>,
    outcome: events::Outcome,
    overstay: bool,
    #[serde(borrow, default)]
    flags: Vec<Cow<'a, str>>,
}

/// One session as a `sessions` row, in the column order of [`RowKind::insert_sql`].
pub fn encode_session(
    out: &mut Vec<u8>,
    payload: &[u8],
    partition: i32,
    offset: i64,
) -> Result<(), Unstorable> {
    let s: WireSession<'_> =
        serde_json::from_slice(payload).map_err(|json| Unstorable::Session { json })?;
    if s.session_id.is_empty() || s.charger_id.is_empty() {
        return Err(Unstorable::SessionWithoutIds);
    }
    if !s.energy_kwh.is_finite() || !s.revenue_eur.is_finite() {
        return Err(Unstorable::NonFinite);
    }
    put_str(out, &s.session_id);
    put_str(out, &s.charger_id);
    put_nullable(out, s.plate.as_deref(), put_str);
    put_i64(out, s.arrived_at);
    put_nullable(out, s.identified_at, put_i64);
    put_nullable(out, s.user_id.as_deref(), put_str);
    put_nullable(out, s.price_eur_per_kwh, put_f64);
    put_nullable(out, s.charge_started_at, put_i64);
    put_nullable(out, s.charge_ended_at, put_i64);
    put_nullable(out, s.power_kw, put_u32);
    put_i64(out, s.departed_at);
    put_f64(out, s.energy_kwh);
    put_f64(out, s.revenue_eur);
    put_i64(out, s.dwell_ms);
    put_i64(out, s.charging_ms);
    put_nullable(out, s.idle_after_charge_ms, put_i64);
    put_i8(
        out,
        match s.outcome {
            events::Outcome::Charged => 1,
            events::Outcome::NoCharge => 2,
        },
    );
    put_u8(out, u8::from(s.overstay));
    put_len(out, s.flags.len());
    for flag in &s.flags {
        put_str(out, flag);
    }
    put_i32(out, partition);
    put_i64(out, offset);
    Ok(())
}

/// Sends one RowBinary insert (`sql` as from [`RowKind::insert_sql`]) and waits for the server's
/// answer; `timeout` bounds both sending and answering.
pub async fn insert(
    client: &clickhouse::Client,
    sql: &str,
    data: Bytes,
    timeout: Duration,
) -> clickhouse::error::Result<()> {
    let mut insert = client
        .insert_formatted_with(sql)
        .with_timeouts(Some(timeout), Some(timeout));
    insert.send(data).await?;
    insert.end().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_encode_as_rowbinary() {
        let mut out = Vec::new();
        encode_signal(
            &mut out,
            br#"{"timestamp":1700000000000,"charger_id":"c1","recharging":true,"energy_delivered":22,"seq":3}"#,
            4,
            99,
        )
        .unwrap();
        let mut expected = Vec::new();
        expected.extend_from_slice(&1_700_000_000_000i64.to_le_bytes());
        expected.extend_from_slice(&[2, b'c', b'1', 3]);
        expected.extend_from_slice(&[1, 1, 1, 1, 1]); // vehicle, plate, user, price, connection
        expected.extend_from_slice(&[0, 1]); // recharging
        expected.push(0);
        expected.extend_from_slice(&22u32.to_le_bytes());
        expected.push(0);
        expected.extend_from_slice(&3u64.to_le_bytes());
        expected.extend_from_slice(&4i32.to_le_bytes());
        expected.extend_from_slice(&99i64.to_le_bytes());
        assert_eq!(out, expected);
        assert!(encode_signal(&mut out, b"{", 0, 0).is_err());
        assert!(
            encode_signal(&mut out, br#"{"timestamp":1,"charger_id":"c"}"#, 0, 0)
                .unwrap_err()
                .to_string()
                .contains("unknown sensor")
        );
    }

    #[test]
    fn sessions_are_validated() {
        let mut out = Vec::new();
        let good = br#"{"session_id":"c@1","charger_id":"c","plate":null,"arrived_at":1,"identified_at":null,"user_id":null,"price_eur_per_kwh":null,"charge_started_at":null,"charge_ended_at":null,"power_kw":null,"departed_at":2,"energy_kwh":0.0,"revenue_eur":0.0,"dwell_ms":1,"charging_ms":0,"idle_after_charge_ms":null,"outcome":"no_charge","overstay":false,"flags":["closed_by_inactivity"],"extra":1}"#;
        encode_session(&mut out, good, 0, 0).unwrap();
        let bad_outcome = String::from_utf8_lossy(good).replace("no_charge", "maybe");
        assert!(encode_session(&mut out, bad_outcome.as_bytes(), 0, 0).is_err());
        assert!(encode_session(&mut out, b"[]", 0, 0).is_err());
    }
}
