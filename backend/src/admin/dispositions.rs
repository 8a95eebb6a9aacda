//! The outcomes a salesperson chooses from after a call
//! (`/manager/admin/api/dispositions`): the tenant's list, in order.
//! Renaming keeps an outcome's id (its past reports keep the label they
//! were given); removing retires it; the first change turns the built-in
//! list into the tenant's own. Audited.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;
use serde::Deserialize;

use super::Admin;
use crate::api::{ApiError, AppState};
use crate::manager::session::same_site;
use crate::storage::{Actor, AuditAction, AuditEntry};
use disca_protocol::report::Dispositions;

/// One outcome of the wanted list: an existing one's id, or none (new).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wanted {
    #[serde(default)]
    pub id: Option<String>,
    pub label: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WantedList {
    pub dispositions: Vec<Wanted>,
}

pub async fn get_dispositions(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Json<Dispositions>, ApiError> {
    let dispositions = state.store.dispositions(admin.tenant.slug.as_str()).await?;
    Ok(Json(Dispositions { dispositions }))
}

/// `PUT /manager/admin/api/dispositions`: the whole list, in order.
pub async fn put_dispositions(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    body: Result<Json<WantedList>, JsonRejection>,
) -> Result<Json<Dispositions>, ApiError> {
    same_site(&headers)?;
    let Json(wanted) = body.map_err(|e| {
        ApiError::malformed(format!(
            "o corpo deve ser {{\"dispositions\": [{{\"id\", \"label\"}}]}} ({})",
            e.body_text()
        ))
    })?;
    let slug = admin.tenant.slug.as_str();
    let before = state.store.dispositions(slug).await?;
    let list: Vec<(Option<String>, String)> = wanted
        .dispositions
        .into_iter()
        .map(|w| (w.id, w.label.trim().to_owned()))
        .collect();
    let labels = |names: Vec<&str>| names.join(", ");
    let entry = AuditEntry {
        action: AuditAction::DispositionsChanged,
        target: slug.to_owned(),
        detail: format!(
            "{} → {}",
            labels(before.iter().map(|d| d.label.as_str()).collect()),
            labels(list.iter().map(|(_, l)| l.as_str()).collect())
        ),
    };
    let dispositions = state
        .store
        .set_dispositions(slug, &list, (&Actor::admin(&admin), &entry))
        .await?;
    tracing::info!(admin = %admin.id, tenant = slug, "call outcomes changed");
    Ok(Json(Dispositions { dispositions }))
}
