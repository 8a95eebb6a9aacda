//! The extension's JavaScript: its packages (SIP.js, bundled into the
//! softphone, and the dev tools esbuild and ESLint, all pinned in
//! `extension/package-lock.json`), installed with `npm ci` when missing or
//! stale ([`ensure_dependencies`], for the build), and its checks: the unit
//! tests of the worker's and the softphone's modules (`npm test`: Node's
//! built-in test runner, `chrome` faked, no browser) and ESLint (`npm run
//! lint`).
//!
//! Needs `node` (18.18 or newer) and `npm` on PATH: Debian 12's `nodejs`
//! and `npm` packages are enough; `cargo xtask test` installs them where
//! `npm` is missing ([`ensure_node`]), the fast tier expects them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::packages::ensure_installed;
use crate::process::{run, step};

/// The directory holding `package.json`.
pub fn extension_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("extension")
}

/// Whether an `npm` runs here.
fn npm_runs() -> bool {
    Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Installs Debian's `nodejs` and `npm` unless an `npm` already runs (a
/// machine with Node.js from elsewhere, e.g. NodeSource's package, which
/// bundles npm and conflicts with Debian's).
pub fn ensure_node() -> anyhow::Result<()> {
    if npm_runs() {
        return Ok(());
    }
    ensure_installed(&["nodejs", "npm"])
}

/// Runs `npm ci` unless `node_modules/` already holds what
/// `package-lock.json` pins: every npm install writes the hidden lockfile
/// `node_modules/.package-lock.json`, so it is at least as new as
/// `package-lock.json` exactly when the lock has not changed since.
pub fn ensure_dependencies() -> anyhow::Result<()> {
    let dir = extension_dir();
    let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let lock = modified(dir.join("package-lock.json"));
    let installed = modified(dir.join("node_modules").join(".package-lock.json"));
    if lock.is_some() && installed >= lock {
        return Ok(());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir))
}

/// Installs the pinned packages, runs the unit tests and the linter.
pub fn check() -> anyhow::Result<()> {
    let dir = extension_dir();
    anyhow::ensure!(
        npm_runs(),
        "the extension's JavaScript checks need Node.js (18.18 or newer) and npm: \
         `apt-get install nodejs npm` (or run `cargo xtask test` as root, which installs them)"
    );
    step("Extension JavaScript: npm ci, npm test, npm run lint");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir))?;
    run(Command::new("npm").arg("test").current_dir(&dir))?;
    run(Command::new("npm").args(["run", "lint"]).current_dir(&dir))?;
    Ok(())
}
