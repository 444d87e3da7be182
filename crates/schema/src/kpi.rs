//! The study's KPIs: named SQL for ClickHouse, the same KPIs computed in Rust, and a comparison.
//!
//! Every query reads the deduplicated sessions (`sessions FINAL`), so replays never count twice
//! and results are exact before background merges. The SQL is portable: it runs unchanged on
//! 18.16 and on modern servers (no CTEs, window functions, `toStartOfInterval` or query
//! parameters). Parameters are integers substituted as literals by [`KpiQuery::render`], so no
//! text from outside reaches the SQL.
//!
//! Window rules (the same in SQL and in [`compute`]):
//! * `availability_share` counts, per station, the part of each visit (`arrived_at` to
//!   `departed_at`) that overlaps the window `[from_ms, to_ms)`; stations without a visit
//!   overlapping the window are not listed (fully available).
//! * every other KPI counts the sessions that *ended* in the window (`from_ms <= departed_at <
//!   to_ms`): a session is complete, billed and emitted when the vehicle leaves.
//! * intervals (`sessions_per_interval`, `revenue_per_day`) are aligned to the Unix epoch (UTC).

use std::collections::{BTreeMap, HashMap};

use events::{Outcome, Session};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, Schema, table};

/// Relative tolerance for sums and averages (their order of addition differs between engines).
pub const FLOAT_TOLERANCE: f64 = 1e-9;

/// The time window and knobs of the KPI queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KpiParams {
    /// Window start, epoch milliseconds, inclusive.
    pub from_ms: i64,
    /// Window end, epoch milliseconds, exclusive.
    pub to_ms: i64,
    /// Length of the intervals of `sessions_per_interval`, milliseconds (default one hour).
    pub bucket_ms: i64,
    /// How many stations `most_profitable_stations` lists.
    pub top: u32,
}

impl KpiParams {
    /// A window with the default interval (1 h) and top list (10 stations).
    pub fn window(from_ms: i64, to_ms: i64) -> KpiParams {
        KpiParams {
            from_ms,
            to_ms,
            bucket_ms: 3_600_000,
            top: 10,
        }
    }

    /// Rejects empty windows and non-positive intervals.
    pub fn validate(&self) -> Result<()> {
        if self.to_ms <= self.from_ms {
            return Err(Error::Invalid(format!(
                "empty KPI window: from {} to {}",
                self.from_ms, self.to_ms
            )));
        }
        if self.bucket_ms <= 0 {
            return Err(Error::Invalid(format!(
                "KPI interval must be positive, got {} ms",
                self.bucket_ms
            )));
        }
        Ok(())
    }
}

/// The kind of a result column, which decides how it is read and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Text, compared exactly.
    Text,
    /// An integer (count, milliseconds), compared exactly.
    Int,
    /// A sum, share or average, compared within [`FLOAT_TOLERANCE`] relative.
    Float,
    /// A UTC date-time `YYYY-MM-DD HH:MM:SS` (Grafana's `time`), compared exactly.
    Time,
}

/// One KPI as SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiQuery {
    /// Stable name (`availability_share`, …).
    pub name: &'static str,
    /// What it answers.
    pub title: &'static str,
    /// The SQL with `{from_ms}`, `{to_ms}`, `{bucket_ms}` and `{top}` placeholders.
    pub sql: String,
    /// The result columns, in order.
    pub columns: &'static [(&'static str, ColumnKind)],
    /// How many leading columns identify a row.
    pub key_columns: usize,
}

impl KpiQuery {
    /// The SQL with the parameters substituted as integer literals.
    pub fn render(&self, params: &KpiParams) -> String {
        self.sql
            .replace("{from_ms}", &params.from_ms.to_string())
            .replace("{to_ms}", &params.to_ms.to_string())
            .replace("{bucket_ms}", &params.bucket_ms.to_string())
            .replace("{top}", &params.top.to_string())
    }
}

