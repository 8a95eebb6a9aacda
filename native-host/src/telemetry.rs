//! Logs go to a file under the user's state folder (`host.log`), never to
//! stdout (the protocol channel) and never with a token in them. The file is
//! rotated once at start when it grew past [`MAX_LOG_BYTES`].

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

use crate::config::Paths;

/// Past this size, `host.log` becomes `host.log.1` (replacing the older one).
pub const MAX_LOG_BYTES: u64 = 5 * 1024 * 1024;

/// Sends logs to the file; `RUST_LOG` picks the level (default `info`). A
/// log that cannot be opened is not an error: the host serves without one.
pub fn init(paths: &Paths) {
    let path = paths.log_file();
    let Some(file) = open_log(&path) else {
        return;
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
}

fn open_log(path: &Path) -> Option<std::fs::File> {
    std::fs::create_dir_all(path.parent()?).ok()?;
    if std::fs::metadata(path).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
        let _ = std::fs::rename(path, path.with_extension("log.1"));
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).ok()
}
