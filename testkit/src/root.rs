//! The Asterisk root: a Debian unstable (sid) file system in which Asterisk
//! 22 runs under `chroot` on a Debian 12 host (bookworm ships no Asterisk,
//! and sid's needs a newer libc). `cargo xtask asterisk provision` builds it
//! (the recipe is in `xtask/src/provision.rs`); the test bed only locates
//! it, here.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};

/// Version of xtask's provisioning recipe; part of the root's path, so a
/// changed recipe gets a root of its own (xtask's recipe test fails until
/// this is bumped along with it).
pub const RECIPE_VERSION: &str = "v1";
/// Environment variable that overrides where the root is.
pub const ROOT_ENV: &str = "DISCA_ASTERISK_ROOT";
/// The Asterisk binary, inside the root.
pub const ASTERISK_BIN: &str = "/usr/sbin/asterisk";

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
