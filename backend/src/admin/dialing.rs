//! The tenant's telephony (`/manager/admin/api/dialing`): the trunk to the
//! carrier (IP-authenticated, or registering with the tenant's account
//! there), how it wants numbers, the caller ID shown
//! to leads (the tenant's, per area code of the lead, per salesperson) and
//! the lead's ring time. Saving writes it where Asterisk reads it
//! ([`crate::pbx::dialing`]): the next click uses it, with no reload; a
//! registration is announced to Asterisk ([`crate::pbx::registrations`]).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::Admin;
use crate::api::{ApiError, AppState};
use crate::crm::Secret;
use crate::domain::{
    AreaCode, CallerId, InvalidDialing, SipUser, Tenant, TrunkSettings, check_trunk_password,
};
use crate::manager::session::same_site;
use crate::pbx::dialing;
use crate::phones::PbxPhones;
use crate::phones::directory::RegistrationChange;
use crate::storage::{
    Actor, AuditAction, AuditEntry, CallerIdScope, StoreError, TRUNK_PASSWORD, TenantDialing,
    TrunkAccount,
};
use disca_protocol::ApiErrorCode;

/// The telephony as the console shows and sends it.
/// Not `Debug`: it carries the carrier password.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialingBody {
    /// `ip`: the carrier knows the PBX by its address (the default);
    /// `registration`: the PBX registers with the tenant's account there.
    #[serde(default = "ip_mode")]
    pub trunk_mode: String,
    /// The account's user name (registration only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunk_username: Option<String>,
    /// The account's password (registration only): never shown; left out
    /// or empty, the stored one stays.
    #[serde(default, skip_serializing)]
    pub trunk_password: Option<String>,
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

fn ip_mode() -> String {
    IP.to_owned()
}

const IP: &str = "ip";
const REGISTRATION: &str = "registration";

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
    /// This server writes the directory of the tenant's PBX (without it
    /// nothing can be saved here): only the default PBX has one.
    pub directory: bool,
    /// The PBX the tenant's calls go through (`default`, or its name in
    /// the configuration), set by the server's operator.
    pub pbx: String,
    /// Whether this server is logged in to that PBX now.
    pub pbx_connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialing: Option<DialingBody>,
    /// A registration trunk's state at the PBX, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

