//! The tenant's destination policy (`/manager/admin/api/policy`): which
//! kinds of number its people may call. The backend checks it on every
//! click; a change reaches every backend at once (the auth epoch), so the
//! next click follows it.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::HeaderMap;
use serde::Serialize;

use super::Admin;
use super::view::{self, DESTINATIONS};
use crate::api::{ApiError, AppState};
use crate::domain::DestinationPolicy;
use crate::manager::session::same_site;
use crate::storage::{Actor, AuditAction, AuditEntry};

/// The policy as the console shows it.
#[derive(Serialize)]
pub struct PolicyView {
    pub policy: DestinationPolicy,
    pub destinations: Vec<Destination>,
}

#[derive(Serialize)]
pub struct Destination {
    /// The field of `policy`.
    pub field: &'static str,
    pub label: &'static str,
    pub allowed: bool,
}

fn view_of(policy: DestinationPolicy) -> PolicyView {
    PolicyView {
        destinations: DESTINATIONS
            .iter()
            .zip(view::policy_values(&policy))
            .map(|(&(field, label), allowed)| Destination {
                field,
                label,
                allowed,
            })
            .collect(),
        policy,
    }
}

pub async fn get_policy(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Json<PolicyView>, ApiError> {
    let tenant = state.store.tenant(admin.tenant.slug.as_str()).await?;
    Ok(Json(view_of(tenant.policy)))
}

/// `PUT /manager/admin/api/policy`: every field of the policy.
pub async fn put_policy(
    State(state): State<AppState>,
    Admin(admin): Admin,
    headers: HeaderMap,
    body: Result<Json<DestinationPolicy>, JsonRejection>,
) -> Result<Json<PolicyView>, ApiError> {
    same_site(&headers)?;
    let Json(policy) = body.map_err(|e| {
        ApiError::malformed(format!(
            "o corpo deve ter allow_fixed, allow_mobile, allow_toll_free, allow_premium, allow_collect e allow_international ({})",
            e.body_text()
        ))
    })?;
    let slug = admin.tenant.slug.as_str();
    let before = state.store.tenant(slug).await?.policy;
    if before != policy {
        let entry = AuditEntry {
            action: AuditAction::PolicyChanged,
            target: slug.to_owned(),
            detail: view::policy_change(&before, &policy),
        };
        state
            .store
            .set_policy(slug, &policy, &Actor::admin(&admin), &entry)
            .await?;
        state.revocations.forget_now();
        tracing::info!(admin = %admin.id, tenant = slug, "destination policy changed");
        // The dialplan checks the policy again: its rule follows.
        if let Some(warning) = super::dialing::refresh(&state, &admin.tenant).await {
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                disca_protocol::ApiErrorCode::PbxUnavailable,
                warning,
            ));
        }
    }
    Ok(Json(view_of(policy)))
}
