//! Logging in to the manager page, and the session that follows.
//!
//! The admin console ([`crate::admin`]) shares these sessions: a manager or
//! an admin may log in; the manager page's routes take managers only, the
//! console's admins only.
//!
//! A manager signs in with e-mail and password (the accounts' sign-in:
//! rate limit, lockout); a script may post a manager's API token instead. A
//! manager's login opens a session: 256 random bits in the `disca_manager` cookie
//! (`HttpOnly; SameSite=Strict; Path=/manager`, `Secure` when the public
//! address is https), of which only the SHA-256 is stored, with an expiry
//! of [`SESSION_LIFETIME`]. Agents' tokens are refused.
//!
//! Every state-changing request (login, logout, retry) must carry
//! [`CSRF_HEADER`], which a cross-site form cannot send and a cross-site
//! script cannot send without a CORS preflight the backend never grants,
//! and, when the browser says where it comes from (`Sec-Fetch-Site`), come
//! from the same origin.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::api::{ApiError, AppState};
use crate::auth::{hash_token, looks_like_token};
use crate::domain::{Role, User};
use crate::storage::StoreError;

/// The session cookie's name.
pub const COOKIE: &str = "disca_manager";
/// The header every state-changing request of the page carries (value `1`).
pub const CSRF_HEADER: &str = "x-disca-manager";
/// How long a login lasts.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);
/// Where a login goes when it was not sent from elsewhere.
pub const HOME: &str = "/manager";
const LOGIN: &str = "/manager/login";

/// The manager behind a request of the page's JSON API: without a live
/// session, `401 session_required` (the page then goes to the login).
pub struct Manager(pub User);

impl FromRequestParts<AppState> for Manager {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Manager, ApiError> {
        match session_user(&parts.headers, state).await? {
            Some(user) if user.role == Role::Manager => Ok(Manager(user)),
            Some(_) => Err(ApiError::login_not_a_manager()),
            None => Err(ApiError::session_required()),
        }
    }
}

/// The manager behind a request the browser navigates to (the page, the
/// CSV, a recording): without a live session, a redirect to the login,
/// which comes back here afterwards.
pub struct PageManager(pub User);

