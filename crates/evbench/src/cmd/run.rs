//! `evbench run SCENARIO --out DIR` and `evbench validate SCENARIO…`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use analysis::repeat::{RepeatSummary, RunEntry};
use anyhow::Context;
use clap::Args;
use scenario::report::Report;
use scenario::{RunContext, RunProgress, Scenario};

use crate::Failure;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML), e.g. `scenarios/quickstart.toml`.
    scenario: PathBuf,
    /// Where `report.json`, `report.html` and `logs/` (the pipeline's processes) go.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Where native Kafka and ClickHouse keep their data during the run (overrides the
    /// scenario's `run.services_dir`; default: EVBENCH_SERVICES_DIR, else the system's temporary
    /// directory). A tmpfs such as /dev/shm takes the disk out of the figures; the report says
    /// which file system it was.
    #[arg(long)]
    services_dir: Option<PathBuf>,
    /// Run the scenario N times (N > 1): each run's report in `OUT/run-1` … `OUT/run-N`, then
    /// `OUT/repeat.json` and a table with the median, min and max of every figure, and
    /// `OUT/median-run.json`, the run closest to the medians without its per-second series (a
    /// baseline for `evbench compare`). Exit 1 if any run failed a check.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: u32,
    /// After the report, leave Kafka and ClickHouse running with the run's data (the pipeline
    /// is stopped) and print how to connect — a local Grafana, clickhouse-client, a Kafka
    /// consumer — until Ctrl-C. The `grafana` user's password comes from
    /// EVBENCH_GRAFANA_PASSWORD, or is generated and written to OUT/grafana.env (mode 0600).
    #[arg(long, conflicts_with = "repeat")]
    keep: bool,
    /// Check the scenario and the arguments, print what the run would do, and exit without
    /// starting a server or writing a file (exit 0: it would run; 2: it would be refused).
    #[arg(long)]
    dry_run: bool,
    /// After the load, also measure what the same broker gives on its own — Kafka's
    /// `EndToEndLatency` and an exactly-once pass-through at the run's rate — and report the
    /// pipeline's latency as multiples of them (as the scenario's `[load] floors = true`).
    #[arg(long)]
    floors: bool,
    /// Also write the result as JUnit XML to FILE, for CI systems: the scenario as the test
    /// suite (one per run with --repeat), one test case per check — a failed check is a failure
    /// whose message is its detail, a run that could not run an error — and the run's figures
    /// as the suite's properties.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files to check without running them; every file is checked.
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
}

fn scenario_failure(error: scenario::Error) -> Failure {
    if error.is_bad_input() {
        Failure::Input(error.into())
    } else {
        Failure::CouldNotRun(error.into())
    }
}

fn load(path: &Path) -> Result<Scenario, Failure> {
    let scenario = Scenario::load(path).map_err(scenario_failure)?;
    for note in &scenario.deprecations {
        eprintln!("warning: {}: {note}", path.display());
    }
    Ok(scenario)
}

/// What a scenario would run, on one line: `quickstart: 100 chargers, 2h simulated, …`.
pub fn describe(scenario: &Scenario) -> String {
    format!(
        "{}: {} chargers, {} simulated, {}, engine {}, ingestion {}, provider {}",
        scenario.name,
        scenario.fleet.chargers,
        humantime::format_duration(scenario.run.span),
        match scenario.load.rate {
            Some(rate) => format!("offered load {rate} signals/s"),
            None => format!("time compression {}", scenario.run.time_compression),
        },
        scenario.aggregator.engine.as_str(),
        scenario.run.ingestion.as_str(),
        scenario.run.provider
    )
}

pub fn validate(args: ValidateArgs) -> Result<(), Failure> {
    let mut bad = 0;
    for path in &args.scenarios {
        match load(path) {
            Ok(scenario) => println!("{}: ok ({})", path.display(), describe(&scenario)),
            Err(failure) => {
                bad += 1;
                let (Failure::Check(e) | Failure::Input(e) | Failure::CouldNotRun(e)) = failure;
                eprintln!("error: {}", crate::chain(&e));
            }
        }
    }
    if bad > 0 {
        return Err(Failure::input(anyhow::anyhow!(
            "{bad} of {} scenario files are invalid",
            args.scenarios.len()
        )));
    }
    Ok(())
}

