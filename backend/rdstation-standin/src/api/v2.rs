//! API v2 (`/crm/v2`): OAuth2 access tokens in `Authorization: Bearer`,
//! bodies `{"data": ...}`, answers `{"data": ..., "links": ...}`, errors
//! `{"errors": [...]}`, paging with `page[number]` and `page[size]`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::AppState;
use super::front::hang;
use super::params::{Page, PageError, Params, encode};
use crate::clock;
use crate::crm::{ContactFilter, UserRef};
use crate::faults::Api;
use crate::ids::is_object_id;
use crate::notes::Note;
use crate::oauth::AccessCheck;
use crate::seed::{Deal, DealState};

/// A note's `description`, at most.
const MAX_DESCRIPTION_CHARS: usize = 524_288;
const DEFAULT_PAGE_SIZE: usize = 25;
const MAX_PAGE_SIZE: usize = 100;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/crm/v2/deals/{deal_id}", get(deal))
        .route(
            "/crm/v2/deals/{deal_id}/notes",
            get(list_notes).post(create_note),
        )
        .route("/crm/v2/contacts", get(contacts))
        .route("/crm/v2/tasks", post(create_task))
}

/// One error in `{"errors": [{"status", "code", "detail", "source"?}]}`.
#[derive(Debug)]
pub(super) struct V2Error {
    status: StatusCode,
    code: &'static str,
    detail: String,
    /// `("pointer", "/data/description")` or `("parameter", "page[size]")`.
    source: Option<(&'static str, &'static str)>,
    retry_after_secs: Option<u64>,
    www_authenticate: Option<&'static str>,
}

impl V2Error {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> V2Error {
        V2Error {
            status,
            code,
            detail: detail.into(),
            source: None,
            retry_after_secs: None,
            www_authenticate: None,
        }
    }

    fn unauthorized(challenge: &'static str, detail: &str) -> V2Error {
        V2Error {
            www_authenticate: Some(challenge),
            ..V2Error::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", detail)
        }
    }

    fn missing_token() -> V2Error {
        V2Error::unauthorized(
            "Bearer realm=\"crm\"",
            "An access token is required: Authorization: Bearer <token>.",
        )
    }

    fn invalid_token() -> V2Error {
        V2Error::unauthorized(
            "Bearer realm=\"crm\", error=\"invalid_token\"",
            "The access token is invalid or revoked.",
        )
    }

    fn expired_token() -> V2Error {
        V2Error::unauthorized(
            "Bearer realm=\"crm\", error=\"expired_token\"",
            "The access token has expired.",
        )
    }

    fn forbidden() -> V2Error {
        V2Error::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "This account's plan does not include API access.",
        )
    }

    pub fn not_found(what: &str) -> V2Error {
        V2Error::new(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            format!("The {what} could not be found."),
        )
    }

    fn bad_request(detail: &str) -> V2Error {
        V2Error::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", detail)
    }

    fn invalid_parameter(parameter: &'static str, detail: &str) -> V2Error {
        V2Error {
            source: Some(("parameter", parameter)),
            ..V2Error::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER", detail)
        }
    }

    fn invalid_field(pointer: &'static str, detail: &str) -> V2Error {
        V2Error {
            source: Some(("pointer", pointer)),
            ..V2Error::new(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR", detail)
        }
    }

    pub fn rate_limited(retry_after_secs: u64) -> V2Error {
        V2Error {
            retry_after_secs: Some(retry_after_secs),
            ..V2Error::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMIT_EXCEEDED",
                "Too many requests: 120 per minute per token.",
            )
        }
    }

    pub fn method_not_allowed() -> V2Error {
        V2Error::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "This method is not allowed here.",
        )
    }
}

