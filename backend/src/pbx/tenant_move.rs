//! A tenant moving to another PBX (`tenant set-pbx`): its phones, its
//! console telephony and its recording rules leave the old PBX's phone
//! directory for the new one's, and each PBX is told about the trunk's
//! registration over AMI.
//!
//! Phones keep their passwords: a desk phone only needs the new PBX's
//! address; a browser phone, refused by the old PBX at its next
//! registration refresh, asks for its settings again and gets the new one. A phone the old directory did not hold is written when first
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
    /// Phones removed from the old directory without a place in a new one
    /// (the new PBX has none): they are that PBX's site files' business.
    pub dropped: usize,
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

/// Moves `tenant`'s rows from the directories `from` (of PBXs it is not
/// on) to `to` (the directory of the PBX it is on; `None` when that PBX has
/// none). Each row is written into `to` before it leaves `from`, so a move
/// cut short leaves nothing unreachable, and doing it again finishes it.
pub async fn move_directory(
    store: &Store,
    key: &SecretKey,
    recordings: &RecordingSettings,
    tenant: &str,
    from: &[&PbxPhones],
    to: Option<&PbxPhones>,
) -> Result<Moved, MoveError> {
    let mut moved = Moved::default();
    let people = store.people(tenant, None).await?;
    for from in from {
        for person in &people {
            let endpoint = person.user.endpoint();
            let Some(password) = from.directory.any_password(&endpoint).await? else {
                continue;
            };
            match to {
                Some(to) => {
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
                None => moved.dropped += 1,
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
    for from in from {
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
        RegistrationChange::Removed => super::registrations::stop_removed(&client, trunk).await,
        change => super::registrations::apply(&client, trunk, change).await,
    }
}

#[cfg(test)]
mod tests {
    use disca_protocol::phone::PhoneKind;

    use super::*;
    use crate::configuration::PhoneSettings;
    use crate::crm::Secret;
    use crate::domain::{Role, Tenant, TrunkSettings};
    use crate::phones::Directory;
    use crate::phones::directory::Line;
    use crate::storage::{
        Actor, AuditAction, AuditEntry, CallerIdScope, NewUser, RecordingRules, TRUNK_PASSWORD,
        TenantDialing, TrunkAccount,
    };

    fn entry(action: AuditAction) -> AuditEntry {
        AuditEntry {
            action,
            target: "globex".into(),
            detail: "test".into(),
        }
    }

    /// Globex, with a desk phone, a registration trunk, a caller ID and
    /// recording rules, moves from one directory to another.
    #[tokio::test]
    async fn the_phones_telephony_and_recording_rules_move_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::storage::testing::fresh_store(dir.path())
            .await
            .unwrap();
        store
            .add_tenant(&Tenant::in_brazil("globex".parse().unwrap(), "Globex"))
            .await
            .unwrap();
        let gabriela = store
            .add_user(NewUser {
                tenant: "globex",
                name: "Gabriela",
                email: "gabriela@globex.example.com",
                extension: &"2050".parse().unwrap(),
                role: Role::Agent,
                phone: PhoneKind::Desk,
                token_hash: None,
            })
            .await
            .unwrap();
        let key = SecretKey::load_or_create(&dir.path().join("key")).unwrap();
        let dialing = TenantDialing {
            trunk: TrunkSettings::parse(
                "sip.operadora.com.br",
                5060,
                "e164",
                "0",
                "+551140000000",
                30,
            )
            .unwrap(),
            registration: Some(TrunkAccount {
                username: "1140000000".parse().unwrap(),
                sealed_password: key.seal("globex", TRUNK_PASSWORD, &Secret::new("senha".into())),
            }),
            caller_ids: vec![(
                CallerIdScope::Area("21".parse().unwrap()),
                "+552140000000".parse().unwrap(),
            )],
        };
        store
            .set_tenant_dialing(
                "globex",
                &dialing,
                &Actor::cli(),
                &entry(AuditAction::DialingChanged),
            )
            .await
            .unwrap();
        let rules = RecordingRules {
            enabled: false,
            announcement: None,
            retention_days: None,
        };
        store
            .set_recording_rules(
                "globex",
                &rules,
                &Actor::cli(),
                &entry(AuditAction::RecordingRulesChanged),
            )
            .await
            .unwrap();
        let phones = |name: &str| {
            let path = dir.path().join(name);
            async move {
                PbxPhones {
                    directory: Directory::open(&path).await.unwrap(),
                    settings: PhoneSettings::default(),
                }
            }
        };
        let (from, to) = (phones("from.sqlite3").await, phones("to.sqlite3").await);
        let password = Secret::new("a-desk-password".into());
        from.directory
            .put("globex", "globex-2050", Line::DeskUdp, &password, 60)
            .await
            .unwrap();
        dialing::sync(&store, &from.directory, &from.settings, &key, "globex")
            .await
            .unwrap();
        let recordings = RecordingSettings::default();
        crate::recordings::sync(&store, &from.directory, &recordings, "globex")
            .await
            .unwrap();

        let moved = move_directory(&store, &key, &recordings, "globex", &[&from], Some(&to))
            .await
            .unwrap();
        assert_eq!(
            moved,
            Moved {
                phones: 1,
                dropped: 0,
                telephony: true,
                registers: true,
            }
        );
        assert_eq!(
            to.directory
                .password(&gabriela.endpoint(), Line::DeskUdp)
                .await
                .unwrap(),
            Some(password),
            "the phone keeps its password"
        );
        let row = to.directory.tenant_row("globex").await.unwrap().unwrap();
        assert_eq!(
            (row.0.as_str(), row.2.as_str()),
            ("globex-trunk", "+551140000000")
        );
        assert_eq!(
            to.directory.caller_id("globex-area-21").await.unwrap(),
            Some("+552140000000".into())
        );
        assert_eq!(
            to.directory.recording_row("globex").await.unwrap(),
            Some(("no".into(), String::new()))
        );
        assert_eq!(
            from.directory
                .password(&gabriela.endpoint(), Line::DeskUdp)
                .await
                .unwrap(),
            None
        );
        assert_eq!(from.directory.tenant_row("globex").await.unwrap(), None);
        assert_eq!(
            from.directory.caller_id("globex-area-21").await.unwrap(),
            None
        );
        assert_eq!(from.directory.recording_row("globex").await.unwrap(), None);
        assert!(!from.directory.registers("globex-trunk").await.unwrap());
        assert!(to.directory.registers("globex-trunk").await.unwrap());
    }
}
