//! The HTTP routes: API v1 (`/api/v1`), API v2 (`/crm/v2`), OAuth2
//! (`/oauth2/token`, `/oauth2/authorize`) and the stand-in's own controls
//! (`/_standin`), behind the middleware that logs, counts requests and
//! injects faults.

mod admin;
mod front;
mod oauth;
mod params;
mod v1;
mod v2;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;

use crate::crm::Crm;
use crate::faults::Faults;
use crate::oauth::OAuth;
use crate::rate_limit::RateLimiter;
use crate::requests::RequestLog;

/// Largest request body read: room for a v2 note of 524,288 characters
/// written as JSON escapes.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    pub crm: Arc<Crm>,
    pub oauth: Arc<OAuth>,
    pub limiter: Arc<RateLimiter>,
    pub faults: Faults,
    pub requests: Arc<RequestLog>,
    /// `http://127.0.0.1:PORT`, for v2 paging links.
    pub base_url: Arc<str>,
}

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .merge(v1::routes())
        .merge(v2::routes())
        .merge(oauth::routes())
        .merge(admin::routes())
        .fallback(front::no_route)
        .method_not_allowed_fallback(front::no_method)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            front::inject_faults,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), front::count))
        .layer(middleware::from_fn(front::log))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
