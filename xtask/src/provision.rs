//! `cargo xtask asterisk provision`: builds the Debian sid root in which
//! Asterisk 22 runs (recipe and cache key in `disca_tests::root`).
//!
//! The root is built in a temporary directory next to its final place and
//! renamed into place only once Asterisk runs in it, so an interrupted
//! provisioning never leaves a half-built root where the tests look.

use std::path::Path;

use anyhow::{Context, bail, ensure};
use disca_tests::AsteriskRoot;
use disca_tests::root::{ASTERISK_BIN, EXPECTED_VERSION_PREFIX, mmdebstrap_args};

use crate::packages::ensure_installed;
use crate::process::{output, privileged, run, step};

/// Makes sure the root exists and runs Asterisk 22; returns it.
pub fn provision() -> anyhow::Result<AsteriskRoot> {
    let target = AsteriskRoot::configured_path()?;
    if target.exists() {
        let root = AsteriskRoot::at(&target)?;
        let version = asterisk_version(&target)?;
        ensure!(
            version.starts_with(EXPECTED_VERSION_PREFIX),
            "{} runs {version:?}, expected {EXPECTED_VERSION_PREFIX}*: remove it and provision again",
            target.display()
        );
        println!(
            "Asterisk root already provisioned at {} ({version})",
            target.display()
        );
        return Ok(root);
    }

    step("Provisioning the Asterisk root (Debian sid + Asterisk 22)");
    ensure_installed(&["mmdebstrap"])?;
    let parent = target
        .parent()
        .context("the root path has no parent directory")?;
    let name = target
        .file_name()
        .context("the root path has no file name")?
        .to_string_lossy();
    let partial = parent.join(format!("{name}.partial-{}", std::process::id()));
    run(privileged("mkdir").arg("-p").arg(parent))?;
    if partial.exists() {
        run(privileged("rm").arg("-rf").arg(&partial))?;
    }
    let built = build(&partial);
    if built.is_err() {
        // Best effort: the build error is the one to report.
        let _ = run(privileged("rm").arg("-rf").arg(&partial));
    }
    built?;
    run(privileged("mv")
        .arg("--no-target-directory")
        .arg(&partial)
        .arg(&target))?;
    let root = AsteriskRoot::at(&target)?;
    println!("Asterisk root ready at {}", target.display());
    Ok(root)
}

/// Builds a root into `dir` and checks that its Asterisk runs.
fn build(dir: &Path) -> anyhow::Result<()> {
    run(privileged("mmdebstrap").args(mmdebstrap_args(dir)))?;
    // Without it Asterisk fails with "ASTdb initialization failed".
    run(privileged("mkdir").arg("-p").arg(dir.join("run/asterisk")))?;
    let version = asterisk_version(dir)?;
    if !version.starts_with(EXPECTED_VERSION_PREFIX) {
        bail!(
            "the new root runs {version:?}, expected {EXPECTED_VERSION_PREFIX}*: the recipe needs updating"
        );
    }
    println!("{version}");
    Ok(())
}

/// `asterisk -V` in the root at `dir`.
fn asterisk_version(dir: &Path) -> anyhow::Result<String> {
    Ok(
        output(privileged("chroot").arg(dir).arg(ASTERISK_BIN).arg("-V"))?
            .trim()
            .to_owned(),
    )
}
