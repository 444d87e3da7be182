//! Reading what is stored: counts and sessions, exact before background merges (`FINAL`).

use events::{Flag, Outcome, Session};

use crate::{Error, Result, Schema, table};

/// The ids of the sessions inserted since `since_s` (epoch seconds, the server's
/// `ingested_at`): what a poller of session visibility reads, at the same cost late in a long
/// run as at its start.
pub fn sessions_ingested_since_sql(schema: &Schema, since_s: i64) -> String {
    format!(
        "SELECT session_id FROM {} WHERE ingested_at >= toDateTime({since_s})",
        schema.qualified(table::SESSIONS)
    )
}

/// The name a flag is stored under (its JSON name).
pub fn flag_name(flag: Flag) -> &'static str {
    match flag {
        Flag::InferredUserDisconnect => "inferred_user_disconnect",
        Flag::InferredChargeEnd => "inferred_charge_end",
        Flag::ClosedByInactivity => "closed_by_inactivity",
        Flag::ClosedByNextArrival => "closed_by_next_arrival",
        Flag::ChargeWithoutIdentification => "charge_without_identification",
    }
}

/// The flag stored under `name`.
pub fn flag_from_name(name: &str) -> Option<Flag> {
    Some(match name {
        "inferred_user_disconnect" => Flag::InferredUserDisconnect,
        "inferred_charge_end" => Flag::InferredChargeEnd,
        "closed_by_inactivity" => Flag::ClosedByInactivity,
        "closed_by_next_arrival" => Flag::ClosedByNextArrival,
        "charge_without_identification" => Flag::ChargeWithoutIdentification,
        _ => return None,
    })
}

async fn count(client: &clickhouse::Client, sql: &str) -> Result<u64> {
    client
        .query_raw(sql)
        .fetch_one::<u64>()
        .await
        .map_err(|e| Error::clickhouse(crate::first_line(sql), e))
}

/// Distinct raw signals stored (replays collapsed).
pub async fn count_signals(client: &clickhouse::Client, schema: &Schema) -> Result<u64> {
    count(
        client,
        &format!(
            "SELECT count() FROM {} FINAL",
            schema.qualified(table::SIGNALS)
        ),
    )
    .await
}

/// Distinct sessions stored (replays collapsed).
pub async fn count_sessions(client: &clickhouse::Client, schema: &Schema) -> Result<u64> {
    count(
        client,
        &format!(
            "SELECT count() FROM {} FINAL",
            schema.qualified(table::SESSIONS)
        ),
    )
    .await
}

/// Distinct dead letters stored.
pub async fn count_dead_letters(client: &clickhouse::Client, schema: &Schema) -> Result<u64> {
    count(
        client,
        &format!(
            "SELECT count() FROM {} FINAL",
            schema.qualified(table::DEAD_LETTERS)
        ),
    )
    .await
}

/// Rows physically present in a table, duplicates of replays included (to show that `FINAL`
/// matters).
pub async fn count_physical_rows(
    client: &clickhouse::Client,
    schema: &Schema,
    table_name: &str,
) -> Result<u64> {
    crate::check_identifier(table_name)?;
    count(
        client,
        &format!("SELECT count() FROM {}", schema.qualified(table_name)),
    )
    .await
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct SessionRow {
    session_id: String,
    charger_name: String,
    plate: Option<String>,
    arrived_at: i64,
    identified_at: Option<i64>,
    user_id: Option<String>,
    price_eur_per_kwh: Option<f64>,
    charge_started_at: Option<i64>,
    charge_ended_at: Option<i64>,
    power_kw: Option<u32>,
    departed_at: i64,
    energy_kwh: f64,
    revenue_eur: f64,
    dwell_ms: i64,
    charging_ms: i64,
    idle_after_charge_ms: Option<i64>,
    outcome_name: String,
    overstay: u8,
    flag_names: Vec<String>,
}

/// Every stored session (deduplicated), ordered by id.
pub async fn fetch_sessions(client: &clickhouse::Client, schema: &Schema) -> Result<Vec<Session>> {
    let sql = format!(
        "SELECT session_id, CAST(charger_id, 'String') AS charger_name, plate, arrived_at, identified_at, user_id,
    price_eur_per_kwh, charge_started_at, charge_ended_at, power_kw, departed_at, energy_kwh, revenue_eur,
    dwell_ms, charging_ms, idle_after_charge_ms, CAST(outcome, 'String') AS outcome_name, overstay,
    CAST(flags, 'Array(String)') AS flag_names
FROM {} FINAL
ORDER BY session_id",
        schema.qualified(table::SESSIONS)
    );
    let rows: Vec<SessionRow> = client
        .query_raw(&sql)
        .fetch_all()
        .await
        .map_err(|e| Error::clickhouse("read the sessions", e))?;
    rows.into_iter()
        .map(|r| {
            let outcome = match r.outcome_name.as_str() {
                "charged" => Outcome::Charged,
                "no_charge" => Outcome::NoCharge,
                other => return Err(Error::Unreadable(format!("outcome {other:?}"))),
            };
            let flags = r
                .flag_names
                .iter()
                .map(|f| flag_from_name(f).ok_or_else(|| Error::Unreadable(format!("flag {f:?}"))))
                .collect::<Result<Vec<_>>>()?;
            Ok(Session {
                session_id: r.session_id,
                charger_id: r.charger_name,
                plate: r.plate,
                arrived_at: r.arrived_at,
                identified_at: r.identified_at,
                user_id: r.user_id,
                price_eur_per_kwh: r.price_eur_per_kwh,
                charge_started_at: r.charge_started_at,
                charge_ended_at: r.charge_ended_at,
                power_kw: r.power_kw,
                departed_at: r.departed_at,
                energy_kwh: r.energy_kwh,
                revenue_eur: r.revenue_eur,
                dwell_ms: r.dwell_ms,
                charging_ms: r.charging_ms,
                idle_after_charge_ms: r.idle_after_charge_ms,
                outcome,
                overstay: r.overstay != 0,
                flags,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_are_the_json_names() {
        for flag in [
            Flag::InferredUserDisconnect,
            Flag::InferredChargeEnd,
            Flag::ClosedByInactivity,
            Flag::ClosedByNextArrival,
            Flag::ChargeWithoutIdentification,
        ] {
            let json = serde_json::to_string(&flag).unwrap();
            assert_eq!(json, format!("\"{}\"", flag_name(flag)));
            assert_eq!(flag_from_name(flag_name(flag)), Some(flag));
        }
    }
}
