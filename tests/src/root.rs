//! The Asterisk root: a Debian unstable (sid) file system made with
//! `mmdebstrap`, in which Asterisk 22 runs under `chroot` on a Debian 12 host
//! (bookworm ships no Asterisk, and sid's needs a newer libc).
//!
//! The recipe lives here so that the cache key and the recipe cannot drift
//! apart: `cargo xtask asterisk provision` builds the root from it, the test
//! bed only locates it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};

/// Version of the provisioning recipe; part of the cache path, so changing the
/// recipe means bumping it.
pub const RECIPE_VERSION: &str = "v1";
/// Environment variable that overrides where the root is.
pub const ROOT_ENV: &str = "DISCA_ASTERISK_ROOT";
/// Debian suite the root is made from.
pub const SUITE: &str = "sid";
/// Debian mirror.
pub const MIRROR: &str = "http://deb.debian.org/debian";
/// Packages installed into the root.
pub const PACKAGES: &[&str] = &["asterisk", "asterisk-modules", "asterisk-config"];
/// `asterisk -V` must start with this.
pub const EXPECTED_VERSION_PREFIX: &str = "Asterisk 22.";
/// The Asterisk binary, inside the root.
pub const ASTERISK_BIN: &str = "/usr/sbin/asterisk";

/// The `mmdebstrap` arguments that build the root into `target`. The
/// Check-Valid-Until option is needed because the mirror's sid Release file
/// can be older than the machine's clock.
pub fn mmdebstrap_args(target: &Path) -> Vec<String> {
    vec![
        "--variant=apt".to_owned(),
        "--aptopt=Acquire::Check-Valid-Until \"false\"".to_owned(),
        format!("--include={}", PACKAGES.join(",")),
        SUITE.to_owned(),
        target.display().to_string(),
        MIRROR.to_owned(),
    ]
}

/// Whether this process runs as root (chroot(2) needs it).
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A provisioned Asterisk root.
#[derive(Debug, Clone)]
pub struct AsteriskRoot {
    path: PathBuf,
}

impl AsteriskRoot {
    /// Finds the root: `$DISCA_ASTERISK_ROOT`, else
    /// `~/.cache/disca/asterisk/root-v1`. Fails with instructions when it has
    /// not been provisioned.
    pub fn locate() -> anyhow::Result<AsteriskRoot> {
        AsteriskRoot::at(&AsteriskRoot::configured_path()?)
    }

    /// Where the root is or will be provisioned.
    pub fn configured_path() -> anyhow::Result<PathBuf> {
        if let Some(path) = env::var_os(ROOT_ENV).filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(path));
        }
        let home = env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .context("HOME is not set")?;
        Ok(PathBuf::from(home)
            .join(".cache/disca/asterisk")
            .join(format!("root-{RECIPE_VERSION}")))
    }

    /// The root at `path`, which must hold a provisioned Asterisk.
    pub fn at(path: &Path) -> anyhow::Result<AsteriskRoot> {
        let root = AsteriskRoot {
            path: path.to_path_buf(),
        };
        if !root.host_path(ASTERISK_BIN).is_file() {
            bail!(
                "no provisioned Asterisk root at {} (set {ROOT_ENV} to use another one): run `cargo xtask asterisk provision`",
                path.display()
            );
        }
        ensure!(
            root.host_path("/run/asterisk").is_dir(),
            "the Asterisk root at {} is incomplete (no /run/asterisk): remove it and run `cargo xtask asterisk provision`",
            path.display()
        );
        Ok(root)
    }

    /// The root's directory on the host.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Host path of `inside`, a path as seen inside the root.
    pub fn host_path(&self, inside: impl AsRef<Path>) -> PathBuf {
        let inside = inside.as_ref();
        self.path.join(inside.strip_prefix("/").unwrap_or(inside))
    }

    /// `chroot <root> <program>`: a command run inside the root.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("chroot");
        command.arg(&self.path).arg(program);
        command
    }
}
