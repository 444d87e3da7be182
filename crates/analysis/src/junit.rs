//! Results a CI system reads: JUnit XML (`evbench run --junit FILE`, also with `--repeat` and
//! for `evbench sweep`). One `<testsuite>` per run (the scenario, or the run or point), one
//! `<testcase>` per check: a failed check is a `<failure>` whose message is the check's detail;
//! a run that could not be carried out is a single test case with an `<error>`. The run's
//! figures (every figure of [`figures::extract`]) are the suite's properties, so a CI system
//! can chart them.
//!
//! The layout is the one Jenkins, GitLab and GitHub's JUnit readers share (the Ant JUnit
//! schema): `testsuites` › `testsuite` (`name`, `tests`, `failures`, `errors`, `time`,
//! `timestamp`) › `properties` and `testcase` (`name`, `classname`, `time`).

use std::fmt::Write as _;

use serde_json::Value;

use crate::figures;

/// One test case: a check of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub name: String,
    /// The check failed: its detail.
    pub failure: Option<String>,
    /// The run could not be carried out: why.
    pub error: Option<String>,
}

/// One test suite: a run of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// The scenario's name, with the run's or the point's when there are several.
    pub name: String,
    /// Wall seconds of the run, when it ran.
    pub time_s: Option<f64>,
    /// When the run started (RFC 3339), when known.
    pub timestamp: Option<String>,
    pub properties: Vec<(String, String)>,
    pub cases: Vec<Case>,
}

