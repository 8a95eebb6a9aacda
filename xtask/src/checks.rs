//! `cargo xtask test` (what CI runs on a fresh Debian 12 machine) and
//! `cargo xtask run` (the product on a developer's machine).

use std::env;
use std::process::Command;

use anyhow::bail;
use disca_tests::AsteriskRoot;
use disca_tests::instance::repository_dir;
use disca_tests::root::{ROOT_ENV, running_as_root};

use crate::packages::{REQUIRED_PACKAGES, ensure_installed};
use crate::process::{run, step};
use crate::{demo, dev_pbx, extension, provision};

/// The cargo that runs xtask, so that nested builds use the same toolchain.
fn cargo() -> Command {
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(repository_dir());
    command
}

/// What both commands need on the machine, installed when missing: the
/// system packages, the Asterisk root, the extension's toolchain.
fn prepare_machine() -> anyhow::Result<AsteriskRoot> {
    step("System packages");
    ensure_installed(REQUIRED_PACKAGES)?;
    step("Asterisk root");
    let root = provision::provision()?;
    step("Extension toolchain: wasm32 target, wasm-bindgen-cli");
    extension::ensure_toolchain()?;
    Ok(root)
}

/// System packages, Asterisk root, formatting, lints, every test.
pub fn test() -> anyhow::Result<()> {
    if !running_as_root() {
        bail!(
            "`cargo xtask test` installs packages and its system tests start Asterisk with chroot(2): \
             run it as root (e.g. the CI job's container user)"
        );
    }
    let root = prepare_machine()?;
    step("Formatting: cargo fmt --all --check");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    step("Lints: cargo clippy --workspace --all-targets -- -D warnings");
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("Tests: cargo test --workspace");
    run(cargo()
        .args(["test", "--workspace"])
        .env(ROOT_ENV, root.path()))?;
    println!("\nAll checks passed.");
    Ok(())
}

/// `cargo xtask run`: what the product needs on this machine, the
/// development PBX, the builds, then the demo ([`demo`]).
pub fn run_product(headless: bool) -> anyhow::Result<()> {
    prepare_machine()?;
    step("Development PBX (restarted: its robots must be the demo's)");
    dev_pbx::down()?;
    dev_pbx::up()?;
    step("Builds: disca-backend, disca-host, rdstation-standin (release), the extension");
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "disca-backend",
        "-p",
        "disca-host",
        "-p",
        "rdstation-standin",
    ]))?;
    let dist = disca_tests::extension::build()?;
    let options = demo::Options {
        headless,
        recordings: dev_pbx::recordings_dir()?,
    };
    tokio::runtime::Runtime::new()?.block_on(demo::run_until_interrupted(options, dist))
}
