//! The manager page: a manager logs in with their API token, then sees the
//! team's calls (filters, paging, recordings, CRM delivery state and
//! errors), queues stopped CRM notes again, and exports CSV.
//!
//! Module map:
//! - [`session`]: login and logout, the session cookie (256 random bits;
//!   only its SHA-256 is stored), the extractors that require a session,
//!   the CSRF check, and where a login may send the browser back to.
//! - [`page`]: the static HTML, JS and CSS (embedded), served under a
//!   strict Content-Security-Policy.
//! - [`filters`]: the page's query (salesperson, São Paulo dates, outcome,
//!   CRM state) as a [`crate::storage::CallFilter`].
//! - [`view`]: a call as a row of the page and of the CSV, in Portuguese.
//! - [`api`]: the JSON the page reads (`/manager/api/...`).
//! - [`export`]: `GET /manager/calls.csv`.
//! - [`recording`]: `GET /manager/calls/{id}/recording`.
//! - [`live`]: the live board, who is on a call now (`/manager/api/live`,
//!   Server-Sent Events).
//! - [`dashboard`]: the dashboard's figures for a period
//!   (`/manager/api/dashboard`), and [`charts`], its SVG charts.
//! - [`errors`]: the page's own error answers.
//!
//! Invariants: every data route requires a live session of a manager and
//! reads only that manager's tenant; every state-changing request carries
//! the [`session::CSRF_HEADER`] and comes from the same origin; page text
//! is set with DOM calls (`textContent`), never parsed as HTML.

pub mod api;
pub mod charts;
pub mod dashboard;
pub mod errors;
pub mod export;
pub mod filters;
pub mod live;
pub mod page;
pub mod recording;
pub mod session;
pub mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};

use crate::api::AppState;
use crate::configuration::Settings;
use crate::domain::PbxName;

/// What the manager page needs from the settings.
#[derive(Clone, Debug, Default)]
pub struct ManagerConfig {
    /// Where each PBX's recordings are (its monitor spool, or a mount of
    /// it: [`Settings::recordings_dirs`]); none: no playback.
    pub recordings_dirs: BTreeMap<PbxName, PathBuf>,
    /// Session cookies are `Secure` (the public address is https).
    pub secure_cookies: bool,
}

impl ManagerConfig {
    pub fn from_settings(settings: &Settings) -> ManagerConfig {
        ManagerConfig {
            recordings_dirs: settings.recordings_dirs(),
            secure_cookies: settings
                .crm
                .public_url
                .as_deref()
                .is_some_and(|url| url.starts_with("https://")),
        }
    }
}

/// The manager page's routes, all under `/manager`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/manager", get(page::index))
        .route("/manager/login", get(page::login).post(session::login))
        .route("/manager/logout", post(session::logout))
        .route("/manager/static/{file}", get(page::asset))
        .route("/manager/calls.csv", get(export::calls_csv))
        .route("/manager/dashboard.csv", get(dashboard::dashboard_csv))
        .route("/manager/calls/{id}/recording", get(recording::recording))
        .route("/manager/api/session", get(api::session_info))
        .route("/manager/api/calls", get(api::list_calls))
        .route("/manager/api/dashboard", get(dashboard::dashboard))
        .route("/manager/api/dashboard/{chart}", get(dashboard::chart))
        .route("/manager/api/live", get(live::live))
        .route("/manager/api/calls/{id}", get(api::get_call))
        .route("/manager/api/calls/{id}/crm/retry", post(api::retry_crm))
        .layer(middleware::map_response(security_headers))
}

/// The page's content may come from this origin only: no inline script or
/// style, no frames, no plug-ins, no form posts elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'; object-src 'none'";

pub(crate) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