impl IntoResponse for V2Error {
    fn into_response(self) -> Response {
        let mut error = json!({
            "status": self.status.as_u16().to_string(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Some((kind, at)) = self.source {
            error["source"] = json!({ kind: at });
        }
        let mut response = (self.status, Json(json!({ "errors": [error] }))).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(challenge) = self.www_authenticate {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// The token of `Authorization: Bearer <token>`, if any.
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The user behind a live access token, within the rate limit, on a plan
/// with API access.
struct Caller(UserRef);

impl FromRequestParts<AppState> for Caller {
    type Rejection = V2Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, V2Error> {
        let token = bearer_token(&parts.headers).ok_or_else(V2Error::missing_token)?;
        let user = match state.oauth.check_access(token) {
            AccessCheck::Valid { user_id } => state
                .crm
                .user_by_id(&user_id)
                .filter(|&r| state.crm.user(r).active)
                .ok_or_else(V2Error::invalid_token)?,
            AccessCheck::Expired => return Err(V2Error::expired_token()),
            AccessCheck::Unknown => return Err(V2Error::invalid_token()),
        };
        state.limiter.check(token).map_err(V2Error::rate_limited)?;
        if !state.crm.tenant(user.tenant).api_access {
            return Err(V2Error::forbidden());
        }
        Ok(Caller(user))
    }
}

/// `deal_id` as the path gives it: `^[0-9a-f]{24}$`, and visible to `me`.
fn visible_deal(
    state: &AppState,
    me: UserRef,
    deal_id: Result<Path<String>, PathRejection>,
) -> Result<&Deal, V2Error> {
    let not_an_id = || {
        V2Error::invalid_parameter(
            "deal_id",
            "deal_id must be 24 lowercase hexadecimal characters.",
        )
    };
    let Path(deal_id) = deal_id.map_err(|_| not_an_id())?;
    if !is_object_id(&deal_id) {
        return Err(not_an_id());
    }
    state
        .crm
        .deal(me, &deal_id)
        .ok_or_else(|| V2Error::not_found("deal"))
}

async fn deal(
    State(state): State<AppState>,
    Caller(me): Caller,
    deal_id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, V2Error> {
    let deal = visible_deal(&state, me, deal_id)?;
    let at = clock::format(state.crm.seeded_at);
    let status = match deal.state {
        DealState::Open => "open",
        DealState::Won => "won",
        DealState::Lost => "lost",
    };
    Ok(Json(json!({
        "data": {
            "id": deal.id,
            "name": deal.name,
            "status": status,
            "amount_total": deal.amount,
            "owner_id": deal.owner_id,
            "stage_id": deal.stage_id,
            "contact_ids": deal.contact_ids,
            "created_at": at,
            "updated_at": at,
            "closed_at": (deal.state != DealState::Open).then_some(&at),
        }
    })))
}

/// `{"data": {"description": "..."}}` → 201 with the note.
async fn create_note(
    State(state): State<AppState>,
    Caller(me): Caller,
    deal_id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), V2Error> {
    let deal = visible_deal(&state, me, deal_id)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            V2Error::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "The request body is too large.",
            )
        } else {
            V2Error::bad_request("The request body could not be read.")
        }
    })?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| V2Error::bad_request("The request body is not valid JSON."))?;
    let data = body
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| V2Error::invalid_field("/data", "data must be an object."))?;
    let description = match data.get("description") {
        Some(Value::String(text)) if !text.trim().is_empty() => text,
        Some(Value::String(_) | Value::Null) | None => {
            return Err(V2Error::invalid_field(
                "/data/description",
                "description is required.",
            ));
        }
        Some(_) => {
            return Err(V2Error::invalid_field(
                "/data/description",
                "description must be a string.",
            ));
        }
    };
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(V2Error::invalid_field(
            "/data/description",
            "description must have at most 524288 characters.",
        ));
    }
    let user_id = &state.crm.user(me).id;
    let note = state
        .crm
        .add_note(deal, user_id, user_id, description.clone(), Api::V2);
    if state.faults.take_hang_after_store(Api::V2) {
        match hang().await {}
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({ "data": note_json(&note) })),
    ))
}

/// `{"data": {name, description, type, status: "open", due_date, deal_id,
/// owner_ids}}` → 201 with the task; created open only.
async fn create_task(
    State(state): State<AppState>,
    Caller(me): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), V2Error> {
    let body = body.map_err(|_| V2Error::bad_request("The request body could not be read."))?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| V2Error::bad_request("The request body is not valid JSON."))?;
    let data = body
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| V2Error::invalid_field("/data", "data must be an object."))?;
    let text = |name: &str| match data.get(name) {
        Some(Value::String(t)) if !t.trim().is_empty() => Some(t.clone()),
        _ => None,
    };
    let name =
        text("name").ok_or_else(|| V2Error::invalid_field("/data/name", "name is required."))?;
    let kind = text("type")
        .filter(|k| crate::tasks::TYPES.contains(&k.as_str()))
        .ok_or_else(|| V2Error::invalid_field("/data/type", "type is not a task type."))?;
    if text("status").is_some_and(|s| s != "open") {
        return Err(V2Error::invalid_field(
            "/data/status",
            "tasks are created open.",
        ));
    }
    let due_at = text("due_date")
        .and_then(|d| {
            OffsetDateTime::parse(&d, &time::format_description::well_known::Rfc3339).ok()
        })
        .ok_or_else(|| {
            V2Error::invalid_field("/data/due_date", "due_date must be an RFC 3339 date-time.")
        })?;
    let deal_id = text("deal_id").filter(|d| is_object_id(d)).ok_or_else(|| {
        V2Error::invalid_field(
            "/data/deal_id",
            "deal_id must be 24 lowercase hexadecimal characters.",
        )
    })?;
    let deal = state
        .crm
        .deal(me, &deal_id)
        .ok_or_else(|| V2Error::not_found("deal"))?;
    let mut owner_ids = Vec::new();
    if let Some(ids) = data.get("owner_ids").and_then(Value::as_array) {
        for id in ids {
            match id.as_str().and_then(|id| state.crm.colleague(me, id)) {
                Some(user) if user.active => owner_ids.push(user.id.clone()),
                _ => {
                    return Err(V2Error::invalid_field(
                        "/data/owner_ids",
                        "owner_ids must be users of the account.",
                    ));
                }
            }
        }
    }
    let me_id = state.crm.user(me).id.clone();
    if owner_ids.is_empty() {
        owner_ids.push(me_id.clone());
    }
    let task = state.crm.add_task(crate::Task {
        id: String::new(),
        deal_id: deal.id.clone(),
        subject: name,
        kind,
        due_at,
        owner_ids,
        notes: text("description").unwrap_or_default(),
        done: false,
        created_by: me_id,
        created_at: clock::now(),
        via: Api::V2,
    });
    Ok((
        StatusCode::CREATED,
        Json(json!({ "data": {
            "id": task.id,
            "name": task.subject,
            "description": task.notes,
            "type": task.kind,
            "status": "open",
            "due_date": clock::format(task.due_at),
            "deal_id": task.deal_id,
            "owner_ids": task.owner_ids,
            "created_at": clock::format(task.created_at),
        }})),
    ))
}

