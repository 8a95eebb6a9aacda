//! The tenant's telephony (`/manager/admin/api/dialing`): the trunk to the
//! carrier (IP-authenticated), how it wants numbers, the caller ID shown
//! to leads (the tenant's, per area code of the lead, per salesperson) and
//! the lead's ring time. Saving writes it where Asterisk reads it
//! ([`crate::pbx::dialing`]): the next click uses it, with no reload.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::Admin;
use crate::api::{ApiError, AppState};
use crate::domain::{AreaCode, CallerId, InvalidDialing, TrunkSettings};
use crate::manager::session::same_site;
use crate::pbx::dialing;
use crate::storage::{Actor, AuditAction, AuditEntry, CallerIdScope, StoreError, TenantDialing};
use disca_protocol::ApiErrorCode;

/// The telephony as the console shows and sends it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialingBody {
    pub trunk_host: String,
    pub trunk_port: u32,
    /// `e164`, `e164-digits` or `national`.
    pub number_format: String,
    #[serde(default)]
    pub national_prefix: String,
    pub caller_id: String,
    pub lead_ring_secs: u32,
    #[serde(default)]
    pub area_caller_ids: Vec<AreaCallerId>,
    #[serde(default)]
    pub user_caller_ids: Vec<UserCallerId>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaCallerId {
    pub area: String,
    pub number: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCallerId {
    pub user_id: String,
    pub number: String,
}

#[derive(Serialize)]
pub struct DialingView {
    /// The console sets this tenant's telephony (else the PBX's site files
    /// do, and saving here takes over).
    pub configured: bool,
    /// This server writes the PBX's directory (without it nothing can be
    /// saved here).
    pub directory: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialing: Option<DialingBody>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

fn body_of(d: &TenantDialing) -> DialingBody {
    let t = &d.trunk;
    let mut body = DialingBody {
        trunk_host: t.host.as_str().to_owned(),
        trunk_port: u32::from(t.port),
        number_format: t.number_format.as_str().to_owned(),
        national_prefix: t.national_prefix.clone(),
        caller_id: t.caller_id.as_str().to_owned(),
        lead_ring_secs: t.lead_ring_secs,
        area_caller_ids: Vec::new(),
        user_caller_ids: Vec::new(),
    };
    for (scope, number) in &d.caller_ids {
        let number = number.as_str().to_owned();
        match scope {
            CallerIdScope::Area(area) => body.area_caller_ids.push(AreaCallerId {
                area: area.as_str().to_owned(),
                number,
            }),
            CallerIdScope::User(user_id) => body.user_caller_ids.push(UserCallerId {
                user_id: user_id.clone(),
                number,
            }),
        }
    }
    body
}

pub async fn get_dialing(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Json<DialingView>, ApiError> {
    let dialing = state
        .store
        .tenant_dialing(admin.tenant.slug.as_str())
        .await?;
    Ok(Json(DialingView {
        configured: dialing.is_some(),
        directory: state.phones.directory.is_some(),
        dialing: dialing.as_ref().map(body_of),
        warning: None,
    }))
}

fn invalid(e: InvalidDialing) -> ApiError {
    ApiError::malformed(e)
}

/// `PUT /manager/admin/api/dialing`: all of it.
pub async fn put_dialing(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    body: Result<Json<DialingBody>, JsonRejection>,
) -> Result<Json<DialingView>, ApiError> {
    same_site(&headers)?;
    let Json(body) = body.map_err(|e| {
        ApiError::malformed(format!(
            "campos: trunk_host, trunk_port, number_format, national_prefix, caller_id, lead_ring_secs, area_caller_ids, user_caller_ids ({})",
            e.body_text()
        ))
    })?;
    let Some(directory) = &state.phones.directory else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ApiErrorCode::BrowserPhoneUnavailable,
            "Este servidor não escreve a configuração da central de telefonia ([phones] directory_db): peça à TI para configurá-lo.",
        ));
    };
    let trunk = TrunkSettings::parse(
        &body.trunk_host,
        body.trunk_port,
        &body.number_format,
        &body.national_prefix,
        &body.caller_id,
        body.lead_ring_secs,
    )
    .map_err(invalid)?;
    let mut caller_ids = Vec::new();
    for a in &body.area_caller_ids {
        let area: AreaCode = a.area.parse().map_err(invalid)?;
        let number: CallerId = a.number.parse().map_err(invalid)?;
        caller_ids.push((CallerIdScope::Area(area), number));
    }
    for u in &body.user_caller_ids {
        let number: CallerId = u.number.parse().map_err(invalid)?;
        caller_ids.push((CallerIdScope::User(u.user_id.clone()), number));
    }
    let dialing = TenantDialing { trunk, caller_ids };
    let slug = admin.tenant.slug.as_str();
    if state
        .store
        .trunk_host_taken(slug, dialing.trunk.host.as_str())
        .await?
    {
        return Err(ApiError::already_exists(
            "Outra empresa deste servidor já usa esta operadora (o mesmo endereço): cada empresa precisa da sua própria conta na operadora, com o seu endereço.",
        ));
    }
    let entry = AuditEntry {
        action: AuditAction::DialingChanged,
        target: slug.to_owned(),
        detail: format!(
            "Operadora {}; formato {}; número exibido {}; toque do cliente {} s; {} número(s) por DDD; {} por vendedor",
            dialing.trunk.contact(),
            dialing.trunk.number_format.as_str(),
            dialing.trunk.caller_id,
            dialing.trunk.lead_ring_secs,
            body.area_caller_ids.len(),
            body.user_caller_ids.len(),
        ),
    };
    state
        .store
        .set_tenant_dialing(slug, &dialing, &Actor::admin(&admin), &entry)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::person_not_found(),
            StoreError::Conflict(_) => {
                ApiError::already_exists("Cada DDD e cada vendedor pode ter um só número exibido.")
            }
            e => e.into(),
        })?;
    tracing::info!(admin = %admin.id, tenant = slug, "tenant dialing changed");
    let warning = write_to_pbx(&state, directory, slug).await;
    Ok(Json(DialingView {
        configured: true,
        directory: true,
        dialing: Some(body_of(&dialing)),
        warning,
    }))
}

/// Writes the tenant's dialing where Asterisk reads it; a warning for the
/// admin when it could not be (it is written again at the next change and
/// when the backend starts).
pub(super) async fn write_to_pbx(
    state: &AppState,
    directory: &crate::phones::Directory,
    tenant: &str,
) -> Option<String> {
    match dialing::sync(&state.store, directory, &state.phones.settings, tenant).await {
        Ok(()) => None,
        Err(e) => {
            tracing::error!(tenant, error = %e, "cannot write the tenant's dialing into the directory");
            Some("A configuração foi salva, mas não chegou à central de telefonia agora. Salve de novo em alguns minutos.".to_owned())
        }
    }
}

/// After a change the dialing depends on (the destination policy, an
/// extension): writes it again, when the console sets it.
pub(super) async fn refresh(state: &AppState, tenant: &str) -> Option<String> {
    let directory = state.phones.directory.as_ref()?;
    write_to_pbx(state, directory, tenant).await
}
