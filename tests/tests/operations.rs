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

/// The `disca_…` metric names in `text`, without the suffixes of counter
/// and histogram series (`_total`, `_bucket`, `_sum`, `_count`).
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
            let mut name = &text[start..end];
            for suffix in ["_total", "_bucket", "_sum", "_count"] {
                name = name.strip_suffix(suffix).unwrap_or(name);
            }
            names.insert(name.to_owned());
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
    metrics.crm_error(true);
    let pbx = disca_backend::domain::PbxName::default();
    metrics.set_ami_connected(&pbx, true);
    metrics.set_live_calls(&pbx, 1);
    metrics.set_pbx_following(&pbx, true);
    metrics.originate_acknowledged(&pbx, 0.01);
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

/// `cargo xtask backend-deb`, from the backend the test command built:
/// the package holds the program, the unit and the settings (a conffile),
/// its `postinst` parses, and `systemd-analyze verify` accepts the unit as
/// the package installs it (the package's `/usr/bin` overlaid on the real
/// one in a mount namespace of its own, so nothing is installed here).
#[test]
fn the_backend_package_holds_a_hardened_unit_that_systemd_accepts() {
    let status = disca_testkit::cargo::nested_cargo()
        .current_dir(disca_testkit::instance::repository_dir())
        .args(["xtask", "backend-deb", "--binary"])
        .arg(disca_testkit::system::backend_binary())
        .status()
        .unwrap();
    assert!(status.success(), "cargo xtask backend-deb failed");
    let deb = disca_testkit::instance::repository_dir().join(format!(
        "target/dist/disca-backend_{}_amd64.deb",
        env!("CARGO_PKG_VERSION")
    ));
    let run = |program: &str, args: &[&str]| {
        let out = Command::new(program).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deb_path = deb.to_str().unwrap();
    let contents = run("dpkg-deb", &["--contents", deb_path]);
    for file in [
        "./usr/bin/disca-backend",
        "./lib/systemd/system/disca-backend.service",
        "./etc/disca/backend.toml",
    ] {
        assert!(contents.contains(file), "{file} missing:\n{contents}");
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let control = dir.path().join("control");
    run("dpkg-deb", &["-x", deb_path, root.to_str().unwrap()]);
    run("dpkg-deb", &["-e", deb_path, control.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(control.join("conffiles")).unwrap(),
        "/etc/disca/backend.toml\n"
    );
    run("sh", &["-n", control.join("postinst").to_str().unwrap()]);

    let unit =
        std::fs::read_to_string(root.join("lib/systemd/system/disca-backend.service")).unwrap();
    for line in [
        "User=disca",
        "StateDirectory=disca",
        "ProtectSystem=strict",
        "ProtectHome=true",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "CapabilityBoundingSet=",
        "ExecStart=/usr/bin/disca-backend --config /etc/disca/backend.toml serve",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "{line} missing from the unit"
        );
    }
    let script = format!(
        "mount -t overlay disca-bin -o lowerdir={}:/usr/bin /usr/bin && \
         SYSTEMD_UNIT_PATH={}: systemd-analyze verify --man=no disca-backend.service",
        root.join("usr/bin").display(),
        root.join("lib/systemd/system").display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The settings the package installs are ones the backend reads.
    let settings = root.join("etc/disca/backend.toml");
    let check = Command::new(root.join("usr/bin/disca-backend"))
        .args(["--config", settings.to_str().unwrap(), "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["tenant", "add", "--slug", "acme", "--name", "Acme"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
