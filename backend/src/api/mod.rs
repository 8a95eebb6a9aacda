//! The HTTP API: routes, shared state, errors, and the OpenAPI document.
//! The manager page's routes ([`crate::manager`]) are merged in here.

pub(crate) mod auth;
pub(crate) mod calls;
mod error;
pub(crate) mod events;
mod health;
mod me;
pub mod phone;
mod reports;
pub(crate) mod streams;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

pub use auth::{CurrentToken, Revocations};
pub use error::ApiError;
pub use events::DEFAULT_KEEP_ALIVE;
pub use streams::StreamSlots;

use crate::manager::ManagerConfig;
use crate::pbx::Pbxs;
use crate::storage::Store;
use crate::telemetry::Metrics;

/// Largest request body accepted: a click is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Every PBX, by name; a tenant's calls go through its own.
    pub pbxs: Pbxs,
    pub metrics: Metrics,
    /// Call creations per user.
    pub limiter: Arc<DefaultKeyedRateLimiter<String>>,
    /// Recently authenticated users.
    pub users: Arc<auth::UserCache>,
    /// What the manager page needs (recordings, cookies).
    pub manager: ManagerConfig,
    /// Open event streams, capped per user and per tenant.
    pub streams: Arc<StreamSlots>,
    /// How often an idle event stream writes a keep-alive comment.
    pub sse_keep_alive: Duration,
    /// Longest time to answer a request (reading its body included); event
    /// streams are timed only until their response starts.
    pub request_timeout: Duration,
    /// Browser phones: their settings and directory.
    pub phones: phone::Phones,
    /// Passwords, sign-in limits, links and their mail.
    pub accounts: crate::accounts::Accounts,
    /// Empties `users` as soon as access is taken away.
    pub revocations: Revocations,
    /// The folder of installers offered at `/downloads`, if any.
    pub downloads: Option<std::path::PathBuf>,
    /// What the admin console needs to connect RD Station (`None`: not
    /// offered).
    pub crm: Option<crate::crm::connect::Connector>,
    /// The tenants' RD Station clients, shared with the delivery worker (one
    /// rate limit per tenant), for the reads a salesperson asks for.
    pub crm_connections: Option<Arc<crate::crm::connections::Connections>>,
    /// The SHA-256 of the token `/metrics` asks for, if any.
    pub metrics_token_sha256: Option<String>,
    /// Where announcements go, for the admin console.
    pub recordings: crate::configuration::RecordingSettings,
}

impl AppState {
    pub fn new(store: Store, pbxs: Pbxs, metrics: Metrics, calls_per_minute: u32) -> AppState {
        let quota = Quota::per_minute(NonZeroU32::new(calls_per_minute).unwrap_or(NonZeroU32::MIN));
        let users = Arc::new(auth::UserCache::default());
        AppState {
            store,
            pbxs,
            limiter: Arc::new(RateLimiter::keyed(quota)),
            revocations: Revocations::new(users.clone()),
            users,
            accounts: crate::accounts::Accounts::default(),
            downloads: None,
            crm: None,
            crm_connections: None,
            metrics_token_sha256: None,
            recordings: crate::configuration::RecordingSettings::default(),
            manager: ManagerConfig::default(),
            streams: Arc::new(StreamSlots::new(8, 500, metrics.clone())),
            metrics,
            sse_keep_alive: DEFAULT_KEEP_ALIVE,
            request_timeout: Duration::from_secs(30),
            phones: phone::Phones::default(),
        }
    }

    /// The caps and timings of [`crate::configuration::HttpSettings`].
    pub fn with_limits(self, http: &crate::configuration::HttpSettings) -> AppState {
        AppState {
            streams: Arc::new(StreamSlots::new(
                http.sse_streams_per_user,
                http.sse_streams_per_tenant,
                self.metrics.clone(),
            )),
            sse_keep_alive: http.sse_keep_alive,
            request_timeout: http.request_timeout,
            metrics_token_sha256: http.metrics_token_sha256.clone(),
            ..self
        }
    }

    pub fn with_manager(self, manager: ManagerConfig) -> AppState {
        AppState { manager, ..self }
    }

    pub fn with_phones(self, phones: phone::Phones) -> AppState {
        AppState { phones, ..self }
    }

    pub fn with_accounts(self, accounts: crate::accounts::Accounts) -> AppState {
        AppState { accounts, ..self }
    }

    pub fn with_downloads(self, downloads: Option<std::path::PathBuf>) -> AppState {
        AppState { downloads, ..self }
    }

    pub fn with_recordings(self, recordings: crate::configuration::RecordingSettings) -> AppState {
        AppState { recordings, ..self }
    }

    pub fn with_crm(
        self,
        crm: crate::crm::connect::Connector,
        connections: Arc<crate::crm::connections::Connections>,
    ) -> AppState {
        AppState {
            crm: Some(crm),
            crm_connections: Some(connections),
            ..self
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Disca API", description = "Click-to-call through the company's own Asterisk PBX."),
    paths(
        calls::create_call, calls::get_call, calls::hangup_call, calls::list_calls, calls::retry_crm,
        events::stream_events, health::livez, health::readyz, health::metrics, me::me, phone::phone,
        reports::dispositions, reports::save_report, reports::other_phones
    ),
    components(schemas(
        crate::domain::Call, crate::domain::CallState, crate::domain::Outcome, crate::domain::CallContext,
        crate::domain::HangupCause, crate::domain::CrmDelivery, crate::domain::CrmState,
        disca_protocol::api::CreateCallRequest, disca_protocol::api::CallPage,
        disca_protocol::ErrorBody, disca_protocol::ErrorDetail, disca_protocol::Me, disca_protocol::Role, health::Health, health::PbxHealth, health::Live,
        disca_protocol::phone::PhoneConfig, disca_protocol::phone::PhoneKind,
        disca_protocol::phone::BrowserPhone, disca_protocol::phone::IceServer,
        disca_protocol::report::CallReport, disca_protocol::report::ReportSaved,
        disca_protocol::report::ReportNote, disca_protocol::report::ReportTask,
        disca_protocol::report::Dispositions, disca_protocol::report::Disposition,
        disca_protocol::report::OtherPhones, disca_protocol::report::OtherPhone
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

/// Answers 408 when a request takes longer than the request timeout: a
/// body sent slowly cannot hold a connection (headers are bounded by the
/// server's header read timeout). An event stream counts only until its
/// response starts. (tower-http's `TimeoutLayer` answers with an empty body;
/// the API's errors are JSON.)
async fn request_timeout(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::request_timeout().into_response(),
    }
}

pub fn router(state: AppState) -> Router {
    let timeout = state.request_timeout;
    Router::new()
        .route("/v1/calls", post(calls::create_call).get(calls::list_calls))
        .route("/v1/calls/{id}", get(calls::get_call))
        .route("/v1/calls/{id}/hangup", post(calls::hangup_call))
        .route("/v1/calls/{id}/crm/retry", post(calls::retry_crm))
        .route("/v1/calls/{id}/report", put(reports::save_report))
        .route("/v1/calls/{id}/other-phones", get(reports::other_phones))
        .route("/v1/dispositions", get(reports::dispositions))
        .route("/v1/events", get(events::stream_events))
        .route("/v1/me", get(me::me))
        .route("/v1/phone", get(phone::phone))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/healthz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi_json))
        .merge(crate::manager::routes())
        .merge(crate::admin::routes())
        .merge(crate::accounts::routes())
        .merge(crate::downloads::routes())
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(timeout, request_timeout))
        .layer(TraceLayer::new_for_http().make_span_with(crate::telemetry::request_span))
        .with_state(state)
}
