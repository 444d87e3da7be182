//! The run's report: `report.json` (a contract other tools read), a self-contained
//! `report.html` with charts (inline SVG, no scripts, opens offline), and a terminal summary.

pub mod charts;
mod html;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::engine::EngineOutcome;
use crate::ground_truth::SessionComparison;
use crate::ingestion::IngestionOutcome;
use crate::metrics::{Percentiles, Second};
use crate::resources::ResourceUse;
use crate::{Error, Result};

/// Escapes text for HTML and SVG (element text and attributes in either quotes): `report.html`
/// and the benchmark pages built on reports share it.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Everything a run found. Field names are a contract that tools outside evbench read
/// (`docs/report.md`); more fields are welcome, none is renamed.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub provider: String,
    pub ingestion: String,
    /// Where the servers were on the network (`[services] network`).
    pub network: NetworkReport,
    /// How the run's servers were secured (`[services] security`).
    pub security: SecurityReport,
    pub versions: Versions,
    pub events: EventCounts,
    pub sessions: SessionComparison,
    pub kpis: KpiSummary,
    pub throughput: Throughput,
    /// Where the latencies start: `intended` (when each signal was due: paced runs) or `sent`
    /// (when it was handed to the Kafka client: unpaced runs, queueing included).
    pub latency_basis: crate::measure::LatencyBasis,
    pub latency_ms: Latencies,
    /// The same latencies from the send time: the difference is the producer's lag.
    pub latency_from_sent_ms: Latencies,
    /// Basis, warm-up, and the ClickHouse observation's resolution.
    pub latency_method: crate::measure::LatencyMethod,
    /// How far behind its schedule the producer sent the visits' last signals (paced runs).
    pub producer_lag_ms: Percentiles,
    /// The load asked for: `load.rate` if set, and the time compression played.
    pub offered_load: OfferedLoad,
    /// Every scenario key with its effective value, defaults filled in.
    pub scenario_resolved: serde_json::Value,
    pub checks: Vec<Check>,
    pub passed: bool,
    /// Wall-clock seconds from the first signal to the drained pipeline.
    pub wall_s: f64,
    /// Per-second throughput and latency.
    pub timeline: Vec<Second>,
    /// Full percentile tables: (percentile, ms).
    pub latency_tables: LatencyTables,
    /// Latency distributions: (bucket upper bound ms, count).
    pub latency_distribution: LatencyDistributions,
    /// The aggregator under test: engine, delivery guarantee, counters and transaction timings.
    pub aggregator: EngineOutcome,
    /// The ingestion's own account (the sink's counters and logs).
    pub ingestion_detail: IngestionOutcome,
    /// CPU and memory of each part (`kafka`, `clickhouse`, `aggregator-0`, `sink-0`,
    /// `evbench`: the load and the observers), with a per-second series.
    pub resources: BTreeMap<String, ResourceUse>,
    /// What one signal cost: CPU microseconds per part, and its bytes as sent.
    pub cost_per_signal: CostPerSignal,
    /// The machine, build, command and storage the run took place on.
    pub environment: crate::environment::Environment,
    /// Every fault of the scenario: when it happened and what it did (`docs/faults.md`).
    pub faults: Vec<crate::faults::recovery::FaultOutcome>,
    /// Consumer lag of the pipeline's processes per second, from their metrics endpoints
    /// (`docs/metrics.md`).
    pub consumer_lag: crate::lag::ConsumerLag,
    /// What the same broker gives on its own, measured right after the load (`load.floors`;
    /// `null` when not asked for).
    pub floors: Option<Floors>,
}

/// Where the servers were on the network.
#[derive(Debug, Clone, Serialize, Default)]
pub struct NetworkReport {
    /// `loopback` (every server on 127.0.0.1) or `own-addresses` (each server in its own
    /// network namespace on the run's network).
    pub placement: String,
    /// On own addresses: each node's address by name, `evbench` (the machine's end, where
    /// evbench and the pipeline run) included; empty on loopback.
    pub addresses: BTreeMap<String, String>,
}

