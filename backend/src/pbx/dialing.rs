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
//! others keep their site file's `disca-<tenant>-outbound`.

use crate::configuration::PhoneSettings;
use crate::domain::{Tenant, dial_rule};
use crate::phones::directory::TenantRules;
use crate::phones::{Directory, DirectoryError};
use crate::storage::{CallerIdScope, Store, StoreError};

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
}

/// The context a call of `tenant` runs once the salesperson answers.
pub async fn outbound_context(store: &Store, tenant: &Tenant) -> Result<String, StoreError> {
    Ok(if store.has_tenant_dialing(tenant.slug.as_str()).await? {
        OUTBOUND_CONTEXT.to_owned()
    } else {
        tenant.slug.outbound_context()
    })
}

/// What the dialplan reads for `tenant`; `None` when its site file rules.
pub async fn rules(store: &Store, tenant: &Tenant) -> Result<Option<TenantRules>, SyncError> {
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
    }))
}

/// Writes `tenant`'s dialing into the directory (nothing for a tenant its
/// site file rules).
pub async fn sync(
    store: &Store,
    directory: &Directory,
    settings: &PhoneSettings,
    tenant: &str,
) -> Result<(), SyncError> {
    let tenant = store.tenant(tenant).await?;
    if let Some(rules) = rules(store, &tenant).await? {
        directory
            .put_tenant(&rules, settings.rtp_timeout_secs)
            .await?;
        tracing::info!(tenant = %tenant.slug, "tenant dialing written into the directory");
    }
    Ok(())
}

/// [`sync`] for every console-configured tenant: at start, so a directory
/// file made anew (or restored) holds them again.
pub async fn sync_all(
    store: &Store,
    directory: &Directory,
    settings: &PhoneSettings,
) -> Result<(), SyncError> {
    for tenant in store.dialing_tenants().await? {
        sync(store, directory, settings, &tenant).await?;
    }
    Ok(())
}
