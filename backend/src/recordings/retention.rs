//! The retention sweep: every `[recordings] sweep_interval`, recordings of
//! calls that ended more than their tenant's retention ago are deleted from
//! the recordings folder of the PBX each was placed on
//! (`Settings::recordings_dirs`) and marked expired (their links answer "gravação
//! expirada"). A file already gone counts as deleted; a file that cannot be
//! deleted stays unmarked and is tried again at the next sweep. A tenant's
//! recording no call names (recorded as its admin turned recording off,
//! which keeps the call without a recording) is deleted a day past the
//! retention, by its modification time, and so is a recording whose call
//! was marked expired while its file could not be reached.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::PbxName;
use crate::storage::{ExpiredRecording, Store};

/// Recordings handled per sweep round (the next round takes the rest).
const BATCH: u32 = 500;

/// Each PBX's recordings folder, by PBX name (`Settings::recordings_dirs`).
pub type Folders = BTreeMap<PbxName, PathBuf>;

/// Deletes what is past retention at `now`, each file from the folder of
/// the PBX its call was placed on; returns how many went. A file that
/// cannot be deleted (its folder unreachable, say) stays unmarked, is
/// tried again at the next sweep, and holds up no other.
pub async fn sweep(store: &Store, folders: &Folders, now: OffsetDateTime) -> usize {
    let mut deleted = 0;
    let mut failed = 0;
    loop {
        let expired = match store.expired_recordings(now, BATCH, failed).await {
            Ok(expired) => expired,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list recordings past retention");
                return deleted;
            }
        };
        if expired.is_empty() {
            return deleted;
        }
        for recording in expired {
            if delete(store, folders, &recording, now).await {
                deleted += 1;
            } else {
                failed += 1;
            }
        }
    }
}

/// Deletes one expired recording and marks its call; whether both were
/// done.
async fn delete(
    store: &Store,
    folders: &Folders,
    recording: &ExpiredRecording,
    now: OffsetDateTime,
) -> bool {
    // The stored name is a plain file name (the tracker writes
    // `<tenant>-<call id>.wav`); anything else is left alone.
    if recording.file.contains(['/', '\\']) || recording.file.starts_with('.') {
        tracing::warn!(
            call_id = recording.call_id,
            "recording name is not a plain file name"
        );
        return false;
    }
    let Some(folder) = recording
        .pbx
        .parse::<PbxName>()
        .ok()
        .and_then(|pbx| folders.get(&pbx))
    else {
        tracing::warn!(
            call_id = recording.call_id,
            pbx = recording.pbx,
            "no recordings folder for the call's PBX: its recording is kept"
        );
        return false;
    };
    let path = folder.join(&recording.file);
    let removed = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
    match removed {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
        Ok(Err(e)) => {
            tracing::warn!(call_id = recording.call_id, error = %e, "cannot delete an expired recording");
            return false;
        }
        Err(_) => return false,
    }
    if let Err(e) = store.mark_recording_expired(&recording.call_id, now).await {
        tracing::warn!(call_id = recording.call_id, error = %e, "cannot mark a recording expired");
        return false;
    }
    tracing::info!(
        call_id = recording.call_id,
        tenant = recording.tenant,
        "recording deleted: past retention"
    );
    true
}

/// Deletes recordings of tenants with a retention that no call names,
/// older (by modification time) than the retention and a day; returns how
/// many went.
pub async fn sweep_orphans(store: &Store, folders: &Folders, now: OffsetDateTime) -> usize {
    let tenants = match store.recording_rule_tenants().await {
        Ok(tenants) => tenants,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list tenants' recording rules");
            return 0;
        }
    };
    let mut deleted = 0;
    for tenant in tenants {
        let Ok(rules) = store.recording_rules(&tenant).await else {
            continue;
        };
        let Some(days) = rules.retention_days else {
            continue;
        };
        let cutoff = now - time::Duration::days(i64::from(days) + 1);
        let dirs: Vec<PathBuf> = folders.values().cloned().collect();
        let prefix = format!("{tenant}-");
        let old: Vec<PathBuf> = tokio::task::spawn_blocking(move || {
            dirs.iter()
                .flat_map(|dir| old_files(dir, &prefix, cutoff))
                .collect()
        })
        .await
        .unwrap_or_default();
        for path in old {
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            match store.recording_named(name).await {
                Ok(false) => {}
                Ok(true) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check a recording's call");
                    continue;
                }
            }
            if std::fs::remove_file(&path).is_ok() {
                tracing::info!(
                    tenant,
                    file = name,
                    "recording no call names deleted: past retention"
                );
                deleted += 1;
            }
        }
    }
    deleted
}

/// Regular files `<prefix>….wav` in `dir` last modified before `cutoff`.
fn old_files(dir: &Path, prefix: &str, cutoff: OffsetDateTime) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".wav")
        })
        .filter(|e| {
            e.metadata().is_ok_and(|m| {
                m.file_type().is_file()
                    && m.modified().is_ok_and(|t| OffsetDateTime::from(t) < cutoff)
            })
        })
        .map(|e| e.path())
        .collect()
}

/// Sweeps every `interval`, for the life of the process.
pub async fn run(store: Store, folders: Folders, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = OffsetDateTime::now_utc();
        sweep(&store, &folders, now).await;
        sweep_orphans(&store, &folders, now).await;
    }
}
