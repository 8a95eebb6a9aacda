//! `/v1/calls`: place, read, list and hang up calls, and queue a stopped
//! CRM note again.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use disca_protocol::ErrorBody;
use disca_protocol::api::{CallPage, CreateCallRequest};
use disca_protocol::phone::PhoneKind;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::Instrument;
use utoipa::IntoParams;

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use crate::domain::{Call, CallContext, CallId, CrmState, E164Number, Outcome, Role, User};
use crate::pbx::{Pbx, PbxError};
use crate::storage::{CallFilter, CreateCall, Created};
use crate::telemetry;

const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// Place a call: ring the salesperson's phone, then the lead's.
#[utoipa::path(
    post, path = "/v1/calls", tag = "calls",
    request_body = CreateCallRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Same key, same call: a retried click never places two calls")),
    responses(
        (status = 201, description = "The call, queued", body = Call),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Destination not allowed for the tenant", body = ErrorBody),
        (status = 409, description = "The agent is already in a call", body = ErrorBody),
        (status = 422, description = "Invalid number (message says why)", body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 502, description = "The PBX refused the call", body = ErrorBody),
        (status = 503, description = "PBX unreachable or stopped answering (Retry-After), or the database full or locked (Retry-After): nothing was placed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[tracing::instrument(
    name = "call",
    level = "error",
    skip_all,
    fields(tenant = %user.tenant.slug, user = %user.id, call_id = tracing::field::Empty)
)]
pub async fn create_call(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Call>), ApiError> {
    let body = body.map_err(|e| ApiError::body_rejected(e.status()))?;
    let request: CreateCallRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::malformed(format!(
            "o corpo deve ser {{\"to\": \"<número>\", \"context\": {{...}}}} ({e})"
        ))
    })?;
    request.context.validate().map_err(ApiError::malformed)?;
    let idempotency_key = idempotency_key(&headers)?;
    let to = E164Number::parse(&request.to, user.tenant.region)?;
    user.tenant.policy.check(to.kind())?;
    let request_hash = hex::encode(Sha256::digest(
        serde_json::to_vec(&CreateCallRequest {
            to: to.as_str().to_owned(),
            context: request.context.clone(),
        })
        .map_err(|_| ApiError::internal())?,
    ));
    // A retried click gets its call back before any limit applies.
    if let Some(key) = &idempotency_key
        && let Some(call) = state.store.replay(&user.id, key, &request_hash).await?
    {
        return Ok((StatusCode::CREATED, Json(call)));
    }
    if let Err(not_until) = state.limiter.check_key(&user.id) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        return Err(ApiError::rate_limited(wait.as_secs() + 1));
    }
    // The tenant's PBX: when it is down, only its tenants are refused.
    let Some(pbx) = state.pbxs.get(&user.tenant.pbx).cloned() else {
        tracing::error!(pbx = %user.tenant.pbx, "the tenant's PBX is not configured on this backend");
        return Err(ApiError::pbx_unavailable());
    };
    if !pbx.is_connected() {
        return Err(ApiError::pbx_unavailable());
    }
    // Nothing rings, and nothing is stored, when the agent's phone is not
    // registered: the salesperson is told to connect it.
    if pbx.phone_offline(&user.endpoint()).await {
        return Err(ApiError::agent_phone_offline(
            user.phone == PhoneKind::Browser,
        ));
    }
    // Recording the call and handing it to Asterisk run to the end even if
    // the client goes away meanwhile: a call recorded but never placed (or
    // never followed) would block its agent.
    let placing = tokio::spawn(
        place_call(
            state,
            pbx,
            user,
            to,
            request.context,
            idempotency_key,
            request_hash,
        )
        .in_current_span(),
    );
    placing.await.map_err(|_| ApiError::internal())?
}

