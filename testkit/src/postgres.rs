//! A throwaway PostgreSQL server (Debian's `postgresql` package): `initdb`
//! into a temporary folder, `pg_ctl start` on a free loopback port, stopped
//! and removed when dropped. PostgreSQL refuses to run as root, so under
//! root the cluster belongs to, and runs as, the `postgres` user the
//! package creates. It trusts local connections and does not `fsync`: it
//! holds test data only.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::root::running_as_root;

/// The variable the backend's tests read the server's URL from.
pub use disca_backend::storage::testing::TEST_POSTGRES;

/// A running throwaway cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

/// The folder of the newest PostgreSQL's server programs
/// (`/usr/lib/postgresql/<version>/bin`), if one is installed.
pub fn server_programs() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

impl Cluster {
    /// Creates and starts a cluster whose superuser is `disca`.
    pub fn start() -> anyhow::Result<Cluster> {
        let bin = server_programs().context(
            "no PostgreSQL server under /usr/lib/postgresql (Debian's postgresql package)",
        )?;
        let dir = tempfile::Builder::new()
            .prefix("disca-postgres-")
            .tempdir()?;
        if running_as_root() {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
            let owner = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()?;
            if !owner.success() {
                bail!("chown postgres {}: {owner}", dir.path().display());
            }
        }
        let cluster = Cluster {
            port: crate::free_tcp_port(),
            dir,
            bin,
        };
        let data = cluster.data();
        cluster.server_program("initdb", |c| {
            c.args([
                "--auth=trust",
                "--username=disca",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .arg("--pgdata")
            .arg(&data);
        })?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// Stops the server as an operator's restart does (`pg_ctl stop
    /// --mode=fast`): every session is ended, what was committed stays.
    pub fn stop(&self) -> anyhow::Result<()> {
        let data = self.data();
        self.server_program("pg_ctl", |c| {
            c.args(["stop", "--mode=fast", "--wait", "--pgdata"])
                .arg(&data);
        })
    }

    /// Starts the server again, on the same port, after [`Cluster::stop`].
    pub fn start_again(&self) -> anyhow::Result<()> {
        self.start_server()
    }

    fn start_server(&self) -> anyhow::Result<()> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            self.port,
            self.dir.path().display()
        );
        let data = self.data();
        let log = self.dir.path().join("server.log");
        self.server_program("pg_ctl", |c| {
            c.args(["start", "--wait", "--pgdata"])
                .arg(&data)
                .arg("--log")
                .arg(&log)
                .args(["-o", &options]);
        })
    }

    /// The URL of its `postgres` database, as the superuser: what
    /// `DISCA_TEST_POSTGRES` takes.
    pub fn url(&self) -> String {
        format!("postgres://disca@127.0.0.1:{}/postgres", self.port)
    }

    /// The URL of its database `name`, as the superuser.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://disca@127.0.0.1:{}/{name}", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of the server's programs, as `postgres` under root.
    fn server_program(&self, name: &str, args: impl FnOnce(&mut Command)) -> anyhow::Result<()> {
        let program = self.bin.join(name);
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        args(&mut command);
        let output = command
            .current_dir(self.dir.path())
            .output()
            .with_context(|| format!("starting {}", program.display()))?;
        if !output.status.success() {
            bail!(
                "{name} failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr),
                server_log(&self.dir.path().join("server.log"))
            );
        }
        Ok(())
    }
}

fn server_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        // Nothing to keep: stop at once.
        let _ = self.server_program("pg_ctl", |c| {
            c.args(["stop", "--mode=immediate", "--wait", "--pgdata"])
                .arg(&data);
        });
    }
}
