//! `evbench run SCENARIO --out DIR` and `evbench validate SCENARIO…`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
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

pub fn validate(args: ValidateArgs) -> Result<(), Failure> {
    let mut bad = 0;
    for path in &args.scenarios {
        match load(path) {
            Ok(scenario) => println!(
                "{}: ok ({}: {} chargers, {} simulated, time compression {}, engine {}, ingestion {}, provider {})",
                path.display(),
                scenario.name,
                scenario.fleet.chargers,
                humantime::format_duration(scenario.run.span),
                scenario.run.time_compression,
                scenario.aggregator.engine.as_str(),
                scenario.run.ingestion.as_str(),
                scenario.run.provider
            ),
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
    let scenario = load(&args.scenario)?;
    // Fail before the run, not after it: the report must have somewhere to go.
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let context = RunContext {
        evbench: std::env::current_exe().context("locating the evbench executable")?,
        logs: args.out.join("logs"),
        services_dir: args.services_dir.clone(),
    };
    let tty = std::io::stderr().is_terminal();
    let bar = crate::progress::bar(1000, "simulated");
    let last_line = Mutex::new(Instant::now() - Duration::from_secs(60));
    let show = |p: &RunProgress| {
        let line = format!(
            "{:<21} {} signals · {}/{} sessions · {} signals stored",
            p.phase,
            p.produced,
            p.sessions_seen,
            if p.sessions_expected == 0 {
                "?".to_owned()
            } else {
                p.sessions_expected.to_string()
            },
            p.stored_signals
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
        report = scenario::run::run(&scenario, &context, &show) => report,
        _ = tokio::signal::ctrl_c() => {
            bar.finish_and_clear();
            return Err(Failure::CouldNotRun(anyhow::anyhow!("interrupted; services stopped, no report written")));
        }
    };
    bar.finish_and_clear();
    let report = report.map_err(scenario_failure)?;
    report
        .write(&args.out)
        .map_err(|e| Failure::CouldNotRun(anyhow::Error::from(e).context("writing the report")))?;
    print!("{}", report.summary());
    println!(
        "report: {}/report.json, {}/report.html",
        args.out.display(),
        args.out.display()
    );
    if report.passed {
        Ok(())
    } else {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        Err(Failure::Check(anyhow::anyhow!(
            "checks failed: {}",
            failed.join(", ")
        )))
    }
}
