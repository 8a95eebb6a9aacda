//! The RD Station CRM client: one per tenant connection, API v1 (instance
//! token in the query) or v2 (OAuth2 bearer), behind the same three
//! operations the delivery needs. Every request waits for the tenant's
//! [`RateLimiter`]; a 429 pauses it for `Retry-After`.

use std::sync::Arc;

use jiff::Timestamp;
use jiff::civil::Date;
use reqwest::RequestBuilder;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::error::CrmError;
use super::lookup::{Candidate, MAX_CANDIDATES};
use super::oauth::OAuth;
use super::rate_limit::RateLimiter;
use super::secrets::Secret;
use crate::domain::{CrmUserId, DealId};

/// Largest answer read from RD Station (a page of 100 long notes fits).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// v1 lists at most 200 per page, and at most the first 10,000 records.
const V1_PAGE: usize = 200;
const V1_MAX_PAGES: usize = 50;
const V2_PAGE: usize = 100;
const V2_MAX_PAGES: usize = 100;

pub struct CrmClient {
    http: reqwest::Client,
    limiter: Arc<RateLimiter>,
    api: Api,
}

pub enum Api {
    /// `base` is `https://crm.rdstation.com/api/v1`.
    V1 { base: String, token: Secret },
    /// `base` is `https://api.rd.services/crm/v2`.
    V2 { base: String, auth: Box<OAuth> },
}

/// A request slot taken from the tenant's limiter ahead of a note creation,
/// so that once a note is marked "maybe sent" its request does go out.
pub struct Permit(Instant);

/// A follow-up task to create.
pub struct NewTask<'a> {
    pub subject: &'a str,
    pub notes: &'a str,
    pub due: time::OffsetDateTime,
}

/// An RD Station CRM user, as `GET /users` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmUser {
    pub id: String,
    pub email: String,
}

/// `GET /token/check` of v1.
#[derive(Debug)]
pub struct TokenOwner {
    pub name: String,
    pub email: String,
    pub organization: String,
}

impl CrmClient {
    pub fn new(http: reqwest::Client, limiter: Arc<RateLimiter>, api: Api) -> CrmClient {
        CrmClient { http, limiter, api }
    }

    /// A slot for the next request, or [`CrmError::Wait`].
    pub fn permit(&self) -> Result<Permit, CrmError> {
        self.limiter
            .try_acquire()
            .map(Permit)
            .map_err(|wait| CrmError::Wait { wait })
    }

    /// Gives back a slot that was not used (nothing was sent).
    pub fn refund(&self, permit: Permit) {
        self.limiter.refund(permit.0);
    }

    /// Refreshes a v2 authorization now; v1 has nothing to refresh.
    pub async fn refresh_authorization(&self, http: &reqwest::Client) -> Result<(), CrmError> {
        match &self.api {
            Api::V1 { .. } => Ok(()),
            Api::V2 { auth, .. } => auth.refresh_now(http).await,
        }
    }

    /// Whether notes need an author at the CRM (v1 does; v2 writes them as
    /// the token's owner).
    pub fn needs_author(&self) -> bool {
        matches!(self.api, Api::V1 { .. })
    }

    /// Writes a note on `deal` with the request slot `permit`; returns the
    /// note's id. v1 needs the note's author.
    pub async fn create_note(
        &self,
        permit: Permit,
        deal: &DealId,
        author: Option<&CrmUserId>,
        text: &str,
    ) -> Result<String, CrmError> {
        match &self.api {
            Api::V1 { base, token } => {
                let Some(author) = author else {
                    self.limiter.refund(permit.0);
                    return Err(missing_author());
                };
                let body = json!({"activity": {"deal_id": deal.as_str(), "user_id": author.as_str(), "text": text}});
                let answer = self
                    .send_in(permit.0, || {
                        self.http
                            .post(format!("{base}/activities"))
                            .query(&[("token", token.expose())])
                            .json(&body)
                    })
                    .await?;
                id_of(&answer).ok_or_else(|| unexpected("a nota criada veio sem _id"))
            }
            Api::V2 { base, auth } => {
                let body = json!({"data": {"description": text}});
                let url = format!("{base}/deals/{deal}/notes");
                let answer = self
                    .send_v2(auth, Some(permit), |bearer| {
                        self.http.post(&url).bearer_auth(bearer).json(&body)
                    })
                    .await?;
                answer
                    .get("data")
                    .and_then(id_of)
                    .ok_or_else(|| unexpected("a nota criada veio sem id"))
            }
        }
    }