const AVAILABILITY: &[(&str, ColumnKind)] = &[
    ("charger_id", ColumnKind::Text),
    ("occupied_ms", ColumnKind::Int),
    ("window_ms", ColumnKind::Int),
    ("occupied_share", ColumnKind::Float),
    ("available_share", ColumnKind::Float),
];
const PROFITABLE: &[(&str, ColumnKind)] = &[
    ("charger_id", ColumnKind::Text),
    ("total_revenue_eur", ColumnKind::Float),
    ("total_energy_kwh", ColumnKind::Float),
    ("sessions", ColumnKind::Int),
    ("charged_sessions", ColumnKind::Int),
];
const OCCUPANCY: &[(&str, ColumnKind)] = &[
    ("sessions", ColumnKind::Int),
    ("total_dwell_ms", ColumnKind::Int),
    ("avg_dwell_ms", ColumnKind::Float),
];
const CHARGING: &[(&str, ColumnKind)] = &[
    ("charged_sessions", ColumnKind::Int),
    ("total_charging_ms", ColumnKind::Int),
    ("avg_charging_ms", ColumnKind::Float),
];
const PER_INTERVAL: &[(&str, ColumnKind)] = &[
    ("bucket_start_ms", ColumnKind::Int),
    ("time", ColumnKind::Time),
    ("sessions", ColumnKind::Int),
    ("charged_sessions", ColumnKind::Int),
];
const PER_DAY: &[(&str, ColumnKind)] = &[
    ("day_start_ms", ColumnKind::Int),
    ("time", ColumnKind::Time),
    ("total_revenue_eur", ColumnKind::Float),
    ("total_energy_kwh", ColumnKind::Float),
    ("sessions", ColumnKind::Int),
];
const VIOLATIONS: &[(&str, ColumnKind)] = &[
    ("sessions", ColumnKind::Int),
    ("no_charge", ColumnKind::Int),
    ("overstay", ColumnKind::Int),
];
const VIOLATIONS_PER_STATION: &[(&str, ColumnKind)] = &[
    ("charger_id", ColumnKind::Text),
    ("no_charge", ColumnKind::Int),
    ("overstay", ColumnKind::Int),
];

