//! RD Station in the admin console: the connection's state (API, notes
//! waiting, the latest errors, the salespeople without an RD Station user),
//! "Conectar RD Station" (API v2, OAuth2's authorization code flow: the
//! admin's browser goes to RD Station's authorization page and comes back
//! to [`CALLBACK_PATH`] with a code, exchanged here, the refresh token
//! sealed as by the CLI), the API v1 token form, and matching salespeople
//! to RD Station users by e-mail (v1's `GET /users`).
//!
//! The callback needs no session (the manager session cookie is
//! `SameSite=Strict` and does not come back from RD Station's site): the
//! `state` is the credential — 256 random bits, only their SHA-256 kept,
//! bound to the tenant and admin, for [`CONNECT_LIFETIME`], once.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Admin;
use crate::api::{ApiError, AppState};
use crate::auth::{hash_token, random_secret};
use crate::crm::connect::{Connector, V2Grant, connect_v1, connect_v2};
use crate::crm::connections::Connections;
use crate::crm::secrets::Secret;
use crate::domain::{CrmState, CrmUserId, sao_paulo};
use crate::manager::session::same_site;
use crate::storage::{Actor, AuditAction, AuditEntry, ConnectState, PersonChange};
use disca_protocol::ApiErrorCode;

/// Where RD Station sends the admin's browser back.
pub const CALLBACK_PATH: &str = "/manager/admin/rdstation/callback";
/// How long a "Conectar RD Station" may take.
pub const CONNECT_LIFETIME: time::Duration = time::Duration::minutes(10);
/// The sealing purpose of a pending authorization's client secret.
const PENDING_SECRET: &str = "connect-client-secret";
/// Latest errors shown.
const ERRORS_SHOWN: u32 = 5;

fn connector(state: &AppState) -> Result<&Connector, ApiError> {
    state.crm.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ApiErrorCode::CrmConnectionFailed,
            "Este servidor não conecta o RD Station.",
        )
    })
}

fn failed(what: &str, e: &anyhow::Error) -> ApiError {
    tracing::warn!(error = %format!("{e:#}"), "connecting RD Station failed");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        ApiErrorCode::CrmConnectionFailed,
        format!("{what} ({})", e.root_cause()),
    )
}

#[derive(Serialize)]
pub struct RdStatus {
    pub connected: bool,
    /// `v1` or `v2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Notes by state, in Portuguese.
    pub notes: Vec<NoteCount>,
    /// Notes waiting to be written.
    pub backlog: i64,
    pub errors: Vec<ErrorView>,
    /// Active people with no RD Station user: with API v1 their notes
    /// cannot be written.
    pub without_rd_user: Vec<PersonRef>,
    /// The address to register as the RD Station app's redirect URI.
    pub redirect_uri: String,
}

#[derive(Serialize)]
pub struct NoteCount {
    pub state: String,
    pub label: &'static str,
    pub count: i64,
}

#[derive(Serialize)]
pub struct ErrorView {
    pub call_id: String,
    pub at: String,
    pub error: String,
}

