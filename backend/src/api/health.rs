//! `/healthz` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::storage::StoreError;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` when everything below is up, `degraded` otherwise.
    pub status: &'static str,
    /// Logged in to Asterisk AMI.
    pub ami_connected: bool,
    /// The database takes writes.
    pub database_ok: bool,
    /// Why the database takes no writes: `disk_full` (no room left on its
    /// disk), `locked` (another process held its write lock past the busy
    /// timeout) or `unavailable`; absent when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_problem: Option<&'static str>,
}

/// Liveness and dependencies; 503 when AMI or the database is down. The
/// database is checked with a real write, so a full disk shows here.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let ami_connected = state.pbx.is_connected();
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
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Health {
            status: if ok { "ok" } else { "degraded" },
            ami_connected,
            database_ok,
            database_problem,
        }),
    )
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