async fn place_call(
    state: AppState,
    pbx: Pbx,
    user: User,
    to: E164Number,
    context: CallContext,
    idempotency_key: Option<String>,
    request_hash: String,
) -> Result<(StatusCode, Json<Call>), ApiError> {
    // Read before the call is stored: a failure leaves nothing behind.
    let dial_context = crate::pbx::dialing::outbound_context(
        &state.store,
        &user.tenant,
        state.phones.of(&user.tenant).is_some(),
    )
    .await?;
    let created = state
        .store
        .create_call(CreateCall {
            user: &user,
            to: &to,
            context: &context,
            idempotency: idempotency_key
                .as_deref()
                .map(|k| (k, request_hash.as_str())),
        })
        .await?;
    let call = match created {
        Created::Replayed(call) => return Ok((StatusCode::CREATED, Json(call))),
        Created::New(call) => call,
    };
    telemetry::record_call_id(&call);
    state.metrics.call_created();
    let Err((error, _)) = pbx.place(&call, &dial_context, user.phone).await else {
        return Ok((StatusCode::CREATED, Json(call)));
    };
    // Not placed (or, for a link lost mid-Originate, not known to be): a
    // retry with the same key must try again.
    if let Err(e) = state.store.forget_idempotency_key(&call.id).await {
        tracing::warn!(error = %e, "could not release the Idempotency-Key");
    }
    match error {
        PbxError::Unreachable(e) => {
            tracing::warn!(error = %e, "Originate not sent");
            Err(ApiError::pbx_unavailable())
        }
        PbxError::Refused(e) => {
            tracing::error!(error = %e, "Originate refused by Asterisk");
            Err(ApiError::pbx_refused())
        }
        PbxError::Unconfirmed(e) => {
            tracing::warn!(error = %e, "Originate not acknowledged");
            Err(ApiError::pbx_stopped_answering())
        }
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::malformed("Idempotency-Key deve ser texto ASCII"))?;
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_LEN
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::malformed(
            "Idempotency-Key deve ter de 1 a 255 caracteres visíveis",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// Fetches a call the user may see: their own, or any of the tenant's for a
/// manager. Another tenant's call is "not found", exactly like an unknown
/// id, so that nobody learns which ids exist elsewhere.
pub(crate) async fn visible_call(
    state: &AppState,
    user: &User,
    id: &str,
) -> Result<Call, ApiError> {
    id.parse::<CallId>().map_err(|_| ApiError::not_found())?;
    let call = state.store.call(id).await?;
    if call.tenant != user.tenant.slug.as_str() {
        return Err(ApiError::not_found());
    }
    if user.role != Role::Manager && call.user_id != user.id {
        return Err(ApiError::forbidden());
    }
    Ok(call)
}

/// One call.
#[utoipa::path(
    get, path = "/v1/calls/{id}", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses((status = 200, body = Call), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_call(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Call>, ApiError> {
    visible_call(&state, &user, &id).await.map(Json)
}

/// Hang up: before the lead answers, the call ends as `canceled`.
#[utoipa::path(
    post, path = "/v1/calls/{id}/hangup", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 202, description = "Hangup requested; the end arrives as an event", body = Call),
        (status = 200, description = "The call had already ended", body = Call),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "PBX unreachable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn hangup_call(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Call>), ApiError> {
    let call = visible_call(&state, &user, &id).await?;
    if !call.is_live() {
        return Ok((StatusCode::OK, Json(call)));
    }
    // The PBX it was placed on, whichever its tenant's is now.
    let (_, placed_on) = state.store.call_and_pbx(&id).await?;
    let Some(pbx) = state.pbxs.get(&placed_on) else {
        tracing::error!(pbx = %placed_on, "the call's PBX is not configured on this backend");
        return Err(ApiError::pbx_unavailable());
    };
    if !pbx.is_connected() {
        return Err(ApiError::pbx_unavailable());
    }
    match pbx.hangup(&id).await {
        Some(live) => Ok((StatusCode::ACCEPTED, Json(live))),
        None => Ok((StatusCode::OK, Json(state.store.call(&id).await?))),
    }
}

/// Filters of `GET /v1/calls`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this user's calls (managers only; agents always see their own).
    pub user: Option<String>,
    /// Calls created at or after this instant (RFC 3339).
    pub from: Option<String>,
    /// Calls created before this instant (RFC 3339).
    pub to: Option<String>,
    pub outcome: Option<Outcome>,
    /// Only calls whose CRM note is in this state (`failed`, `pending`...).
    pub crm: Option<CrmState>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Calls, newest first: agents see their own, managers their tenant's.
#[utoipa::path(
    get, path = "/v1/calls", tag = "calls", params(ListQuery),
    responses((status = 200, body = CallPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_calls(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CallPage>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::malformed(format!(
            "filtros aceitos: user, from, to, outcome, crm, limit, cursor ({})",
            e.body_text()
        ))
    })?;
    let instant = |v: &Option<String>, name: &str| -> Result<Option<OffsetDateTime>, ApiError> {
        v.as_deref()
            .map(|s| {
                OffsetDateTime::parse(s, &Rfc3339)
                    .map_err(|_| ApiError::malformed(format!("{name} deve ser uma data RFC 3339")))
            })
            .transpose()
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::malformed("limit deve estar entre 1 e 200"));
    }
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<CallId>()
                .map_err(|_| ApiError::malformed("cursor inválido"))
        })
        .transpose()?;
    let user_id = match user.role {
        Role::Manager => q.user,
        Role::Agent => Some(user.id.clone()),
    };
    let filter = CallFilter {
        tenant: user.tenant.slug.to_string(),
        user_id,
        from: instant(&q.from, "from")?,
        to: instant(&q.to, "to")?,
        outcome: q.outcome,
        crm: q.crm,
        before,
        limit,
    };
    let calls = state.store.list_calls(&filter).await?;
    let next_cursor = (calls.len() == limit as usize)
        .then(|| calls.last().map(|c| c.id.clone()))
        .flatten();
    Ok(Json(CallPage { calls, next_cursor }))
}

/// Queue the call's CRM note again after it stopped (`failed`, `no_deal`,
/// `not_configured`): managers only.
#[utoipa::path(
    post, path = "/v1/calls/{id}/crm/retry", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 202, description = "The note is queued again; the call with its delivery", body = Call),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a manager (another tenant's call is 404, like an unknown one)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The note is not stopped (delivered, pending, or the call is live)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn retry_crm(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Call>), ApiError> {
    if user.role != Role::Manager {
        return Err(ApiError::managers_only());
    }
    let call = visible_call(&state, &user, &id).await?;
    let call = requeue_note(&state, &call).await?;
    Ok((StatusCode::ACCEPTED, Json(call)))
}

/// Queues `call`'s stopped note again and returns the call as it is now;
/// [`ApiError::crm_not_stopped`] when its note is not stopped. The caller
/// has checked that the user may see the call.
pub(crate) async fn requeue_note(state: &AppState, call: &Call) -> Result<Call, ApiError> {
    let stopped = call.crm.as_ref().is_some_and(|crm| {
        matches!(
            crm.state,
            CrmState::Failed | CrmState::NoDeal | CrmState::NotConfigured
        )
    });
    if !stopped {
        return Err(ApiError::crm_not_stopped());
    }
    // Queued only if still stopped: a concurrent retry finds nothing to do.
    if state
        .store
        .requeue_deliveries(&call.tenant, Some(&call.id))
        .await?
        == 0
    {
        return Err(ApiError::crm_not_stopped());
    }
    Ok(state.store.call(&call.id).await?)
}
