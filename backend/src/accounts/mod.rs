//! Accounts people sign in to: passwords set from one-time links, the
//! sign-in every client shares, and the OAuth 2.0 flow that gives each
//! disca-host a device token.
//!
//! Module map:
//! - [`password`]: argon2id hashing and checking, the password rules.
//! - [`sign_in`]: e-mail + password → user, with the per-e-mail rate limit
//!   and the lockout.
//! - [`links`]: invitations and password resets (made by `user invite`,
//!   `user reset-password` and "Esqueci minha senha"; e-mailed when SMTP is
//!   configured), and the page's API that uses them.
//! - [`oauth`]: `/oauth/authorize` (the sign-in page a host opens) and
//!   `/oauth/token` (code + PKCE verifier → device token), and the host's
//!   sign-out.
//! - [`pages`]: the static pages (`backend/static/account/`).
//!
//! Invariants: no secret is stored, only its SHA-256 (link secrets, codes,
//! tokens) or its argon2id hash (passwords); link secrets travel in the
//! URL's fragment, never sent to a server; every state-changing request of
//! the pages carries [`PAGE_HEADER`] and comes from the same origin; an
//! unknown e-mail and a wrong password get the same answer (until a real
//! account locks, which its message says: a lockout must be clear), both
//! after an argon2id check.

pub mod links;
pub mod oauth;
pub mod pages;
pub mod password;
pub mod sign_in;

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::http::HeaderMap;
use axum::middleware;
use axum::routing::{get, post};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::api::{ApiError, AppState};
use crate::mail::Mailer;

/// The header every state-changing request of the account pages carries
/// (value `1`): a cross-site form cannot send it.
pub const PAGE_HEADER: &str = "x-disca-page";

/// Sign-in attempts per e-mail per minute.
const ATTEMPTS_PER_MINUTE: u32 = 10;
/// One "Esqueci minha senha" mail per e-mail this often at most.
const FORGOT_PERIOD: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// Keys a limiter keeps before it forgets those whose limit has passed.
const LIMITER_KEYS: usize = 10_000;

/// What the account routes share.
#[derive(Clone)]
pub struct Accounts {
    pub passwords: password::Passwords,
    /// `None`: links are shown to whoever made them, not mailed.
    pub mailer: Option<Mailer>,
    /// The backend's address as people reach it, for links.
    pub public_url: String,
    attempts: Arc<DefaultKeyedRateLimiter<String>>,
    /// Reset mails asked per e-mail (their own limit: asking for mails
    /// must not use up the person's sign-in attempts).
    forgot: Arc<DefaultKeyedRateLimiter<String>>,
}

impl Accounts {
    pub fn new(public_url: &str, mailer: Option<Mailer>) -> Accounts {
        Accounts {
            passwords: password::Passwords::default(),
            mailer,
            public_url: public_url.trim_end_matches('/').to_owned(),
            attempts: Arc::new(RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(ATTEMPTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN),
            ))),
            forgot: Arc::new(RateLimiter::keyed(
                Quota::with_period(FORGOT_PERIOD).unwrap_or(Quota::per_hour(NonZeroU32::MIN)),
            )),
        }
    }

    /// Whether `email` may try to sign in now.
    fn may_attempt(&self, email: &str) -> bool {
        allowed(&self.attempts, email)
    }

    /// Whether `email` may be mailed a reset link now.
    fn may_mail_reset(&self, email: &str) -> bool {
        allowed(&self.forgot, email)
    }
}

/// One use of `limiter` for `key`; the limiter forgets keys whose limit has
/// passed when it holds more than [`LIMITER_KEYS`], so random e-mails
/// cannot grow it without end.
fn allowed(limiter: &DefaultKeyedRateLimiter<String>, key: &str) -> bool {
    if limiter.len() > LIMITER_KEYS {
        limiter.retain_recent();
    }
    limiter.check_key(&key.to_owned()).is_ok()
}

impl Default for Accounts {
    fn default() -> Accounts {
        Accounts::new("http://127.0.0.1:8080", None)
    }
}

/// Refuses a state-changing request that did not come from the pages.
pub fn from_page(headers: &HeaderMap) -> Result<(), ApiError> {
    crate::manager::session::marked_same_origin(headers, PAGE_HEADER)
}

/// The account routes: the pages, their API, OAuth.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/password", get(pages::password))
        .route("/account/forgot", get(pages::forgot))
        .route("/account/static/{file}", get(pages::asset))
        .route("/account/api/link", post(links::inspect))
        .route("/account/api/password", post(links::set_password))
        .route("/account/api/forgot", post(links::forgot))
        .route(
            disca_protocol::api::OAUTH_AUTHORIZE_PATH,
            get(oauth::authorize_page).post(oauth::authorize),
        )
        .layer(middleware::map_response(crate::manager::security_headers))
        .route(disca_protocol::api::OAUTH_TOKEN_PATH, post(oauth::token))
        .route(disca_protocol::api::SIGN_OUT_PATH, post(oauth::sign_out))
}
