//! API v1 (`/api/v1`): the user's instance token in `?token=` on every
//! request, Rails-style JSON, and the error bodies of the reference table.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::AppState;
use super::front::hang;
use super::params::{Page, PageError, Params};
use crate::clock;
use crate::crm::{ContactFilter, UserRef};
use crate::faults::Api;
use crate::notes::Note;
use crate::seed::{Contact, Deal, DealState, User};

const BLANK: &str = "não pode ficar em branco";
const INVALID: &str = "não é válido";
const DEAL_NOT_FOUND: &str = "Deal not found.";
/// Lists return at most the first 10,000 records.
const LIST_CAP: usize = 10_000;
const MAX_LIMIT: usize = 200;
const DEFAULT_LIMIT: usize = 20;
/// Characters of a note shown in its `preview`.
const PREVIEW_CHARS: usize = 100;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/token/check", get(token_check))
        .route("/api/v1/users", get(users))
        .route("/api/v1/deals", get(deals))
        .route("/api/v1/deals/{id}", get(deal))
        .route("/api/v1/contacts", get(contacts))
        .route(
            "/api/v1/activities",
            get(list_activities).post(create_activity),
        )
        .route("/api/v1/tasks", post(create_task))
}

/// v1's errors, each with its documented body.
#[derive(Debug)]
pub(super) enum V1Error {
    /// 401 `{"error": "Permission denied."}`: no token, unknown or deactivated.
    Unauthorized,
    /// 403 `{"error": "forbidden"}`: the plan has no API access.
    Forbidden,
    /// 404 `RESOURCE_NOT_FOUND`, also when visibility hides the record.
    NotFound(&'static str),
    /// 422 `{"errors": {"<field>": ["..."]}}`.
    Invalid(Vec<(&'static str, &'static str)>),
    /// 400 `BAD_REQUEST`: the body is not JSON.
    BadRequest,
    /// 413: the body is over the stand-in's limit.
    TooLarge,
    /// 429 `RATE_LIMIT_EXCEDDED` (spelled as RD Station sends it), no `Retry-After`.
    RateLimited,
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let typed = |error_type: &str, error_message: &str| json!({"errors": {"error_type": error_type, "error_message": error_message}});
        let (status, body) = match self {
            V1Error::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"error": "Permission denied."}),
            ),
            V1Error::Forbidden => (StatusCode::FORBIDDEN, json!({"error": "forbidden"})),
            V1Error::NotFound(message) => {
                (StatusCode::NOT_FOUND, typed("RESOURCE_NOT_FOUND", message))
            }
            V1Error::Invalid(fields) => {
                let mut errors = Map::new();
                for (field, message) in fields {
                    if let Value::Array(messages) = errors
                        .entry(field)
                        .or_insert_with(|| Value::Array(Vec::new()))
                    {
                        messages.push(message.into());
                    }
                }
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({ "errors": errors }),
                )
            }
            V1Error::BadRequest => (
                StatusCode::BAD_REQUEST,
                typed("BAD_REQUEST", "The request body is not valid JSON."),
            ),
            V1Error::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                typed("BAD_REQUEST", "The request body is too large."),
            ),
            V1Error::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                typed(
                    "RATE_LIMIT_EXCEDDED",
                    "API rate limit exceeded: 120 requests per minute.",
                ),
            ),
        };
        (status, Json(body)).into_response()
    }
}

/// The `token` query parameter, if any.
pub(super) fn query_token(uri: &Uri) -> Option<String> {
    Params::of(uri).get("token").map(str::to_owned)
}

/// The user behind a valid token, within the rate limit, on a plan with
/// API access.
struct Caller(UserRef);

impl FromRequestParts<AppState> for Caller {
    type Rejection = V1Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, V1Error> {
        let token = query_token(&parts.uri).ok_or(V1Error::Unauthorized)?;
        let user = state
            .crm
            .user_by_token(&token)
            .filter(|&r| state.crm.user(r).active)
            .ok_or(V1Error::Unauthorized)?;
        state
            .limiter
            .check(&token)
            .map_err(|_| V1Error::RateLimited)?;
        if !state.crm.tenant(user.tenant).api_access {
            return Err(V1Error::Forbidden);
        }
        Ok(Caller(user))
    }
}

async fn token_check(State(state): State<AppState>, Caller(me): Caller) -> Json<Value> {
    let user = state.crm.user(me);
    Json(json!({
        "email": user.email,
        "name": user.name,
        "organization": state.crm.tenant(me.tenant).name,
    }))
}

