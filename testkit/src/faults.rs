//! Real faults for the backend's storage: a small file system that fills up
//! ([`SmallDisk`], a tmpfs mounted for the test) and another process holding
//! SQLite's write lock ([`LockHolder`], Debian's `sqlite3` shell). Both need
//! root (mount) or the `sqlite3` package, which `cargo xtask test` installs.

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

/// A `sqlite3` shell process with an open `BEGIN IMMEDIATE` transaction on
/// a database: it holds the write lock until [`LockHolder::release`] (or
/// until it is dropped, which kills the process).
pub struct LockHolder {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl LockHolder {
    /// Takes the write lock of the database at `db`; returns once it holds
    /// it.
    pub async fn take(db: &Path) -> LockHolder {
        let mut child = Command::new("sqlite3")
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("sqlite3 (Debian package sqlite3)");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut holder = LockHolder {
            child,
            stdin,
            stdout,
        };
        holder
            .run(".timeout 20000\nBEGIN IMMEDIATE;\nSELECT 'locked';\n")
            .await;
        holder
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
            .expect("sqlite3 answered")
            .expect("sqlite3's output");
        assert!(
            !line.trim().is_empty(),
            "sqlite3 printed nothing: the lock was not taken"
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
    assert!(
        out.status.success(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}
