//! The stand-in's own controls, never faulted nor counted:
//! `GET|POST /_standin/fault`, `GET /_standin/notes[?deal_id=]`,
//! `GET /_standin/requests` (tokens as fingerprints).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use super::params::Params;
use crate::faults::{FaultSpec, FaultState};
use crate::notes::Note;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_standin/fault", get(current_fault).post(set_fault))
        .route("/_standin/notes", get(notes))
        .route("/_standin/requests", get(requests))
}

async fn current_fault(State(state): State<AppState>) -> Json<FaultState> {
    Json(state.faults.current())
}

/// Body: a [`FaultSpec`] in JSON (any content type), e.g.
/// `{"mode": "status_500_html", "count": 2}`.
async fn set_fault(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultSpec>(&body) {
        Ok(spec) => Json(state.faults.apply(spec)).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": format!("not a fault: {e}")})),
        )
            .into_response(),
    }
}

/// Every stored note (or one deal's), oldest first, with all its fields.
async fn notes(State(state): State<AppState>, uri: Uri) -> Json<serde_json::Value> {
    let params = Params::of(&uri);
    let deal_id = params.get("deal_id");
    let notes: Vec<Note> = state
        .crm
        .notes
        .filtered(|n| deal_id.is_none_or(|d| n.deal_id == d));
    Json(json!({ "notes": notes }))
}

async fn requests(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.requests.snapshot().published())
}