fn body_of(d: &TenantDialing) -> DialingBody {
    let t = &d.trunk;
    let mut body = DialingBody {
        trunk_mode: if d.registration.is_some() {
            REGISTRATION
        } else {
            IP
        }
        .to_owned(),
        trunk_username: d
            .registration
            .as_ref()
            .map(|r| r.username.as_str().to_owned()),
        trunk_password: None,
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
    let slug = admin.tenant.slug.as_str();
    let dialing = state.store.tenant_dialing(slug).await?;
    let registration = match dialing.as_ref().and_then(|d| d.registration.as_ref()) {
        Some(_) => Some(registration_state(&state, &admin.tenant).await),
        None => None,
    };
    Ok(Json(DialingView {
        configured: dialing.is_some(),
        directory: state.phones.of(&admin.tenant).is_some(),
        pbx: admin.tenant.pbx.to_string(),
        pbx_connected: state
            .pbxs
            .get(&admin.tenant.pbx)
            .is_some_and(|pbx| pbx.is_connected()),
        dialing: dialing.as_ref().map(body_of),
        registration,
        warning: None,
    }))
}

/// The registration of `tenant`'s trunk as its PBX reports it, in words.
async fn registration_state(state: &AppState, tenant: &Tenant) -> String {
    let trunk = format!("{}-trunk", tenant.slug);
    let Some(pbx) = state.pbxs.get(&tenant.pbx) else {
        return "A central desta empresa não está configurada neste servidor".to_owned();
    };
    let asked = pbx.registration_status(&trunk);
    match tokio::time::timeout(std::time::Duration::from_secs(2), asked).await {
        Ok(Ok(Some(status))) => match status.as_str() {
            "Registered" => "Registrado na operadora".to_owned(),
            "Rejected" => {
                "Recusado pela operadora: confira o usuário, a senha e o endereço".to_owned()
            }
            "Unregistered" => "Registrando na operadora…".to_owned(),
            "Stopped" => "Registro parado: salve de novo para registrar".to_owned(),
            other => format!("Situação na central: {other}"),
        },
        Ok(Ok(None)) => "A central ainda não conhece este registro: salve de novo.".to_owned(),
        Ok(Err(_)) | Err(_) => "Situação desconhecida: a central não respondeu.".to_owned(),
    }
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
    let Some(phones) = state.phones.of(&admin.tenant) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ApiErrorCode::BrowserPhoneUnavailable,
            if admin.tenant.pbx.is_default() {
                "Este servidor não escreve a configuração da central de telefonia ([phones] directory_db): peça à TI para configurá-lo.".to_owned()
            } else {
                format!(
                    "A telefonia desta empresa fica na central \"{}\", configurada pelos arquivos dela, não por aqui: peça à TI.",
                    admin.tenant.pbx
                )
            },
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
    let slug = admin.tenant.slug.as_str();
    let (registration, new_password) = account(&state, slug, &body, &trunk).await?;
    let dialing = TenantDialing {
        trunk,
        registration,
        caller_ids,
    };
    if state
        .store
        .trunk_host_taken(
            slug,
            dialing.trunk.host.as_str(),
            dialing.registration.is_some(),
        )
        .await?
    {
        return Err(ApiError::already_exists(
            "Outra empresa deste servidor já usa esta operadora (o mesmo endereço) sem registro: a operadora reconhece a central só pelo endereço, então cada empresa precisa do seu próprio endereço, ou de registrar-se com a sua conta.",
        ));
    }
    let entry = AuditEntry {
        action: AuditAction::DialingChanged,
        target: slug.to_owned(),
        detail: format!(
            "Operadora {}{}; formato {}; número exibido {}; toque do cliente {} s; {} número(s) por DDD; {} por vendedor",
            dialing.trunk.contact(),
            match &dialing.registration {
                Some(account) => format!(
                    " com registro (usuário {}{})",
                    account.username.as_str(),
                    if new_password { ", senha nova" } else { "" }
                ),
                None => " autenticada pelo endereço".to_owned(),
            },
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
    let warning = write_to_pbx(&state, phones, &admin.tenant, true).await;
    Ok(Json(DialingView {
        configured: true,
        directory: true,
        pbx: admin.tenant.pbx.to_string(),
        pbx_connected: state
            .pbxs
            .get(&admin.tenant.pbx)
            .is_some_and(|pbx| pbx.is_connected()),
        dialing: Some(body_of(&dialing)),
        registration: None,
        warning,
    }))
}

/// The registration account `body` asks for, its password sealed (a new
/// one, or the stored one when none is typed and the carrier's address is
/// the same: the stored password is never sent to another address), and
/// whether the password is new.
async fn account(
    state: &AppState,
    tenant: &str,
    body: &DialingBody,
    trunk: &TrunkSettings,
) -> Result<(Option<TrunkAccount>, bool), ApiError> {
    match body.trunk_mode.as_str() {
        IP => Ok((None, false)),
        REGISTRATION => {
            let username: SipUser = body
                .trunk_username
                .as_deref()
                .unwrap_or_default()
                .parse()
                .map_err(invalid)?;
            let typed = body.trunk_password.as_deref().filter(|p| !p.is_empty());
            let key = state.phones.key.as_ref().ok_or_else(|| {
                ApiError::malformed("Este servidor não guarda senhas de operadora.")
            })?;
            if let Some(password) = typed {
                check_trunk_password(password).map_err(invalid)?;
                let sealed = key.seal(tenant, TRUNK_PASSWORD, &Secret::new(password.to_owned()));
                return Ok((
                    Some(TrunkAccount {
                        username,
                        sealed_password: sealed,
                    }),
                    true,
                ));
            }
            let stored = state
                .store
                .tenant_dialing(tenant)
                .await?
                .filter(|d| d.trunk.host == trunk.host && d.trunk.port == trunk.port)
                .and_then(|d| d.registration);
            match stored {
                Some(account) => Ok((
                    Some(TrunkAccount {
                        username,
                        sealed_password: account.sealed_password,
                    }),
                    false,
                )),
                None => Err(ApiError::malformed(
                    "Informe a senha da conta na operadora para o registro (também quando o endereço da operadora muda).",
                )),
            }
        }
        _ => Err(ApiError::malformed(
            "O tipo de conexão com a operadora deve ser ip ou registration.",
        )),
    }
}

/// Writes the tenant's dialing where Asterisk reads it, and tells Asterisk
/// about its registration; a warning for the admin when either could not
/// be done. When the admin saves the telephony (`saved`), the registration
/// is announced even if the directory already held it, so saving again
/// mends one the PBX missed (it was unreachable); a trunk that does not
/// register has its registration stopped if Asterisk still runs one.
/// After other changes (policy, extension) only a change is announced.
pub(super) async fn write_to_pbx(
    state: &AppState,
    phones: &PbxPhones,
    tenant: &Tenant,
    saved: bool,
) -> Option<String> {
    let Some(key) = &state.phones.key else {
        return Some(NOT_WRITTEN.to_owned());
    };
    let Some(pbx) = state.pbxs.get(&tenant.pbx) else {
        return Some(NOT_WRITTEN.to_owned());
    };
    let tenant = tenant.slug.as_str();
    let synced = match dialing::sync(
        &state.store,
        &phones.directory,
        &phones.settings,
        key,
        tenant,
    )
    .await
    {
        Ok(synced) => synced?,
        Err(e) => {
            tracing::error!(tenant, error = %e, "cannot write the tenant's dialing into the directory");
            return Some(NOT_WRITTEN.to_owned());
        }
    };
    let registers = state
        .store
        .tenant_dialing(tenant)
        .await
        .ok()
        .flatten()
        .is_some_and(|d| d.registration.is_some());
    let told = match (synced.registration, saved, registers) {
        (RegistrationChange::Unchanged, false, _) => return None,
        (RegistrationChange::Unchanged, true, false) => {
            // Nothing to announce, unless a removal was missed: best effort.
            if let Err(e) = pbx.stop_registration_if_running(&synced.trunk).await {
                tracing::info!(tenant, error = %e, "registration not checked at the PBX");
            }
            return None;
        }
        (RegistrationChange::Unchanged, true, true) => {
            pbx.apply_registration(&synced.trunk, RegistrationChange::Changed)
                .await
        }
        (change, _, _) => pbx.apply_registration(&synced.trunk, change).await,
    };
    match told {
        Ok(()) => None,
        Err(e) => {
            tracing::error!(tenant, error = %e, "the PBX was not told about the registration");
            Some("A configuração foi salva, mas a central não foi avisada do registro na operadora agora. Salve de novo em alguns minutos.".to_owned())
        }
    }
}

const NOT_WRITTEN: &str = "A configuração foi salva, mas não chegou à central de telefonia agora. Salve de novo em alguns minutos.";

/// After a change the dialing depends on (the destination policy, an
/// extension): writes it again, when the console sets it.
pub(super) async fn refresh(state: &AppState, tenant: &Tenant) -> Option<String> {
    let phones = state.phones.of(tenant)?;
    write_to_pbx(state, phones, tenant, false).await
}
