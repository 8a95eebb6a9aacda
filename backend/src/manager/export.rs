//! `GET /manager/calls.csv`: the calls the page's filters select (every
//! page, at most [`MAX_ROWS`]), one row per call, for Excel: UTF-8 with a
//! byte order mark, `;` between cells (Excel in Portuguese reads `,` as the
//! decimal comma), headers in Portuguese, São Paulo times. Cells that a
//! spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`,
//! tab or carriage return) are prefixed with `'`.

use std::borrow::Cow;

use axum::extract::Query;
use axum::extract::State;
use axum::extract::rejection::QueryRejection;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;

use super::api::{bad_query, rows};
use super::filters::Filters;
use super::session::PageManager;
use super::view::CallRow;
use crate::api::{ApiError, AppState};
use crate::domain::sao_paulo;
use crate::domain::{Call, CallId};

/// Most rows in one export.
pub const MAX_ROWS: usize = 10_000;
/// Calls read from the database at a time.
const BATCH: u32 = 500;

const HEADER: [&str; 17] = [
    "Data e hora",
    "Vendedor",
    "Número",
    "Contato",
    "Negócio",
    "Resultado",
    "Toque (s)",
    "Conversa (s)",
    "Duração confirmada",
    "Gravação",
    "CRM",
    "Erro do CRM",
    "Tentativas de entrega",
    "Resultado da conversa",
    "Anotação do vendedor",
    "Retorno agendado",
    "ID da ligação",
];

pub async fn calls_csv(
    State(state): State<AppState>,
    PageManager(user): PageManager,
    filters: Result<Query<Filters>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(filters) = filters.map_err(bad_query)?;
    let mut filter = filters.to_filter(user.tenant.slug.as_str(), BATCH)?;
    let mut calls: Vec<Call> = Vec::new();
    while calls.len() < MAX_ROWS {
        filter.limit = BATCH.min((MAX_ROWS - calls.len()) as u32);
        let batch = state.store.list_calls(&filter).await?;
        let last_page = batch.len() < filter.limit as usize;
        calls.extend(batch);
        let Some(last) = calls.last() else { break };
        if last_page {
            break;
        }
        filter.before = Some(
            last.id
                .parse::<CallId>()
                .map_err(|_| ApiError::internal())?,
        );
    }
    let rows = rows(&state, &user, &calls).await?;
    let body = write(&calls, &rows).map_err(|e| {
        tracing::error!(error = %e, "cannot write the CSV export");
        ApiError::internal()
    })?;
    let file = format!(
        "attachment; filename=\"ligacoes-{}-{}.csv\"",
        user.tenant.slug.as_str(),
        sao_paulo::format(OffsetDateTime::now_utc(), "%Y-%m-%d")
    );
    let disposition = HeaderValue::from_str(&file)
        .unwrap_or_else(|_| HeaderValue::from_static("attachment; filename=\"ligacoes.csv\""));
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

/// The CSV file: byte order mark, header, one line per call.
fn write(calls: &[Call], rows: &[CallRow]) -> Result<Vec<u8>, csv::Error> {
    let mut csv = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer("\u{feff}".as_bytes().to_vec());
    csv.write_record(HEADER)?;
    for (call, row) in calls.iter().zip(rows) {
        let seconds = |s: Option<i64>| s.map(|s| s.to_string()).unwrap_or_default();
        let report = row.report.as_ref();
        let record: [Cow<str>; 17] = [
            sao_paulo::format(call.created_at, "%Y-%m-%d %H:%M:%S").into(),
            row.salesperson.as_str().into(),
            row.number.as_str().into(),
            row.contact.as_deref().unwrap_or_default().into(),
            row.deal_id.as_deref().unwrap_or_default().into(),
            row.outcome_label.into(),
            seconds(row.ring_seconds).into(),
            seconds(row.talk_seconds).into(),
            if row.durations_estimated {
                "não"
            } else {
                "sim"
            }
            .into(),
            if row.recording_url.is_some() {
                "sim"
            } else {
                "não"
            }
            .into(),
            row.crm.label.as_str().into(),
            row.crm.error.as_deref().unwrap_or_default().into(),
            row.crm.attempts.to_string().into(),
            report
                .and_then(|r| r.outcome.as_deref())
                .unwrap_or_default()
                .into(),
            report
                .and_then(|r| r.note.as_deref())
                .unwrap_or_default()
                .into(),
            report
                .and_then(|r| r.follow_up.as_deref())
                .unwrap_or_default()
                .into(),
            row.id.as_str().into(),
        ];
        csv.write_record(record.iter().map(|cell| inert(cell).into_owned()))?;
    }
    csv.into_inner().map_err(|e| e.into_error().into())
}

/// `cell`, so that no spreadsheet runs it as a formula (spreadsheets skip
/// leading spaces before one).
pub(crate) fn inert(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['\t', '\r'])
        || cell
            .trim_start()
            .starts_with(['=', '+', '-', '@', '\t', '\r'])
    {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_made_inert() {
        assert_eq!(inert("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("+1 212-555-0123"), "'+1 212-555-0123");
        assert_eq!(inert("-2+3"), "'-2+3");
        assert_eq!(inert("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(inert("\t=1"), "'\t=1");
        assert_eq!(inert("  =HYPERLINK(\"x\")"), "'  =HYPERLINK(\"x\")");
        assert_eq!(inert("\u{a0}+1"), "'\u{a0}+1");
        assert_eq!(inert("Maria = cliente"), "Maria = cliente");
        assert_eq!(inert(""), "");
    }
}