async fn list_notes(
    State(state): State<AppState>,
    Caller(me): Caller,
    deal_id: Result<Path<String>, PathRejection>,
    uri: Uri,
) -> Result<Json<Value>, V2Error> {
    let deal = visible_deal(&state, me, deal_id)?;
    let page = page_of(&Params::of(&uri))?;
    let notes = state.crm.notes.filtered(|n| n.deal_id == deal.id);
    let (notes, more) = page.slice(notes);
    let data: Vec<Value> = notes.iter().map(note_json).collect();
    let path = format!("/crm/v2/deals/{}/notes", deal.id);
    Ok(Json(json!({
        "data": data,
        "links": links(&state, &path, "", page, more),
    })))
}

/// `filter=phone:<number>` (digits compared), `filter=email:<address>` or
/// `filter=name:<text>`.
async fn contacts(
    State(state): State<AppState>,
    Caller(me): Caller,
    uri: Uri,
) -> Result<Json<Value>, V2Error> {
    let params = Params::of(&uri);
    let page = page_of(&params)?;
    let (filter, filter_query) = match params.get("filter") {
        None => (ContactFilter::default(), String::new()),
        Some(text) => (parse_filter(text)?, format!("filter={}&", encode(text))),
    };
    let found = state.crm.contacts(me.tenant, &filter);
    let (contacts, more) = page.slice(found);
    let at = clock::format(state.crm.seeded_at);
    let data: Vec<Value> = contacts
        .iter()
        .map(|c| {
            let deal_ids: Vec<&str> = state
                .crm
                .deals_of_contact(me, &c.id)
                .iter()
                .map(|d| d.id.as_str())
                .collect();
            let emails: Vec<Value> = c.emails.iter().map(|e| json!({ "email": e })).collect();
            json!({
                "id": c.id,
                "name": c.name,
                "job_title": c.title,
                "emails": emails,
                "phones": c.phones,
                "deal_ids": deal_ids,
                "created_at": at,
                "updated_at": at,
            })
        })
        .collect();
    Ok(Json(json!({
        "data": data,
        "links": links(&state, "/crm/v2/contacts", &filter_query, page, more),
    })))
}

fn parse_filter(text: &str) -> Result<ContactFilter, V2Error> {
    let invalid = || {
        V2Error::invalid_parameter(
            "filter",
            "filter must be phone:<number>, email:<address> or name:<text>.",
        )
    };
    let (field, value) = text.split_once(':').ok_or_else(invalid)?;
    let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let value = value.ok_or_else(invalid)?;
    let mut filter = ContactFilter::default();
    match field.trim() {
        "phone" => filter.phone = Some(value),
        "email" => filter.email = Some(value),
        "name" => filter.name = Some(value),
        _ => return Err(invalid()),
    }
    Ok(filter)
}

fn page_of(params: &Params) -> Result<Page, V2Error> {
    Page::read(
        params,
        "page[number]",
        "page[size]",
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    )
    .map_err(|e| match e {
        PageError::Number => V2Error::invalid_parameter(
            "page[number]",
            "page[number] must be a whole number from 1.",
        ),
        PageError::Size => V2Error::invalid_parameter(
            "page[size]",
            "page[size] must be a whole number from 1 to 100.",
        ),
    })
}

/// `self`, `first`, `prev` and `next` (null when there is none).
fn links(state: &AppState, path: &str, query: &str, page: Page, more: bool) -> Value {
    let url = |n: usize| {
        format!(
            "{}{path}?{query}page%5Bnumber%5D={n}&page%5Bsize%5D={}",
            state.base_url, page.size
        )
    };
    json!({
        "self": url(page.number),
        "first": url(1),
        "prev": (page.number > 1).then(|| url(page.number - 1)),
        "next": more.then(|| url(page.number + 1)),
    })
}

fn note_json(note: &Note) -> Value {
    json!({
        "id": note.id,
        "description": note.text,
        "user_id": note.user_id,
        "registered_at": clock::format(note.created_at),
        "pinned_at": null,
        "edited_by_id": null,
        "edited_at": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn filters_name_one_field() {
        let f = parse_filter("phone:+55 11 97173-0783").unwrap();
        assert_eq!(f.phone.as_deref(), Some("+55 11 97173-0783"));
        assert!(parse_filter("email:ana@x.example").unwrap().email.is_some());
        assert!(parse_filter("cpf:123").is_err());
        assert!(parse_filter("phone:").is_err());
        assert!(parse_filter("phone").is_err());
    }
}