impl FromRequestParts<AppState> for PageManager {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<PageManager, Response> {
        match session_user(&parts.headers, state).await {
            Ok(Some(user)) if user.role == Role::Manager => Ok(PageManager(user)),
            // An admin who is not a manager: their page is the console.
            Ok(Some(_)) => Err(Redirect::to(crate::admin::HOME).into_response()),
            Ok(None) => {
                let here = parts.uri.path_and_query().map_or(HOME, |p| p.as_str());
                Err(Redirect::to(&login_url(here)).into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

/// The manager whose session cookie `headers` carry, if it is live.
pub(crate) async fn session_user(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<User>, ApiError> {
    let Some(id) = session_cookie(headers) else {
        return Ok(None);
    };
    match state
        .store
        .manager_session(&hash_token(id), OffsetDateTime::now_utc())
        .await
    {
        Ok(user) => Ok(Some(user)),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The hash under which the session in `headers` is stored, if they carry one.
pub(crate) fn session_hash(headers: &HeaderMap) -> Option<String> {
    session_cookie(headers).map(hash_token)
}

/// The session id in the `Cookie` headers, if one has its shape.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Refuses a state-changing request that did not come from the page.
pub fn same_site(headers: &HeaderMap) -> Result<(), ApiError> {
    marked_same_origin(headers, CSRF_HEADER)
}

/// Refuses a state-changing request that does not carry `marker: 1` (a
/// header a cross-site form cannot send, nor a cross-site script without a
/// CORS preflight the backend never grants) or, when the browser says where
/// it comes from (`Sec-Fetch-Site`), is not same-origin. The manager page
/// and the account pages each have their own marker.
pub fn marked_same_origin(headers: &HeaderMap, marker: &str) -> Result<(), ApiError> {
    let marked = headers.get(marker).is_some_and(|v| v.as_bytes() == b"1");
    let same_origin = headers
        .get("sec-fetch-site")
        .is_none_or(|v| v.as_bytes() == b"same-origin");
    if marked && same_origin {
        Ok(())
    } else {
        Err(ApiError::cross_site_refused())
    }
}

/// `POST /manager/login`: `email` and `password` (the page), or `token`
/// (a script).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    password: Option<zeroize::Zeroizing<String>>,
    #[serde(default)]
    token: Option<String>,
    /// Where to go afterwards (a `/manager` path; anything else is ignored).
    #[serde(default)]
    next: Option<String>,
}

/// What a successful login answers: where the page goes now.
#[derive(Serialize)]
pub struct LoginAnswer {
    pub next: String,
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    same_site(&headers)?;
    let Json(request) = body.map_err(|_| {
        ApiError::malformed(
            "o corpo deve ser {\"email\", \"password\", \"next\"} (ou {\"token\", \"next\"})",
        )
    })?;
    let mut opened_with = None;
    let user = match (request.email, request.password, request.token) {
        (Some(email), Some(password), None) => {
            crate::accounts::sign_in::sign_in(&state.accounts, &state.store, &email, password)
                .await?
        }
        (None, None, Some(token)) => {
            let token = token.trim();
            if !looks_like_token(token) {
                return Err(ApiError::login_token_invalid());
            }
            let hash = hash_token(token);
            let found = state.store.user_by_token_hash(&hash).await;
            opened_with = Some(hash);
            match found {
                Ok(user) => user,
                Err(StoreError::NotFound) => return Err(ApiError::login_token_invalid()),
                Err(e) => return Err(e.into()),
            }
        }
        _ => {
            return Err(ApiError::malformed(
                "envie e-mail e senha (ou só um token de API)",
            ));
        }
    };
    if user.role != Role::Manager && !user.admin {
        tracing::info!(user_id = %user.id, "manager page login refused: not a manager");
        return Err(ApiError::login_not_a_manager());
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let session = hex::encode(bytes);
    state
        .store
        .add_manager_session(
            &hash_token(&session),
            &user.id,
            OffsetDateTime::now_utc() + SESSION_LIFETIME,
            opened_with.as_deref(),
        )
        .await?;
    tracing::info!(user_id = %user.id, tenant = %user.tenant.slug.as_str(), "manager logged in");
    let cookie = cookie(
        &session,
        SESSION_LIFETIME.whole_seconds(),
        state.manager.secure_cookies,
    );
    let next = match safe_next(request.next.as_deref()) {
        // An admin who is not a manager has the console only.
        next if user.role != Role::Manager && !next.starts_with(crate::admin::HOME) => {
            crate::admin::HOME.to_owned()
        }
        next => next.to_owned(),
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(LoginAnswer { next })).into_response())
}

/// `POST /manager/logout`: ends the session (if any) and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    same_site(&headers)?;
    if let Some(id) = session_cookie(&headers) {
        state.store.end_manager_session(&hash_token(id)).await?;
        // Its open live boards close now, not at their next check.
        state.revocations.forget_now();
    }
    let cleared = cookie("", 0, state.manager.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response())
}

fn cookie(value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{COOKIE}={value}; Path=/manager; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
    );
    // Hex, digits and fixed words only.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("disca_manager="))
}

/// Where a login may send the browser: a page of the manager's own site
/// (`/manager`, `/manager/...`, `/manager?...`), never another site nor the
/// login itself; anything else becomes [`HOME`].
pub fn safe_next(next: Option<&str>) -> &str {
    next.filter(|n| is_safe_next(n)).unwrap_or(HOME)
}

fn is_safe_next(next: &str) -> bool {
    let Some(rest) = next.strip_prefix(HOME) else {
        return false;
    };
    // No dot segments (`/..`, `%2e%2e`): the browser would resolve them
    // out of `/manager`.
    let path = next.split('?').next().unwrap_or_default();
    next.len() <= 2048
        && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
        && !next.contains("//")
        && !path.contains("/.")
        && !path.to_ascii_lowercase().contains("%2e")
        && (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
        && !["/login", "/logout", "/api/", "/admin/api/"]
            .iter()
            .any(|p| rest.starts_with(p))
}

/// The login page, coming back to `target` (when it may) afterwards.
pub(crate) fn login_url(target: &str) -> String {
    let target = safe_next(Some(target));
    if target == HOME {
        return LOGIN.to_owned();
    }
    let mut url = format!("{LOGIN}?next=");
    for b in target.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_manager_pages_are_login_destinations() {
        for good in [
            "/manager",
            "/manager?user=1&from=2026-11-01",
            "/manager/calls.csv?crm=failed",
            "/manager/calls/0193a1b2-0000-7000-8000-000000000001/recording",
        ] {
            assert_eq!(safe_next(Some(good)), good);
        }
        for bad in [
            "https://evil.example/manager",
            "//evil.example/manager",
            "/manager//evil.example",
            "/managerial",
            "/manager/login?next=https://evil.example",
            "/manager/logout",
            "/manager/api/calls",
            "/manager/admin/api/people",
            "/manager/../v1/calls",
            "/manager/%2e%2e/v1/calls",
            "/manager/./login",
            "/manager\\@evil.example",
            "/manager?x=\u{0}",
            "/manager? y",
            "/v1/calls",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), HOME, "{bad:?}");
        }
        assert_eq!(safe_next(None), HOME);
    }

    #[test]
    fn the_login_comes_back_where_it_was_asked_from() {
        assert_eq!(login_url("/manager"), "/manager/login");
        assert_eq!(
            login_url("/manager/calls.csv?crm=failed&user=a%20b"),
            "/manager/login?next=/manager/calls.csv%3Fcrm%3Dfailed%26user%3Da%2520b"
        );
        assert_eq!(login_url("/elsewhere"), "/manager/login");
    }

    #[test]
    fn the_session_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        let id = "ab".repeat(32);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; {COOKIE}={id}; x=y")).unwrap(),
        );
        assert_eq!(session_cookie(&headers), Some(id.as_str()));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("disca_manager=../../etc"),
        );
        assert_eq!(session_cookie(&headers), None);
    }

    #[test]
    fn cross_site_requests_are_refused() {
        let mut headers = HeaderMap::new();
        assert!(same_site(&headers).is_err());
        headers.insert(CSRF_HEADER, HeaderValue::from_static("1"));
        assert!(same_site(&headers).is_ok());
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_site(&headers).is_err());
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_site(&headers).is_ok());
    }
}
