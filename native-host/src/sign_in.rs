//! Signing in from the popup: the OAuth 2.0 authorization code flow for
//! native apps (RFC 8252) with PKCE (RFC 7636, S256).
//!
//! [`begin`] binds a one-shot listener on `127.0.0.1` (a port the system
//! picks) and builds the backend's authorize URL, which the extension opens
//! in a tab; [`Pending::finish`] waits for the browser's redirect to
//! `http://127.0.0.1:<port>/callback?code=…&state=…` (requests with another
//! path or state are answered and ignored), exchanges the code with the
//! verifier, which never left this process, and [`keep`] stores the device
//! token in the OS credential store and the login in `host.toml`.
//!
//! The listener's request parsing is `httparse` (what hyper uses) on a
//! plain socket: one GET, head only, bounded in size and time — a whole
//! HTTP server would cost the host's start-up for a request a sign-in
//! makes once.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use disca_protocol::Me;
use disca_protocol::api::{
    OAUTH_AUTHORIZE_PATH, OAUTH_CALLBACK_PATH, OAUTH_CLIENT_ID, OAUTH_TOKEN_PATH, OAuthError,
    TokenResponse,
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use zeroize::Zeroizing;

use crate::backend::BackendUrl;
use crate::config::{ConfigError, HostConfig, Login, Paths};
use crate::credentials::{CredentialError, CredentialStore};

/// How long the sign-in page may stay open before the host gives up.
pub const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Longest wait for one request's head on the listener.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head read from the browser.
const MAX_HEAD: usize = 8 * 1024;
/// Longest wait for the backend's token endpoint.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a sign-in did not finish (Portuguese: shown in the popup).
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("não foi possível abrir a porta local para a entrada: {0}")]
    Listener(std::io::Error),
    #[error("a página de entrada ficou aberta tempo demais; clique em Entrar de novo")]
    TimedOut,
    #[error("a entrada foi recusada: {0}")]
    Refused(String),
    #[error("não foi possível falar com o servidor do Disca ({0})")]
    Unreachable(String),
    #[error("não foi possível guardar o token no chaveiro do sistema: {0}")]
    Store(#[from] CredentialError),
    #[error("o chaveiro do sistema não respondeu (está bloqueado?)")]
    StoreTimedOut,
    #[error("não foi possível salvar as configurações do disca-host: {0}")]
    Config(#[from] ConfigError),
}

/// A sign-in under way: the listener and the secrets of this attempt.
pub struct Pending {
    listener: TcpListener,
    base: BackendUrl,
    redirect_uri: String,
    state: String,
    verifier: Zeroizing<String>,
    /// The page to open.
    pub authorize_url: String,
}

/// Starts a sign-in to `base`.
pub async fn begin(base: BackendUrl) -> Result<Pending, SignInError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(SignInError::Listener)?;
    let port = listener.local_addr().map_err(SignInError::Listener)?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}{OAUTH_CALLBACK_PATH}");
    let verifier = Zeroizing::new(random_urlsafe(32));
    let state = random_urlsafe(16);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut url = base.join(OAUTH_AUTHORIZE_PATH);
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", OAUTH_CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(Pending {
        listener,
        base,
        redirect_uri,
        state,
        verifier,
        authorize_url: url.to_string(),
    })
}

impl Pending {
    /// Waits (up to [`SIGN_IN_TIMEOUT`]) for the browser to come back with
    /// a code, and exchanges it for a device token.
    pub async fn finish(self) -> Result<(BackendUrl, TokenResponse), SignInError> {
        let code = tokio::time::timeout(SIGN_IN_TIMEOUT, self.callback())
            .await
            .map_err(|_| SignInError::TimedOut)??;
        // The listener closes here: the port served one sign-in.
        let token = exchange(
            &self.base,
            &code,
            &self.redirect_uri,
            &self.verifier,
            &device_name(),
        )
        .await?;
        Ok((self.base, token))
    }

    /// The code of the first request to the callback with this sign-in's
    /// state.
    async fn callback(&self) -> Result<Zeroizing<String>, SignInError> {
        loop {
            let (mut socket, _) = self
                .listener
                .accept()
                .await
                .map_err(SignInError::Listener)?;
            let target = match tokio::time::timeout(REQUEST_TIMEOUT, read_target(&mut socket)).await
            {
                Ok(Some(target)) => target,
                _ => {
                    respond(&mut socket, "400 Bad Request", PAGE_UNKNOWN).await;
                    continue;
                }
            };
            let Ok(url) = url::Url::parse(&format!("http://127.0.0.1{target}")) else {
                respond(&mut socket, "400 Bad Request", PAGE_UNKNOWN).await;
                continue;
            };
            if url.path() != OAUTH_CALLBACK_PATH {
                respond(&mut socket, "404 Not Found", PAGE_UNKNOWN).await;
                continue;
            }
            let query = |name: &str| {
                url.query_pairs()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.into_owned())
            };
            if query("state").as_deref() != Some(self.state.as_str()) {
                tracing::warn!("a request to the sign-in listener with another state; ignored");
                respond(&mut socket, "400 Bad Request", PAGE_UNKNOWN).await;
                continue;
            }
            if let Some(error) = query("error") {
                respond(&mut socket, "200 OK", PAGE_FAILED).await;
                return Err(SignInError::Refused(error));
            }
            let Some(code) = query("code") else {
                respond(&mut socket, "400 Bad Request", PAGE_UNKNOWN).await;
                continue;
            };
            respond(&mut socket, "200 OK", PAGE_DONE).await;
            return Ok(Zeroizing::new(code));
        }
    }
}