impl NetworkReport {
    /// What `services` says of the network.
    pub fn of(services: &harness::Services) -> NetworkReport {
        match services.network() {
            Some(network) => NetworkReport {
                placement: "own-addresses".into(),
                addresses: network
                    .nodes()
                    .map(|(name, node)| (name.to_owned(), node.address.to_string()))
                    .chain([(
                        harness::netns::HOST.to_owned(),
                        network.host_address().to_string(),
                    )])
                    .collect(),
            },
            None => NetworkReport {
                placement: "loopback".into(),
                addresses: BTreeMap::new(),
            },
        }
    }

    /// One phrase for the summary.
    fn summary(&self) -> String {
        if self.addresses.is_empty() {
            return self.placement.clone();
        }
        let nodes: Vec<String> = self
            .addresses
            .iter()
            .map(|(name, address)| format!("{name} {address}"))
            .collect();
        format!("own addresses ({})", nodes.join(", "))
    }
}

/// The floors a run measured beside the pipeline, with the pipeline's figures as ratios to them.
#[derive(Debug, Clone, Serialize)]
pub struct Floors {
    /// The broker's produce → consume round trip, one record in flight (Kafka's
    /// `EndToEndLatency`).
    pub broker: Option<harness::floor::EndToEndLatency>,
    /// Why the broker's floor could not be measured, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_not_measured: Option<String>,
    /// The exactly-once floor: the aggregator's runner copying records instead of sessionizing
    /// them, same commit interval and client settings, at the run's rate (`pipeline::floor`).
    pub exactly_once: Option<pipeline::floor::PassThroughFloor>,
    /// Why the exactly-once floor could not be measured, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exactly_once_not_measured: Option<String>,
    /// The pipeline's p50 and p99 signal → `charging-sessions` over the exactly-once floor's.
    pub session_p50_over_exactly_once_p50: Option<f64>,
    pub session_p99_over_exactly_once_p99: Option<f64>,
    /// The producer alone: signals into Kafka per second while it ran (as `throughput`).
    pub producer_events_per_s: f64,
    /// The pipeline's p50 and p99 signal → `charging-sessions` over the broker's.
    pub session_p50_over_broker_p50: Option<f64>,
    pub session_p99_over_broker_p99: Option<f64>,
    /// End-to-end signals per second over the producer alone's.
    pub throughput_over_producer: Option<f64>,
    /// The insert floor: `clickhouse-client` alone inserting the run's stored signals into a
    /// twin table of the same server (`harness::insert_floor`).
    pub insert: Option<harness::insert_floor::InsertFloor>,
    /// Why the insert floor could not be measured, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insert_not_measured: Option<String>,
    /// End-to-end signals per second over `clickhouse-client`'s rows per second: in an unpaced
    /// run, how close the whole pipeline comes to the server's own client.
    pub throughput_over_insert: Option<f64>,
    /// The study's Kafka-engine path reading the run's signals topic from the start into a
    /// database of its own (`crate::floors`).
    pub kafka_engine: Option<crate::floors::KafkaEngineFloor>,
    /// Why the Kafka-engine floor could not be measured, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kafka_engine_not_measured: Option<String>,
    /// End-to-end signals per second over the Kafka-engine path's rows per second.
    pub throughput_over_kafka_engine: Option<f64>,
}

/// A measured figure, or why it was not measured, as two optional fields of the report.
fn split<T>(measured: Result<T, String>) -> (Option<T>, Option<String>) {
    match measured {
        Ok(value) => (Some(value), None),
        Err(why) => (None, Some(why)),
    }
}