async fn users(State(state): State<AppState>, Caller(me): Caller) -> Json<Value> {
    let users: Vec<Value> = state
        .crm
        .tenant(me.tenant)
        .users
        .iter()
        .map(|u| {
            json!({
                "_id": u.id,
                "id": u.id,
                "name": u.name,
                "email": u.email,
                "active": u.active,
                "hidden": u.hidden,
                "last_login": u.last_login,
            })
        })
        .collect();
    Json(json!({ "users": users }))
}

async fn deal(
    State(state): State<AppState>,
    Caller(me): Caller,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, V1Error> {
    let Path(id) = id.map_err(|_| V1Error::NotFound(DEAL_NOT_FOUND))?;
    let deal = state
        .crm
        .deal(me, &id)
        .ok_or(V1Error::NotFound(DEAL_NOT_FOUND))?;
    Ok(Json(deal_json(&state, me, deal)))
}

async fn deals(
    State(state): State<AppState>,
    Caller(me): Caller,
    uri: Uri,
) -> Result<Json<Value>, V1Error> {
    let page = page_of(&Params::of(&uri))?;
    let mut all = state.crm.deals(me);
    let total = all.len();
    all.truncate(LIST_CAP);
    let (deals, has_more) = page.slice(all);
    let deals: Vec<Value> = deals.iter().map(|d| deal_json(&state, me, d)).collect();
    Ok(listing("deals", deals, has_more, &page, total))
}

/// `phone=` (digits compared), `email=`, `q=` (name, ignoring case and accents).
async fn contacts(
    State(state): State<AppState>,
    Caller(me): Caller,
    uri: Uri,
) -> Result<Json<Value>, V1Error> {
    let params = Params::of(&uri);
    let page = page_of(&params)?;
    let filter = ContactFilter {
        phone: params.get("phone").map(Into::into),
        email: params.get("email").map(Into::into),
        name: params.get("q").map(Into::into),
    };
    let mut found = state.crm.contacts(me.tenant, &filter);
    let total = found.len();
    found.truncate(LIST_CAP);
    let (contacts, has_more) = page.slice(found);
    let contacts: Vec<Value> = contacts
        .iter()
        .map(|c| {
            let deals: Vec<Value> = state
                .crm
                .deals_of_contact(me, &c.id)
                .iter()
                .map(|d| json!({"_id": d.id, "id": d.id, "name": d.name}))
                .collect();
            let mut contact = contact_json(c);
            contact["deals"] = deals.into();
            contact["created_at"] = clock::format(state.crm.seeded_at).into();
            contact["updated_at"] = contact["created_at"].clone();
            contact
        })
        .collect();
    Ok(listing("contacts", contacts, has_more, &page, total))
}

/// A note: `{"activity": {"deal_id", "user_id", "text"}}`, all required.
async fn create_activity(
    State(state): State<AppState>,
    Caller(me): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, V1Error> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            V1Error::TooLarge
        } else {
            V1Error::BadRequest
        }
    })?;
    let body: Value = serde_json::from_slice(&body).map_err(|_| V1Error::BadRequest)?;
    let Some(activity) = body.get("activity").and_then(Value::as_object) else {
        return Err(V1Error::Invalid(vec![("activity", BLANK)]));
    };
    let mut errors = Vec::new();
    let deal_id = text_field(activity, "deal_id", &mut errors);
    let user_id = text_field(activity, "user_id", &mut errors);
    let text = text_field(activity, "text", &mut errors);
    let author = user_id.and_then(|id| state.crm.colleague(me, id).filter(|u| u.active));
    if user_id.is_some() && author.is_none() {
        errors.push(("user_id", INVALID));
    }
    let (Some(deal_id), Some(author), Some(text), true) =
        (deal_id, author, text, errors.is_empty())
    else {
        return Err(V1Error::Invalid(errors));
    };
    let deal = state
        .crm
        .deal(me, deal_id)
        .ok_or(V1Error::NotFound(DEAL_NOT_FOUND))?;
    let note = state.crm.add_note(
        deal,
        &author.id,
        &state.crm.user(me).id,
        text.to_owned(),
        Api::V1,
    );
    if state.faults.take_hang_after_store(Api::V1) {
        match hang().await {}
    }
    Ok(Json(activity_json(&note, author)))
}

