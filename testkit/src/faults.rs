//! Real faults for the backend's storage: a small file system that fills up
//! ([`SmallDisk`], a tmpfs mounted for the test) and another process holding
//! a lock the backend's writes need ([`LockHolder`]: SQLite's write lock in
//! Debian's `sqlite3` shell, or a PostgreSQL table lock in `psql`). They
//! need root (mount) or the `sqlite3` and `postgresql-client` packages,
//! which `cargo xtask test` installs.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A tmpfs of a few megabytes mounted on a temporary folder, unmounted when
/// dropped.
pub struct SmallDisk {
    mount: tempfile::TempDir,
    filler: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `megabytes` (needs root).
    pub fn mount(megabytes: u32) -> SmallDisk {
        let mount = tempfile::tempdir().expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={megabytes}m,mode=0755"))
            .arg("disca-test")
            .arg(mount.path())
            .status()
            .expect("running mount");
        assert!(status.success(), "mount -t tmpfs failed (not root?)");
        let filler = mount.path().join("filler");
        SmallDisk { mount, filler }
    }

    /// A new empty folder on this disk.
    pub fn folder(&self) -> tempfile::TempDir {
        tempfile::tempdir_in(self.mount.path()).expect("folder on the small disk")
    }

    /// Writes a file until the disk is full: the next block anybody asks
    /// for fails with `ENOSPC`.
    pub fn fill(&self) {
        let mut file = File::create(&self.filler).expect("filler file");
        let block = vec![0u8; 4096];
        loop {
            match file.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        // What is left of a partly written block.
        while file.write_all(&[0u8]).is_ok() {}
        let _ = file.sync_all();
    }

    /// Frees what [`SmallDisk::fill`] took.
    pub fn free(&self) {
        std::fs::remove_file(&self.filler).expect("removing the filler");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a backend still running in this process may hold files open.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.mount.path())
            .status();
    }
}

/// A database shell with an open transaction holding a lock, until
/// [`LockHolder::release`] (or until it is dropped, which kills the
/// process).
pub struct LockHolder {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl LockHolder {
    /// Takes the write lock of the SQLite database at `db` (`BEGIN
    /// IMMEDIATE` in the `sqlite3` shell); returns once it holds it.
    pub async fn take(db: &Path) -> LockHolder {
        let mut command = Command::new("sqlite3");
        command.arg(db);
        let mut holder = LockHolder::start(command, "sqlite3 (Debian package sqlite3)");
        holder
            .run(".timeout 20000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n")
            .await;
        holder
    }

    /// Locks `table` of the PostgreSQL database at `url` in `EXCLUSIVE`
    /// mode from a `psql` session, as a long maintenance statement would:
    /// reads go on, nobody else writes the table until the lock is
    /// released. Returns once it holds it.
    pub async fn lock_table(url: &str, table: &str) -> LockHolder {
        let mut command = Command::new("psql");
        command.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url]);
        let mut holder = LockHolder::start(command, "psql (Debian package postgresql-client)");
        holder
            .run(&format!(
                "BEGIN;\nLOCK TABLE {table} IN EXCLUSIVE MODE;\nSELECT 'locked';\n"
            ))
            .await;
        holder
    }

    fn start(mut command: Command, program: &str) -> LockHolder {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect(program);
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        LockHolder {
            child,
            stdin,
            stdout,
        }
    }

    /// Commits (releasing the lock) and ends the process.
    pub async fn release(mut self) {
        self.run("COMMIT;\nSELECT 'released';\n").await;
        drop(self.stdin);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    /// Sends `script` and waits for the line its last `SELECT` prints.
    async fn run(&mut self, script: &str) {
        self.stdin.write_all(script.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(30), self.stdout.read_line(&mut line))
            .await
            .expect("the shell answered")
            .expect("the shell's output");
        assert!(
            !line.trim().is_empty(),
            "the shell printed nothing: the lock was not taken"
        );
    }
}

/// Rows of `sql` on the database at `db`, read by another process (the
/// `sqlite3` shell): what is committed, whatever the backend's connections
/// say. Each row's columns are separated by `|`.
pub fn committed_rows(db: &Path, sql: &str) -> Vec<String> {
    let out = std::process::Command::new("sqlite3")
        .arg("-cmd")
        .arg(".timeout 10000")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3 (Debian package sqlite3)");
    rows("sqlite3", out)
}

/// [`committed_rows`] of the PostgreSQL database at `url`, read by `psql`.
pub fn committed_rows_in_postgres(url: &str, sql: &str) -> Vec<String> {
    let out = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("psql (Debian package postgresql-client)");
    rows("psql", out)
}

/// The lines a database shell printed, once it succeeded.
fn rows(shell: &str, out: std::process::Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "{shell} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}