impl Floors {
    /// The floors with the ratios of `report`'s figures to them.
    pub(crate) fn new(measured: crate::floors::Measured, report: &Report) -> Floors {
        let crate::floors::Measured {
            broker,
            exactly_once,
            insert,
            kafka_engine,
        } = measured;
        let ratio = |pipeline: f64, floor: f64| (floor > 0.0).then(|| pipeline / floor);
        let sessions = &report.latency_ms.event_to_session_topic;
        // The pipeline's p50 and p99 over a floor's, when both were measured.
        let over = |floor: Option<(f64, f64)>| match floor {
            Some((p50, p99)) if sessions.count > 0 => {
                (ratio(sessions.p50, p50), ratio(sessions.p99, p99))
            }
            _ => (None, None),
        };
        let (p50, p99) = over(broker.as_ref().ok().map(|b| (b.p50_ms, b.p99_ms)));
        let (eo_p50, eo_p99) = over(exactly_once.as_ref().ok().map(|f| (f.p50_ms, f.p99_ms)));
        let throughput_over_insert = insert
            .as_ref()
            .ok()
            .and_then(|i| ratio(report.throughput.events_per_s, i.rows_per_s));
        let throughput_over_kafka_engine = kafka_engine
            .as_ref()
            .ok()
            .and_then(|k| ratio(report.throughput.events_per_s, k.rows_per_s));
        let (broker, broker_not_measured) = split(broker);
        let (exactly_once, exactly_once_not_measured) = split(exactly_once);
        let (insert, insert_not_measured) = split(insert);
        let (kafka_engine, kafka_engine_not_measured) = split(kafka_engine);
        Floors {
            kafka_engine,
            kafka_engine_not_measured,
            throughput_over_kafka_engine,
            insert,
            insert_not_measured,
            throughput_over_insert,
            broker_not_measured,
            exactly_once,
            exactly_once_not_measured,
            session_p50_over_exactly_once_p50: eo_p50,
            session_p99_over_exactly_once_p99: eo_p99,
            producer_events_per_s: report.throughput.produce_events_per_s,
            session_p50_over_broker_p50: p50,
            session_p99_over_broker_p99: p99,
            throughput_over_producer: ratio(
                report.throughput.events_per_s,
                report.throughput.produce_events_per_s,
            ),
            broker,
        }
    }

    /// The summary's line.
    pub fn line(&self) -> String {
        let times = |r: Option<f64>| r.map_or("—".to_owned(), |r| format!("{r:.1}×"));
        let broker = match (&self.broker, &self.broker_not_measured) {
            (Some(b), _) => format!(
                "broker p50 {:.0} ms · p99 {:.0} ms (EndToEndLatency, {} × {} B, acks={}, one in flight); pipeline → sessions p50 {} · p99 {} of it",
                b.p50_ms,
                b.p99_ms,
                b.messages,
                b.record_bytes,
                b.acks,
                times(self.session_p50_over_broker_p50),
                times(self.session_p99_over_broker_p99)
            ),
            (None, why) => not_measured("broker", why),
        };
        let exactly_once = match (&self.exactly_once, &self.exactly_once_not_measured) {
            (Some(f), _) => format!(
                "; exactly-once pass-through p50 {:.1} ms · p99 {:.1} ms ({} records at {:.0}/s, commits every {:.0} ms, {} read twice, {} replays); pipeline → sessions p50 {} · p99 {} of it",
                f.p50_ms,
                f.p99_ms,
                f.records,
                f.rate,
                f.commit_interval_ms,
                f.duplicates,
                f.recoveries,
                times(self.session_p50_over_exactly_once_p50),
                times(self.session_p99_over_exactly_once_p99)
            ),
            (None, why) => not_measured("; exactly-once floor", why),
        };
        let producer = match self.throughput_over_producer {
            Some(r) => format!(
                "; end to end {:.2} of the producer alone ({:.0} signals/s)",
                r, self.producer_events_per_s
            ),
            None => String::new(),
        };
        let insert = match (&self.insert, &self.insert_not_measured) {
            (Some(i), _) => format!(
                "; clickhouse-client inserts {} rows of {} at {:.0} rows/s ({}), end to end {} of it",
                i.rows,
                i.table,
                i.rows_per_s,
                i.format,
                self.throughput_over_insert
                    .map_or("—".to_owned(), |r| format!("{r:.2}"))
            ),
            (None, why) => not_measured("; insert floor", why),
        };
        let kafka_engine = match (&self.kafka_engine, &self.kafka_engine_not_measured) {
            (Some(k), _) => format!(
                "; the Kafka-engine path reads them at {:.0} rows/s ({} rate, first rows {:.1} s after its tables), end to end {} of it",
                k.rows_per_s,
                k.rate_over,
                k.first_rows_s,
                self.throughput_over_kafka_engine
                    .map_or("—".to_owned(), |r| format!("{r:.2}"))
            ),
            (None, why) => not_measured("; Kafka-engine floor", why),
        };
        format!("{broker}{exactly_once}{producer}{insert}{kafka_engine}")
    }
}

/// `<what> not measured: <why>`, for the summary's floors line.
fn not_measured(what: &str, why: &Option<String>) -> String {
    format!(
        "{what} not measured: {}",
        why.as_deref().unwrap_or("no reason given")
    )
}

