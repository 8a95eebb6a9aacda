//! Recordings under the tenant's rules (`/manager/admin/api/recording`):
//! on or off, the announcement played to the lead before the bridge (an
//! uploaded WAV), and the retention in days. Every change reaches the
//! dialplan at once ([`crate::recordings::sync`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::Admin;
use crate::api::{ApiError, AppState};
use crate::domain::User;
use crate::manager::session::same_site;
use crate::recordings::{self, announcement};
use crate::storage::{Actor, AuditAction, AuditEntry, RecordingRules};
use disca_protocol::ApiErrorCode;

/// Longest retention an admin may set (ten years).
const MAX_RETENTION_DAYS: u32 = 3650;

#[derive(Serialize)]
pub struct RulesView {
    pub enabled: bool,
    pub announcement: bool,
    pub retention_days: Option<u32>,
    /// Announcements can be uploaded on this server.
    pub announcements_available: bool,
    /// The default announcement was built in.
    pub default_available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

fn view(state: &AppState, rules: &RecordingRules, warning: Option<String>) -> RulesView {
    RulesView {
        enabled: rules.enabled,
        announcement: rules.announcement.is_some(),
        retention_days: rules.retention_days,
        announcements_available: state.recordings.prompts_dir.is_some(),
        default_available: announcement::DEFAULT.is_some(),
        warning,
    }
}

pub async fn get_rules(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Json<RulesView>, ApiError> {
    let rules = state
        .store
        .recording_rules(admin.tenant.slug.as_str())
        .await?;
    Ok(Json(view(&state, &rules, None)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesBody {
    enabled: bool,
    /// `null`: kept.
    retention_days: Option<u32>,
}

/// `PUT /manager/admin/api/recording`.
pub async fn put_rules(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    body: Result<Json<RulesBody>, JsonRejection>,
) -> Result<Json<RulesView>, ApiError> {
    same_site(&headers)?;
    let Json(body) = body
        .map_err(|_| ApiError::malformed("o corpo deve ser {\"enabled\", \"retention_days\"}"))?;
    if body
        .retention_days
        .is_some_and(|d| d == 0 || d > MAX_RETENTION_DAYS)
    {
        return Err(ApiError::malformed(
            "O prazo de guarda deve ser de 1 a 3650 dias (ou vazio: guardar).",
        ));
    }
    let slug = admin.tenant.slug.as_str();
    let mut rules = state.store.recording_rules(slug).await?;
    rules.enabled = body.enabled;
    rules.retention_days = body.retention_days;
    let detail = format!(
        "Gravação {}; guarda: {}",
        if rules.enabled { "ligada" } else { "desligada" },
        rules
            .retention_days
            .map_or("sem prazo".to_owned(), |d| format!("{d} dias"))
    );
    save(&state, &admin, &rules, detail).await
}

/// `POST /manager/admin/api/recording/announcement`: the WAV file as the
/// body.
pub async fn put_announcement(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<RulesView>, ApiError> {
    same_site(&headers)?;
    use_announcement(&state, &admin, body, "Aviso de gravação enviado").await
}

/// `POST /manager/admin/api/recording/announcement/default`: the built-in
/// announcement.
pub async fn use_default_announcement(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
) -> Result<Json<RulesView>, ApiError> {
    same_site(&headers)?;
    let Some(wav) = announcement::DEFAULT else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ApiErrorCode::RecordingsNotConfigured,
            "Este servidor foi instalado sem o aviso padrão: envie um arquivo de aviso.",
        ));
    };
    use_announcement(
        &state,
        &admin,
        Bytes::from_static(wav),
        "Aviso de gravação padrão escolhido",
    )
    .await
}

async fn use_announcement(
    state: &AppState,
    admin: &User,
    body: Bytes,
    detail: &str,
) -> Result<Json<RulesView>, ApiError> {
    let Some(dir) = &state.recordings.prompts_dir else {
        return Err(no_prompts());
    };
    let slug = admin.tenant.slug.as_str();
    let name = announcement::prompt_name(slug);
    let dir = dir.clone();
    let file = name.clone();
    tokio::task::spawn_blocking(move || announcement::write(&dir, &file, &body))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| match e {
            announcement::AnnouncementError::Io(io) => {
                tracing::error!(error = %io, "cannot write an announcement");
                ApiError::internal()
            }
            e => ApiError::malformed(e),
        })?;
    let mut rules = state.store.recording_rules(slug).await?;
    rules.announcement = Some(name);
    save(state, admin, &rules, detail.to_owned()).await
}

/// `DELETE /manager/admin/api/recording/announcement`.
pub async fn delete_announcement(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
) -> Result<Json<RulesView>, ApiError> {
    same_site(&headers)?;
    let slug = admin.tenant.slug.as_str();
    let mut rules = state.store.recording_rules(slug).await?;
    rules.announcement = None;
    save(
        &state,
        &admin,
        &rules,
        "Aviso de gravação removido".to_owned(),
    )
    .await
}

fn no_prompts() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        ApiErrorCode::RecordingsNotConfigured,
        "Este servidor não tem a pasta de avisos configurada ([recordings] prompts_dir): peça à TI para configurá-la.",
    )
}

async fn save(
    state: &AppState,
    admin: &User,
    rules: &RecordingRules,
    detail: String,
) -> Result<Json<RulesView>, ApiError> {
    let slug = admin.tenant.slug.as_str();
    let entry = AuditEntry {
        action: AuditAction::RecordingRulesChanged,
        target: slug.to_owned(),
        detail,
    };
    state
        .store
        .set_recording_rules(slug, rules, &Actor::admin(admin), &entry)
        .await?;
    tracing::info!(admin = %admin.id, tenant = slug, "recording rules changed");
    let warning = match state.phones.directory_for(&admin.tenant) {
        Some(directory) => recordings::sync(&state.store, directory, &state.recordings, slug)
            .await
            .err()
            .map(|e| {
                tracing::error!(tenant = slug, error = %e, "cannot write the recording rules for the PBX");
                "As regras foram salvas, mas não chegaram à central de telefonia agora. Salve de novo em alguns minutos.".to_owned()
            }),
        None if !admin.tenant.pbx.is_default() => Some(format!(
            "As regras foram salvas, mas a central desta empresa (\"{}\") é configurada pelos arquivos dela: peça à TI para aplicá-las lá, ou para configurar o diretório dela ([pbxs] directory_url).",
            admin.tenant.pbx
        )),
        None => Some("As regras foram salvas, mas este servidor não escreve a configuração da central de telefonia ([phones] directory_db).".to_owned()),
    };
    Ok(Json(view(state, rules, warning)))
}