/// A task: `{"task": {deal_id, subject, type, date: "YYYY-MM-DD", hour:
/// "HH:mm", user_ids: [...], notes}}`; `deal_id`, `subject`, `type` and
/// `date` required, the hour in São Paulo (midnight when absent).
async fn create_task(
    State(state): State<AppState>,
    Caller(me): Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, V1Error> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            V1Error::TooLarge
        } else {
            V1Error::BadRequest
        }
    })?;
    let body: Value = serde_json::from_slice(&body).map_err(|_| V1Error::BadRequest)?;
    let Some(task) = body.get("task").and_then(Value::as_object) else {
        return Err(V1Error::Invalid(vec![("task", BLANK)]));
    };
    let mut errors = Vec::new();
    let deal_id = text_field(task, "deal_id", &mut errors);
    let subject = text_field(task, "subject", &mut errors);
    let kind = text_field(task, "type", &mut errors);
    if kind.is_some_and(|k| !crate::tasks::TYPES.contains(&k)) {
        errors.push(("type", INVALID));
    }
    let date = text_field(task, "date", &mut errors);
    let hour = match task.get("hour") {
        None | Some(Value::Null) => Some("00:00"),
        Some(Value::String(h)) => Some(h.as_str()),
        Some(_) => None,
    };
    let due_at = match (date, hour) {
        (Some(date), Some(hour)) => {
            let due = clock::parse_local(date, hour);
            if due.is_none() {
                errors.push(("date", INVALID));
            }
            due
        }
        (_, None) => {
            errors.push(("hour", INVALID));
            None
        }
        _ => None,
    };
    let mut owner_ids = Vec::new();
    match task.get("user_ids") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ids)) => {
            for id in ids {
                match id.as_str().and_then(|id| state.crm.colleague(me, id)) {
                    Some(user) if user.active => owner_ids.push(user.id.clone()),
                    _ => errors.push(("user_ids", INVALID)),
                }
            }
        }
        Some(_) => errors.push(("user_ids", INVALID)),
    }
    let notes = match task.get("notes") {
        Some(Value::String(n)) => n.clone(),
        _ => String::new(),
    };
    let (Some(deal_id), Some(subject), Some(kind), Some(due_at), true) =
        (deal_id, subject, kind, due_at, errors.is_empty())
    else {
        return Err(V1Error::Invalid(errors));
    };
    let deal = state
        .crm
        .deal(me, deal_id)
        .ok_or(V1Error::NotFound(DEAL_NOT_FOUND))?;
    let me_id = state.crm.user(me).id.clone();
    if owner_ids.is_empty() {
        owner_ids.push(me_id.clone());
    }
    let task = state.crm.add_task(crate::Task {
        id: String::new(),
        deal_id: deal.id.clone(),
        subject: subject.to_owned(),
        kind: kind.to_owned(),
        due_at,
        owner_ids,
        notes,
        done: false,
        created_by: me_id,
        created_at: clock::now(),
        via: Api::V1,
    });
    let local = task.due_at.to_offset(clock::BRT);
    Ok(Json(json!({
        "_id": task.id,
        "id": task.id,
        "deal_id": task.deal_id,
        "subject": task.subject,
        "type": task.kind,
        "date": format!("{:04}-{:02}-{:02}", local.year(), u8::from(local.month()), local.day()),
        "hour": format!("{:02}:{:02}", local.hour(), local.minute()),
        "user_ids": task.owner_ids,
        "notes": task.notes,
        "done": false,
        "created_at": clock::format(task.created_at),
    })))
}

/// `deal_id=`, `user_id=`, `start_date=`/`end_date=` (`YYYY-MM-DD`, whole
/// days in São Paulo, or RFC 3339), `page=`, `limit=` (at most 200).
async fn list_activities(
    State(state): State<AppState>,
    Caller(me): Caller,
    uri: Uri,
) -> Result<Json<Value>, V1Error> {
    let params = Params::of(&uri);
    let page = page_of(&params)?;
    let mut errors = Vec::new();
    let mut bound = |name: &'static str, end_of_day: bool| {
        let text = params.get(name)?;
        let bound = clock::parse_bound(text, end_of_day);
        if bound.is_none() {
            errors.push((name, INVALID));
        }
        bound
    };
    let start = bound("start_date", false);
    let end = bound("end_date", true);
    if !errors.is_empty() {
        return Err(V1Error::Invalid(errors));
    }
    let (deal_id, user_id) = (params.get("deal_id"), params.get("user_id"));
    let mut notes: Vec<Note> = state
        .crm
        .visible_notes(me)
        .into_iter()
        .filter(|n| {
            deal_id.is_none_or(|d| n.deal_id == d)
                && user_id.is_none_or(|u| n.user_id == u)
                && start.is_none_or(|s| n.created_at >= s)
                && end.is_none_or(|e| n.created_at <= e)
        })
        .collect();
    notes.truncate(LIST_CAP);
    let (notes, _) = page.slice(notes);
    let activities: Vec<Value> = notes
        .iter()
        .map(|n| {
            json!({
                "_id": n.id,
                "date": clock::format(n.created_at),
                "deal_id": n.deal_id,
                "id": n.id,
                "text": n.text,
                "user_id": n.user_id,
            })
        })
        .collect();
    Ok(Json(json!({ "activities": activities })))
}

