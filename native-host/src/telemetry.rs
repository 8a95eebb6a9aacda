//! Logs go to a file under the user's state folder (`host.log`), never to
//! stdout (the protocol channel) and never with a token in them. The file
//! never grows past [`MAX_LOG_BYTES`]: it becomes `host.log.1` (replacing
//! the older one) at start and whenever a line would take it past that.
//! What the browser side can repeat at will (malformed messages) is logged
//! through a [`LogThrottle`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing_subscriber::EnvFilter;

use crate::config::Paths;

/// Past this size, `host.log` becomes `host.log.1` (replacing the older one).
pub const MAX_LOG_BYTES: u64 = 5 * 1024 * 1024;

/// Sends logs to the file; `RUST_LOG` picks the level (default `info`). A
/// log that cannot be opened is not an error: the host serves without one.
pub fn init(paths: &Paths) {
    let Some(file) = RotatingFile::open(paths.log_file(), MAX_LOG_BYTES) else {
        return;
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
}

/// An append-only log file of at most `max` bytes: when a write would go
/// past it, the file becomes `<name>.1` and a new one is started.
struct RotatingFile {
    path: PathBuf,
    max: u64,
    file: Option<File>,
    written: u64,
}

impl RotatingFile {
    fn open(path: PathBuf, max: u64) -> Option<RotatingFile> {
        std::fs::create_dir_all(path.parent()?).ok()?;
        let mut log = RotatingFile {
            path,
            max,
            file: None,
            written: 0,
        };
        let size = std::fs::metadata(&log.path).map_or(0, |m| m.len());
        if size > max {
            log.rotate();
        } else {
            log.file = Some(open_append(&log.path)?);
            log.written = size;
        }
        log.file.is_some().then_some(log)
    }

    fn rotate(&mut self) {
        self.file = None;
        let _ = std::fs::rename(&self.path, self.path.with_extension("log.1"));
        self.file = open_append(&self.path);
        self.written = 0;
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.max {
            self.rotate();
        }
        // Without a file (it could not be reopened) lines are dropped: a
        // log must never stop the host.
        let Some(file) = self.file.as_mut() else {
            return Ok(buf.len());
        };
        let written = file.write(buf)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), File::flush)
    }
}

fn open_append(path: &Path) -> Option<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).ok()
}

/// Lets through at most `max` log lines of one kind per `window`, counts
/// the rest and reports their number once the window is over (or at
/// [`LogThrottle::finish`]).
pub struct LogThrottle {
    what: &'static str,
    max: u32,
    window: Duration,
    started: Instant,
    logged: u32,
    suppressed: u64,
}

impl LogThrottle {
    /// `what` names the suppressed lines in the summary ("malformed messages").
    pub fn new(what: &'static str, max: u32, window: Duration) -> LogThrottle {
        LogThrottle {
            what,
            max,
            window,
            started: Instant::now(),
            logged: 0,
            suppressed: 0,
        }
    }

    /// Whether this line may be logged.
    pub fn allow(&mut self) -> bool {
        if self.started.elapsed() >= self.window {
            self.finish();
            self.started = Instant::now();
            self.logged = 0;
        }
        if self.logged < self.max {
            self.logged += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }

    /// Logs how many lines were left out, if any.
    pub fn finish(&mut self) {
        if self.suppressed > 0 {
            tracing::warn!(
                suppressed = self.suppressed,
                "suppressed {} log lines about {} (at most {} a minute are logged)",
                self.suppressed,
                self.what,
                self.max,
            );
            self.suppressed = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_file_never_grows_past_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.log");
        let mut log = RotatingFile::open(path.clone(), 1000).unwrap();
        for _ in 0..100 {
            log.write_all(&[b'x'; 99]).unwrap();
            log.write_all(b"\n").unwrap();
        }
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        assert!(size(&path) <= 1000);
        assert!(size(&path.with_extension("log.1")) <= 1000);
        // Reopened over the cap: rotated at once.
        std::fs::write(&path, vec![b'y'; 2000]).unwrap();
        let _log = RotatingFile::open(path.clone(), 1000).unwrap();
        assert_eq!(size(&path), 0);
        assert_eq!(size(&path.with_extension("log.1")), 2000);
    }

    #[test]
    fn a_throttle_lets_a_few_through_then_counts() {
        let mut throttle = LogThrottle::new("tests", 3, Duration::from_secs(60));
        let allowed = (0..100).filter(|_| throttle.allow()).count();
        assert_eq!(allowed, 3);
        assert_eq!(throttle.suppressed, 97);
        throttle.finish();
        assert_eq!(throttle.suppressed, 0);
        let mut quick = LogThrottle::new("tests", 1, Duration::ZERO);
        assert!(quick.allow() && quick.allow(), "a new window each time");
    }
}
