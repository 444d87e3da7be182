//! `evbench run SCENARIO --out DIR` and `evbench validate SCENARIO`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use scenario::Scenario;
use scenario::run::RunProgress;

use crate::Failure;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file (TOML), e.g. `scenarios/quickstart.toml`.
    scenario: PathBuf,
    /// Where `report.json` and `report.html` go.
    #[arg(long, default_value = "out")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files to check without running them.
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
}

fn load(path: &Path) -> Result<Scenario, Failure> {
    Scenario::load(path).map_err(|e| Failure::Input(e.into()))
}

pub fn validate(args: ValidateArgs) -> Result<(), Failure> {
    for path in &args.scenarios {
        let scenario = load(path)?;
        let fleet = scenario
            .fleet_config()
            .map_err(|m| Failure::Input(anyhow::anyhow!(m)))?;
        println!(
            "{}: ok ({}: {} chargers, {} simulated, compression {:?}, ingestion {}, provider {})",
            path.display(),
            scenario.name,
            fleet.chargers,
            humantime::format_duration(scenario.run.span),
            scenario.run.compression,
            scenario.run.ingestion.as_str(),
            scenario.run.provider
        );
    }
    Ok(())
}

pub async fn run(args: RunArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    let tty = std::io::stderr().is_terminal();
    let bar = crate::progress::bar(1000, "simulated");
    let last_line = Mutex::new(Instant::now() - Duration::from_secs(60));
    let show = |p: &RunProgress| {
        let line = format!(
            "{:<18} {} signals · {}/{} sessions · {} signals stored",
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
        report = scenario::run::run(&scenario, &show) => report,
        _ = tokio::signal::ctrl_c() => {
            bar.finish_and_clear();
            return Err(Failure::Check(anyhow::anyhow!("interrupted; services stopped, no report written")));
        }
    };
    bar.finish_and_clear();
    let report = report.context("the run")?;
    report.write(&args.out).context("writing the report")?;
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
