//! The backend's HTTP API as the host uses it: rustls, timeouts, retries for
//! idempotent requests only, an `Idempotency-Key` on every call creation, and
//! backend errors mapped to replies a salesperson understands.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use disca_protocol::api::{CallPage, CreateCallRequest};
use disca_protocol::native::{ErrorCode, HostError};
use disca_protocol::phone::PhoneConfig;
use disca_protocol::report::{CallReport, Disposition, Dispositions, OtherPhones, ReportSaved};
use disca_protocol::{Call, ErrorBody, ErrorDetail, Me};
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::Stream;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use zeroize::Zeroizing;

/// Time to open a connection to the backend.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time for a whole request/response (not the event stream).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest silence on a connection: the event stream sends a keep-alive
/// every 15 s, so a stream quiet for this long is dead.
const READ_TIMEOUT: Duration = Duration::from_secs(45);
/// Pauses before the second and third attempt of an idempotent request:
/// 200 ms, then 800 ms.
const RETRIES: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(200))
    .with_factor(4.0)
    .with_max_times(2);

/// A backend address: `https://`, or `http://` on this machine only (a token
/// never travels unencrypted over a network).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendUrl(Url);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidBackendUrl(String);

impl BackendUrl {
    pub fn parse(raw: &str) -> Result<BackendUrl, InvalidBackendUrl> {
        let url = Url::parse(raw.trim())
            .map_err(|e| InvalidBackendUrl(format!("endereço do servidor inválido ({e})")))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(InvalidBackendUrl(
                    "use https:// — http:// só é aceito para um servidor nesta máquina".into(),
                ));
            }
            other => {
                return Err(InvalidBackendUrl(format!(
                    "esquema {other:?} não suportado: use https://"
                )));
            }
        }
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
            return Err(InvalidBackendUrl(
                "o endereço do servidor não pode ter usuário, senha nem parâmetros".into(),
            ));
        }
        Ok(BackendUrl(url))
    }

    /// The canonical text, without a trailing slash: the key of the token in
    /// the credential store.
    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }

    pub(crate) fn join(&self, path: &str) -> Url {
        let mut url = self.0.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url
    }
}

/// What can go wrong talking to the backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// No answer, or none that came from the Disca backend.
    #[error("backend unreachable: {0}")]
    Unreachable(String),
    /// 401: no valid token.
    #[error("token refused by the backend")]
    Unauthorized,
    /// The backend's own error.
    #[error("backend error {status}: {}", detail.code.as_str())]
    Api { status: u16, detail: ErrorDetail },
}

impl BackendError {
    /// The reply the extension gets.
    pub fn to_host_error(&self) -> HostError {
        match self {
            BackendError::Unreachable(_) => HostError {
                code: ErrorCode::BackendUnreachable,
                message: "Não foi possível falar com o servidor do Disca. Verifique sua conexão; se persistir, avise o administrador.".into(),
            },
            BackendError::Unauthorized => not_logged_in(),
            BackendError::Api { detail, .. } => HostError {
                code: detail.code.into(),
                message: detail.message.clone(),
            },
        }
    }
}

/// The reply for a host without a usable token.
pub fn not_logged_in() -> HostError {
    HostError {
        code: ErrorCode::NotLoggedIn,
        message: "Você não entrou no Disca: clique no ícone do Disca no navegador e, nele, clique em Entrar.".into(),
    }
}

/// A client for one backend with one token.
#[derive(Clone)]
pub struct BackendClient {
    http: reqwest::Client,
    base: BackendUrl,
    authorization: HeaderValue,
}

impl BackendClient {
    pub fn new(base: BackendUrl, token: &Zeroizing<String>) -> Result<BackendClient, BackendError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("disca-host/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BackendError::Unreachable(format!("cannot build the HTTP client: {e}")))?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.as_str()))
            .map_err(|_| BackendError::Unauthorized)?;
        authorization.set_sensitive(true);
        Ok(BackendClient {
            http,
            base,
            authorization,
        })
    }

    /// Revokes the token at the backend (a sign-out).
    pub async fn sign_out(&self) -> Result<(), BackendError> {
        let response = self
            .send(true, || {
                self.http
                    .post(self.base.join(disca_protocol::api::SIGN_OUT_PATH))
            })
            .await?;
        check(response).await.map(|_| ())
    }