/// Every KPI query of the schema's database, in a stable order.
pub fn queries(schema: &Schema) -> Vec<KpiQuery> {
    let sessions = format!("{} FINAL", schema.qualified(table::SESSIONS));
    let ended = "departed_at >= {from_ms} AND departed_at < {to_ms}";
    let q = |name, title, sql: String, columns, key_columns| KpiQuery {
        name,
        title,
        sql,
        columns,
        key_columns,
    };
    vec![
        q(
            "availability_share",
            "Share of the window each station was occupied vs available",
            format!(
                "SELECT
    charger_id,
    sum(greatest(toInt64(0), least(departed_at, toInt64({{to_ms}})) - greatest(arrived_at, toInt64({{from_ms}})))) AS occupied_ms,
    toInt64({{to_ms}}) - toInt64({{from_ms}}) AS window_ms,
    occupied_ms / window_ms AS occupied_share,
    1 - occupied_ms / window_ms AS available_share
FROM {sessions}
WHERE arrived_at < {{to_ms}} AND departed_at > {{from_ms}}
GROUP BY charger_id
ORDER BY charger_id"
            ),
            AVAILABILITY,
            1,
        ),
        q(
            "most_profitable_stations",
            "Stations by revenue of the sessions that ended in the window",
            format!(
                "SELECT
    charger_id,
    sum(revenue_eur) AS total_revenue_eur,
    sum(energy_kwh) AS total_energy_kwh,
    count() AS sessions,
    countIf(outcome = 'charged') AS charged_sessions
FROM {sessions}
WHERE {ended}
GROUP BY charger_id
ORDER BY total_revenue_eur DESC, charger_id
LIMIT {{top}}"
            ),
            PROFITABLE,
            1,
        ),
        q(
            "average_occupancy_time",
            "Average time a vehicle occupied a bay (arrival to departure)",
            format!(
                "SELECT
    count() AS sessions,
    sum(dwell_ms) AS total_dwell_ms,
    if(count() = 0, 0., sum(dwell_ms) / count()) AS avg_dwell_ms
FROM {sessions}
WHERE {ended}"
            ),
            OCCUPANCY,
            0,
        ),
        q(
            "average_charging_duration",
            "Average duration of charging, over the sessions that charged",
            format!(
                "SELECT
    count() AS charged_sessions,
    sum(charging_ms) AS total_charging_ms,
    if(count() = 0, 0., sum(charging_ms) / count()) AS avg_charging_ms
FROM {sessions}
WHERE {ended} AND outcome = 'charged'"
            ),
            CHARGING,
            0,
        ),
        q(
            "sessions_per_interval",
            "Sessions (and completed charging sessions) per interval",
            format!(
                "SELECT
    intDiv(departed_at, {{bucket_ms}}) * {{bucket_ms}} AS bucket_start_ms,
    toDateTime(intDiv(bucket_start_ms, 1000), 'UTC') AS time,
    count() AS sessions,
    countIf(outcome = 'charged') AS charged_sessions
FROM {sessions}
WHERE {ended}
GROUP BY bucket_start_ms
ORDER BY bucket_start_ms"
            ),
            PER_INTERVAL,
            1,
        ),
        q(
            "revenue_per_day",
            "Revenue and energy per day (UTC)",
            format!(
                "SELECT
    intDiv(departed_at, 86400000) * 86400000 AS day_start_ms,
    toDateTime(intDiv(day_start_ms, 1000), 'UTC') AS time,
    sum(revenue_eur) AS total_revenue_eur,
    sum(energy_kwh) AS total_energy_kwh,
    count() AS sessions
FROM {sessions}
WHERE {ended}
GROUP BY day_start_ms
ORDER BY day_start_ms"
            ),
            PER_DAY,
            1,
        ),
        q(
            "violations",
            "No-charge parkings and overstays",
            format!(
                "SELECT
    count() AS sessions,
    countIf(outcome = 'no_charge') AS no_charge,
    countIf(overstay = 1) AS overstay
FROM {sessions}
WHERE {ended}"
            ),
            VIOLATIONS,
            0,
        ),
        q(
            "violations_per_station",
            "No-charge parkings and overstays per station (stations with any)",
            format!(
                "SELECT
    charger_id,
    countIf(outcome = 'no_charge') AS no_charge,
    countIf(overstay = 1) AS overstay
FROM {sessions}
WHERE {ended}
GROUP BY charger_id
HAVING no_charge + overstay > 0
ORDER BY charger_id"
            ),
            VIOLATIONS_PER_STATION,
            1,
        ),
    ]
}

/// One value of a KPI result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// Integers.
    Int(i64),
    /// Sums, shares, averages.
    Float(f64),
    /// Text and times.
    Text(String),
}

/// The rows of one KPI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiTable {
    /// Column names, as in [`KpiQuery::columns`].
    pub columns: Vec<String>,
    /// Rows in the query's order.
    pub rows: Vec<Vec<Value>>,
}

/// Every KPI's rows, by KPI name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KpiValues {
    /// KPI name → rows.
    pub tables: BTreeMap<String, KpiTable>,
}

