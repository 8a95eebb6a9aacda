//! One Asterisk instance inside a shared root: its own configuration, run,
//! spool, log, database and cache directories, so that several instances
//! (parallel tests, the development PBX) run from one root at once.
//!
//! An instance lives in `<root>/disca/<name>`; Asterisk sees it as
//! `/disca/<name>` and is started with `-C /disca/<name>/etc/asterisk.conf`,
//! whose `[directories]` point at the instance (see `asterisk-config/`).

use std::fs::{self, OpenOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::time::{Instant, sleep, timeout};

use crate::ami::AmiSession;
use crate::root::{ASTERISK_BIN, AsteriskRoot};
use disca_asterisk_render::{SITE_VARS_FILE, SiteVars, Templates, render_config};

/// The repository's top directory.
pub fn repository_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Sub-directories of an instance, relative to it, each with the site
/// variable that tells Asterisk about it (`asterisk.conf`, `[directories]`).
pub const DIRECTORY_VARS: &[(&str, &str)] = &[
    ("AST_ETC_DIR", "etc"),
    ("AST_RUN_DIR", "run"),
    ("AST_SPOOL_DIR", "spool"),
    ("AST_LOG_DIR", "log"),
    ("AST_DB_DIR", "db"),
    ("AST_CACHE_DIR", "cache"),
];

/// The phone directory's folder and file, relative to an instance.
const PHONE_DIRECTORY_DIR: &str = "phones";
const PHONE_DIRECTORY: &str = "phones/directory.sqlite3";

/// An instance directory inside an [`AsteriskRoot`].
#[derive(Debug, Clone)]
pub struct PbxInstance {
    root: AsteriskRoot,
    inside: PathBuf,
}

impl PbxInstance {
    /// The instance `name` (a relative path such as `dev` or `tests/abc`).
    pub fn new(root: &AsteriskRoot, name: &str) -> PbxInstance {
        PbxInstance {
            root: root.clone(),
            inside: Path::new("/disca").join(name),
        }
    }

    /// The instance directory on the host.
    pub fn dir(&self) -> PathBuf {
        self.root.host_path(&self.inside)
    }

    /// Where MixMonitor writes recordings (the monitor spool), on the host.
    pub fn recordings_dir(&self) -> PathBuf {
        self.dir().join("spool/monitor")
    }

    /// The phone directory (the site variable `PHONE_DIRECTORY_DB`), as the
    /// host sees it: the backend's `[phones] directory_db`.
    pub fn phone_directory(&self) -> PathBuf {
        self.dir().join(PHONE_DIRECTORY)
    }

    /// The folder of announcements (the backend's `[recordings]
    /// prompts_dir`), on the host.
    pub fn prompts_dir(&self) -> PathBuf {
        self.dir().join("prompts")
    }

    /// The same folder as Asterisk sees it (`[recordings] pbx_prompts_dir`).
    pub fn pbx_prompts_dir(&self) -> String {
        self.inside.join("prompts").display().to_string()
    }

    /// Asterisk's standard output and error, on the host.
    pub fn console_log(&self) -> PathBuf {
        self.dir().join("console.log")
    }

    /// Asterisk's full log (`messages.log`), on the host.
    pub fn messages_log(&self) -> PathBuf {
        self.dir().join("log/messages.log")
    }

    /// `asterisk.conf` as Asterisk sees it.
    fn config_file(&self) -> PathBuf {
        self.inside.join("etc/asterisk.conf")
    }

    /// Creates the instance directories and renders the production
    /// templates (`asterisk-config/`, as built into `disca-asterisk-render`) with
    /// the site directory `site` into `etc/` (replacing what was there).
    /// `vars` are added to the site's `site.vars`, if it has one, together
    /// with the instance's directories, and `overrides` change the site's
    /// values. Returns every variable used.
    pub fn prepare(
        &self,
        site: &Path,
        vars: SiteVars,
        overrides: &SiteVars,
    ) -> anyhow::Result<SiteVars> {
        let vars_file = site.join(SITE_VARS_FILE);
        let mut all = if vars_file.exists() {
            SiteVars::load(&vars_file)?
        } else {
            SiteVars::new()
        };
        for (name, value) in vars.iter() {
            all.define(name, value)?;
        }
        for (name, value) in overrides.iter() {
            all.replace(name, value)?;
        }
        let dir = self.dir();
        for (name, sub) in DIRECTORY_VARS {
            fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
            all.define(name, &self.inside.join(sub).display().to_string())?;
        }
        fs::create_dir_all(self.recordings_dir())?;
        fs::create_dir_all(dir.join(PHONE_DIRECTORY_DIR))?;
        all.define(
            "PHONE_DIRECTORY_DB",
            &self.inside.join(PHONE_DIRECTORY).display().to_string(),
        )?;
        let etc = dir.join("etc");
        fs::remove_dir_all(&etc).with_context(|| format!("clearing {}", etc.display()))?;
        render_config(&Templates::Embedded, site, &all, &etc)?;
        Ok(all)
    }

    /// Creates the phone directory's tables as the backend does, so that
    /// phones can register before any backend has run.
    pub async fn create_phone_directory(&self) -> anyhow::Result<()> {
        disca_backend::phones::Directory::open(&self.phone_directory()).await?;
        Ok(())
    }

    /// `chroot <root> asterisk -f -n -C <instance>/etc/asterisk.conf`, output
    /// appended to [`PbxInstance::console_log`].
    pub fn asterisk_command(&self) -> anyhow::Result<Command> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.console_log())
            .with_context(|| format!("opening {}", self.console_log().display()))?;
        let mut command = self.root.command(ASTERISK_BIN);
        command
            .arg("-f")
            .arg("-n")
            .arg("-C")
            .arg(self.config_file())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        Ok(command)
    }

    /// Runs one CLI command in the running instance (`asterisk -rx`).
    pub async fn cli(&self, command: &str) -> anyhow::Result<String> {
        let mut remote = tokio::process::Command::from(self.root.command(ASTERISK_BIN));
        remote
            .arg("-C")
            .arg(self.config_file())
            .arg("-rx")
            .arg(command)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = timeout(Duration::from_secs(20), remote.output())
            .await
            .with_context(|| format!("`asterisk -rx {command:?}` timed out"))?
            .context("running `asterisk -rx`")?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "`asterisk -rx {command:?}` failed: {}{}",
                stdout,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(stdout)
    }

    /// Waits until AMI at `ami` sends its banner and Asterisk reports it is
    /// fully booted. `check_alive` is called between attempts and should fail
    /// if the process has exited. Errors carry the tail of Asterisk's output.
    pub async fn wait_until_ready(
        &self,
        ami: SocketAddr,
        patience: Duration,
        mut check_alive: impl FnMut() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + patience;
        loop {
            if let Err(error) = check_alive() {
                bail!(
                    "{error:#}\n--- Asterisk output (tail) ---\n{}",
                    self.console_tail(40)
                );
            }
            let error = match AmiSession::connect(ami).await {
                Ok(_) => break,
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                bail!(
                    "Asterisk did not answer on AMI {ami} within {patience:?} ({error:#})\n--- Asterisk output (tail) ---\n{}",
                    self.console_tail(40)
                );
            }
            sleep(Duration::from_millis(100)).await;
        }
        let booted = timeout(
            deadline.saturating_duration_since(Instant::now()),
            self.cli("core waitfullybooted"),
        )
        .await;
        match booted {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => bail!(
                "{error:#}\n--- Asterisk output (tail) ---\n{}",
                self.console_tail(40)
            ),
            Err(_) => bail!(
                "Asterisk answered on AMI but did not finish booting within {patience:?}\n--- Asterisk output (tail) ---\n{}",
                self.console_tail(40)
            ),
        }
    }

    /// The last `lines` lines of Asterisk's console output.
    pub fn console_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(self.console_log()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Removes the instance directory.
    pub fn remove(&self) -> anyhow::Result<()> {
        let dir = self.dir();
        match fs::remove_dir_all(&dir) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(error).with_context(|| format!("removing {}", dir.display()))
            }
            _ => Ok(()),
        }
    }
}
