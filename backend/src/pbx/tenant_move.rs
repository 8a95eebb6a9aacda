//! A tenant moving to another PBX (`tenant set-pbx`): its phones, its
//! console telephony and its recording rules leave the old PBX's phone
//! directory for the new one's, and each PBX is told about the trunk's
//! registration over AMI.
//!
//! Phones keep their passwords: a desk phone only needs the new PBX's
//! address, a browser phone asks for its settings again when it next
//! starts. A phone the old directory did not hold is written when first
//! needed, as always ([`crate::phones::ensure`]).

use std::time::Duration;

use disca_ami::Client;

use super::dialing::{self, SyncError};
use crate::configuration::{AmiSettings, RecordingSettings};
use crate::crm::SecretKey;
use crate::phones::PbxPhones;
use crate::phones::directory::{DirectoryError, RegistrationChange};
use crate::storage::{Store, StoreError};

/// What moved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// Phones written into the new directory.
    pub phones: usize,
    /// The console's telephony was written into the new directory.
    pub telephony: bool,
    /// The trunk registers with the carrier (its PBXs are told).
    pub registers: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Telephony(#[from] SyncError),
    #[error(transparent)]
    Recording(#[from] crate::recordings::SyncError),
}

/// Moves `tenant`'s rows from the directory `from` (the PBX it left; `None`
/// when that PBX has no directory here) to `to` (likewise).
pub async fn move_directory(
    store: &Store,
    key: &SecretKey,
    recordings: &RecordingSettings,
    tenant: &str,
    from: Option<&PbxPhones>,
    to: Option<&PbxPhones>,
) -> Result<Moved, MoveError> {
    let mut moved = Moved::default();
    if let Some(from) = from {
        for person in store.people(tenant, None).await? {
            let endpoint = person.user.endpoint();
            let line = from.settings.line(person.user.phone);
            let password = from.directory.password(&endpoint, line).await?;
            if let (Some(to), Some(password)) = (to, password) {
                to.directory
                    .put(
                        tenant,
                        &endpoint,
                        to.settings.line(person.user.phone),
                        &password,
                        to.settings.rtp_timeout_secs,
                    )
                    .await?;
                moved.phones += 1;
            }
            from.directory.remove(&endpoint).await?;
        }
    }
    if let Some(to) = to {
        moved.telephony = dialing::sync(store, &to.directory, &to.settings, key, tenant)
            .await?
            .is_some();
        crate::recordings::sync(store, &to.directory, recordings, tenant).await?;
    }
    if let Some(from) = from {
        from.directory.remove_tenant(tenant).await?;
    }
    moved.registers = store
        .tenant_dialing(tenant)
        .await?
        .is_some_and(|d| d.registration.is_some());
    Ok(moved)
}

/// Tells the PBX at `ami` that `trunk`'s registration was `change`d in its
/// directory: within `patience` for the AMI login.
pub async fn tell_registration(
    ami: &AmiSettings,
    trunk: &str,
    change: RegistrationChange,
    patience: Duration,
) -> Result<(), disca_ami::AmiError> {
    let (client, _events) = Client::start(ami.client_config());
    let deadline = tokio::time::Instant::now() + patience;
    while !client.is_connected() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match change {
        RegistrationChange::Removed => super::registrations::stop_if_running(&client, trunk).await,
        change => super::registrations::apply(&client, trunk, change).await,
    }
}