fn table_of(columns: &[(&str, ColumnKind)], rows: Vec<Vec<Value>>) -> KpiTable {
    KpiTable {
        columns: columns.iter().map(|(n, _)| (*n).to_owned()).collect(),
        rows,
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of epoch milliseconds, as ClickHouse prints a `DateTime('UTC')`.
fn time_text(epoch_ms: i64) -> String {
    let mut text = events::time::format_utc(epoch_ms.div_euclid(1000) * 1000);
    text.truncate(19);
    text
}

/// The KPIs computed in Rust from sessions (deduplicated by id, as `FINAL` does), with the same
/// rules and arithmetic as the SQL of [`queries`].
pub fn compute(sessions: &[Session], params: &KpiParams) -> KpiValues {
    let mut unique: BTreeMap<&str, &Session> = BTreeMap::new();
    for s in sessions {
        unique.insert(&s.session_id, s);
    }
    let all: Vec<&Session> = unique.into_values().collect();
    // Every KPI but availability counts the visits that ended inside the window.
    let ended: Vec<&Session> = all
        .iter()
        .copied()
        .filter(|s| s.departed_at >= params.from_ms && s.departed_at < params.to_ms)
        .collect();
    let tables = [
        ("availability_share", availability_share(&all, params)),
        ("most_profitable_stations", most_profitable(&ended, params)),
        ("average_occupancy_time", average_occupancy(&ended)),
        ("average_charging_duration", average_charging(&ended)),
        (
            "sessions_per_interval",
            sessions_per_interval(&ended, params),
        ),
        ("revenue_per_day", revenue_per_day(&ended)),
        ("violations", violations(&ended)),
        ("violations_per_station", violations_per_station(&ended)),
    ];
    KpiValues {
        tables: tables
            .into_iter()
            .map(|(name, table)| (name.to_owned(), table))
            .collect(),
    }
}

/// Per station: time occupied inside the window (visits overlapping it), and the shares.
fn availability_share(sessions: &[&Session], params: &KpiParams) -> KpiTable {
    let (from, to) = (params.from_ms, params.to_ms);
    let window_ms = to - from;
    let mut occupied: BTreeMap<&str, i64> = BTreeMap::new();
    for s in sessions {
        if s.arrived_at < to && s.departed_at > from {
            let overlap = (s.departed_at.min(to) - s.arrived_at.max(from)).max(0);
            *occupied.entry(&s.charger_id).or_default() += overlap;
        }
    }
    let rows = occupied
        .into_iter()
        .map(|(id, ms)| {
            let share = ms as f64 / window_ms as f64;
            vec![
                Value::Text(id.to_owned()),
                Value::Int(ms),
                Value::Int(window_ms),
                Value::Float(share),
                Value::Float(1.0 - share),
            ]
        })
        .collect();
    table_of(AVAILABILITY, rows)
}

/// The `top` stations by revenue (ties by id).
fn most_profitable(ended: &[&Session], params: &KpiParams) -> KpiTable {
    #[derive(Default)]
    struct Station {
        revenue: f64,
        energy: f64,
        sessions: i64,
        charged: i64,
    }
    let mut stations: HashMap<&str, Station> = HashMap::new();
    for s in ended {
        let st = stations.entry(&s.charger_id).or_default();
        st.revenue += s.revenue_eur;
        st.energy += s.energy_kwh;
        st.sessions += 1;
        st.charged += i64::from(s.outcome == Outcome::Charged);
    }
    let mut ranked: Vec<(&str, Station)> = stations.into_iter().collect();
    ranked.sort_by(|a, b| b.1.revenue.total_cmp(&a.1.revenue).then(a.0.cmp(b.0)));
    ranked.truncate(params.top as usize);
    let rows = ranked
        .into_iter()
        .map(|(id, st)| {
            vec![
                Value::Text(id.to_owned()),
                Value::Float(st.revenue),
                Value::Float(st.energy),
                Value::Int(st.sessions),
                Value::Int(st.charged),
            ]
        })
        .collect();
    table_of(PROFITABLE, rows)
}

/// Count, total and mean of a duration over `sessions`.
fn mean_row(sessions: &[&Session], duration: impl Fn(&Session) -> i64) -> Vec<Value> {
    let n = sessions.len() as i64;
    let total: i64 = sessions.iter().map(|s| duration(s)).sum();
    vec![
        Value::Int(n),
        Value::Int(total),
        Value::Float(if n == 0 { 0.0 } else { total as f64 / n as f64 }),
    ]
}

fn average_occupancy(ended: &[&Session]) -> KpiTable {
    table_of(OCCUPANCY, vec![mean_row(ended, |s| s.dwell_ms)])
}

fn average_charging(ended: &[&Session]) -> KpiTable {
    let charged: Vec<&Session> = ended
        .iter()
        .copied()
        .filter(|s| s.outcome == Outcome::Charged)
        .collect();
    table_of(CHARGING, vec![mean_row(&charged, |s| s.charging_ms)])
}

/// Sessions (and charged ones) per `bucket_ms` of departure time.
fn sessions_per_interval(ended: &[&Session], params: &KpiParams) -> KpiTable {
    let mut buckets: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for s in ended {
        let b = buckets
            .entry(s.departed_at.div_euclid(params.bucket_ms) * params.bucket_ms)
            .or_default();
        b.0 += 1;
        b.1 += i64::from(s.outcome == Outcome::Charged);
    }
    let rows = buckets
        .into_iter()
        .map(|(start, (sessions, charged))| {
            vec![
                Value::Int(start),
                Value::Text(time_text(start)),
                Value::Int(sessions),
                Value::Int(charged),
            ]
        })
        .collect();
    table_of(PER_INTERVAL, rows)
}

/// Revenue, energy and sessions per UTC day of departure.
fn revenue_per_day(ended: &[&Session]) -> KpiTable {
    let mut days: BTreeMap<i64, (f64, f64, i64)> = BTreeMap::new();
    for s in ended {
        let d = days
            .entry(s.departed_at.div_euclid(86_400_000) * 86_400_000)
            .or_default();
        d.0 += s.revenue_eur;
        d.1 += s.energy_kwh;
        d.2 += 1;
    }
    let rows = days
        .into_iter()
        .map(|(start, (revenue, energy, sessions))| {
            vec![
                Value::Int(start),
                Value::Text(time_text(start)),
                Value::Float(revenue),
                Value::Float(energy),
                Value::Int(sessions),
            ]
        })
        .collect();
    table_of(PER_DAY, rows)
}

fn violations(ended: &[&Session]) -> KpiTable {
    let no_charge = ended
        .iter()
        .filter(|s| s.outcome == Outcome::NoCharge)
        .count();
    let overstays = ended.iter().filter(|s| s.overstay).count();
    table_of(
        VIOLATIONS,
        vec![vec![
            Value::Int(ended.len() as i64),
            Value::Int(no_charge as i64),
            Value::Int(overstays as i64),
        ]],
    )
}

/// Stations with at least one violation, with their no-charge parkings and overstays.
fn violations_per_station(ended: &[&Session]) -> KpiTable {
    let mut per_station: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for s in ended {
        let v = per_station.entry(&s.charger_id).or_default();
        v.0 += i64::from(s.outcome == Outcome::NoCharge);
        v.1 += i64::from(s.overstay);
    }
    let rows = per_station
        .into_iter()
        .filter(|(_, (a, b))| a + b > 0)
        .map(|(id, (a, b))| vec![Value::Text(id.to_owned()), Value::Int(a), Value::Int(b)])
        .collect();
    table_of(VIOLATIONS_PER_STATION, rows)
}

/// Reads a `TabSeparated` result into typed rows.
pub fn parse_tsv(query: &KpiQuery, text: &str) -> Result<KpiTable> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() != query.columns.len() {
            return Err(Error::Unreadable(format!(
                "{}: {} fields in {line:?}, expected {}",
                query.name,
                fields.len(),
                query.columns.len()
            )));
        }
        let mut row = Vec::with_capacity(fields.len());
        for (field, (column, kind)) in fields.iter().zip(query.columns) {
            let bad = || Error::Unreadable(format!("{}.{column}: {field:?}", query.name));
            row.push(match kind {
                ColumnKind::Int => Value::Int(field.parse().map_err(|_| bad())?),
                ColumnKind::Float => Value::Float(field.parse().map_err(|_| bad())?),
                ColumnKind::Text | ColumnKind::Time => Value::Text(unescape_tsv(field)),
            });
        }
        rows.push(row);
    }
    Ok(table_of(query.columns, rows))
}

