//! After the call, the salesperson's word on it: `GET /v1/dispositions`
//! (the tenant's outcomes to choose from) and `PUT /v1/calls/{id}/report`
//! (outcome, note, follow-up), which `storage::reports` turns into the
//! call's one note in RD Station (or a linked second note, when it comes
//! after the note was written) and a `call` task on the deal; and `GET
//! /v1/calls/{id}/other-phones`, the deal's other phones to try after a
//! no-answer, read from RD Station.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use time::OffsetDateTime;

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use disca_protocol::ErrorBody;
use disca_protocol::report::{CallReport, Dispositions, OtherPhone, OtherPhones, ReportSaved};

use crate::domain::phone::national_format;
use crate::domain::{DealId, E164Number};

/// How far ahead a follow-up may be set.
const FOLLOW_UP_HORIZON: time::Duration = time::Duration::days(366);
/// How far in the past a follow-up may be (the form's clock may lag).
const FOLLOW_UP_SLACK: time::Duration = time::Duration::minutes(5);

/// The tenant's outcomes, in the order offered.
#[utoipa::path(
    get, path = "/v1/dispositions", tag = "calls",
    responses((status = 200, body = Dispositions), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn dispositions(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<Dispositions>, ApiError> {
    let dispositions = state.store.dispositions(user.tenant.slug.as_str()).await?;
    Ok(Json(Dispositions { dispositions }))
}

/// What the salesperson says about their ended call; sent again, it
/// replaces it. Only the call's own salesperson may.
#[utoipa::path(
    put, path = "/v1/calls/{id}/report", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    request_body = CallReport,
    responses(
        (status = 200, description = "Stored; where it goes in RD Station", body = ReportSaved),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, description = "Not a call of this salesperson", body = ErrorBody),
        (status = 409, description = "`call_still_live`: the call has not ended", body = ErrorBody),
        (status = 422, description = "`invalid_report`: an outcome not in the list, a note too long, a follow-up in the past", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn save_report(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ReportSaved>, ApiError> {
    let body = body.map_err(|e| ApiError::body_rejected(e.status()))?;
    let report: CallReport = serde_json::from_slice(&body).map_err(|e| {
        ApiError::malformed(format!(
            "o corpo deve ser {{\"disposition\", \"note\", \"follow_up_at\"}} ({e})"
        ))
    })?;
    report
        .validate()
        .map_err(|invalid| ApiError::invalid_report(invalid.0))?;
    if let Some(at) = report.follow_up_at {
        let now = OffsetDateTime::now_utc();
        if at < now - FOLLOW_UP_SLACK {
            return Err(ApiError::invalid_report("O retorno precisa ser no futuro."));
        }
        if at > now + FOLLOW_UP_HORIZON {
            return Err(ApiError::invalid_report(
                "O retorno precisa ser em até um ano.",
            ));
        }
    }
    let saved = state.store.save_report(&user, &id, &report).await?;
    tracing::info!(call_id = %id, note = ?saved.note, task = ?saved.task, "call report saved");
    Ok(Json(saved))
}

/// The other phones of the call's deal, read from RD Station, to try after
/// the lead did not answer: every phone of the deal's contacts that is a
/// number the backend can dial, but the call's own. None when the call has
/// no deal or the tenant no CRM.
#[utoipa::path(
    get, path = "/v1/calls/{id}/other-phones", tag = "calls",
    params(("id" = String, Path, description = "Call id")),
    responses(
        (status = 200, body = OtherPhones),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, description = "`crm_connection_failed`: RD Station did not answer", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn other_phones(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<OtherPhones>, ApiError> {
    let call = super::calls::visible_call(&state, &user, &id).await?;
    let none = || {
        Json(OtherPhones {
            deal_id: None,
            phones: Vec::new(),
        })
    };
    let deal = call
        .crm
        .as_ref()
        .and_then(|c| c.deal_id.as_deref())
        .or(call.context.deal_id.as_deref())
        .and_then(|d| DealId::parse(d).ok());
    let (Some(deal), Some(connections)) = (deal, state.crm_connections.as_ref()) else {
        return Ok(none());
    };
    let failed = |message: String| {
        ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            disca_protocol::ApiErrorCode::CrmConnectionFailed,
            format!("Não foi possível consultar o RD Station: {message}"),
        )
    };
    let client = match connections.client(&call.tenant).await {
        Ok(Some(client)) => client,
        Ok(None) => return Ok(none()),
        Err(e) => return Err(failed(e.to_string())),
    };
    let found = client
        .deal_phones(&deal)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let region = user.tenant.region;
    let mut phones: Vec<OtherPhone> = Vec::new();
    for (written, contact) in found {
        let Ok(number) = E164Number::parse(&written, region) else {
            continue;
        };
        let number = number.as_str().to_owned();
        if number == call.to || phones.iter().any(|p| p.number == number) {
            continue;
        }
        phones.push(OtherPhone {
            display: national_format(&number),
            number,
            contact,
        });
    }
    Ok(Json(OtherPhones {
        deal_id: Some(deal.as_str().to_owned()),
        phones,
    }))
}
