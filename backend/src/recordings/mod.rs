//! Recordings under each tenant's rules (LGPD), set by its admin: whether
//! answered calls are recorded, the announcement the lead hears before the
//! bridge (the recording then starts with it), and how long recordings are
//! kept.
//!
//! Module map:
//! - [`announcement`]: an uploaded WAV checked and converted to what
//!   Asterisk plays (8 kHz mono 16-bit PCM), written into the prompts
//!   folder.
//! - [`retention`]: the background task deleting recordings past their
//!   tenant's retention; their links then answer "gravação expirada".
//! - here: writing the rules where the dialplan's `disca-record` reads them
//!   (the phone directory's `disca_recording`), at every change and at
//!   start.

pub mod announcement;
pub mod retention;

use crate::configuration::RecordingSettings;
use crate::domain::PbxName;
use crate::phones::{Directory, DirectoryError};
use crate::storage::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// The announcement `name` as Asterisk plays it: its path without
/// extension, in the prompts folder as Asterisk sees it.
pub fn pbx_prompt_path(settings: &RecordingSettings, name: &str) -> Option<String> {
    let dir = match &settings.pbx_prompts_dir {
        Some(dir) => dir.clone(),
        None => settings.prompts_dir.as_ref()?.display().to_string(),
    };
    Some(format!("{}/{name}", dir.trim_end_matches('/')))
}

/// Writes the tenant's rules for the dialplan.
pub async fn sync(
    store: &Store,
    directory: &Directory,
    settings: &RecordingSettings,
    tenant: &str,
) -> Result<(), SyncError> {
    let rules = store.recording_rules(tenant).await?;
    let announcement = rules
        .announcement
        .as_deref()
        .and_then(|name| pbx_prompt_path(settings, name));
    directory
        .put_recording(tenant, rules.enabled, announcement.as_deref())
        .await?;
    Ok(())
}

/// [`sync`] for every tenant of `pbx` with rules of its own (at start).
pub async fn sync_all(
    store: &Store,
    pbx: &PbxName,
    directory: &Directory,
    settings: &RecordingSettings,
) -> Result<(), SyncError> {
    for tenant in store.recording_rule_tenants().await? {
        if store.tenant(&tenant).await?.pbx != *pbx {
            continue;
        }
        sync(store, directory, settings, &tenant).await?;
    }
    Ok(())
}