fn unescape_tsv(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_owned();
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Runs every KPI query on a server and reads the results.
pub async fn fetch(
    client: &clickhouse::Client,
    schema: &Schema,
    params: &KpiParams,
) -> Result<KpiValues> {
    params.validate()?;
    let mut tables = BTreeMap::new();
    for query in queries(schema) {
        let sql = query.render(params);
        let bytes = client
            .query_raw(&sql)
            .fetch_bytes("TabSeparated")
            .map_err(|e| Error::clickhouse(format!("KPI {}", query.name), e))?
            .collect()
            .await
            .map_err(|e| Error::clickhouse(format!("KPI {}", query.name), e))?;
        let text = std::str::from_utf8(&bytes).map_err(|source| Error::KpiNotText {
            query: query.name,
            source,
        })?;
        tables.insert(query.name.to_owned(), parse_tsv(&query, text)?);
    }
    Ok(KpiValues { tables })
}

fn floats_agree(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= FLOAT_TOLERANCE * a.abs().max(b.abs())
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Text(t) => format!("{t:?}"),
    }
}

/// Differences between expected and actual KPI values, one line each (empty when they agree):
/// counts and texts exactly, floats within [`FLOAT_TOLERANCE`] relative. Rows are matched by
/// their key columns, so engines may order near-equal float sums differently.
pub fn compare(expected: &KpiValues, actual: &KpiValues, queries: &[KpiQuery]) -> Vec<String> {
    let mut out = Vec::new();
    for query in queries {
        let (Some(e), Some(a)) = (
            expected.tables.get(query.name),
            actual.tables.get(query.name),
        ) else {
            out.push(format!("{}: missing on one side", query.name));
            continue;
        };
        if e.rows.len() != a.rows.len() {
            out.push(format!(
                "{}: {} rows expected, {} found",
                query.name,
                e.rows.len(),
                a.rows.len()
            ));
        }
        let key = |row: &Vec<Value>| -> String {
            row.iter()
                .take(query.key_columns)
                .map(value_text)
                .collect::<Vec<_>>()
                .join("|")
        };
        let actual_rows: HashMap<String, &Vec<Value>> =
            a.rows.iter().map(|r| (key(r), r)).collect();
        for row in &e.rows {
            let k = key(row);
            let Some(found) = actual_rows.get(&k) else {
                out.push(format!("{}: row [{k}] missing", query.name));
                continue;
            };
            for ((expected, actual), (column, kind)) in
                row.iter().zip(found.iter()).zip(query.columns)
            {
                let agree = match (kind, expected, actual) {
                    (ColumnKind::Float, Value::Float(x), Value::Float(y)) => floats_agree(*x, *y),
                    (ColumnKind::Float, Value::Float(x), Value::Int(y))
                    | (ColumnKind::Float, Value::Int(y), Value::Float(x)) => {
                        floats_agree(*x, *y as f64)
                    }
                    (_, x, y) => x == y,
                };
                if !agree {
                    out.push(format!(
                        "{}: [{k}] {column}: expected {}, found {}",
                        query.name,
                        value_text(expected),
                        value_text(actual)
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect;
    use events::{SessionParties, SessionTimes};

    const H: i64 = 3_600_000;

    fn session(charger: &str, arrived: i64, charge: Option<(i64, i64)>, departed: i64) -> Session {
        let times = SessionTimes {
            arrived_at: arrived,
            identified_at: charge.map(|(s, _)| s - 1000),
            charge_started_at: charge.map(|(s, _)| s),
            charge_ended_at: charge.map(|(_, e)| e),
            departed_at: departed,
        };
        let parties = SessionParties {
            charger_id: charger.to_owned(),
            plate: Some("AB12CD34".into()),
            user_id: charge.map(|_| "U".repeat(16)),
            price_eur_per_kwh: charge.map(|_| 0.5),
            power_kw: charge.map(|_| 20),
        };
        Session::new(
            Session::id_for(charger, arrived, 0),
            parties,
            times,
            6 * 60_000,
            vec![],
        )
    }

    #[test]
    fn rendering_substitutes_integers_only() {
        let schema = Schema::new(Dialect::legacy());
        for q in queries(&schema) {
            let sql = q.render(&KpiParams::window(10, 20));
            assert!(!sql.contains('{'), "{}: {sql}", q.name);
            assert!(sql.contains("evbench.sessions FINAL"));
            assert!(
                !sql.contains("WITH ") && !sql.contains(" OVER "),
                "portable SQL"
            );
        }
    }

    #[test]
    fn computes_the_rules() {
        let sessions = vec![
            // Charged, 30 min charging at 20 kW and 0.5 EUR: 10 kWh, 5 EUR; idle 10 min: overstay.
            session("c1", 0, Some((5 * 60_000, 35 * 60_000)), 45 * 60_000),
            // No charge, straddles the window end.
            session("c2", H - 10 * 60_000, None, H + 10 * 60_000),
            // The same session again (a replay): counted once.
            session("c1", 0, Some((5 * 60_000, 35 * 60_000)), 45 * 60_000),
        ];
        let kpis = compute(&sessions, &KpiParams::window(0, H));
        let avail = &kpis.tables["availability_share"].rows;
        assert_eq!(avail[0][1], Value::Int(45 * 60_000));
        assert_eq!(avail[1][1], Value::Int(10 * 60_000));
        assert_eq!(avail[0][3], Value::Float(0.75));
        assert_eq!(
            kpis.tables["violations"].rows[0],
            vec![Value::Int(1), Value::Int(0), Value::Int(1)]
        );
        let top = &kpis.tables["most_profitable_stations"].rows;
        assert_eq!(top.len(), 1);
        assert_eq!(top[0][1], Value::Float(5.0));
        assert_eq!(
            kpis.tables["sessions_per_interval"].rows[0][1],
            Value::Text("1970-01-01 00:00:00".into())
        );
    }

    #[test]
    fn comparison_tolerates_rounding_not_differences() {
        let sessions = vec![session("c1", 0, Some((60_000, 31 * 60_000)), 40 * 60_000)];
        let params = KpiParams::window(0, H);
        let expected = compute(&sessions, &params);
        let all = queries(&Schema::new(Dialect::legacy()));
        assert!(compare(&expected, &expected, &all).is_empty());
        let mut actual = expected.clone();
        if let Value::Float(f) = &mut actual.tables.get_mut("revenue_per_day").unwrap().rows[0][2] {
            *f *= 1.0 + 1e-12;
        }
        assert!(compare(&expected, &actual, &all).is_empty());
        actual.tables.get_mut("violations").unwrap().rows[0][2] = Value::Int(7);
        let diffs = compare(&expected, &actual, &all);
        assert_eq!(diffs.len(), 1, "{diffs:?}");
    }

    #[test]
    fn tsv_results_parse() {
        let all = queries(&Schema::new(Dialect::legacy()));
        let q = all.iter().find(|q| q.name == "availability_share").unwrap();
        let t = parse_tsv(q, "c\\tx\t5\t10\t0.5\t0.5\n").unwrap();
        assert_eq!(t.rows[0][0], Value::Text("c\tx".into()));
        assert!(parse_tsv(q, "c\t5\n").is_err());
    }
}