impl Suite {
    /// The suite of a run's `report.json`: its checks as test cases, its figures as properties.
    pub fn from_report(name: &str, report: &Value) -> Suite {
        let mut properties: Vec<(String, String)> = Vec::new();
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        for key in ["scenario", "seed", "passed", "provider", "ingestion"] {
            if let Some(v) = report.get(key) {
                properties.push((key.to_owned(), text(v)));
            }
        }
        if let Some(engine) = report.pointer("/aggregator/engine") {
            properties.push(("aggregator.engine".into(), text(engine)));
        }
        for figure in figures::extract(report) {
            properties.push((figure.key, figure.value.to_string()));
        }
        let cases = report
            .get("checks")
            .and_then(Value::as_array)
            .map(|checks| {
                checks
                    .iter()
                    .map(|check| {
                        let passed = check.get("passed").and_then(Value::as_bool) == Some(true);
                        Case {
                            name: check
                                .get("name")
                                .and_then(Value::as_str)
                                .unwrap_or("check")
                                .to_owned(),
                            failure: (!passed).then(|| {
                                check
                                    .get("detail")
                                    .and_then(Value::as_str)
                                    .unwrap_or("failed")
                                    .to_owned()
                            }),
                            error: None,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Suite {
            name: name.to_owned(),
            time_s: report.get("wall_s").and_then(Value::as_f64),
            timestamp: report
                .pointer("/environment/started_at")
                .and_then(Value::as_str)
                .map(str::to_owned),
            properties,
            cases,
        }
    }

    /// The suite of a run that could not be carried out: one test case, `run`, in error.
    pub fn could_not_run(name: &str, error: &str) -> Suite {
        Suite {
            name: name.to_owned(),
            time_s: None,
            timestamp: None,
            properties: Vec::new(),
            cases: vec![Case {
                name: "run".into(),
                failure: None,
                error: Some(error.to_owned()),
            }],
        }
    }

    fn failures(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_some()).count()
    }

    fn errors(&self) -> usize {
        self.cases.iter().filter(|c| c.error.is_some()).count()
    }
}

/// The JUnit XML document of `suites`.
pub fn xml(suites: &[Suite]) -> String {
    let mut x = String::with_capacity(4096);
    let tests: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failures: usize = suites.iter().map(Suite::failures).sum();
    let errors: usize = suites.iter().map(Suite::errors).sum();
    let time: f64 = suites.iter().filter_map(|s| s.time_s).sum();
    let _ = writeln!(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(
        x,
        "<testsuites name=\"evbench\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{time:.3}\">"
    );
    for suite in suites {
        let _ = write!(
            x,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{:.3}\"",
            attr(&suite.name),
            suite.cases.len(),
            suite.failures(),
            suite.errors(),
            suite.time_s.unwrap_or(0.0)
        );
        if let Some(timestamp) = &suite.timestamp {
            // The schema's timestamp has no zone designator.
            let local = timestamp.trim_end_matches('Z');
            let local = local.split('.').next().unwrap_or(local);
            let _ = write!(x, " timestamp=\"{}\"", attr(local));
        }
        x.push_str(">\n");
        if !suite.properties.is_empty() {
            x.push_str("    <properties>\n");
            for (name, value) in &suite.properties {
                let _ = writeln!(
                    x,
                    "      <property name=\"{}\" value=\"{}\"/>",
                    attr(name),
                    attr(value)
                );
            }
            x.push_str("    </properties>\n");
        }
        let classname = format!("evbench.{}", suite.name);
        for case in &suite.cases {
            let _ = write!(
                x,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
                attr(&case.name),
                attr(&classname)
            );
            match (&case.failure, &case.error) {
                (None, None) => x.push_str("/>\n"),
                (failure, error) => {
                    x.push_str(">\n");
                    if let Some(detail) = failure {
                        let _ = writeln!(
                            x,
                            "      <failure message=\"{}\" type=\"check failed\">{}</failure>",
                            attr(&first_line(detail)),
                            text(detail)
                        );
                    }
                    if let Some(detail) = error {
                        let _ = writeln!(
                            x,
                            "      <error message=\"{}\" type=\"could not run\">{}</error>",
                            attr(&first_line(detail)),
                            text(detail)
                        );
                    }
                    x.push_str("    </testcase>\n");
                }
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
}

/// Writes the JUnit XML of `suites` to `path` (its folder created if needed).
pub fn write(path: &std::path::Path, suites: &[Suite]) -> crate::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| crate::Error::Write {
            context: format!("create {}", parent.display()),
            source,
        })?;
    }
    crate::write_file(path, xml(suites).as_bytes())
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    let mut short: String = line.chars().take(500).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

/// Text as XML character data: escaped, and without the control characters XML 1.0 forbids.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text as an XML attribute value in double quotes (line breaks kept as character references).
fn attr(s: &str) -> String {
    text(s)
        .replace('"', "&quot;")
        .replace('\n', "&#10;")
        .replace('\r', "&#13;")
        .replace('\t', "&#9;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(passed: bool) -> Value {
        json!({
            "scenario": "quickstart", "seed": 42, "passed": passed, "wall_s": 12.5,
            "aggregator": { "engine": "evbench" },
            "environment": { "started_at": "2026-12-05T18:00:00.123Z" },
            "throughput": { "events_per_s": 160.0 },
            "checks": [
                { "name": "drained", "passed": true, "detail": "drained" },
                { "name": "sessions-exact", "passed": passed, "detail": "1 missing: <charger-1@5> & \"more\"\u{1}" }
            ]
        })
    }

    #[test]
    fn a_failed_check_is_a_failure_with_its_detail_and_figures_are_properties() {
        let suite = Suite::from_report("quickstart", &report(false));
        assert_eq!(suite.failures(), 1);
        let x = xml(&[suite]);
        assert!(x.contains("<testsuites name=\"evbench\" tests=\"2\" failures=\"1\" errors=\"0\""));
        assert!(
            x.contains("<testcase name=\"drained\" classname=\"evbench.quickstart\" time=\"0\"/>")
        );
        assert!(x.contains("<failure message=\"1 missing: &lt;charger-1@5&gt; &amp; &quot;more&quot;\\u{1}\" type=\"check failed\">1 missing: &lt;charger-1@5&gt; &amp; \"more\"\\u{1}</failure>"), "{x}");
        assert!(x.contains("<property name=\"throughput.events_per_s\" value=\"160\"/>"));
        assert!(x.contains("<property name=\"aggregator.engine\" value=\"evbench\"/>"));
        assert!(x.contains("timestamp=\"2026-12-05T18:00:00\""));
    }

    #[test]
    fn a_run_that_could_not_run_is_an_error() {
        let x = xml(&[
            Suite::from_report("run-1", &report(true)),
            Suite::could_not_run("run-2", "Kafka did not start\nsee its log"),
        ]);
        assert!(x.contains("tests=\"3\" failures=\"0\" errors=\"1\""));
        assert!(x.contains("<error message=\"Kafka did not start\" type=\"could not run\">Kafka did not start\nsee its log</error>"));
    }
}