pub async fn run(args: RunArgs) -> Result<(), Failure> {
    let mut scenario = load(&args.scenario)?;
    scenario.load.floors |= args.floors;
    if args.dry_run {
        print_dry_run(&scenario, &args);
        return Ok(());
    }
    if args.repeat > 1 {
        return repeat(&scenario, &args).await;
    }
    let outcome = run_into_keeping(
        &scenario,
        &args.out,
        args.services_dir.clone(),
        "",
        args.keep,
    )
    .await;
    if let Some(path) = &args.junit {
        let suite = match &outcome {
            Ok((report, _)) => Some(junit_suite(&scenario.name, report)?),
            Err(failure) => junit_failure(&scenario.name, failure),
        };
        // An interrupted run has no result to report.
        if let Some(suite) = suite {
            write_junit(path, &[suite])?;
        }
    }
    let (report, kept) = outcome?;
    if let Some(kept) = kept {
        keep_until_interrupted(kept, &args.out).await?;
    }
    if report.passed {
        Ok(())
    } else {
        Err(Failure::Check(anyhow::anyhow!(
            "checks failed: {}",
            failed_checks(&report).join(", ")
        )))
    }
}

/// The JUnit suite of a run's report.
fn junit_suite(name: &str, report: &Report) -> Result<analysis::junit::Suite, Failure> {
    let value = serde_json::to_value(report).context("encoding the report")?;
    Ok(analysis::junit::Suite::from_report(name, &value))
}

/// The JUnit suite of a run that could not run (none when it was interrupted).
pub fn junit_failure(name: &str, failure: &Failure) -> Option<analysis::junit::Suite> {
    if interrupted(failure) {
        return None;
    }
    let (Failure::Check(e) | Failure::Input(e) | Failure::CouldNotRun(e)) = failure;
    Some(analysis::junit::Suite::could_not_run(
        name,
        &crate::chain(e),
    ))
}

/// Writes `--junit FILE`.
pub fn write_junit(path: &Path, suites: &[analysis::junit::Suite]) -> Result<(), Failure> {
    analysis::junit::write(path, suites).map_err(bench_failure)?;
    eprintln!("junit: {}", path.display());
    Ok(())
}

/// What `run --dry-run` prints: the scenario, how often it would run and where its reports
/// would go.
fn print_dry_run(scenario: &Scenario, args: &RunArgs) {
    println!("dry run: {}", describe(scenario));
    let out = args.out.display();
    if args.repeat > 1 {
        println!(
            "  {} runs into {out}/run-1 … {out}/run-{}, then {out}/repeat.json and {out}/median-run.json",
            args.repeat, args.repeat
        );
    } else {
        println!("  reports into {out}/report.json, {out}/report.html and {out}/logs/");
    }
    if scenario.load.floors {
        println!(
            "  then the floors: the broker's EndToEndLatency and an exactly-once pass-through"
        );
    }
    if let Some(dir) = args
        .services_dir
        .as_ref()
        .or(scenario.run.services_dir.as_ref())
    {
        println!("  server data under {}", dir.display());
    }
    if args.keep {
        println!("  then Kafka and ClickHouse kept running with the run's data until Ctrl-C");
    }
}

/// The names of a report's failed checks.
pub fn failed_checks(report: &Report) -> Vec<&str> {
    report
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect()
}

/// The run was interrupted (Ctrl-C): repeats and sweeps stop rather than go on.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted; services stopped, no report written")
    }
}

impl std::error::Error for Interrupted {}

/// Whether a failure is an interruption.
pub fn interrupted(failure: &Failure) -> bool {
    matches!(failure, Failure::CouldNotRun(e) if e.is::<Interrupted>())
}

/// Runs `scenario` once, writes `out/report.json`, `out/report.html` and `out/logs/`, and
/// prints the summary. `label` (e.g. `run 2/3`) prefixes the progress lines. A run whose
/// checks failed is a report with `passed = false`, not an error.
pub async fn run_into(
    scenario: &Scenario,
    out: &Path,
    services_dir: Option<PathBuf>,
    label: &str,
) -> Result<Report, Failure> {
    run_into_keeping(scenario, out, services_dir, label, false)
        .await
        .map(|(report, _)| report)
}

