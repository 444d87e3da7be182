//! `evbench sweep SCENARIO --set KEY=V1,V2,… [--set …] --out DIR`: one run per point of the
//! cartesian product, and the curves.

use std::path::{Path, PathBuf};

use analysis::sweep::{Outcome, Plan, PointResult, Set, SweepSummary, plan};
use anyhow::Context;
use clap::Args;

use crate::Failure;
use crate::cmd::run::{
    bench_failure, failed_checks, interrupted, junit_failure, run_into, write_junit,
};

#[derive(Debug, Args)]
#[command(after_help = "\
Every combination of the values is a point, run like `evbench run` into DIR/<point>/ \
(report.json, report.html, logs/); points are numbered in that order, the first --set varying \
slowest. After every point DIR/sweep.json (each point's values, outcome, throughput, p50, p99 and \
p99.9 per latency path, CPU per signal, peak memory, recovery) and DIR/sweep.html are rewritten, so \
an interrupted sweep keeps what it measured. The page draws curves for a sweep over numbers \
(throughput and latency against the swept key, latency against the offered load, achieved against \
offered) and grouped bars, one per point, for a sweep over names such as engines.

Any dotted key of the scenario file can be set, including keys of sections the file does not \
have; values are TOML (50, 0.5, true, \"max\", [\"a\", \"b\"]) or plain text (max, 10m). Every \
point is built and checked before anything runs: an unknown key or a bad value exits 2 naming \
its --set.

Exit 0: every point passed its checks. 1: a point failed a check (the others still ran). \
3: a point could not run (the others still ran), or the sweep was interrupted.

The saturation curve of this pipeline on this machine (latency and the achieved rate against \
the offered load):
  evbench sweep scenarios/saturation.toml --set load.rate=2500,5000,10000,20000,40000 --out out/saturation

The three aggregator engines side by side:
  evbench sweep scenarios/engines.toml --set aggregator.engine=evbench,flink,kafka-streams --out out/engines

What a sweep would run, without running it:
  evbench sweep scenarios/quickstart.toml --set fleet.chargers=50,100 --out out/fleet --dry-run")]
pub struct SweepArgs {
    /// The scenario file every point starts from.
    scenario: PathBuf,
    /// A key of the scenario and the values it takes, `fleet.chargers=50,100`; give several
    /// --set to sweep several keys (every combination is a point).
    #[arg(long = "set", required = true, value_name = "KEY=V1,V2,…")]
    sets: Vec<Set>,
    /// Where the points' directories, sweep.json and sweep.html go.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Where native Kafka and ClickHouse keep their data during each run (as for `evbench run`).
    #[arg(long)]
    services_dir: Option<PathBuf>,
    /// Build and check every point, print them with their directories, and exit without
    /// starting a server or writing a file (exit 0: the sweep would run; 2: it would be refused).
    #[arg(long)]
    dry_run: bool,
    /// Also write the results as JUnit XML to FILE, for CI systems: one test suite per point,
    /// one test case per check (as `evbench run --junit`).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
}

pub async fn run(args: SweepArgs) -> Result<(), Failure> {
    let plan = plan(&args.scenario, &args.sets).map_err(bench_failure)?;
    for note in &plan.deprecations {
        eprintln!("warning: {}: {note}", args.scenario.display());
    }
    if args.dry_run {
        print_dry_run(&plan, &args.out);
        return Ok(());
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let n = plan.points.len();
    eprintln!(
        "[sweep] {n} points of {} over {}",
        plan.scenario,
        plan.keys.join(", ")
    );
    let mut results: Vec<PointResult> = Vec::with_capacity(n);
    let mut suites: Vec<analysis::junit::Suite> = Vec::with_capacity(n);
    let mut environment = serde_json::Value::Null;
    let mut was_interrupted = false;
    for point in &plan.points {
        if was_interrupted {
            results.push(PointResult::not_run(point));
            continue;
        }
        let dir = args.out.join(&point.name);
        let label = format!("point {}/{n}", point.index);
        eprintln!("[sweep] {label}: {} → {}", point.label(), dir.display());
        let suite_name = format!("{} {}", plan.scenario, point.name);
        match run_into(&point.scenario, &dir, args.services_dir.clone(), &label).await {
            Ok(report) => {
                let value = serde_json::to_value(&report).context("encoding the report")?;
                suites.push(analysis::junit::Suite::from_report(&suite_name, &value));
                if environment.is_null() {
                    environment = value.get("environment").cloned().unwrap_or_default();
                }
                let result = PointResult::from_report(point, &value);
                eprintln!(
                    "[sweep] {label}: {}",
                    one_line(&result, &failed_checks(&report))
                );
                results.push(result);
            }
            Err(failure) if interrupted(&failure) => {
                eprintln!("[sweep] {label}: interrupted");
                was_interrupted = true;
                results.push(PointResult::not_run(point));
            }
            Err(failure) => {
                suites.extend(junit_failure(&suite_name, &failure));
                let (Failure::Check(e) | Failure::Input(e) | Failure::CouldNotRun(e)) = &failure;
                let error = crate::chain(e);
                eprintln!("[sweep] {label}: could not run: {error}");
                results.push(PointResult::could_not_run(point, error));
            }
        }
        write(&args.out, &plan, &args.scenario, &results, &environment, n)?;
    }
    let summary = write(&args.out, &plan, &args.scenario, &results, &environment, n)?;
    if let Some(path) = &args.junit {
        write_junit(path, &suites)?;
    }
    println!();
    print!("{}", summary.render());
    println!(
        "sweep: {}/sweep.json, {}/sweep.html",
        args.out.display(),
        args.out.display()
    );
    let names = |outcome: Outcome| -> Vec<&str> {
        summary
            .points
            .iter()
            .filter(|p| p.outcome == outcome)
            .map(|p| p.name.as_str())
            .collect()
    };
    if was_interrupted {
        return Err(Failure::CouldNotRun(crate::cmd::run::Interrupted.into()));
    }
    let broken = names(Outcome::CouldNotRun);
    if !broken.is_empty() {
        return Err(Failure::CouldNotRun(anyhow::anyhow!(
            "{} of {n} points could not run: {}",
            broken.len(),
            broken.join(", ")
        )));
    }
    let failed = names(Outcome::Failed);
    if !failed.is_empty() {
        return Err(Failure::Check(anyhow::anyhow!(
            "checks failed at {} of {n} points: {}",
            failed.len(),
            failed.join(", ")
        )));
    }
    Ok(())
}

/// What `sweep --dry-run` prints: every point with its directory and values.
fn print_dry_run(plan: &Plan, out: &Path) {
    println!(
        "dry run: {} points of {} over {}",
        plan.points.len(),
        plan.scenario,
        plan.keys.join(", ")
    );
    for point in &plan.points {
        println!("  {}  {}", out.join(&point.name).display(), point.label());
    }
}

/// Writes sweep.json and sweep.html with the points so far (the rest as not run yet).
fn write(
    out: &Path,
    plan: &Plan,
    file: &Path,
    results: &[PointResult],
    environment: &serde_json::Value,
    n: usize,
) -> Result<SweepSummary, Failure> {
    let mut points = results.to_vec();
    points.extend(
        plan.points[results.len()..n]
            .iter()
            .map(PointResult::not_run),
    );
    let summary = SweepSummary::new(plan, file, points, environment.clone());
    analysis::write_json(&out.join("sweep.json"), &summary).map_err(bench_failure)?;
    analysis::write_file(&out.join("sweep.html"), summary.html().as_bytes())
        .map_err(bench_failure)?;
    Ok(summary)
}

/// `PASSED 3120 signals/s · → sessions p50 12 ms p99 40 ms · …`
fn one_line(result: &PointResult, failed: &[&str]) -> String {
    let verdict = if result.passed {
        "PASSED".to_owned()
    } else {
        format!("FAILED ({})", failed.join(", "))
    };
    let mut parts = vec![verdict];
    if let Some(rate) = result.rate("events_per_s") {
        parts.push(format!("{rate:.0} signals/s"));
    }
    let mut paths: Vec<_> = result.latency_ms.iter().collect();
    paths.sort_by_key(|(path, _)| *path != "event_to_session_topic");
    for (path, f) in paths {
        if let (Some(p50), Some(p99)) = (f.p50, f.p99) {
            parts.push(format!("{path} p50 {p50:.1} ms p99 {p99:.1} ms"));
        }
    }
    parts.join(" · ")
}