#[derive(Serialize)]
pub struct PersonRef {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// `GET /manager/admin/api/rdstation`.
pub async fn status(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Json<RdStatus>, ApiError> {
    let slug = admin.tenant.slug.as_str();
    let account = state.store.crm_account(slug).await?;
    let counts = state.store.crm_delivery_counts(slug).await?;
    let backlog = counts
        .iter()
        .filter(|(s, _)| s == "pending")
        .map(|(_, n)| n)
        .sum();
    let notes = counts
        .into_iter()
        .map(|(s, count)| NoteCount {
            label: s.parse::<CrmState>().map_or("?", |c| c.for_manager()),
            state: s,
            count,
        })
        .collect();
    let errors = state
        .store
        .crm_delivery_errors(slug, ERRORS_SHOWN)
        .await?
        .into_iter()
        .map(|e| ErrorView {
            call_id: e.call_id,
            at: sao_paulo::format(e.at, "%d/%m/%Y %H:%M"),
            error: e.error,
        })
        .collect();
    let without_rd_user = state
        .store
        .people(slug, None)
        .await?
        .into_iter()
        .filter(|p| !p.disabled && p.crm_user_id.is_none())
        .map(|p| PersonRef {
            id: p.user.id,
            name: p.user.name,
            email: p.user.email,
        })
        .collect();
    Ok(Json(RdStatus {
        connected: account.is_some(),
        api: account.map(|a| a.api),
        notes,
        backlog,
        errors,
        without_rd_user,
        redirect_uri: format!("{}{CALLBACK_PATH}", state.accounts.public_url),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V1Request {
    token: Zeroizing<String>,
}

#[derive(Serialize)]
pub struct V1Connected {
    /// Whose token it is, as RD Station says.
    pub name: String,
    pub email: String,
    pub organization: String,
}

/// `POST /manager/admin/api/rdstation/v1`: an instance token, checked with
/// RD Station before it is stored.
pub async fn connect_with_token(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    body: Result<Json<V1Request>, JsonRejection>,
) -> Result<Json<V1Connected>, ApiError> {
    same_site(&headers)?;
    let Json(request) = body.map_err(|_| ApiError::malformed("o corpo deve ser {\"token\"}"))?;
    let token = request.token.trim();
    if token.is_empty() || token.len() > 200 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::malformed(
            "O token de instância não tem a forma de um token do RD Station.",
        ));
    }
    let crm = connector(&state)?;
    let slug = admin.tenant.slug.as_str();
    let owner = connect_v1(
        &state.store,
        &crm.key,
        &crm.http,
        slug,
        &crm.settings.v1_url,
        Secret::new(token.to_owned()),
    )
    .await
    .map_err(|e| failed("O RD Station não aceitou este token", &e))?;
    let entry = AuditEntry {
        action: AuditAction::CrmConnected,
        target: slug.to_owned(),
        detail: format!("API v1, token de {} <{}>", owner.name, owner.email),
    };
    state
        .store
        .record_audit(slug, &Actor::admin(&admin), &entry)
        .await?;
    Ok(Json(V1Connected {
        name: owner.name,
        email: owner.email,
        organization: owner.organization,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct V2Request {
    client_id: String,
    client_secret: Zeroizing<String>,
}

#[derive(Serialize)]
pub struct Authorize {
    /// RD Station's authorization page, where the browser goes now.
    pub authorize_url: String,
}

/// `POST /manager/admin/api/rdstation/v2`: the company's RD Station app
/// (client id and secret); answers the authorization page to open.
pub async fn start_authorization(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    body: Result<Json<V2Request>, JsonRejection>,
) -> Result<Json<Authorize>, ApiError> {
    same_site(&headers)?;
    let Json(request) = body
        .map_err(|_| ApiError::malformed("o corpo deve ser {\"client_id\", \"client_secret\"}"))?;
    let client_id = request.client_id.trim();
    let secret = request.client_secret.trim();
    let printable =
        |s: &str| !s.is_empty() && s.len() <= 200 && s.bytes().all(|b| b.is_ascii_graphic());
    if !printable(client_id) || !printable(secret) {
        return Err(ApiError::malformed(
            "Informe o Client ID e o Client Secret do aplicativo criado no RD Station.",
        ));
    }
    let crm = connector(&state)?;
    let slug = admin.tenant.slug.as_str();
    let nonce = random_secret();
    state
        .store
        .add_connect_state(
            &hash_token(&nonce),
            &ConnectState {
                tenant: slug.to_owned(),
                admin_id: admin.id.clone(),
                client_id: client_id.to_owned(),
                client_secret: crm
                    .key
                    .seal(slug, PENDING_SECRET, &Secret::new(secret.to_owned())),
            },
            OffsetDateTime::now_utc() + CONNECT_LIFETIME,
        )
        .await?;
    let mut url =
        reqwest::Url::parse(&crm.settings.authorize_url).map_err(|_| ApiError::internal())?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &redirect_uri(&state))
        .append_pair("state", &nonce);
    Ok(Json(Authorize {
        authorize_url: url.to_string(),
    }))
}

fn redirect_uri(state: &AppState) -> String {
    format!("{}{CALLBACK_PATH}", state.accounts.public_url)
}

#[derive(Deserialize)]
pub struct Callback {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// `GET /manager/admin/rdstation/callback?code=&state=`: RD Station sends
/// the browser back here.
pub async fn callback(
    State(state): State<AppState>,
    query: Result<Query<Callback>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return page(StatusCode::BAD_REQUEST, Outcome::Invalid);
    };
    let Some(nonce) = query.state.filter(|s| s.len() == 64) else {
        return page(StatusCode::BAD_REQUEST, Outcome::Invalid);
    };
    let pending = match state.store.take_connect_state(&hash_token(&nonce)).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return page(StatusCode::BAD_REQUEST, Outcome::Invalid),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a pending RD Station authorization");
            return page(StatusCode::SERVICE_UNAVAILABLE, Outcome::Failed);
        }
    };
    if query.error.is_some() {
        return page(StatusCode::OK, Outcome::Refused);
    }
    // Whoever started it must still be an enabled admin of that tenant.
    let still_admin = match state.store.user_by_id(&pending.admin_id).await {
        Ok(user) => {
            user.admin
                && user.tenant.slug.as_str() == pending.tenant
                && state.store.user_enabled(&user.id).await.unwrap_or(false)
        }
        Err(_) => false,
    };
    if !still_admin {
        return page(StatusCode::FORBIDDEN, Outcome::Invalid);
    }
    let Some(code) = query.code.filter(|c| !c.is_empty() && c.len() <= 512) else {
        return page(StatusCode::BAD_REQUEST, Outcome::Invalid);
    };
    let Ok(crm) = connector(&state) else {
        return page(StatusCode::SERVICE_UNAVAILABLE, Outcome::Failed);
    };
    let Ok(client_secret) = crm
        .key
        .open(&pending.tenant, PENDING_SECRET, &pending.client_secret)
    else {
        return page(StatusCode::BAD_REQUEST, Outcome::Invalid);
    };
    let grant = V2Grant {
        base_url: &crm.settings.v2_url,
        token_url: &crm.settings.token_url,
        client_id: &pending.client_id,
        client_secret,
        code: &code,
        redirect_uri: &redirect_uri(&state),
    };
    if let Err(e) = connect_v2(&state.store, &crm.key, &crm.http, &pending.tenant, grant).await {
        tracing::warn!(tenant = pending.tenant, error = %format!("{e:#}"), "RD Station refused the authorization code");
        return page(StatusCode::BAD_GATEWAY, Outcome::Failed);
    }
    let actor = match state.store.user_by_id(&pending.admin_id).await {
        Ok(admin) => Actor::admin(&admin),
        Err(_) => Actor {
            user_id: Some(pending.admin_id.clone()),
            label: pending.admin_id.clone(),
        },
    };
    let entry = AuditEntry {
        action: AuditAction::CrmConnected,
        target: pending.tenant.clone(),
        detail: format!("API v2 (OAuth2), aplicativo {}", pending.client_id),
    };
    if let Err(e) = state
        .store
        .record_audit(&pending.tenant, &actor, &entry)
        .await
    {
        tracing::error!(error = %e, "cannot record the RD Station connection in the audit log");
    }
    tracing::info!(
        tenant = pending.tenant,
        "RD Station connected from the console (API v2)"
    );
    page(StatusCode::OK, Outcome::Connected)
}

enum Outcome {
    Connected,
    Refused,
    Invalid,
    Failed,
}

/// The callback's answer: fixed words only.
fn page(status: StatusCode, outcome: Outcome) -> Response {
    let (title, text) = match outcome {
        Outcome::Connected => (
            "RD Station conectado",
            "Pronto: as próximas ligações viram notas no RD Station, e as notas que esperavam a conexão já estão na fila.",
        ),
        Outcome::Refused => (
            "Conexão não autorizada",
            "A autorização foi recusada no RD Station. Nada mudou; você pode tentar de novo pelo console.",
        ),
        Outcome::Invalid => (
            "Este pedido de conexão não vale mais",
            "Ele expirou (10 minutos) ou já foi usado. Volte ao console e clique em \"Conectar RD Station\" de novo.",
        ),
        Outcome::Failed => (
            "Não foi possível conectar",
            "O RD Station não aceitou a autorização (confira o Client ID, o Client Secret e o endereço de retorno do aplicativo) ou não respondeu. Tente de novo pelo console.",
        ),
    };
    crate::manager::page::notice(status, title, text, ("/manager/admin", "Voltar ao console"))
}

#[derive(Serialize)]
pub struct Matched {
    pub matched: Vec<MatchedPerson>,
    /// Still without an RD Station user.
    pub missing: Vec<PersonRef>,
}

#[derive(Serialize)]
pub struct MatchedPerson {
    pub name: String,
    pub email: String,
    pub crm_user_id: String,
}

/// `POST /manager/admin/api/rdstation/match-users`: each active person
/// without an RD Station user gets the one with their e-mail (API v1).
pub async fn match_users(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
) -> Result<Json<Matched>, ApiError> {
    same_site(&headers)?;
    let crm = connector(&state)?;
    let slug = admin.tenant.slug.as_str();
    let connections = Connections::new(
        state.store.clone(),
        crm.key.clone(),
        crm.http.clone(),
        crm.settings.clone(),
    );
    let not_v1 = || {
        ApiError::new(
            StatusCode::CONFLICT,
            ApiErrorCode::CrmConnectionFailed,
            "A associação por e-mail usa a API v1 (com a API v2, as notas saem em nome de quem autorizou o aplicativo). Conecte com um token de instância.",
        )
    };
    let client = connections
        .client(slug)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                ApiErrorCode::CrmConnectionFailed,
                e.to_string(),
            )
        })?
        .ok_or_else(not_v1)?;
    let users = match client.users().await {
        Ok(users) => users,
        Err(e)
            if state
                .store
                .crm_account(slug)
                .await?
                .is_some_and(|a| a.api != "v1") =>
        {
            tracing::debug!(error = %e, "no users API on v2");
            return Err(not_v1());
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                ApiErrorCode::CrmConnectionFailed,
                format!("O RD Station não listou os usuários ({e})."),
            ));
        }
    };
    let mut matched = Vec::new();
    let mut missing = Vec::new();
    for person in state.store.people(slug, None).await? {
        if person.disabled || person.crm_user_id.is_some() {
            continue;
        }
        let Some(found) = users.iter().find(|u| u.email == person.user.email) else {
            missing.push(PersonRef {
                id: person.user.id,
                name: person.user.name,
                email: person.user.email,
            });
            continue;
        };
        let Ok(crm_user) = CrmUserId::parse(&found.id) else {
            continue;
        };
        let entry = AuditEntry {
            action: AuditAction::CrmUsersMatched,
            target: person.user.email.clone(),
            detail: format!(
                "Usuário RD Station: nenhum → {} (mesmo e-mail)",
                crm_user.as_str()
            ),
        };
        let change = PersonChange {
            crm_user_id: Some(Some(crm_user.clone())),
            ..PersonChange::default()
        };
        state
            .store
            .change_person(
                slug,
                &person.user.id,
                &change,
                &Actor::admin(&admin),
                &entry,
            )
            .await?;
        matched.push(MatchedPerson {
            name: person.user.name,
            email: person.user.email,
            crm_user_id: crm_user.as_str().to_owned(),
        });
    }
    Ok(Json(Matched { matched, missing }))
}
