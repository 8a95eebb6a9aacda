//! The retention sweep: every `[recordings] sweep_interval`, recordings of
//! calls that ended more than their tenant's retention ago are deleted from
//! the recordings folder and marked expired (their links answer "gravação
//! expirada"). A file already gone counts as deleted; a file that cannot be
//! deleted stays unmarked and is tried again at the next sweep.

use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use crate::storage::Store;

/// Recordings handled per sweep round (the next round takes the rest).
const BATCH: u32 = 500;

/// Deletes what is past retention at `now`; returns how many went.
pub async fn sweep(store: &Store, recordings_dir: &Path, now: OffsetDateTime) -> usize {
    let mut deleted = 0;
    loop {
        let expired = match store.expired_recordings(now, BATCH).await {
            Ok(expired) => expired,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list recordings past retention");
                return deleted;
            }
        };
        let round = expired.len();
        let mut progressed = false;
        for recording in expired {
            // The stored name is a plain file name (the tracker writes
            // `<tenant>-<call id>.wav`); anything else is left alone.
            if recording.file.contains(['/', '\\']) || recording.file.starts_with('.') {
                tracing::warn!(
                    call_id = recording.call_id,
                    "recording name is not a plain file name"
                );
                continue;
            }
            match std::fs::remove_file(recordings_dir.join(&recording.file)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(call_id = recording.call_id, error = %e, "cannot delete an expired recording");
                    continue;
                }
            }
            if let Err(e) = store.mark_recording_expired(&recording.call_id, now).await {
                tracing::warn!(call_id = recording.call_id, error = %e, "cannot mark a recording expired");
                continue;
            }
            tracing::info!(
                call_id = recording.call_id,
                tenant = recording.tenant,
                "recording deleted: past retention"
            );
            deleted += 1;
            progressed = true;
        }
        if round < BATCH as usize || !progressed {
            return deleted;
        }
    }
}

/// Sweeps every `interval`, for the life of the process.
pub async fn run(store: Store, recordings_dir: PathBuf, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        sweep(&store, &recordings_dir, OffsetDateTime::now_utc()).await;
    }
}