/// What one signal cost the run: each part's CPU time over the run divided by the signals
/// produced (records sent, injected ones included), and the bytes of one signal as produced.
/// Steadier across runs than rates and latencies on a shared machine, because it does not
/// depend on how the parts were scheduled, only on the work they did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CostPerSignal {
    /// The signals it is divided by.
    pub signals: u64,
    /// CPU microseconds per signal, by part (`kafka`, `clickhouse`, `aggregator-0`, `sink-0`,
    /// `evbench`: the producer and the observers).
    pub cpu_us: BTreeMap<String, f64>,
    /// Every part together.
    pub total_cpu_us: f64,
    /// JSON bytes of one signal as produced, on average (before Kafka's compression).
    pub payload_bytes: f64,
}

impl CostPerSignal {
    /// The cost of `signals` signals of `payload_bytes` bytes in all, to parts that used
    /// `resources`.
    pub fn new(
        signals: u64,
        payload_bytes: u64,
        resources: &BTreeMap<String, ResourceUse>,
    ) -> CostPerSignal {
        let per_signal = |total: f64| {
            if signals == 0 {
                0.0
            } else {
                total / signals as f64
            }
        };
        let cpu_us: BTreeMap<String, f64> = resources
            .iter()
            .map(|(part, r)| (part.clone(), per_signal(r.cpu_seconds * 1e6)))
            .collect();
        CostPerSignal {
            signals,
            total_cpu_us: cpu_us.values().sum(),
            cpu_us,
            payload_bytes: per_signal(payload_bytes as f64),
        }
    }

    /// `kafka 12.0 µs · … · total 40.1 µs · 212 B`, for the summary.
    fn line(&self) -> String {
        let mut parts: Vec<String> = self
            .cpu_us
            .iter()
            .map(|(part, us)| format!("{part} {us:.1} µs"))
            .collect();
        parts.push(format!("total {:.1} µs", self.total_cpu_us));
        parts.push(format!("{:.0} B", self.payload_bytes));
        parts.join(" · ")
    }
}

/// The load asked for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OfferedLoad {
    /// `load.rate`: signals per second asked for, when set.
    pub rate: Option<f64>,
    /// The time compression played (derived from `rate` when set), or `max`.
    pub time_compression: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Versions {
    pub kafka: String,
    pub clickhouse: String,
    pub evbench: String,
}

/// How the run's servers were secured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SecurityReport {
    /// `none` or `sasl-ssl` (`[services] security`).
    pub mode: String,
    /// Kafka's side, in words.
    pub kafka: String,
    /// ClickHouse's side, in words.
    pub clickhouse: String,
}

