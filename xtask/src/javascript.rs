//! The extension's JavaScript checks: `npm ci` (ESLint and its config, the
//! only packages, pinned in `extension/package-lock.json`), the unit tests of
//! the service worker's modules (`npm test`: Node's built-in test runner,
//! `chrome` faked, no browser) and ESLint (`npm run lint`).
//!
//! Needs `node` (18.18 or newer) and `npm` on PATH: Debian 12's `nodejs`
//! and `npm` packages are enough.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{run, step};

/// The directory holding `package.json`.
fn extension_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("extension")
}

/// Installs the pinned dev-dependencies, runs the unit tests and the linter.
pub fn check() -> anyhow::Result<()> {
    let dir = extension_dir();
    step("Extension JavaScript: npm ci, npm test, npm run lint");
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir))?;
    run(Command::new("npm").arg("test").current_dir(&dir))?;
    run(Command::new("npm").args(["run", "lint"]).current_dir(&dir))?;
    Ok(())
}
