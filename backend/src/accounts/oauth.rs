//! The OAuth 2.0 authorization code flow with PKCE for disca-host, a native
//! app (RFC 8252): the host listens once on `http://127.0.0.1:<port>/callback`,
//! has the browser open `/oauth/authorize` (this backend's sign-in page),
//! and exchanges the code it receives, with its PKCE verifier, at
//! `/oauth/token` for a device token it keeps in the OS keyring.
//!
//! Rules: one client (`disca-host`, public: no secret); the redirect URI is
//! a loopback `127.0.0.1` address, any port, path `/callback`, and nothing
//! else (errors about it are shown, never redirected); PKCE S256 only; a
//! code lives [`CODE_LIFETIME`] and works once (a replay with the right
//! verifier revokes the token it gave).

use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Form, Json};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use disca_protocol::Me;
use disca_protocol::api::{
    OAUTH_CALLBACK_PATH, OAUTH_CLIENT_ID, OAuthError, OAuthErrorCode, TokenResponse,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{from_page, pages, sign_in};
use crate::api::{ApiError, AppState, CurrentToken};
use crate::auth::{hash_token, issue_token, random_secret};
use crate::storage::{CodeError, NewOAuthCode, OAuthCode, StoreError};

/// How long an authorization code can be exchanged.
pub const CODE_LIFETIME: time::Duration = time::Duration::seconds(60);
/// Longest `state` accepted (the host sends 43 characters).
const MAX_STATE_LEN: usize = 256;
/// Longest device name kept with a token.
const MAX_DEVICE_NAME: usize = 64;

/// The authorization request's parameters (the query of the page, the body
/// of its form's post).
#[derive(Debug, Deserialize)]
pub struct AuthorizeParams {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: String,
    code_challenge_method: String,
}

impl AuthorizeParams {
    /// Why the request cannot be served, if it cannot.
    fn check(&self) -> Result<(), ApiError> {
        let problem = if self.client_id != OAUTH_CLIENT_ID {
            Some("cliente desconhecido")
        } else if !is_loopback_redirect(&self.redirect_uri) {
            Some("endereço de retorno não permitido")
        } else if self.response_type != "code" {
            Some("response_type deve ser code")
        } else if self.code_challenge_method != "S256" {
            Some("code_challenge_method deve ser S256")
        } else if !is_challenge(&self.code_challenge) {
            Some("code_challenge inválido")
        } else if self.state.is_empty()
            || self.state.len() > MAX_STATE_LEN
            || !self.state.bytes().all(is_unreserved)
        {
            Some("state inválido")
        } else {
            None
        };
        problem.map_or(Ok(()), |p| Err(ApiError::invalid_authorization_request(p)))
    }
}

/// `GET /oauth/authorize`: the sign-in page, when the request is valid.
pub async fn authorize_page(
    params: Result<Query<AuthorizeParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let checked = params
        .map_err(|_| ApiError::invalid_authorization_request("parâmetros ausentes"))
        .and_then(|Query(p)| p.check());
    match checked {
        Ok(()) => Html(pages::SIGN_IN_HTML).into_response(),
        Err(e) => {
            let status = e.status();
            (status, Html(pages::error_page(e.message()))).into_response()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeForm {
    email: String,
    password: Zeroizing<String>,
    #[serde(flatten)]
    params: AuthorizeParamsFields,
}

/// [`AuthorizeParams`] as the page posts them (flattened, so every field).
#[derive(Deserialize)]
pub struct AuthorizeParamsFields {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: String,
    code_challenge_method: String,
}

/// Where the page sends the browser after signing in.
#[derive(Serialize)]
pub struct Authorized {
    redirect: String,
}

/// `POST /oauth/authorize`: the page's sign-in; answers the redirect to the
/// host's listener with a fresh code.
pub async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<AuthorizeForm>, JsonRejection>,
) -> Result<Json<Authorized>, ApiError> {
    from_page(&headers)?;
    let Json(form) = body.map_err(|_| {
        ApiError::malformed("o corpo deve ter email, password e os parâmetros do pedido")
    })?;
    let f = form.params;
    let params = AuthorizeParams {
        response_type: f.response_type,
        client_id: f.client_id,
        redirect_uri: f.redirect_uri,
        state: f.state,
        code_challenge: f.code_challenge,
        code_challenge_method: f.code_challenge_method,
    };
    params.check()?;
    let user = sign_in::sign_in(&state.accounts, &state.store, &form.email, form.password).await?;
    let code = random_secret();
    state
        .store
        .add_oauth_code(NewOAuthCode {
            code_hash: &hash_token(&code),
            user_id: &user.id,
            client_id: &params.client_id,
            redirect_uri: &params.redirect_uri,
            challenge: &params.code_challenge,
            expires_at: OffsetDateTime::now_utc() + CODE_LIFETIME,
        })
        .await?;
    tracing::info!(user_id = %user.id, "signed in for a host; code issued");
    // Code and state are hex and unreserved characters: nothing to escape.
    Ok(Json(Authorized {
        redirect: format!("{}?code={code}&state={}", params.redirect_uri, params.state),
    }))
}

/// `POST /oauth/token`'s form.
#[derive(Deserialize)]
pub struct TokenRequest {
    grant_type: String,
    code: String,
    redirect_uri: String,
    client_id: String,
    code_verifier: Zeroizing<String>,
    /// The host's name for itself (the computer's), shown in token lists.
    #[serde(default)]
    device_name: Option<String>,
}

/// `POST /oauth/token`: code + verifier → a device token (RFC 6749
/// section 4.1.3, RFC 7636 section 4.5).
pub async fn token(
    State(state): State<AppState>,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Response {
    let Ok(Form(request)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            "pedido malformado: grant_type, code, redirect_uri, client_id e code_verifier são obrigatórios",
        );
    };
    if request.grant_type != "authorization_code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::UnsupportedGrantType,
            "só authorization_code",
        );
    }
    if request.client_id != OAUTH_CLIENT_ID {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            OAuthErrorCode::InvalidClient,
            "cliente desconhecido",
        );
    }
    if request.code.len() != 64 || !request.code.bytes().all(|b| b.is_ascii_hexdigit()) {
        return invalid_grant();
    }
    let label = device_label(request.device_name.as_deref());
    let issued = issue_token();
    let verifier = request.code_verifier;
    let redirect_uri = request.redirect_uri;
    let matches = |code: &OAuthCode| {
        code.client_id == OAUTH_CLIENT_ID
            && code.redirect_uri == redirect_uri
            && pkce_matches(&verifier, &code.challenge)
    };
    let outcome = state
        .store
        .exchange_oauth_code(
            &hash_token(&request.code),
            matches,
            &label,
            &issued.hash,
            OffsetDateTime::now_utc(),
        )
        .await;
    match outcome {
        Ok(user) => {
            tracing::info!(user_id = %user.id, device = %label, "device token issued");

            let body = TokenResponse {
                access_token: issued.secret,
                token_type: "Bearer".into(),
                user: Me::from(user),
            };
            (
                [
                    (header::CACHE_CONTROL, "no-store"),
                    (header::PRAGMA, "no-cache"),
                ],
                Json(body),
            )
                .into_response()
        }
        Err(CodeError::Reused) => {
            state.revocations.forget_now();
            tracing::warn!("an authorization code was used twice; its token is revoked");
            invalid_grant()
        }
        Err(CodeError::Disabled) => oauth_error(
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidGrant,
            "sua conta no Disca está desativada",
        ),
        Err(CodeError::Unknown | CodeError::Expired | CodeError::Mismatch) => invalid_grant(),
        Err(CodeError::Store(e)) => {
            tracing::error!(error = %e, "cannot exchange an authorization code");
            let status = match e {
                StoreError::DiskFull | StoreError::Busy | StoreError::Unavailable(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            oauth_error(
                status,
                OAuthErrorCode::TemporarilyUnavailable,
                "o servidor não conseguiu concluir a entrada agora; tente de novo",
            )
        }
    }
}

/// `POST /v1/auth/sign-out`: revokes the token the request carries.
pub async fn sign_out(
    State(state): State<AppState>,
    CurrentToken { hash, user }: CurrentToken,
) -> Result<StatusCode, ApiError> {
    state.store.revoke_token_by_hash(&hash).await?;
    state.revocations.forget_now();
    tracing::info!(user_id = %user.id, "signed out; token revoked");
    Ok(StatusCode::NO_CONTENT)
}

fn invalid_grant() -> Response {
    oauth_error(
        StatusCode::BAD_REQUEST,
        OAuthErrorCode::InvalidGrant,
        "o código de entrada não vale (expirou, já foi usado ou não é deste computador); clique em \"Entrar\" de novo",
    )
}

fn oauth_error(status: StatusCode, error: OAuthErrorCode, description: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(OAuthError {
            error,
            error_description: description.to_owned(),
        }),
    )
        .into_response()
}

/// `BASE64URL(SHA256(verifier)) == challenge`, the verifier being 43 to 128
/// unreserved characters (RFC 7636 section 4.1).
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len()) && verifier.bytes().all(is_unreserved);
    well_formed && URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == challenge
}