    /// Who the token belongs to.
    pub async fn me(&self) -> Result<Me, BackendError> {
        let response = self
            .send(true, || self.http.get(self.base.join("/v1/me")))
            .await?;
        decode(response).await
    }

    /// Places a call. The key makes retries (ours, or a double click sent
    /// with the same key) return the first call instead of a second one.
    pub async fn start_call(
        &self,
        request: &CreateCallRequest,
        idempotency_key: &str,
    ) -> Result<Call, BackendError> {
        let response = self
            .send(true, || {
                self.http
                    .post(self.base.join("/v1/calls"))
                    .header("Idempotency-Key", idempotency_key)
                    .json(request)
            })
            .await?;
        decode(response).await
    }

    /// Hangs up a call (hanging up twice is harmless: idempotent).
    pub async fn hangup(&self, call_id: &str) -> Result<Call, BackendError> {
        let path = format!("/v1/calls/{call_id}/hangup");
        let response = self
            .send(true, || self.http.post(self.base.join(&path)))
            .await?;
        decode(response).await
    }

    /// Stores what the salesperson says about their ended call. Sent
    /// again, it replaces what was said (so a retry is harmless).
    pub async fn report(
        &self,
        call_id: &str,
        report: &CallReport,
    ) -> Result<ReportSaved, BackendError> {
        let path = format!("/v1/calls/{call_id}/report");
        let response = self
            .send(true, || self.http.put(self.base.join(&path)).json(report))
            .await?;
        decode(response).await
    }

    /// The other phones of the call's deal, to try after a no-answer.
    pub async fn other_phones(&self, call_id: &str) -> Result<OtherPhones, BackendError> {
        let path = format!("/v1/calls/{call_id}/other-phones");
        let response = self
            .send(true, || self.http.get(self.base.join(&path)))
            .await?;
        decode(response).await
    }

    /// The company's outcomes to choose from after a call.
    pub async fn dispositions(&self) -> Result<Vec<Disposition>, BackendError> {
        let response = self
            .send(true, || self.http.get(self.base.join("/v1/dispositions")))
            .await?;
        Ok(decode::<Dispositions>(response).await?.dispositions)
    }

    /// The user's latest calls, newest first (for a manager's token too:
    /// their own, not the team's).
    pub async fn recent_calls(&self, limit: u32, user_id: &str) -> Result<Vec<Call>, BackendError> {
        let limit = limit.to_string();
        let response = self
            .send(true, || {
                self.http
                    .get(self.base.join("/v1/calls"))
                    .query(&[("limit", limit.as_str()), ("user", user_id)])
            })
            .await?;
        Ok(decode::<CallPage>(response).await?.calls)
    }

    /// The user's phone; for a browser phone, its credentials (kept in
    /// memory only, by the host and by the extension).
    pub async fn phone(&self) -> Result<PhoneConfig, BackendError> {
        let response = self
            .send(true, || self.http.get(self.base.join("/v1/phone")))
            .await?;
        decode(response).await
    }

    /// The live event stream, resumed after `last_event_id` when given.
    pub async fn events(
        &self,
        last_event_id: Option<&str>,
    ) -> Result<
        impl Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + use<>,
        BackendError,
    > {
        let response = self
            .send(false, || {
                let request = self
                    .http
                    .get(self.base.join("/v1/events"))
                    .header("Accept", "text/event-stream");
                match last_event_id {
                    Some(id) => request.header("Last-Event-ID", id),
                    None => request,
                }
            })
            .await?;
        let response = check(response).await?;
        Ok(response.bytes_stream().eventsource())
    }

