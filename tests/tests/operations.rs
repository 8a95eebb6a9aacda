//! What an operator monitors with, checked against the real thing: the
//! Prometheus alert rules pass `promtool check rules` and their unit tests
//! (`promtool test rules`, Debian's `prometheus` package), and every
//! `disca_` metric the rules and the Grafana dashboard name is one the
//! backend's metrics registry exports on `/metrics` — so neither drifts
//! from the code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use disca_backend::domain::Outcome;
use disca_backend::telemetry::Metrics;
use serde_json::Value;

fn ops() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(ops().join("prometheus"))
        .output()
        .expect("promtool runs (Debian's prometheus package)");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `disca_…` metric names in `text`, counters without `_total`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("disca_") {
        let start = i + at;
        let end = start
            + text[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(text.len() - start);
        let before = start.checked_sub(1).map(|b| bytes[b]);
        if !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
            let name = &text[start..end];
            names.insert(name.strip_suffix("_total").unwrap_or(name).to_owned());
        }
        i = end;
    }
    names
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    promtool(&["check", "rules", "disca-alerts.yml"]);
    promtool(&["test", "rules", "disca-alerts.test.yml"]);
}

#[test]
fn the_rules_and_the_dashboard_name_only_metrics_the_backend_exports() {
    // The backend's own registry, each labelled family with one series (a
    // family without any is not written).
    let metrics = Metrics::default();
    metrics.call_ended(Outcome::Answered);
    metrics.set_crm_outbox(&[("acme".into(), "pending".into(), 1)]);
    let exported: BTreeSet<String> = metrics
        .render()
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    let rules = std::fs::read_to_string(ops().join("prometheus/disca-alerts.yml")).unwrap();
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(ops().join("grafana/disca.json")).unwrap())
            .unwrap();
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    assert!(!exprs.is_empty());
    let named: BTreeSet<String> = metric_names(&rules)
        .into_iter()
        .chain(exprs.iter().flat_map(|e| metric_names(e)))
        .collect();
    assert!(named.contains("disca_crm_outbox"), "{named:?}");
    let missing: Vec<&String> = named.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "named but not exported: {missing:?} (exported: {exported:?})"
    );
}