/// Prints how to reach the kept servers and holds them until Ctrl-C.
async fn keep_until_interrupted(kept: scenario::run::Kept, out: &Path) -> Result<(), Failure> {
    let password_source = if std::env::var_os(schema::users::GRAFANA_PASSWORD_ENV).is_some() {
        format!("${}", schema::users::GRAFANA_PASSWORD_ENV)
    } else {
        let file = out.join("grafana.env");
        write_private(
            &file,
            &format!(
                "{}={}\n",
                schema::users::GRAFANA_PASSWORD_ENV,
                kept.grafana_password.expose()
            ),
        )
        .with_context(|| format!("writing {}", file.display()))?;
        format!("{} (generated; mode 0600)", file.display())
    };
    // Listening before the lines are printed: a Ctrl-C right after them must not be lost.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("installing the SIGINT handler")
        .map_err(Failure::CouldNotRun)?;
    let services = &kept.services;
    println!("services kept running with the run's data; Ctrl-C stops them");
    println!("  kafka       {}", services.kafka.bootstrap);
    if let Some(secured) = services.kafka_security() {
        println!(
            "              SASL_SSL: the admin's client properties (password included) in {}, the CA in {}",
            secured.admin_properties().display(),
            secured.tls.ca.display()
        );
    }
    println!(
        "  clickhouse  {}  database {}",
        services.clickhouse.url, kept.database
    );
    if let Some(secured) = services.kafka_security() {
        println!(
            "              HTTPS: the CA in {}, the client certificate and key in {} and {} (EVBENCH_CLICKHOUSE_CA_FILE, _CERT_FILE, _KEY_FILE); user default's password in {}",
            secured.tls.ca.display(),
            secured.tls.client_certificate.display(),
            secured.tls.client_key.display(),
            secured
                .admin_properties()
                .with_file_name("clickhouse-admin.password")
                .display()
        );
    }
    if let Some(prometheus) = &kept.prometheus {
        println!(
            "  prometheus  {}  the run's metrics of the aggregator and the sink (grafana/prometheus/alerts.yml loaded)",
            prometheus.url()
        );
    }
    println!(
        "  grafana     a ClickHouse data source at the URL above, user grafana, password in {password_source}; a Prometheus data source at EVBENCH_PROMETHEUS_URL; dashboards in grafana/"
    );
    interrupt.recv().await;
    eprintln!("stopping the services");
    drop(kept);
    Ok(())
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// [`run_into`], handing over the servers when `keep`.
async fn run_into_keeping(
    scenario: &Scenario,
    out: &Path,
    services_dir: Option<PathBuf>,
    label: &str,
    keep: bool,
) -> Result<(Report, Option<scenario::run::Kept>), Failure> {
    // Fail before the run, not after it: the report must have somewhere to go.
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let context = RunContext {
        evbench: std::env::current_exe().context("locating the evbench executable")?,
        logs: out.join("logs"),
        services_dir,
        prometheus: keep,
    };
    let tty = std::io::stderr().is_terminal();
    let bar = crate::progress::bar(1000, "simulated");
    let last_line = Mutex::new(Instant::now() - Duration::from_secs(60));
    let prefix = if label.is_empty() {
        String::new()
    } else {
        format!("{label} ")
    };
    let show = |p: &RunProgress| {
        // Stored signals are counted in ClickHouse only while draining (a count per poll would
        // load the server under test), so the running lines leave them out.
        let stored = if p.phase == "running" {
            String::new()
        } else {
            format!(" · {} signals stored", p.stored_signals)
        };
        let line = format!(
            "{prefix}{:<21} {} signals · {}/{} sessions{stored}",
            p.phase,
            p.produced,
            p.sessions_seen,
            if p.sessions_expected == 0 {
                "?".to_owned()
            } else {
                p.sessions_expected.to_string()
            },
        );
        if tty {
            bar.set_position((p.simulated * 1000.0) as u64);
            bar.set_message(line);
        } else if let Ok(mut last) = last_line.lock()
            && (last.elapsed() >= Duration::from_secs(5)
                || p.phase != "running" && p.phase != "draining")
        {
            *last = Instant::now();
            eprintln!("[{:>6.1} s] {line}", p.elapsed.as_secs_f64());
        }
    };
    let report = tokio::select! {
        report = scenario::run::run_keeping(scenario, &context, &show) => report,
        _ = tokio::signal::ctrl_c() => {
            bar.finish_and_clear();
            return Err(Failure::CouldNotRun(Interrupted.into()));
        }
    };
    bar.finish_and_clear();
    let (report, kept) = report.map_err(scenario_failure)?;
    let kept = keep.then_some(kept);
    report
        .write(out)
        .map_err(|e| Failure::CouldNotRun(anyhow::Error::from(e).context("writing the report")))?;
    print!("{}", report.summary());
    println!(
        "report: {}/report.json, {}/report.html",
        out.display(),
        out.display()
    );
    Ok((report, kept))
}

/// `--repeat N`: N runs in `OUT/run-1` … `OUT/run-N`, then `OUT/repeat.json` (every figure as
/// median, min and max), `OUT/median-run.json` (the run closest to the medians, reduced: a
/// baseline for `evbench compare`) and the table. A run that could not run ends the repeat
/// (the next would fail the same way); what ran is still summarised.
async fn repeat(scenario: &Scenario, args: &RunArgs) -> Result<(), Failure> {
    let n = args.repeat as usize;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut runs: Vec<(RunEntry, Option<serde_json::Value>)> = Vec::with_capacity(n);
    let mut suites: Vec<analysis::junit::Suite> = Vec::with_capacity(n);
    let mut stopped: Option<Failure> = None;
    for i in 1..=n {
        let dir = format!("run-{i}");
        eprintln!(
            "[repeat] run {i}/{n} of {} → {}",
            scenario.name,
            args.out.join(&dir).display()
        );
        let mut entry = RunEntry {
            run: i,
            dir: dir.clone(),
            outcome: String::new(),
            failed_checks: Vec::new(),
            error: None,
        };
        match run_into(
            scenario,
            &args.out.join(&dir),
            args.services_dir.clone(),
            &format!("run {i}/{n}"),
        )
        .await
        {
            Ok(report) => {
                entry.failed_checks = failed_checks(&report)
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                entry.outcome = if report.passed { "passed" } else { "failed" }.into();
                let value = serde_json::to_value(&report).context("encoding the report")?;
                suites.push(analysis::junit::Suite::from_report(
                    &format!("{} {dir}", scenario.name),
                    &value,
                ));
                runs.push((entry, Some(value)));
            }
            Err(failure) => {
                suites.extend(junit_failure(&format!("{} {dir}", scenario.name), &failure));
                if !interrupted(&failure) {
                    let (Failure::Check(e) | Failure::Input(e) | Failure::CouldNotRun(e)) =
                        &failure;
                    entry.outcome = "could not run".into();
                    entry.error = Some(crate::chain(e));
                    runs.push((entry, None));
                }
                stopped = Some(failure);
                break;
            }
        }
    }
    if let Some(path) = &args.junit {
        write_junit(path, &suites)?;
    }
    let total = runs.len();
    let summary = RepeatSummary::new(runs);
    analysis::write_json(&args.out.join("repeat.json"), &summary).map_err(bench_failure)?;
    if let Some(k) = summary.median_run {
        let report = analysis::read_json(&args.out.join(format!("run-{k}")).join("report.json"))
            .map_err(|e| Failure::CouldNotRun(e.into()))?;
        let reduced = analysis::repeat::reduce(&report, k, total);
        analysis::write_json(&args.out.join("median-run.json"), &reduced).map_err(bench_failure)?;
    }
    println!();
    print!("{}", summary.render());
    println!(
        "repeat: {}/repeat.json{}",
        args.out.display(),
        if summary.median_run.is_some() {
            format!(", {}/median-run.json", args.out.display())
        } else {
            String::new()
        }
    );
    if let Some(failure) = stopped {
        return Err(failure);
    }
    let failed: Vec<String> = summary
        .runs
        .iter()
        .filter(|r| r.outcome != "passed")
        .map(|r| format!("run {} ({})", r.run, r.failed_checks.join(", ")))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Check(anyhow::anyhow!(
            "checks failed in {} of {n} runs: {}",
            failed.len(),
            failed.join("; ")
        )))
    }
}

/// An analysis error (reports, repeats, sweeps) as a failure: bad input (2) or could not run (3).
pub fn bench_failure(error: analysis::Error) -> Failure {
    if error.is_bad_input() {
        Failure::Input(error.into())
    } else {
        Failure::CouldNotRun(error.into())
    }
}