/// A S256 challenge: 43 base64url characters (32 bytes).
fn is_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `http://127.0.0.1:<port>/callback`, the port a number from 1 to 65535.
fn is_loopback_redirect(uri: &str) -> bool {
    uri.strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix(OAUTH_CALLBACK_PATH))
        .is_some_and(|port| {
            !port.is_empty()
                && port.len() <= 5
                && !port.starts_with('0')
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        })
}

/// The device name as kept: printable, short, or a default.
fn device_label(name: Option<&str>) -> String {
    let cleaned: String = name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DEVICE_NAME)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        "disca-host".into()
    } else {
        format!("disca-host em {cleaned}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_follows_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(is_challenge(challenge));
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            challenge
        ));
        assert!(!pkce_matches("short", challenge));
        assert!(!pkce_matches(&format!("{verifier} "), challenge));
    }

    #[test]
    fn only_loopback_callbacks_are_redirect_uris() {
        assert!(is_loopback_redirect("http://127.0.0.1:49152/callback"));
        assert!(is_loopback_redirect("http://127.0.0.1:1/callback"));
        for bad in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:0/callback",
            "http://127.0.0.1:65536/callback",
            "http://127.0.0.1:080/callback",
            "http://127.0.0.1:8080/callback/x",
            "http://127.0.0.1:8080/other",
            "http://127.0.0.1:8080@evil.example/callback",
            "https://127.0.0.1:8080/callback",
            "http://localhost:8080/callback",
            "http://127.0.0.2:8080/callback",
            "http://evil.example/callback",
        ] {
            assert!(!is_loopback_redirect(bad), "{bad}");
        }
    }

    #[test]
    fn device_labels_are_short_and_printable() {
        assert_eq!(device_label(None), "disca-host");
        assert_eq!(device_label(Some("  ")), "disca-host");
        assert_eq!(device_label(Some("note-ana\n")), "disca-host em note-ana");
        assert_eq!(device_label(Some(&"x".repeat(500))).len(), 64 + 14);
    }
}
