//! OAuth2 over HTTP: the token endpoint (`POST /oauth2/token`, form-encoded,
//! RFC 6749 errors) and a consent page standing in for
//! `https://api.rd.services/oauth2/authorize` (the path RD Station's v2
//! reference gives; an older page said `accounts.rdstation.com/oauth/authorize`),
//! where the user is picked from the seed (or named with `&user_id=`) and
//! sent back with a code.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use super::params::{Params, encode, escape_html};
use crate::oauth::{TokenError, TokenPair};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/authorize", get(authorize))
}

async fn token(
    State(state): State<AppState>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return token_error(TokenError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded".into(),
        ));
    };
    let required = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| TokenError::InvalidRequest(format!("{name} is required")))
    };
    let grant = || -> Result<TokenPair, TokenError> {
        let grant_type = required("grant_type")?;
        let (client_id, client_secret) = (required("client_id")?, required("client_secret")?);
        let pair = match grant_type {
            "authorization_code" => state.oauth.exchange_code(
                client_id,
                client_secret,
                required("code")?,
                required("redirect_uri")?,
            )?,
            "refresh_token" => {
                state
                    .oauth
                    .refresh(client_id, client_secret, required("refresh_token")?)?
            }
            _ => return Err(TokenError::UnsupportedGrantType),
        };
        tracing::info!(client_id, grant_type, "tokens issued");
        Ok(pair)
    };
    match grant() {
        Ok(pair) => no_store(
            StatusCode::OK,
            json!({
                "access_token": pair.access_token,
                "token_type": "Bearer",
                "expires_in": pair.expires_in,
                "refresh_token": pair.refresh_token,
            }),
        ),
        Err(e) => token_error(e),
    }
}

fn token_error(error: TokenError) -> Response {
    let (status, code, description) = match error {
        TokenError::InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", d),
        TokenError::InvalidClient => (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong client_secret".into(),
        ),
        TokenError::InvalidGrant(d) => (StatusCode::BAD_REQUEST, "invalid_grant", d.into()),
        TokenError::UnsupportedGrantType => (
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token".into(),
        ),
    };
    no_store(
        status,
        json!({"error": code, "error_description": description}),
    )
}

/// 429 from the token endpoint (the `status_429` fault).
pub(super) fn too_many_requests(retry_after_secs: u64) -> Response {
    let mut response = no_store(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"error": "too_many_requests", "error_description": "try again later"}),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

/// `?response_type=code&client_id=&redirect_uri=&state=`; without
/// `user_id`, a page to pick the user; with it, a redirect carrying the code.
async fn authorize(State(state): State<AppState>, uri: Uri) -> Response {
    let params = Params::of(&uri);
    let (Some(client_id), Some(redirect_uri)) =
        (params.get("client_id"), params.get("redirect_uri"))
    else {
        return page(
            StatusCode::BAD_REQUEST,
            "Pedido de autorização inválido",
            "<p>Faltam client_id e redirect_uri.</p>",
        );
    };
    if let Err(e) = state.oauth.check_client(client_id, redirect_uri) {
        return page(
            StatusCode::BAD_REQUEST,
            "Pedido de autorização inválido",
            &format!("<p>{}</p>", escape_html(&e.to_string())),
        );
    }
    let client_state = params.get("state");
    if params.get("response_type") != Some("code") {
        return redirect(
            redirect_uri,
            &[
                ("error", Some("unsupported_response_type")),
                ("state", client_state),
            ],
        );
    }
    let Some(user_id) = params.get("user_id") else {
        return choose_user(&state, client_id, redirect_uri, client_state);
    };
    match state
        .oauth
        .authorize(&state.crm, client_id, redirect_uri, user_id)
    {
        Ok(code) => {
            tracing::info!(client_id, user_id, "authorization code issued");
            redirect(
                redirect_uri,
                &[("code", Some(&code)), ("state", client_state)],
            )
        }
        Err(e) => page(
            StatusCode::BAD_REQUEST,
            "Pedido de autorização inválido",
            &format!("<p>{}</p>", escape_html(&e.to_string())),
        ),
    }
}

fn choose_user(
    state: &AppState,
    client_id: &str,
    redirect_uri: &str,
    client_state: Option<&str>,
) -> Response {
    let mut list = String::new();
    for tenant in &state.crm.seed().tenants {
        list.push_str(&format!("<h2>{}</h2>\n<ul>\n", escape_html(&tenant.name)));
        for user in tenant.users.iter().filter(|u| u.active) {
            let mut href = format!(
                "/oauth2/authorize?response_type=code&client_id={}&redirect_uri={}&user_id={}",
                encode(client_id),
                encode(redirect_uri),
                encode(&user.id)
            );
            if let Some(s) = client_state {
                href.push_str(&format!("&state={}", encode(s)));
            }
            list.push_str(&format!(
                "<li><a href=\"{}\">{} &lt;{}&gt;</a></li>\n",
                escape_html(&href),
                escape_html(&user.name),
                escape_html(&user.email)
            ));
        }
        list.push_str("</ul>\n");
    }
    let body = format!(
        "<p>A aplicação <strong>{}</strong> quer acessar o RD Station CRM. Entrar como:</p>\n{list}",
        escape_html(client_id)
    );
    page(StatusCode::OK, "Autorizar aplicação", &body)
}

fn redirect(to: &str, pairs: &[(&str, Option<&str>)]) -> Response {
    let query: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(v))))
        .collect();
    let separator = if to.contains('?') { '&' } else { '?' };
    let location = format!("{to}{separator}{}", query.join("&"));
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"pt-BR\">\n<head><meta charset=\"utf-8\"><title>{title} - RD Station (stand-in)</title></head>\n\
         <body>\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
    );
    (status, Html(html)).into_response()
}
