//! The JSON the manager page reads, under `/manager/api/`, authenticated by
//! the session cookie: who is logged in and their team, the team's calls
//! as rows (filtered, paged), one call, and queuing a stopped note again.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Serialize;

use super::filters::{DEFAULT_PAGE, Filters, Paging};
use super::recording::recorded;
use super::session::{Manager, same_site};
use super::view::{self, CRM_STATES, CallRow, OUTCOMES, Team};
use crate::api::calls::requeue_note;
use crate::api::{ApiError, AppState};
use crate::domain::{Call, CallId, PbxName, Role, User};
use crate::storage::StoreError;

/// `GET /manager/api/session`.
#[derive(Serialize)]
pub struct SessionInfo {
    pub manager: Person,
    /// The manager is an admin too: the page links to the console.
    pub admin: bool,
    pub tenant: TenantInfo,
    /// The tenant's users, by name.
    pub team: Vec<Person>,
    /// The filter choices, in Portuguese.
    pub outcomes: Vec<Choice>,
    pub crm_states: Vec<Choice>,
}

#[derive(Serialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub role: Role,
}

#[derive(Serialize)]
pub struct TenantInfo {
    pub slug: String,
    pub name: String,
}

#[derive(Serialize)]
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
}

/// A page of rows, newest first.
#[derive(Serialize)]
pub struct RowPage {
    pub calls: Vec<CallRow>,
    /// Pass as `cursor` for older calls; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub async fn session_info(
    State(state): State<AppState>,
    Manager(user): Manager,
) -> Result<Json<SessionInfo>, ApiError> {
    let team = state.store.team(user.tenant.slug.as_str()).await?;
    let person = |u: &User| Person {
        id: u.id.clone(),
        name: u.name.clone(),
        role: u.role,
    };
    Ok(Json(SessionInfo {
        manager: person(&user),
        admin: user.admin,
        tenant: TenantInfo {
            slug: user.tenant.slug.to_string(),
            name: user.tenant.name.clone(),
        },
        team: team.iter().map(person).collect(),
        outcomes: OUTCOMES
            .iter()
            .map(|&o| Choice {
                value: o.as_str(),
                label: o.for_manager(),
            })
            .collect(),
        crm_states: CRM_STATES
            .iter()
            .map(|&s| Choice {
                value: s.as_str(),
                label: s.for_manager(),
            })
            .collect(),
    }))
}

pub async fn list_calls(
    State(state): State<AppState>,
    Manager(user): Manager,
    filters: Result<Query<Filters>, QueryRejection>,
    paging: Result<Query<Paging>, QueryRejection>,
) -> Result<Json<RowPage>, ApiError> {
    let Query(filters) = filters.map_err(bad_query)?;
    let Query(paging) = paging.map_err(bad_query)?;
    let mut filter = filters.to_filter(user.tenant.slug.as_str(), DEFAULT_PAGE)?;
    paging.apply(&mut filter)?;
    let calls = state.store.list_calls(&filter).await?;
    let next_cursor = (calls.len() == filter.limit as usize)
        .then(|| calls.last().map(|c| c.id.clone()))
        .flatten();
    Ok(Json(RowPage {
        calls: rows(&state, &user, &calls).await?,
        next_cursor,
    }))
}

pub async fn get_call(
    State(state): State<AppState>,
    Manager(user): Manager,
    Path(id): Path<String>,
) -> Result<Json<CallRow>, ApiError> {
    let call = tenant_call(&state, &user, &id).await?;
    one_row(&state, &user, call).await
}

/// `POST /manager/api/calls/{id}/crm/retry`: the row as it is once queued.
pub async fn retry_crm(
    State(state): State<AppState>,
    headers: HeaderMap,
    Manager(user): Manager,
    Path(id): Path<String>,
) -> Result<Json<CallRow>, ApiError> {
    same_site(&headers)?;
    let call = tenant_call(&state, &user, &id).await?;
    let call = requeue_note(&state, &call).await?;
    tracing::info!(call_id = %call.id, user_id = %user.id, "CRM note queued again from the manager page");
    one_row(&state, &user, call).await
}

/// One of the manager's tenant's calls. Another tenant's is not found, as
/// if it did not exist.
pub async fn tenant_call(state: &AppState, user: &User, id: &str) -> Result<Call, ApiError> {
    tenant_call_and_pbx(state, user, id)
        .await
        .map(|(call, _)| call)
}

/// [`tenant_call`] with the PBX the call was placed on.
pub async fn tenant_call_and_pbx(
    state: &AppState,
    user: &User,
    id: &str,
) -> Result<(Call, PbxName), ApiError> {
    id.parse::<CallId>().map_err(|_| ApiError::not_found())?;
    match state.store.call_and_pbx(id).await {
        Ok((call, pbx)) if call.tenant == user.tenant.slug.as_str() => Ok((call, pbx)),
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::not_found()),
        Err(e) => Err(e.into()),
    }
}

/// `calls` as rows: the team's names, and which recordings are on the server.
pub async fn rows(state: &AppState, user: &User, calls: &[Call]) -> Result<Vec<CallRow>, ApiError> {
    let team = Team::new(&state.store.team(user.tenant.slug.as_str()).await?);
    let ids: Vec<&str> = calls.iter().map(|c| c.id.as_str()).collect();
    let pbxs = state.store.pbxs_of(&ids).await?;
    let recorded = recorded(&state.manager, calls, &pbxs).await;
    let reports = state.store.reports_of(&ids).await?;
    Ok(calls
        .iter()
        .map(|call| view::row(call, &team, &recorded, &reports))
        .collect())
}

async fn one_row(state: &AppState, user: &User, call: Call) -> Result<Json<CallRow>, ApiError> {
    let mut rows = rows(state, user, std::slice::from_ref(&call)).await?;
    rows.pop().map(Json).ok_or_else(ApiError::internal)
}

pub(super) fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::malformed(format!(
        "filtros aceitos: user, from, to, outcome, crm, cursor, limit ({})",
        e.body_text()
    ))
}
