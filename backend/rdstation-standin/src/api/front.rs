//! What stands in front of every route: the request log (tokens only as
//! fingerprints, no query strings), request counts, fault injection, the
//! HTML error page, and answers for unknown routes in each API's shape.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::v1::{V1Error, query_token};
use super::v2::{V2Error, bearer_token};
use crate::faults::{Api, Fault};
use crate::net::Cut;
use crate::telemetry::fingerprint;

/// The API a path belongs to; `None` for `/_standin` and the rest.
fn api_of(path: &str) -> Option<Api> {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if under("/api/v1") {
        Some(Api::V1)
    } else if under("/crm/v2") {
        Some(Api::V2)
    } else if under("/oauth2") {
        Some(Api::OAuth)
    } else {
        None
    }
}

/// The token a request presents, whatever it is worth.
fn presented_token(request: &Request) -> Option<String> {
    match api_of(request.uri().path())? {
        Api::V1 => query_token(request.uri()),
        Api::V2 => bearer_token(request.headers()).map(str::to_owned),
        Api::OAuth => None,
    }
}

fn endpoint_name(request: &Request) -> String {
    match request.extensions().get::<MatchedPath>() {
        Some(route) => format!("{} {}", request.method(), route.as_str()),
        None => format!("{} (unmatched)", request.method()),
    }
}

pub(super) async fn log(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let token = presented_token(&request).map(|t| fingerprint(&t));
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        token = token.as_deref().unwrap_or("-"),
        "request"
    );
    response
}

pub(super) async fn count(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if api_of(request.uri().path()).is_some() {
        state.requests.record(
            endpoint_name(&request),
            presented_token(&request).as_deref(),
        );
    }
    next.run(request).await
}

pub(super) async fn inject_faults(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(api) = api_of(request.uri().path()) else {
        return next.run(request).await;
    };
    match state.faults.take(api) {
        Some(Fault::Down) => {
            if let Some(ConnectInfo(cut)) = request.extensions().get::<ConnectInfo<Cut>>() {
                cut.cut();
            }
            tracing::info!(path = %request.uri().path(), "fault: connection cut");
            // Never sent: the connection fails when hyper writes it.
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Some(Fault::Slow { ms }) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            next.run(request).await
        }
        Some(Fault::Status429 { retry_after_secs }) => match api {
            Api::V1 => V1Error::RateLimited.into_response(),
            Api::V2 => V2Error::rate_limited(retry_after_secs).into_response(),
            Api::OAuth => super::oauth::too_many_requests(retry_after_secs),
        },
        Some(Fault::Status500Html) => server_error_page(),
        Some(Fault::Redirect { status }) => redirect(status, request.uri()),
        Some(Fault::Normal | Fault::TimeoutAfterStore) | None => next.run(request).await,
    }
}

/// Never answers (the `timeout_after_store` fault): the request is dropped
/// with its connection, once the client gives up, or when the stand-in stops.
pub(super) async fn hang() -> Infallible {
    std::future::pending().await
}

/// The `redirect` fault: `status` to the same path and query elsewhere.
fn redirect(status: u16, uri: &Uri) -> Response {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(StatusCode::is_redirection)
        .unwrap_or(StatusCode::MOVED_PERMANENTLY);
    let target = format!(
        "https://api.moved.example{}",
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    (status, [(axum::http::header::LOCATION, target)]).into_response()
}

/// RD Station's 500: an HTML page, not JSON.
pub(super) fn server_error_page() -> Response {
    let page = "<!DOCTYPE html>\n<html lang=\"pt-BR\">\n<head><meta charset=\"utf-8\">\
                <title>RD Station CRM</title></head>\n<body>\n<h1>Ops! Algo deu errado.</h1>\n\
                <p>Tivemos um problema técnico e já estamos trabalhando nele. \
                Tente novamente em alguns minutos.</p>\n</body>\n</html>\n";
    (StatusCode::INTERNAL_SERVER_ERROR, Html(page)).into_response()
}

pub(super) async fn no_route(uri: Uri) -> Response {
    match api_of(uri.path()) {
        Some(Api::V1) => V1Error::NotFound("Resource not found.").into_response(),
        Some(Api::V2) => V2Error::not_found("resource").into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "not_found"})),
        )
            .into_response(),
    }
}

pub(super) async fn no_method(uri: Uri) -> Response {
    match api_of(uri.path()) {
        Some(Api::V1) => V1Error::NotFound("Resource not found.").into_response(),
        Some(Api::V2) => V2Error::method_not_allowed().into_response(),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            axum::Json(json!({"error": "method_not_allowed"})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_belong_to_their_api() {
        assert_eq!(api_of("/api/v1/deals"), Some(Api::V1));
        assert_eq!(api_of("/crm/v2"), Some(Api::V2));
        assert_eq!(api_of("/oauth2/token"), Some(Api::OAuth));
        assert_eq!(api_of("/oauth2/authorize"), Some(Api::OAuth));
        assert_eq!(api_of("/api/v10/deals"), None);
        assert_eq!(api_of("/_standin/fault"), None);
    }
}