/// A v1 list answer: `{<key>: [...], has_more, next_page, total}`.
fn listing(key: &str, items: Vec<Value>, has_more: bool, page: &Page, total: usize) -> Json<Value> {
    let mut answer = json!({
        "has_more": has_more,
        "next_page": has_more.then_some(page.number + 1),
        "total": total,
    });
    answer[key] = items.into();
    Json(answer)
}

fn page_of(params: &Params) -> Result<Page, V1Error> {
    Page::read(params, "page", "limit", DEFAULT_LIMIT, MAX_LIMIT).map_err(|e| {
        V1Error::Invalid(vec![match e {
            PageError::Number => ("page", INVALID),
            PageError::Size => ("limit", "deve estar entre 1 e 200"),
        }])
    })
}

/// A required, non-blank string field; a missing or wrong one is noted in `errors`.
fn text_field<'a>(
    object: &'a Map<String, Value>,
    name: &'static str,
    errors: &mut Vec<(&'static str, &'static str)>,
) -> Option<&'a str> {
    match object.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
        Some(Value::String(_) | Value::Null) | None => {
            errors.push((name, BLANK));
            None
        }
        Some(_) => {
            errors.push((name, INVALID));
            None
        }
    }
}

fn contact_json(contact: &Contact) -> Value {
    let emails: Vec<Value> = contact
        .emails
        .iter()
        .map(|e| json!({ "email": e }))
        .collect();
    json!({
        "_id": contact.id,
        "id": contact.id,
        "name": contact.name,
        "title": contact.title,
        "emails": emails,
        "phones": contact.phones,
    })
}

fn deal_json(state: &AppState, me: UserRef, deal: &Deal) -> Value {
    let crm = &state.crm;
    let seeded_at = clock::format(crm.seeded_at);
    let owner = crm
        .colleague(me, &deal.owner_id)
        .map(|u| json!({"_id": u.id, "id": u.id, "name": u.name, "email": u.email}));
    let stage = crm
        .stage(me.tenant, &deal.stage_id)
        .map(|s| json!({"_id": s.id, "id": s.id, "name": s.name}));
    let contacts: Vec<Value> = deal
        .contact_ids
        .iter()
        .filter_map(|id| crm.contact(me.tenant, id))
        .map(contact_json)
        .collect();
    let (win, closed_at) = match deal.state {
        DealState::Open => (Value::Null, Value::Null),
        DealState::Won => (true.into(), seeded_at.clone().into()),
        DealState::Lost => (false.into(), seeded_at.clone().into()),
    };
    json!({
        "_id": deal.id,
        "id": deal.id,
        "name": deal.name,
        "amount_total": deal.amount,
        "win": win,
        "closed_at": closed_at,
        "created_at": seeded_at,
        "updated_at": seeded_at,
        "user": owner,
        "deal_stage": stage,
        "contacts": contacts,
    })
}

fn activity_json(note: &Note, author: &User) -> Value {
    let at = clock::format(note.created_at);
    json!({
        "_id": note.id,
        "contact_id": note.contact_id,
        "created_at": at,
        "date": at,
        "deal_id": note.deal_id,
        "deal_stage_id": note.deal_stage_id,
        "description": note.text,
        "preview": preview(&note.text),
        "responsible_description": author.name,
        "text": note.text,
        "type": "note",
        "updated_at": at,
        "user_id": note.user_id,
    })
}

/// The note on one line, cut at [`PREVIEW_CHARS`] characters.
fn preview(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= PREVIEW_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(PREVIEW_CHARS).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(preview("Ligação\n  atendida"), "Ligação atendida");
        let long = "a".repeat(150);
        let p = preview(&long);
        assert_eq!(p.chars().count(), PREVIEW_CHARS + 1);
        assert!(p.ends_with('…'));
    }
}
