//! The configuration flow from the console to Asterisk for a tenant whose
//! admin set its dialing (trunk, caller IDs) in the console: the backend
//! derives what the dialplan reads — the trunk's PJSIP endpoint and AOR,
//! the tenant's row of `disca_tenants` (trunk, dial rule from the
//! destination policy, number format, caller ID, ring time) and its caller
//! IDs by area code and by salesperson — and writes it into the phone
//! directory, which Asterisk reads on every call (PJSIP realtime and
//! `REALTIME_FIELD`). Nothing is reloaded and the AMI user gains no right:
//! the next click uses the new settings.
//!
//! Such a tenant's calls run the shared context [`OUTBOUND_CONTEXT`]; the
//! others keep their site file's `disca-<tenant>-outbound`. A carrier that
//! wants the PBX to register also gets its registration written; Asterisk
//! is then told about it ([`super::registrations`]).

use crate::configuration::PhoneSettings;
use crate::crm::SecretKey;
use crate::domain::{PbxName, Tenant, dial_rule};
use crate::phones::directory::{RegistrationChange, TenantRules};
use crate::phones::{Directory, DirectoryError};
use crate::storage::{CallerIdScope, Store, StoreError, TRUNK_PASSWORD};

/// The dialplan context of every console-configured tenant's calls.
pub const OUTBOUND_CONTEXT: &str = "disca-outbound";

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("tenant {0}'s region has no country calling code")]
    NoCallingCode(String),
    #[error("tenant {0}'s trunk password cannot be unsealed: {1}")]
    Sealed(String, crate::crm::secrets::SecretError),
}

/// What writing a tenant's dialing did to its trunk's registration, for
/// Asterisk to be told ([`crate::pbx::Pbx::apply_registration`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    /// The trunk's endpoint (and registration) name.
    pub trunk: String,
    pub registration: RegistrationChange,
}

/// The context a call of `tenant` runs once the salesperson answers: the
/// console's rules when its admin set them and its PBX has a phone
/// directory here (`has_directory`), which holds them; its site file's
/// context otherwise.
pub async fn outbound_context(
    store: &Store,
    tenant: &Tenant,
    has_directory: bool,
) -> Result<String, StoreError> {
    Ok(
        if has_directory && store.has_tenant_dialing(tenant.slug.as_str()).await? {
            OUTBOUND_CONTEXT.to_owned()
        } else {
            tenant.slug.outbound_context()
        },
    )
}

/// What the dialplan reads for `tenant`; `None` when its site file rules.
/// `key` unseals a registration trunk's password.
pub async fn rules(
    store: &Store,
    key: &SecretKey,
    tenant: &Tenant,
) -> Result<Option<TenantRules>, SyncError> {
    let slug = tenant.slug.as_str();
    let Some(dialing) = store.tenant_dialing(slug).await? else {
        return Ok(None);
    };
    let people = store.people(slug, None).await?;
    let mut caller_ids = Vec::new();
    for (scope, number) in &dialing.caller_ids {
        let key = match scope {
            CallerIdScope::Area(area) => format!("{slug}-area-{}", area.as_str()),
            CallerIdScope::User(id) => match people.iter().find(|p| p.user.id == *id) {
                Some(person) => format!("{slug}-user-{}", person.user.extension.as_str()),
                None => continue,
            },
        };
        caller_ids.push((key, number.as_str().to_owned()));
    }
    let trunk = &dialing.trunk;
    let registration = match &dialing.registration {
        Some(account) => Some((
            account.username.as_str().to_owned(),
            key.open(slug, TRUNK_PASSWORD, &account.sealed_password)
                .map_err(|e| SyncError::Sealed(slug.to_owned(), e))?,
        )),
        None => None,
    };
    Ok(Some(TenantRules {
        tenant: slug.to_owned(),
        trunk: format!("{slug}-trunk"),
        contact: trunk.contact(),
        allow: dial_rule(&tenant.policy),
        number_format: trunk.number_format.as_str().to_owned(),
        country_code: tenant
            .region
            .calling_code()
            .ok_or_else(|| SyncError::NoCallingCode(slug.to_owned()))?
            .to_string(),
        national_prefix: trunk.national_prefix.clone(),
        caller_id: trunk.caller_id.as_str().to_owned(),
        lead_ring_secs: trunk.lead_ring_secs.to_string(),
        caller_ids,
        host: trunk.host.as_str().to_owned(),
        registration,
    }))
}

/// Writes `tenant`'s dialing into the directory (nothing for a tenant its
/// site file rules); says what happened to its trunk's registration.
pub async fn sync(
    store: &Store,
    directory: &Directory,
    settings: &PhoneSettings,
    key: &SecretKey,
    tenant: &str,
) -> Result<Option<Synced>, SyncError> {
    let tenant = store.tenant(tenant).await?;
    let Some(rules) = rules(store, key, &tenant).await? else {
        return Ok(None);
    };
    let registration = directory
        .put_tenant(&rules, settings.rtp_timeout_secs)
        .await?;
    tracing::info!(tenant = %tenant.slug, ?registration, "tenant dialing written into the directory");
    Ok(Some(Synced {
        trunk: rules.trunk,
        registration,
    }))
}

/// [`sync`] for every console-configured tenant of `pbx`: at start, so a directory
/// file made anew (or restored) holds them again. A tenant that cannot be
/// written (its trunk password no longer unseals, say) is logged and
/// skipped: the others still work. Returns the trunks that do not register,
/// for [`reconcile`] to stop a registration Asterisk may still run.
pub async fn sync_all(
    store: &Store,
    pbx: &PbxName,
    directory: &Directory,
    settings: &PhoneSettings,
    key: &SecretKey,
) -> Result<Vec<String>, StoreError> {
    let mut without_registration = Vec::new();
    for tenant in store.dialing_tenants().await? {
        if store.tenant(&tenant).await?.pbx != *pbx {
            continue;
        }
        match sync(store, directory, settings, key, &tenant).await {
            Ok(Some(synced)) => {
                if store
                    .tenant_dialing(&tenant)
                    .await?
                    .is_some_and(|d| d.registration.is_none())
                {
                    without_registration.push(synced.trunk);
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::error!(tenant, %error, "the tenant's dialing cannot be written for the PBX");
            }
        }
    }
    Ok(without_registration)
}

/// Once the AMI link is up after the backend starts, brings Asterisk's
/// registrations in line with the directory
/// ([`super::registrations::reconcile`]): one the PBX was not told about
/// when it was saved (the PBX was unreachable) is applied or stopped.
pub async fn reconcile(pbx: super::Pbx, without_registration: Vec<String>) {
    while !pbx.is_connected() {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    if let Err(error) = pbx.reconcile_registrations(&without_registration).await {
        tracing::warn!(%error, "registrations not reconciled with the PBX");
    }
}
