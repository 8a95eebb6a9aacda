//! The audit log in the console (`/manager/admin/api/audit`, newest first,
//! paged) and as a CSV file (`/manager/admin/audit.csv`).

use std::borrow::Cow;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::view::AuditView;
use super::{Admin, PageAdmin};
use crate::api::{ApiError, AppState};
use crate::domain::sao_paulo;
use crate::manager::export::inert;

/// Rows per page of the console.
const PAGE: u32 = 50;
/// Most rows in one CSV file (the newest).
const MAX_CSV_ROWS: u32 = 50_000;

#[derive(Deserialize)]
pub struct Paging {
    /// The last row's id of the previous page.
    #[serde(default)]
    before: Option<String>,
}

#[derive(Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Admin(admin): Admin,
    paging: Result<Query<Paging>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let Query(paging) = paging.map_err(|_| ApiError::malformed("aceito: before"))?;
    let before = paging.before.filter(|b| uuid::Uuid::parse_str(b).is_ok());
    let records = state
        .store
        .audit_log(admin.tenant.slug.as_str(), before.as_deref(), PAGE)
        .await?;
    let next_cursor = (records.len() == PAGE as usize)
        .then(|| records.last().map(|r| r.id.clone()))
        .flatten();
    Ok(Json(AuditPage {
        entries: records.iter().map(AuditView::from).collect(),
        next_cursor,
    }))
}

const HEADER: [&str; 5] = ["Data e hora", "Quem", "Ação", "Sobre", "O que mudou"];

pub async fn audit_csv(
    State(state): State<AppState>,
    PageAdmin(admin): PageAdmin,
) -> Result<Response, ApiError> {
    let slug = admin.tenant.slug.as_str();
    let records = state.store.audit_log(slug, None, MAX_CSV_ROWS).await?;
    let body = write(&records.iter().map(AuditView::from).collect::<Vec<_>>()).map_err(|e| {
        tracing::error!(error = %e, "cannot write the audit CSV");
        ApiError::internal()
    })?;
    let file = format!(
        "attachment; filename=\"auditoria-{slug}-{}.csv\"",
        sao_paulo::format(OffsetDateTime::now_utc(), "%Y-%m-%d")
    );
    let disposition = HeaderValue::from_str(&file)
        .unwrap_or_else(|_| HeaderValue::from_static("attachment; filename=\"auditoria.csv\""));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// The CSV file: byte order mark, header, one line per change.
fn write(rows: &[AuditView]) -> Result<Vec<u8>, csv::Error> {
    let mut csv = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer("\u{feff}".as_bytes().to_vec());
    csv.write_record(HEADER)?;
    for row in rows {
        let record: [Cow<str>; 5] = [
            row.at.as_str().into(),
            row.actor.as_str().into(),
            row.action.into(),
            row.target.as_str().into(),
            row.detail.as_str().into(),
        ];
        csv.write_record(record.iter().map(|cell| inert(cell).into_owned()))?;
    }
    csv.into_inner().map_err(|e| e.into_error().into())
}
