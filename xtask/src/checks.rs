//! The two test tiers — `cargo xtask test --fast` (no root, no Asterisk, no
//! Chromium) and `cargo xtask test` (what CI runs on a fresh Debian 12
//! machine: all of the fast tier, then the cross-process tests) — and
//! `cargo xtask run` (the product on a developer's machine).

use anyhow::bail;
use disca_testkit::AsteriskRoot;
use disca_testkit::cargo::nested_cargo;
use disca_testkit::root::{ROOT_ENV, running_as_root};

use crate::packages::{REQUIRED_PACKAGES, ensure_installed};
use crate::process::{run, since_first_step, step};
use crate::{demo, dev_pbx, extension, javascript, provision};
use disca_testkit::postgres::{self, TEST_POSTGRES};

/// What both commands need on the machine, installed when missing: the
/// system packages, the Asterisk root, the extension's toolchain.
fn prepare_machine() -> anyhow::Result<AsteriskRoot> {
    step("System packages");
    ensure_installed(REQUIRED_PACKAGES)?;
    step("Asterisk root");
    let root = provision::provision()?;
    step("Extension toolchain: wasm32 target, wasm-bindgen-cli, Node.js and npm");
    extension::ensure_toolchain()?;
    Ok(root)
}

/// The package of the cross-process tests: the only tests that need root,
/// system packages, a provisioned Asterisk or Chromium. Everything else in
/// the workspace is the fast tier.
const REAL_PARTS_TESTS: &str = "disca-tests";

/// `cargo xtask test --fast`: formatting, lints, every test of the
/// workspace but the cross-process ones (unit tests, the backend's API
/// tests on SQLite, the protocol's checks), the extension's script checks,
/// and the backend's storage and API tests again on a throwaway PostgreSQL
/// when one is installed. Needs no root, no Asterisk, no Chromium and no
/// system package.
pub fn fast() -> anyhow::Result<()> {
    fast_checks()?;
    println!(
        "\nFast checks passed in {:.0} s.",
        since_first_step().as_secs_f64()
    );
    Ok(())
}

/// `cargo xtask test`, what CI runs: the system packages and the Asterisk
/// root, the fast tier, then the cross-process tests with every part real.
pub fn test() -> anyhow::Result<()> {
    if !running_as_root() {
        bail!(
            "`cargo xtask test` installs packages and its system tests start Asterisk with chroot(2): \
             run it as root (e.g. the CI job's container user), or run `cargo xtask test --fast`"
        );
    }
    let root = prepare_machine()?;
    fast_checks()?;
    step("Binaries the cross-process tests run: disca-backend, disca-host");
    run(nested_cargo().args(["build", "-p", "disca-backend", "-p", "disca-host"]))?;
    step("Cross-process tests: cargo test -p disca-tests");
    run(nested_cargo()
        .args(["test", "-p", REAL_PARTS_TESTS])
        .env(ROOT_ENV, root.path()))?;
    cross_process_on_postgres(&root)?;
    println!(
        "\nAll checks passed in {:.0} s.",
        since_first_step().as_secs_f64()
    );
    Ok(())
}

/// Cross-process tests run again with every database a new one on a
/// throwaway PostgreSQL server (`DISCA_TEST_POSTGRES`, which `TestApp` and
/// the CLI helpers honour): a call's whole path (the browser and the
/// extension, Asterisk, the tracker and its follower lock, event streams,
/// CRM notes, the manager page, faults of the PBX link) and the commands
/// run beside a backend. Every test of `disca-tests` passes on PostgreSQL
/// (checked by hand, 2026-12-04) except `storage_faults`, whose faults are
/// SQLite's own (its folder's disk full, its write lock held by another
/// process); `several_backends` and `several_pbxs` run on PostgreSQL
/// always. Only these run twice, so that CI stays within 30 minutes.
const ON_POSTGRES: &[&str] = &[
    "calls",
    "events",
    "crm_notes",
    "missed_ends",
    "end_to_end",
    "live_board",
    "manager_page",
    "resilience",
    "browser_phones",
    "mail",
];

fn cross_process_on_postgres(root: &AsteriskRoot) -> anyhow::Result<()> {
    step("Cross-process tests on PostgreSQL: a call's whole path, DISCA_TEST_POSTGRES set");
    let cluster = postgres::Cluster::start()?;
    println!("throwaway cluster: {}", cluster.url());
    let mut command = nested_cargo();
    command.args(["test", "-p", REAL_PARTS_TESTS]);
    for test in ON_POSTGRES {
        command.args(["--test", test]);
    }
    run(command
        .env(ROOT_ENV, root.path())
        .env(TEST_POSTGRES, cluster.url()))
}

/// Formatting, lints, the workspace's tests but the cross-process ones,
/// the extension's script checks.
fn fast_checks() -> anyhow::Result<()> {
    step("Formatting: cargo fmt --all --check");
    run(nested_cargo().args(["fmt", "--all", "--check"]))?;
    step("Lints: cargo clippy --workspace --all-targets -- -D warnings");
    run(nested_cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("Tests: cargo test --workspace --exclude disca-tests");
    run(nested_cargo().args(["test", "--workspace", "--exclude", REAL_PARTS_TESTS]))?;
    backend_on_postgres()?;
    javascript::check()
}

/// The backend's tests again, every database a new one on a throwaway
/// PostgreSQL server (`storage::testing`); skipped, and said so, where
/// PostgreSQL is not installed (`cargo xtask test` installs it).
fn backend_on_postgres() -> anyhow::Result<()> {
    step("Backend tests on PostgreSQL: cargo test -p disca-backend, DISCA_TEST_POSTGRES set");
    if postgres::server_programs().is_none() {
        println!("PostgreSQL is not installed (Debian's postgresql package): skipped");
        return Ok(());
    }
    let cluster = postgres::Cluster::start()?;
    println!("throwaway cluster: {}", cluster.url());
    run(nested_cargo()
        .args(["test", "-p", "disca-backend"])
        .env(TEST_POSTGRES, cluster.url()))
}

/// `cargo xtask run`: what the product needs on this machine, the
/// development PBX, the builds, then the demo ([`demo`]).
pub fn run_product(headless: bool) -> anyhow::Result<()> {
    prepare_machine()?;
    step("Development PBX (restarted: its robots must be the demo's)");
    dev_pbx::down()?;
    dev_pbx::up()?;
    step("Builds: disca-backend, disca-host, rdstation-standin (release), the extension");
    run(nested_cargo().args([
        "build",
        "--release",
        "-p",
        "disca-backend",
        "-p",
        "disca-host",
        "-p",
        "rdstation-standin",
    ]))?;
    let dist = extension::build()?;
    let options = demo::Options {
        headless,
        recordings: dev_pbx::recordings_dir()?,
    };
    tokio::runtime::Runtime::new()?.block_on(demo::run_until_interrupted(options, dist))
}