impl SecurityReport {
    pub fn of(mode: crate::file::SecurityMode) -> SecurityReport {
        let kafka = match mode {
            crate::file::SecurityMode::None => "plaintext, no users, no ACLs".to_owned(),
            crate::file::SecurityMode::SaslSsl => format!(
                "SASL_SSL with {} users (a CA and certificate made for the run), TLS with client certificates between the nodes, StandardAuthorizer: producer, aggregator, sink and observer each granted only their own topics, groups and transactional ids; topics and ACLs made by the admin",
                endpoints::SaslMechanism::ScramSha512
            ),
        };
        let clickhouse = match mode {
            crate::file::SecurityMode::None => {
                "HTTP without TLS; the administrative user `default` without a password (loopback and the run's network only)"
            }
            crate::file::SecurityMode::SaslSsl => {
                "HTTPS only (the run's CA; no plaintext port), a client certificate of the run's CA required; the administrative user `default` with a password made for the run"
            }
        };
        SecurityReport {
            mode: mode.as_str().to_owned(),
            kafka,
            clickhouse: format!(
                "{clickhouse}; the sink inserts as `ingest`, Grafana and the checks read as `grafana` (SELECT only)"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct EventCounts {
    pub produced: u64,
    /// JSON bytes of the signals produced (injected copies and malformed records left out).
    pub produced_bytes: u64,
    pub stored: u64,
    /// Records Kafka took into the signals topic during the run (`None` when its ends could not
    /// be read): more than `produced` when the producer's retries wrote some twice.
    pub in_topic: Option<u64>,
    pub dead_lettered: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct KpiSummary {
    pub checked: u64,
    pub failed: u64,
    /// One row per KPI value compared.
    pub table: Vec<KpiRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KpiRow {
    pub kpi: String,
    /// The row's key columns, as text.
    pub key: String,
    /// The row's values from the ground truth, as text.
    pub expected: String,
    /// The row's values from ClickHouse, as text.
    pub observed: String,
    pub passed: bool,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Throughput {
    pub events_per_s: f64,
    pub sessions_per_s: f64,
    /// The producer's own rate (signals into Kafka per second while it ran).
    pub produce_events_per_s: f64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latencies {
    pub event_to_session_topic: Percentiles,
    pub event_to_clickhouse: Percentiles,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyTables {
    pub event_to_session_topic: Vec<(f64, f64)>,
    pub event_to_clickhouse: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyDistributions {
    pub event_to_session_topic: Vec<(f64, u64)>,
    pub event_to_clickhouse: Vec<(f64, u64)>,
}

/// One check and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
}

impl Report {
    /// Writes `report.json` and `report.html` into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Io {
            context: format!("create {}", dir.display()),
            source: e,
        })?;
        let json = serde_json::to_vec_pretty(self)?;
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|e| Error::Io {
                context: format!("write {}", path.display()),
                source: e,
            })
        };
        write("report.json", &json)?;
        write("report.html", self.html().as_bytes())
    }

    /// One screen for the terminal.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed { "PASSED" } else { "FAILED" };
        let _ = writeln!(
            out,
            "scenario {} (seed {}) {verdict}",
            self.scenario, self.seed
        );
        let _ = writeln!(
            out,
            "  services   {} · kafka {} · clickhouse {} · ingestion {}",
            self.provider, self.versions.kafka, self.versions.clickhouse, self.ingestion
        );
        if !self.network.addresses.is_empty() {
            let _ = writeln!(out, "  network    {}", self.network.summary());
        }
        if self.security.mode != crate::file::SecurityMode::None.as_str() {
            let _ = writeln!(out, "  security   kafka {}", self.security.kafka);
            let _ = writeln!(out, "             clickhouse {}", self.security.clickhouse);
        }
        let _ = writeln!(out, "  machine    {}", self.environment.summary());
        let e = &self.events;
        let _ = writeln!(
            out,
            "  signals    {} produced · {} stored · {} dead-lettered",
            e.produced, e.stored, e.dead_lettered
        );
        let s = &self.sessions;
        let _ = writeln!(
            out,
            "  sessions   {} expected · {} observed · {} matched · {} missing · {} unexpected · {} duplicated · {} mismatched",
            s.expected, s.observed, s.matched, s.missing, s.unexpected, s.duplicated, s.mismatched
        );
        let _ = writeln!(
            out,
            "  kpis       {} checked · {} failed",
            self.kpis.checked, self.kpis.failed
        );
        let _ = writeln!(
            out,
            "  throughput {:.0} signals/s · {:.0} sessions/s end to end over {:.1} s (producer alone {:.0} signals/s)",
            self.throughput.events_per_s,
            self.throughput.sessions_per_s,
            self.wall_s,
            self.throughput.produce_events_per_s
        );
        for (name, p) in [
            ("→ sessions", &self.latency_ms.event_to_session_topic),
            ("→ clickhouse", &self.latency_ms.event_to_clickhouse),
        ] {
            let _ = writeln!(
                out,
                "  latency {name:<13} p50 {:.1} ms · p99 {:.1} ms · p99.9 {:.1} ms · max {:.1} ms ({} samples)",
                p.p50, p.p99, p.p999, p.max, p.count
            );
        }
        let basis = match self.latency_basis {
            crate::measure::LatencyBasis::Intended => format!(
                "from the intended send time (producer lag p99 {:.1} ms, max {:.1} ms)",
                self.producer_lag_ms.p99, self.producer_lag_ms.max
            ),
            crate::measure::LatencyBasis::Sent => {
                "from the send time: an unpaced run, so these are queueing delays behind its backlog"
                    .to_owned()
            }
        };
        let warmup = if self.latency_method.sessions_in_warmup > 0 {
            format!(
                "; {} sessions of the {:.0} s warm-up left out",
                self.latency_method.sessions_in_warmup, self.latency_method.warmup_s
            )
        } else {
            String::new()
        };
        let _ = writeln!(out, "  latency basis {basis}{warmup}");
        if !self.resources.is_empty() {
            let parts: Vec<String> = self
                .resources
                .iter()
                .map(|(name, r)| {
                    format!(
                        "{name} {:.1} s, {:.0} MB",
                        r.cpu_seconds,
                        r.peak_rss_bytes as f64 / 1e6
                    )
                })
                .collect();
            let _ = writeln!(out, "  cpu, peak memory  {}", parts.join(" · "));
        }
        if self.cost_per_signal.signals > 0 {
            let _ = writeln!(out, "  per signal {}", self.cost_per_signal.line());
        }
        if let Some(floors) = &self.floors {
            let _ = writeln!(out, "  floors     {}", floors.line());
        }
        for fault in &self.faults {
            let _ = writeln!(out, "  fault      {}", fault.summary());
        }
        for check in &self.checks {
            let mark = if check.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "  [{mark}] {:<22} {}", check.name, check.detail);
        }
        out
    }
}

impl Report {
    /// The self-contained HTML report.
    pub fn html(&self) -> String {
        html::page(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Latency, Timeline};

    pub(crate) fn sample() -> Report {
        let mut latency = Latency::default();
        let mut timeline = Timeline::default();
        for i in 0..500u64 {
            latency.record_ms(i as f64 / 10.0);
            timeline.add_events(i / 100, 10);
            timeline.add_session(i / 100, i as f64 / 10.0);
        }
        Report {
            scenario: "sample<&>".into(),
            seed: 1,
            provider: "native".into(),
            network: NetworkReport::default(),
            security: SecurityReport::of(crate::file::SecurityMode::None),
            ingestion: "sink".into(),
            versions: Versions {
                kafka: "4.1.1".into(),
                clickhouse: "18.16.1".into(),
                evbench: "0.1.0".into(),
            },
            events: EventCounts {
                produced: 5000,
                produced_bytes: 1_050_000,
                stored: 5000,
                in_topic: Some(5000),
                dead_lettered: 0,
            },
            sessions: SessionComparison {
                expected: 500,
                observed: 500,
                matched: 500,
                ..Default::default()
            },
            kpis: KpiSummary {
                checked: 1,
                failed: 0,
                table: vec![KpiRow {
                    kpi: "revenue".into(),
                    key: "2026-01-01".into(),
                    expected: "1.5".into(),
                    observed: "1.5".into(),
                    passed: true,
                }],
            },
            throughput: Throughput {
                events_per_s: 1000.0,
                sessions_per_s: 100.0,
                produce_events_per_s: 2000.0,
            },
            latency_basis: crate::measure::LatencyBasis::Intended,
            latency_ms: Latencies {
                event_to_session_topic: latency.percentiles(),
                event_to_clickhouse: latency.percentiles(),
            },
            latency_from_sent_ms: Latencies::default(),
            latency_method: crate::measure::LatencyMethod {
                basis: crate::measure::LatencyBasis::Intended,
                note: "from when each signal was due".into(),
                warmup_s: 0.0,
                sessions_in_warmup: 0,
                clickhouse_poll_interval_ms: 10.0,
                clickhouse_poll_gap_ms: Percentiles::default(),
            },
            producer_lag_ms: Percentiles::default(),
            offered_load: OfferedLoad {
                rate: None,
                time_compression: "20".into(),
            },
            scenario_resolved: serde_json::json!({"name": "sample"}),
            checks: vec![Check {
                name: "sessions-exact".into(),
                passed: true,
                detail: String::new(),
            }],
            passed: true,
            wall_s: 5.0,
            timeline: timeline.seconds(),
            latency_tables: LatencyTables {
                event_to_session_topic: latency.table(),
                event_to_clickhouse: latency.table(),
            },
            latency_distribution: LatencyDistributions {
                event_to_session_topic: latency.distribution(),
                event_to_clickhouse: latency.distribution(),
            },
            aggregator: EngineOutcome {
                engine: "evbench".into(),
                exactly_once: true,
                exactly_once_requested: true,
                ..EngineOutcome::default()
            },
            ingestion_detail: IngestionOutcome::default(),
            resources: BTreeMap::new(),
            cost_per_signal: CostPerSignal::default(),
            environment: crate::environment::Environment::here(0, None),
            faults: Vec::new(),
            consumer_lag: Default::default(),
            floors: None,
        }
    }

    #[test]
    fn floors_set_the_pipeline_beside_the_broker() {
        let mut report = sample();
        report.latency_ms.event_to_session_topic.p50 = 80.0;
        report.latency_ms.event_to_session_topic.p99 = 200.0;
        report.throughput.events_per_s = 900.0;
        report.throughput.produce_events_per_s = 1000.0;
        let broker = harness::floor::EndToEndLatency {
            messages: 3000,
            record_bytes: 112,
            acks: "all".into(),
            mean_ms: 1.9,
            p50_ms: 2.0,
            p99_ms: 8.0,
            p999_ms: 31.0,
            took_s: 5.0,
        };
        let pass_through = pipeline::floor::PassThroughFloor {
            records: 8000,
            duplicates: 0,
            rate: 2000.0,
            record_bytes: 112,
            commit_interval_ms: 20.0,
            p50_ms: 40.0,
            p99_ms: 100.0,
            p999_ms: 120.0,
            max_ms: 130.0,
            recoveries: 0,
            stop_error: None,
        };
        let insert = harness::insert_floor::InsertFloor {
            table: "evbench.signals".into(),
            rows: 10_000,
            format: "JSONEachRow".into(),
            seconds: 0.5,
            rows_per_s: 20_000.0,
        };
        let kafka_engine = crate::floors::KafkaEngineFloor {
            rows: 10_000,
            first_rows_s: 1.5,
            steady_s: 2.0,
            rows_per_s: 4_500.0,
            rate_over: "steady".into(),
            max_block_size: 16_384,
            num_consumers: 1,
        };
        let measured = crate::floors::Measured {
            broker: Ok(broker),
            exactly_once: Ok(pass_through),
            insert: Ok(insert),
            kafka_engine: Ok(kafka_engine),
        };
        let floors = Floors::new(measured, &report);
        assert_eq!(floors.throughput_over_kafka_engine, Some(0.2));
        assert!(
            floors
                .line()
                .ends_with("the Kafka-engine path reads them at 4500 rows/s (steady rate, first rows 1.5 s after its tables), end to end 0.20 of it"),
            "{}",
            floors.line()
        );
        assert_eq!(floors.throughput_over_insert, Some(0.045));
        assert!(
            floors
                .line()
                .contains("clickhouse-client inserts 10000 rows of evbench.signals at 20000 rows/s (JSONEachRow), end to end 0.04 of it"),
            "{}",
            floors.line()
        );
        assert_eq!(floors.session_p50_over_exactly_once_p50, Some(2.0));
        assert_eq!(floors.session_p99_over_exactly_once_p99, Some(2.0));
        assert!(
            floors
                .line()
                .contains("exactly-once pass-through p50 40.0 ms"),
            "{}",
            floors.line()
        );
        assert_eq!(floors.session_p50_over_broker_p50, Some(40.0));
        assert_eq!(floors.session_p99_over_broker_p99, Some(25.0));
        assert_eq!(floors.throughput_over_producer, Some(0.9));
        assert!(
            floors.line().contains("p99 25.0× of it"),
            "{}",
            floors.line()
        );
        let json = serde_json::to_value(&floors).unwrap();
        assert_eq!(json["broker"]["p99_ms"], 8.0);
        assert!(json.get("broker_not_measured").is_none());
        let missing = Floors::new(
            crate::floors::Measured {
                broker: Err("no java".into()),
                exactly_once: Err("no broker".into()),
                insert: Err("not native".into()),
                kafka_engine: Err("a cluster".into()),
            },
            &report,
        );
        assert!(
            missing
                .line()
                .contains("; insert floor not measured: not native")
        );
        assert!(
            missing
                .line()
                .ends_with("; Kafka-engine floor not measured: a cluster")
        );
        assert_eq!(missing.throughput_over_insert, None);
        assert!(
            missing
                .line()
                .contains("exactly-once floor not measured: no broker")
        );
        assert_eq!(missing.session_p99_over_broker_p99, None);
        assert!(missing.line().starts_with("broker not measured: no java"));
        report.floors = Some(missing);
        assert!(report.summary().contains("floors     broker not measured"));
    }

    #[test]
    fn json_has_the_contract_keys() {
        let json = serde_json::to_value(sample()).unwrap();
        for key in [
            "scenario",
            "seed",
            "provider",
            "versions",
            "events",
            "sessions",
            "kpis",
            "throughput",
            "latency_basis",
            "latency_ms",
            "latency_from_sent_ms",
            "latency_method",
            "producer_lag_ms",
            "scenario_resolved",
            "checks",
            "passed",
        ] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        for key in [
            "expected",
            "observed",
            "matched",
            "missing",
            "unexpected",
            "duplicated",
            "mismatched",
        ] {
            assert!(
                json["sessions"].get(key).is_some(),
                "missing sessions.{key}"
            );
        }
        for path in ["event_to_session_topic", "event_to_clickhouse"] {
            for p in ["p50", "p99", "p999", "max"] {
                assert!(
                    json["latency_ms"][path].get(p).is_some(),
                    "missing latency_ms.{path}.{p}"
                );
            }
        }
        assert_eq!(json["checks"][0]["name"], "sessions-exact");
    }

    #[test]
    fn cost_per_signal_divides_each_part_by_the_signals() {
        let part = |cpu_seconds| ResourceUse {
            cpu_seconds,
            peak_rss_bytes: 1,
            rss_slope_bytes_per_min: None,
            series: Vec::new(),
        };
        let resources = BTreeMap::from([
            ("kafka".to_owned(), part(2.0)),
            ("aggregator-0".to_owned(), part(0.5)),
        ]);
        let cost = CostPerSignal::new(100_000, 21_000_000, &resources);
        assert_eq!(cost.cpu_us["kafka"], 20.0);
        assert_eq!(cost.cpu_us["aggregator-0"], 5.0);
        assert_eq!(cost.total_cpu_us, 25.0);
        assert_eq!(cost.payload_bytes, 210.0);
        let mut report = sample();
        report.cost_per_signal = cost;
        assert!(
            report
                .summary()
                .contains("per signal aggregator-0 5.0 µs · kafka 20.0 µs · total 25.0 µs · 210 B"),
            "{}",
            report.summary()
        );
        // Nothing produced: nothing to divide by, and no line.
        assert_eq!(CostPerSignal::new(0, 0, &resources).total_cpu_us, 0.0);
        assert!(!sample().summary().contains("per signal"));
    }

    #[test]
    fn html_is_self_contained_and_escaped() {
        let html = sample().html();
        assert!(html.contains("<svg") && html.contains("polyline"));
        assert!(
            !html.contains("<script") && !html.contains("http://") && !html.contains("https://")
        );
        assert!(html.contains("sample&lt;&amp;&gt;"));
    }

    #[test]
    fn faults_show_in_summary_table_and_charts() {
        use crate::faults::recovery::FaultOutcome;
        use crate::faults::spec::FaultKind;
        let mut report = sample();
        assert!(!report.html().contains("class=fault"));
        report.faults = vec![
            FaultOutcome {
                kind: FaultKind::KillAggregator,
                started_at: "2026-12-01T00:00:02Z".into(),
                ended_at: "2026-12-01T00:00:04Z".into(),
                started_s: 2.0,
                ended_s: 4.0,
                recovery_ms: Some(1500.0),
                peak_p99_ms: Some(2400.0),
                extra_p99_ms: Some(2300.0),
                injected: None,
                error: None,
                note: String::new(),
            },
            FaultOutcome {
                kind: FaultKind::Duplicate,
                started_at: "2026-12-01T00:00:00Z".into(),
                ended_at: "2026-12-01T00:00:05Z".into(),
                started_s: 0.0,
                ended_s: 5.0,
                recovery_ms: None,
                peak_p99_ms: None,
                extra_p99_ms: None,
                injected: Some(17),
                error: None,
                note: String::new(),
            },
        ];
        let summary = report.summary();
        assert!(
            summary.contains("fault      kill-aggregator at 2.0 s for 2.0 s · recovered 1.5 s after · p99 peak 2400 ms (+2300 ms)"),
            "{summary}"
        );
        assert!(
            summary.contains("fault      duplicate on 17 records"),
            "{summary}"
        );
        let html = report.html();
        // One band per process fault on each of the three time charts (throughput, latency,
        // producer lag); data faults get none.
        assert_eq!(html.matches("class=fault").count(), 3, "{html}");
        assert!(html.contains("<h2>Faults</h2>") && html.contains("<td>duplicate</td>"));
    }
}