/// Keeps `token` for `base` in the credential store (the platform's, the
/// one detected on Linux) and the login in `host.toml`, removing the
/// previous login's token.
pub fn keep(
    paths: &Paths,
    base: &BackendUrl,
    token: &str,
    user: Me,
    store: CredentialStore,
) -> Result<(), SignInError> {
    let mut config = HostConfig::load(paths)?;
    store.save(base.as_str(), token)?;
    if let Some(old) = &config.login
        && (old.backend_url != base.as_str() || old.credential_store != store.kind())
    {
        // The previous token must not linger where nobody will look for it.
        let _ = CredentialStore::new(old.credential_store).delete(&old.backend_url);
    }
    config.login = Some(Login {
        backend_url: base.as_str().to_owned(),
        credential_store: store.kind(),
        user,
    });
    config.backend_url = Some(base.as_str().to_owned());
    config.save(paths)?;
    Ok(())
}

/// `POST /oauth/token`: the code and verifier for a device token.
async fn exchange(
    base: &BackendUrl,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
    device: &str,
) -> Result<TokenResponse, SignInError> {
    let http = reqwest::Client::builder()
        .timeout(EXCHANGE_TIMEOUT)
        .user_agent(concat!("disca-host/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SignInError::Unreachable(e.to_string()))?;
    let response = http
        .post(base.join(OAUTH_TOKEN_PATH))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", OAUTH_CLIENT_ID),
            ("code_verifier", verifier),
            ("device_name", device),
        ])
        .send()
        .await
        .map_err(|e| SignInError::Unreachable(e.without_url().to_string()))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| SignInError::Unreachable(e.without_url().to_string()))?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .map_err(|_| SignInError::Unreachable("resposta inesperada do servidor".into()));
    }
    match serde_json::from_slice::<OAuthError>(&body) {
        Ok(e) => Err(SignInError::Refused(e.error_description)),
        Err(_) => Err(SignInError::Unreachable(format!(
            "o servidor respondeu {status}"
        ))),
    }
}

/// The request target of the head the browser sends, if it is a GET.
async fn read_target(socket: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                return (request.method == Some("GET"))
                    .then(|| request.path.map(str::to_owned))
                    .flatten();
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => {}
            _ => return None,
        }
    }
}

async fn respond(socket: &mut TcpStream, status: &str, page: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nreferrer-policy: no-referrer\r\n\
         content-security-policy: default-src 'none'\r\nconnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, socket.write_all(response.as_bytes())).await;
    let _ = socket.shutdown().await;
}

const PAGE_DONE: &str = "<!doctype html><html lang=\"pt-BR\"><meta charset=\"utf-8\">\
<title>Disca · Pronto</title><body style=\"font-family:system-ui,sans-serif;margin:3em\">\
<h1>Pronto: você entrou no Disca.</h1><p>Pode fechar esta aba e voltar ao RD Station CRM.</p></body></html>";
const PAGE_FAILED: &str = "<!doctype html><html lang=\"pt-BR\"><meta charset=\"utf-8\">\
<title>Disca · Não foi possível entrar</title><body style=\"font-family:system-ui,sans-serif;margin:3em\">\
<h1>Não foi possível entrar no Disca.</h1><p>Feche esta aba e clique em Entrar de novo no Disca.</p></body></html>";
const PAGE_UNKNOWN: &str = "<!doctype html><html lang=\"pt-BR\"><meta charset=\"utf-8\">\
<title>Disca</title><body style=\"font-family:system-ui,sans-serif;margin:3em\">\
<p>Este endereço não espera este pedido. Para entrar no Disca, clique em Entrar no ícone do Disca.</p></body></html>";

/// `n` random bytes, base64url without padding (verifier: 32 bytes → 43
/// characters, the minimum RFC 7636 allows, with 256 bits of entropy).
fn random_urlsafe(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// This computer's name, for the token's label on the server.
fn device_name() -> String {
    whoami::fallible::hostname().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_listener_takes_only_its_own_callback() {
        let base = BackendUrl::parse("http://127.0.0.1:9").unwrap();
        let pending = begin(base).await.unwrap();
        let url = url::Url::parse(&pending.authorize_url).unwrap();
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.path(), OAUTH_AUTHORIZE_PATH);
        assert_eq!(pairs["client_id"], OAUTH_CLIENT_ID);
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert_eq!(pairs["code_challenge"].len(), 43);
        assert_eq!(
            pairs["code_challenge"],
            URL_SAFE_NO_PAD.encode(Sha256::digest(pending.verifier.as_bytes()))
        );
        let redirect = pairs["redirect_uri"].clone();
        let state = pairs["state"].clone();
        let get = |target: String| async move {
            let port = target
                .split(':')
                .nth(2)
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .to_owned();
            let path = target
                .splitn(4, '/')
                .nth(3)
                .map(|p| format!("/{p}"))
                .unwrap();
            let mut socket = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap()))
                .await
                .unwrap();
            socket
                .write_all(format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut answer = String::new();
            socket.read_to_string(&mut answer).await.unwrap();
            answer
        };
        let waiting = tokio::spawn(async move { pending.callback().await.map(|c| c.to_string()) });
        let base = redirect.trim_end_matches(OAUTH_CALLBACK_PATH).to_owned();
        assert!(
            get(format!("{base}/favicon.ico"))
                .await
                .starts_with("HTTP/1.1 404")
        );
        assert!(
            get(format!("{redirect}?code=abc&state=forged"))
                .await
                .starts_with("HTTP/1.1 400")
        );
        let done = get(format!("{redirect}?code=the-code&state={state}")).await;
        assert!(done.starts_with("HTTP/1.1 200"), "{done}");
        assert!(done.contains("você entrou no Disca"));
        assert_eq!(waiting.await.unwrap().unwrap(), "the-code");
    }
}
