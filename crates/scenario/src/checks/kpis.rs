//! `kpis`: every KPI query returns, in ClickHouse, what Rust computes from the ground truth.

use std::collections::HashMap;

use schema::kpi::{self, KpiQuery, KpiValues, Value};

use crate::checks::Evidence;
use crate::report::{Check, KpiRow, KpiSummary};

pub(super) fn kpis(evidence: &Evidence) -> (Option<Check>, KpiSummary) {
    let Some(k) = &evidence.kpis else {
        return (None, KpiSummary::default());
    };
    match &k.actual {
        Ok(actual) => {
            let differences = kpi::compare(&k.expected, actual, &k.queries);
            let table = summary(&k.expected, actual, &k.queries, &differences);
            let check = Check {
                name: "kpis".into(),
                passed: differences.is_empty(),
                detail: format!(
                    "{} values in {} KPIs compared; {}",
                    table.checked,
                    k.queries.len(),
                    if differences.is_empty() {
                        "all equal".to_owned()
                    } else {
                        first_few(&differences)
                    }
                ),
            };
            (Some(check), table)
        }
        Err(e) => (
            Some(Check {
                name: "kpis".into(),
                passed: false,
                detail: format!("KPI queries failed: {}", crate::error_chain(e)),
            }),
            KpiSummary::default(),
        ),
    }
}

/// The first differences, and how many more there are (the KPI table has them all).
fn first_few(differences: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = format!("{} differ: ", differences.len());
    text.push_str(&differences[..differences.len().min(SHOWN)].join("; "));
    if differences.len() > SHOWN {
        text.push_str(&format!(
            "; … and {} more (report.json → kpis.table)",
            differences.len() - SHOWN
        ));
    }
    text
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f}"),
        Value::Text(t) => t.clone(),
    }
}

fn row_text(values: &[Value]) -> String {
    values
        .iter()
        .map(value_text)
        .collect::<Vec<_>>()
        .join(" · ")
}

/// One report row per KPI row, matched by key columns.
fn summary(
    expected: &KpiValues,
    actual: &KpiValues,
    queries: &[KpiQuery],
    differences: &[String],
) -> KpiSummary {
    let mut summary = KpiSummary {
        failed: differences.len() as u64,
        ..KpiSummary::default()
    };
    for query in queries {
        let (Some(e), Some(a)) = (
            expected.tables.get(query.name),
            actual.tables.get(query.name),
        ) else {
            continue;
        };
        let key_of = |row: &Vec<Value>| row_text(&row[..query.key_columns.min(row.len())]);
        let actual_rows: HashMap<String, &Vec<Value>> =
            a.rows.iter().map(|r| (key_of(r), r)).collect();
        let failed_here = differences.iter().any(|d| d.starts_with(query.name));
        for row in &e.rows {
            let key = key_of(row);
            let observed = actual_rows
                .get(&key)
                .map(|r| row_text(&r[query.key_columns.min(r.len())..]))
                .unwrap_or_else(|| "(missing)".into());
            let expected_text = row_text(&row[query.key_columns.min(row.len())..]);
            summary.checked += 1;
            summary.table.push(KpiRow {
                kpi: query.name.to_owned(),
                key: if key.is_empty() { "(all)".into() } else { key },
                passed: !failed_here || observed == expected_text,
                expected: expected_text,
                observed,
            });
        }
    }
    summary
}