    /// Sends a request, retrying an idempotent one (with a whole-request
    /// timeout; the event stream is neither) on network errors and on gateway
    /// errors that did not come from the backend itself.
    async fn send(
        &self,
        idempotent: bool,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, BackendError> {
        let build = &build;
        let attempts = &AtomicUsize::new(0);
        let attempt = move || async move {
            let attempt = attempts.fetch_add(1, Ordering::Relaxed);
            let mut request =
                build().header(reqwest::header::AUTHORIZATION, self.authorization.clone());
            if idempotent {
                request = request.timeout(REQUEST_TIMEOUT);
            }
            match request.send().await {
                Ok(response) if is_gateway_error(&response) => {
                    tracing::warn!(status = %response.status(), attempt, "gateway error from the backend's address");
                    Err(Failure {
                        detail: format!("gateway answered {}", response.status()),
                        retryable: true,
                    })
                }
                Ok(response) => Ok(response),
                Err(e) => {
                    let detail = without_url(&e);
                    tracing::warn!(error = %detail, attempt, "backend request failed");
                    Err(Failure {
                        detail,
                        retryable: e.is_connect() || e.is_timeout() || e.is_request(),
                    })
                }
            }
        };
        attempt
            .retry(RETRIES)
            .when(|failure| idempotent && failure.retryable)
            .await
            .map_err(|failure| BackendError::Unreachable(failure.detail))
    }
}

/// Why one attempt of a request failed, and whether another may succeed.
struct Failure {
    detail: String,
    retryable: bool,
}

/// A 502/503/504 that is not a JSON error body: a proxy in front of a backend
/// that is down or restarting (the backend's own 503 is JSON and final).
fn is_gateway_error(response: &Response) -> bool {
    matches!(
        response.status(),
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    ) && !is_json(response)
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The error text without the URL (which names the backend, harmless, but
/// keeps log lines short).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<backend>");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// A success response, or the error it carries.
async fn check(response: Response) -> Result<Response, BackendError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status == StatusCode::UNAUTHORIZED {
        return Err(BackendError::Unauthorized);
    }
    let json = is_json(&response);
    let body = response.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(ErrorBody { error }) if json => Err(BackendError::Api {
            status: status.as_u16(),
            detail: error,
        }),
        _ => Err(BackendError::Unreachable(format!(
            "HTTP {status} without a Disca error body"
        ))),
    }
}

async fn decode<T: serde::de::DeserializeOwned>(response: Response) -> Result<T, BackendError> {
    let response = check(response).await?;
    let body = response
        .bytes()
        .await
        .map_err(|e| BackendError::Unreachable(without_url(&e)))?;
    serde_json::from_slice(&body)
        .map_err(|e| BackendError::Unreachable(format!("unreadable backend answer: {e}")))
}

#[cfg(test)]
mod tests {
    use backon::BackoffBuilder;

    use super::*;
    use disca_protocol::{ApiErrorCode, InvalidNumberReason};

    #[test]
    fn idempotent_requests_are_tried_twice_more_after_200_then_800_ms() {
        let pauses: Vec<u128> = RETRIES.build().map(|d| d.as_millis()).collect();
        assert_eq!(pauses, [200, 800]);
    }

    #[test]
    fn backend_urls_must_be_encrypted_unless_local() {
        for ok in [
            "https://disca.example.com",
            "https://disca.example.com/base/",
            "http://127.0.0.1:8080",
            "http://localhost:8080/",
            "http://[::1]:8080",
        ] {
            assert!(BackendUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://disca.example.com",
            "ftp://disca.example.com",
            "disca.example.com",
            "https://user:pw@disca.example.com",
            "https://disca.example.com/?token=x",
        ] {
            assert!(BackendUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_join_under_the_base() {
        let url = BackendUrl::parse("https://example.com/disca/").unwrap();
        assert_eq!(url.as_str(), "https://example.com/disca");
        assert_eq!(
            url.join("/v1/me").as_str(),
            "https://example.com/disca/v1/me"
        );
        let root = BackendUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            root.join("/v1/calls").as_str(),
            "http://127.0.0.1:8080/v1/calls"
        );
    }

    #[test]
    fn backend_codes_become_host_codes_with_the_backend_message() {
        let e = BackendError::Api {
            status: 422,
            detail: ErrorDetail {
                code: ApiErrorCode::InvalidNumber,
                message: "Número inválido: faltou o DDD.".into(),
                reason: Some(InvalidNumberReason::MissingAreaCode),
            },
        };
        let reply = e.to_host_error();
        assert_eq!(reply.code, ErrorCode::InvalidNumber);
        assert_eq!(reply.message, "Número inválido: faltou o DDD.");
        assert_eq!(
            BackendError::Unauthorized.to_host_error().code,
            ErrorCode::NotLoggedIn
        );
        assert_eq!(
            BackendError::Unreachable("x".into()).to_host_error().code,
            ErrorCode::BackendUnreachable
        );
    }
}