    /// Creates a task of type `call` on `deal`, due `due`, for `owner`
    /// (v1 needs one: `user_ids`; v2 gives it to the token's owner when
    /// absent), with the request slot `permit`; returns the task's id.
    pub async fn create_call_task(
        &self,
        permit: Permit,
        deal: &DealId,
        owner: Option<&CrmUserId>,
        task: &NewTask<'_>,
    ) -> Result<String, CrmError> {
        match &self.api {
            Api::V1 { base, token } => {
                let Some(owner) = owner else {
                    self.limiter.refund(permit.0);
                    return Err(missing_author());
                };
                let local = crate::domain::sao_paulo::format(task.due, "%Y-%m-%d %H:%M");
                let (date, hour) = local.split_once(' ').unwrap_or((&local, "09:00"));
                let body = json!({"task": {
                    "deal_id": deal.as_str(),
                    "subject": task.subject,
                    "type": "call",
                    "date": date,
                    "hour": hour,
                    "user_ids": [owner.as_str()],
                    "notes": task.notes,
                }});
                let answer = self
                    .send_in(permit.0, || {
                        self.http
                            .post(format!("{base}/tasks"))
                            .query(&[("token", token.expose())])
                            .json(&body)
                    })
                    .await?;
                id_of(&answer).ok_or_else(|| unexpected("a tarefa criada veio sem _id"))
            }
            Api::V2 { base, auth } => {
                let due = task
                    .due
                    .format(&time::format_description::well_known::Rfc3339)
                    .map_err(|_| unexpected("data da tarefa"))?;
                let mut data = json!({
                    "name": task.subject,
                    "description": task.notes,
                    "type": "call",
                    "status": "open",
                    "due_date": due,
                    "deal_id": deal.as_str(),
                });
                if let Some(owner) = owner {
                    data["owner_ids"] = json!([owner.as_str()]);
                }
                let body = json!({ "data": data });
                let url = format!("{base}/tasks");
                let answer = self
                    .send_v2(auth, Some(permit), |bearer| {
                        self.http.post(&url).bearer_auth(bearer).json(&body)
                    })
                    .await?;
                answer
                    .get("data")
                    .and_then(id_of)
                    .ok_or_else(|| unexpected("a tarefa criada veio sem id"))
            }
        }
    }

