//! `cargo xtask asterisk provision`: builds the Debian sid root in which
//! Asterisk 22 runs, from the recipe here (`mmdebstrap` of sid with the
//! Asterisk packages); the test bed finds it through
//! `disca_testkit::AsteriskRoot`, at a path versioned by
//! `disca_testkit::root::RECIPE_VERSION`.
//!
//! The root is built in a temporary directory next to its final place and
//! renamed into place only once Asterisk runs in it, so an interrupted
//! provisioning never leaves a half-built root where the tests look.

use std::path::Path;

use anyhow::{Context, bail, ensure};
use disca_testkit::AsteriskRoot;
use disca_testkit::root::ASTERISK_BIN;

use crate::packages::ensure_installed;
use crate::process::{output, privileged, run, step};

/// Debian suite the root is made from.
const SUITE: &str = "sid";
/// Debian mirror.
const MIRROR: &str = "http://deb.debian.org/debian";
/// Packages installed into the root.
const PACKAGES: &[&str] = &["asterisk", "asterisk-modules", "asterisk-config"];
/// `asterisk -V` must start with this.
const EXPECTED_VERSION_PREFIX: &str = "Asterisk 22.";

/// The `mmdebstrap` arguments that build the root into `target`. The
/// Check-Valid-Until option is needed because the mirror's sid Release file
/// can be older than the machine's clock.
fn mmdebstrap_args(target: &Path) -> Vec<String> {
    vec![
        "--variant=apt".to_owned(),
        "--aptopt=Acquire::Check-Valid-Until \"false\"".to_owned(),
        format!("--include={}", PACKAGES.join(",")),
        SUITE.to_owned(),
        target.display().to_string(),
        MIRROR.to_owned(),
    ]
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use disca_testkit::root::RECIPE_VERSION;

    /// The recipe and the version in the root's path change together: a
    /// root built from another recipe is never taken for this one's.
    #[test]
    fn the_recipe_is_the_one_its_version_names() {
        assert_eq!(
            (
                RECIPE_VERSION,
                mmdebstrap_args(Path::new("/root-dir")),
                EXPECTED_VERSION_PREFIX
            ),
            (
                "v1",
                vec![
                    "--variant=apt".to_owned(),
                    "--aptopt=Acquire::Check-Valid-Until \"false\"".to_owned(),
                    "--include=asterisk,asterisk-modules,asterisk-config".to_owned(),
                    "sid".to_owned(),
                    "/root-dir".to_owned(),
                    "http://deb.debian.org/debian".to_owned(),
                ],
                "Asterisk 22."
            ),
            "the provisioning recipe changed: bump disca_testkit::root::RECIPE_VERSION and this test"
        );
    }
}
