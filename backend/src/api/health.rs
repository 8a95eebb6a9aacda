//! `/livez`, `/readyz` (and its older name `/healthz`) and `/metrics`.
//!
//! A liveness probe must not restart a backend whose PBX is down (it would
//! restart it in a loop while Asterisk is away): `/livez` answers as long
//! as the process serves requests. `/readyz` says whether it can do its
//! job — the database takes writes and AMI is logged in — for a load
//! balancer or a readiness probe. With several PBXs, one that is down
//! affects only its tenants, so the backend stays ready while any PBX is
//! logged in (the body says which are not).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::storage::StoreError;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when everything below is up, `degraded` otherwise.
    pub status: &'static str,
    /// Logged in to every PBX's Asterisk AMI.
    pub ami_connected: bool,
    /// Each PBX, and whether its AMI is logged in.
    pub pbxs: Vec<PbxHealth>,
    /// The database takes writes.
    pub database_ok: bool,
    /// Why the database takes no writes: `disk_full` (no room left on its
    /// disk), `locked` (another process held its write lock past the busy
    /// timeout) or `unavailable`; absent when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_problem: Option<&'static str>,
}

/// One PBX in [`Health`].
#[derive(Serialize, ToSchema)]
pub struct PbxHealth {
    /// `default` (the one under `[ami]`) or its key under `[pbxs]`.
    pub name: String,
    pub ami_connected: bool,
}

/// `/livez`.
#[derive(Serialize, ToSchema)]
pub struct Live {
    /// Always `ok`: the process serves requests.
    pub status: &'static str,
}

/// Liveness: the process serves requests. Checks nothing else, so a PBX or
/// a database that is down never gets the backend restarted.
#[utoipa::path(get, path = "/livez", tag = "operations",
    responses((status = 200, body = Live)))]
pub async fn livez() -> Json<Live> {
    Json(Live { status: "ok" })
}

/// Readiness: the database takes writes (checked with a real write, so a
/// full disk shows here) and AMI is logged in, to at least one PBX when
/// there are several; 503 otherwise. Also served as `/healthz`, its older
/// name.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let pbxs: Vec<PbxHealth> = state
        .pbxs
        .all()
        .map(|(name, pbx)| PbxHealth {
            name: name.to_string(),
            ami_connected: pbx.is_connected(),
        })
        .collect();
    let ami_connected = pbxs.iter().all(|p| p.ami_connected);
    let some_pbx = pbxs.iter().any(|p| p.ami_connected);
    let database_problem = match state.store.check_writable().await {
        Ok(()) => None,
        Err(StoreError::DiskFull) => Some("disk_full"),
        Err(StoreError::Busy) => Some("locked"),
        Err(e) => {
            tracing::warn!(error = %e, "the database takes no writes");
            Some("unavailable")
        }
    };
    let database_ok = database_problem.is_none();
    let ok = ami_connected && database_ok;
    let status = if some_pbx && database_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Health {
            status: if ok { "ok" } else { "degraded" },
            ami_connected,
            pbxs,
            database_ok,
            database_problem,
        }),
    )
}

/// Prometheus text exposition; with `http.metrics_token_sha256` set, only
/// for `Authorization: Bearer <that token>` (401 otherwise). The CRM
/// outbox's backlog is counted at each scrape.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "The metrics token is required"),
    ))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.metrics_token_sha256 {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|token| crate::auth::hash_token(token.trim()));
        if given.as_deref() != Some(expected.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics token required\n",
            )
                .into_response();
        }
    }
    match state.store.crm_backlog().await {
        Ok(backlog) => state.metrics.set_crm_outbox(&backlog),
        Err(e) => tracing::warn!(error = %e, "cannot count the CRM outbox for /metrics"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