    /// The phones of `deal`'s contacts, as written in the CRM, each with
    /// its contact's name: v1 gives them with the deal (`GET
    /// /deals/{id}`: `contacts[].phones[]`). v2's documented API has no way
    /// to read a contact by id, so a v2 connection answers none.
    pub async fn deal_phones(
        &self,
        deal: &DealId,
    ) -> Result<Vec<(String, Option<String>)>, CrmError> {
        let Api::V1 { base, token } = &self.api else {
            return Ok(Vec::new());
        };
        let answer = self
            .send(|| {
                self.http
                    .get(format!("{base}/deals/{deal}"))
                    .query(&[("token", token.expose())])
            })
            .await?;
        let mut phones = Vec::new();
        for contact in answer
            .get("contacts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = contact
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_owned);
            for phone in contact
                .get("phones")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(number) = phone.get("phone").and_then(Value::as_str) {
                    phones.push((number.to_owned(), name.clone()));
                }
            }
        }
        Ok(phones)
    }

    /// The id of a note on `deal` containing `needle` (the call's id),
    /// written since `since` (v1 filters by date; v2 reads all the deal's
    /// notes). Not by author: the salesperson's CRM user may have changed
    /// since the note was sent.
    pub async fn find_note(
        &self,
        deal: &DealId,
        since: Date,
        needle: &str,
    ) -> Result<Option<String>, CrmError> {
        match &self.api {
            Api::V1 { base, token } => {
                let since = since.to_string();
                for page in 1..=V1_MAX_PAGES {
                    let (page, limit) = (page.to_string(), V1_PAGE.to_string());
                    let query = [
                        ("token", token.expose()),
                        ("deal_id", deal.as_str()),
                        ("start_date", &since),
                        ("page", &page),
                        ("limit", &limit),
                    ];
                    let answer = self
                        .send(|| self.http.get(format!("{base}/activities")).query(&query))
                        .await?;
                    let notes = list(&answer, "activities");
                    if let Some(note) = notes.iter().find(|n| text_has(n, "text", needle)) {
                        return Ok(Some(id_of(note).unwrap_or_default()));
                    }
                    if notes.len() < V1_PAGE {
                        break;
                    }
                }
                Ok(None)
            }
            Api::V2 { base, auth } => {
                let url = format!("{base}/deals/{deal}/notes");
                for page in 1..=V2_MAX_PAGES {
                    let query = [
                        ("page[number]", page.to_string()),
                        ("page[size]", V2_PAGE.to_string()),
                    ];
                    let answer = self
                        .send_v2(auth, None, |bearer| {
                            self.http.get(&url).bearer_auth(bearer).query(&query)
                        })
                        .await?;
                    let notes = list(&answer, "data");
                    if let Some(note) = notes.iter().find(|n| text_has(n, "description", needle)) {
                        return Ok(Some(id_of(note).unwrap_or_default()));
                    }
                    let more = answer
                        .pointer("/links/next")
                        .is_some_and(|next| !next.is_null());
                    if !more || notes.is_empty() {
                        break;
                    }
                }
                Ok(None)
            }
        }
    }

    /// The deals of every contact with this phone number, as candidates
    /// for [`super::lookup::choose`].
    pub async fn deals_for_phone(&self, e164: &str) -> Result<Vec<Candidate>, CrmError> {
        let mut ids: Vec<DealId> = Vec::new();
        let mut add = |id: Option<&str>| {
            if let Some(id) = id.and_then(|i| DealId::parse(i).ok())
                && !ids.contains(&id)
                && ids.len() < MAX_CANDIDATES
            {
                ids.push(id);
            }
        };
        match &self.api {
            Api::V1 { base, token } => {
                let answer = self
                    .send(|| {
                        self.http.get(format!("{base}/contacts")).query(&[
                            ("token", token.expose()),
                            ("phone", e164),
                            ("limit", "200"),
                        ])
                    })
                    .await?;
                for contact in list(&answer, "contacts") {
                    for deal in contact
                        .get("deals")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        add(deal
                            .get("_id")
                            .or_else(|| deal.get("id"))
                            .and_then(Value::as_str));
                    }
                }
            }
            Api::V2 { base, auth } => {
                let filter = format!("phone:{e164}");
                let answer = self
                    .send_v2(auth, None, |bearer| {
                        self.http
                            .get(format!("{base}/contacts"))
                            .bearer_auth(bearer)
                            .query(&[("filter", filter.as_str()), ("page[size]", "100")])
                    })
                    .await?;
                for contact in list(&answer, "data") {
                    for id in contact
                        .get("deal_ids")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        add(id.as_str());
                    }
                }
            }
        }
        let mut candidates = Vec::with_capacity(ids.len());
        for id in ids {
            match self.deal(&id).await {
                Ok(candidate) => candidates.push(candidate),
                // Deleted or hidden meanwhile: not a candidate.
                Err(CrmError::Permanent { status: 404, .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(candidates)
    }

    async fn deal(&self, id: &DealId) -> Result<Candidate, CrmError> {
        let timestamp = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .and_then(|s| s.parse::<Timestamp>().ok())
        };
        match &self.api {
            Api::V1 { base, token } => {
                let deal = self
                    .send(|| {
                        self.http
                            .get(format!("{base}/deals/{id}"))
                            .query(&[("token", token.expose())])
                    })
                    .await?;
                Ok(Candidate {
                    id: id.clone(),
                    // `win` is null while the deal is open, true/false once closed.
                    open: deal.get("win").is_none_or(Value::is_null)
                        && deal.get("closed_at").is_none_or(Value::is_null),
                    owner_id: deal
                        .pointer("/user/_id")
                        .or_else(|| deal.pointer("/user/id"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    updated_at: timestamp(deal.get("updated_at")),
                })
            }
            Api::V2 { base, auth } => {
                let url = format!("{base}/deals/{id}");
                let answer = self
                    .send_v2(auth, None, |bearer| self.http.get(&url).bearer_auth(bearer))
                    .await?;
                let deal = answer.get("data").unwrap_or(&Value::Null);
                Ok(Candidate {
                    id: id.clone(),
                    open: deal.get("status").and_then(Value::as_str) == Some("open"),
                    owner_id: deal
                        .get("owner_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    updated_at: timestamp(deal.get("updated_at")),
                })
            }
        }
    }

    /// v1's `GET /token/check`: whose token this is (to confirm a connection).
    pub async fn token_owner(&self) -> Result<TokenOwner, CrmError> {
        let Api::V1 { base, token } = &self.api else {
            return Err(unexpected("token/check existe só na API v1"));
        };
        let answer = self
            .send(|| {
                self.http
                    .get(format!("{base}/token/check"))
                    .query(&[("token", token.expose())])
            })
            .await?;
        let field = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(TokenOwner {
            name: field("name"),
            email: field("email"),
            organization: field("organization"),
        })
    }

    /// v1's `GET /users`: the account's users (to match salespeople by
    /// e-mail); hidden and inactive users are left out.
    pub async fn users(&self) -> Result<Vec<CrmUser>, CrmError> {
        let Api::V1 { base, token } = &self.api else {
            return Err(unexpected("a lista de usuários existe só na API v1"));
        };
        let answer = self
            .send(|| {
                self.http
                    .get(format!("{base}/users"))
                    .query(&[("token", token.expose())])
            })
            .await?;
        let users = answer
            .get("users")
            .and_then(Value::as_array)
            .ok_or_else(|| unexpected("GET /users sem a lista \"users\""))?;
        Ok(users
            .iter()
            .filter(|u| u.get("active").and_then(Value::as_bool) != Some(false))
            .filter(|u| u.get("hidden").and_then(Value::as_bool) != Some(true))
            .filter_map(|u| {
                Some(CrmUser {
                    id: u.get("_id").or_else(|| u.get("id"))?.as_str()?.to_owned(),
                    email: u.get("email")?.as_str()?.trim().to_lowercase(),
                })
            })
            .collect())
    }

    /// A v2 request with a valid access token (in `permit`'s slot, if
    /// given); a 401 (expired or revoked access token) refreshes it once
    /// and tries again.
    async fn send_v2(
        &self,
        auth: &OAuth,
        permit: Option<Permit>,
        request: impl Fn(&str) -> RequestBuilder,
    ) -> Result<Value, CrmError> {
        let bearer = match auth.access_token(&self.http).await {
            Ok(bearer) => bearer,
            Err(e) => {
                if let Some(permit) = permit {
                    self.limiter.refund(permit.0);
                }
                return Err(e);
            }
        };
        let first = match permit {
            Some(permit) => self.send_in(permit.0, || request(bearer.expose())).await,
            None => self.send(|| request(bearer.expose())).await,
        };
        match first {
            Err(CrmError::Permanent { status: 401, .. }) => {
                auth.forget(&bearer).await;
                let bearer = auth.access_token(&self.http).await?;
                self.send(|| request(bearer.expose())).await
            }
            other => other,
        }
    }

    /// One request within the rate limit, or [`CrmError::Wait`].
    async fn send(&self, request: impl FnOnce() -> RequestBuilder) -> Result<Value, CrmError> {
        let slot = self
            .limiter
            .try_acquire()
            .map_err(|wait| CrmError::Wait { wait })?;
        self.send_in(slot, request).await
    }

    /// One request in the limiter slot `slot`; the answer's JSON, or the
    /// error it means.
    async fn send_in(
        &self,
        slot: Instant,
        request: impl FnOnce() -> RequestBuilder,
    ) -> Result<Value, CrmError> {
        let slot = self.limiter.restamp(slot);
        let response = match request().send().await {
            Ok(response) => response,
            Err(e) => {
                // Refused or reset: RD Station never saw it. A timeout may
                // have been counted there, so it stays counted here.
                if !e.is_timeout() {
                    self.limiter.refund(slot);
                }
                return Err(CrmError::network(e));
            }
        };
        let (status, headers) = (response.status(), response.headers().clone());
        let body = read_limited(response).await?;
        if !status.is_success() {
            let error = CrmError::from_response(status, &headers, &body);
            if let CrmError::Temporary {
                rate_limited: true,
                retry_after,
                ..
            } = &error
            {
                self.limiter
                    .pause(retry_after.unwrap_or(super::RATE_LIMIT_PAUSE));
            }
            return Err(error);
        }
        serde_json::from_slice(&body).map_err(|_| {
            CrmError::temporary(format!(
                "RD Station respondeu HTTP {} sem JSON",
                status.as_u16()
            ))
        })
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, CrmError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(CrmError::network)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(CrmError::temporary("resposta do RD Station grande demais"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn list<'a>(answer: &'a Value, key: &str) -> &'a [Value] {
    answer
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn id_of(record: &Value) -> Option<String> {
    record
        .get("_id")
        .or_else(|| record.get("id"))
        .and_then(|id| match id {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

fn text_has(note: &Value, field: &str, needle: &str) -> bool {
    note.get(field)
        .and_then(Value::as_str)
        .is_some_and(|text| text.contains(needle))
}

fn missing_author() -> CrmError {
    CrmError::Permanent {
        status: 0,
        message: "o vendedor não tem usuário do RD Station CRM associado \
                  (disca-backend user set-crm-user)"
            .into(),
    }
}

fn unexpected(what: &str) -> CrmError {
    CrmError::temporary(format!("resposta inesperada do RD Station: {what}"))
}
