//! One browser port's session: answers requests, keeps what the popup needs
//! (the backend's state, the live call) and pushes events when they change.
//!
//! The backend client is built on first need from `host.toml` and the token
//! in the credential store, and forgotten when the backend refuses the token,
//! so a `disca-host login` done while the port is open takes effect without
//! restarting the browser.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use disca_protocol::Call;
use disca_protocol::api::CreateCallRequest;
use disca_protocol::native::{
    BackendState, CallStart, HostError, HostMessage, Request, RequestBody, Status,
};
use tokio::sync::mpsc::UnboundedSender;
use zeroize::Zeroizing;

use crate::backend::{BackendClient, BackendError, BackendUrl, not_logged_in};
use crate::config::{HostConfig, Login, Paths};
use crate::credentials::CredentialStore;

/// Two identical clicks closer than this are one call (same Idempotency-Key).
const DOUBLE_CLICK_WINDOW: Duration = Duration::from_secs(3);

/// Calls listed by `calls.recent` without a `limit`.
const DEFAULT_RECENT: u32 = 10;

/// What the session sends to the browser, in order.
pub type Outbox = UnboundedSender<HostMessage>;

pub struct Session {
    paths: Paths,
    outbox: Outbox,
    /// The backend client, once built; `None` until first need or after the
    /// token was refused.
    client: tokio::sync::Mutex<Option<(Login, BackendClient)>>,
    state: Mutex<LinkState>,
    recent_starts: Mutex<Vec<RecentStart>>,
}

struct LinkState {
    login: Option<Login>,
    backend: BackendState,
    /// The backend refused the token (or the store has none): until a new
    /// login, nothing will work.
    auth_failed: bool,
    live_call: Option<Call>,
}

/// A `call.start` recently sent, for double-click detection.
struct RecentStart {
    fingerprint: String,
    key: String,
    at: Instant,
    call_id: Option<String>,
}

impl Session {
    pub fn new(paths: Paths, config: &HostConfig, outbox: Outbox) -> Session {
        Session {
            paths,
            outbox,
            client: tokio::sync::Mutex::new(None),
            state: Mutex::new(LinkState {
                backend: if config.login.is_some() {
                    BackendState::Connecting
                } else {
                    BackendState::NotConfigured
                },
                login: config.login.clone(),
                auth_failed: false,
                live_call: None,
            }),
            recent_starts: Mutex::new(Vec::new()),
        }
    }

    pub fn is_logged_in(&self) -> bool {
        let state = self.state();
        state.login.is_some() && !state.auth_failed
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn send(&self, message: HostMessage) {
        // Only fails once the writer is gone, i.e. the browser closed the port.
        let _ = self.outbox.send(message);
    }

    /// Answers one request.
    pub async fn handle(&self, request: Request) {
        let id = request.id;
        let reply = match request.body {
            RequestBody::StatusGet => Ok(HostMessage::Status {
                id: id.clone(),
                status: Box::new(self.status()),
            }),
            RequestBody::CallStart(start) => {
                self.start_call(start)
                    .await
                    .map(|call| HostMessage::CallStarted {
                        id: id.clone(),
                        call,
                    })
            }
            RequestBody::CallHangup(hangup) => self
                .with_client(|client| async move { client.hangup(&hangup.call_id).await })
                .await
                .map(|call| HostMessage::HangupRequested {
                    id: id.clone(),
                    call,
                }),
            RequestBody::CallsRecent(recent) => {
                let limit = recent.limit.unwrap_or(DEFAULT_RECENT);
                self.with_client(|client| async move { client.recent_calls(limit).await })
                    .await
                    .map(|calls| HostMessage::RecentCalls {
                        id: id.clone(),
                        calls,
                    })
            }
        };
        self.send(reply.unwrap_or_else(|error| HostMessage::Error {
            id: Some(id),
            error,
        }));
    }

    pub fn status(&self) -> Status {
        let state = self.state();
        Status {
            host_version: env!("CARGO_PKG_VERSION").to_owned(),
            logged_in: state.login.is_some() && !state.auth_failed,
            user: state.login.as_ref().map(|l| l.user.clone()),
            backend_url: state.login.as_ref().map(|l| l.backend_url.clone()),
            backend: state.backend,
            credential_store: state
                .login
                .as_ref()
                .map(|l| l.credential_store.as_str().to_owned()),
            live_call: state.live_call.clone(),
        }
    }

    async fn start_call(&self, start: CallStart) -> Result<Call, HostError> {
        let (key, fingerprint) = self.idempotency_key(&start);
        let request = CreateCallRequest {
            to: start.number,
            context: start.context,
        };
        let call = self
            .with_client(|client| {
                let request = &request;
                let key = &key;
                async move { client.start_call(request, key).await }
            })
            .await?;
        let mut starts = self.recent_starts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = starts.iter_mut().find(|s| s.fingerprint == fingerprint) {
            s.call_id = Some(call.id.clone());
        }
        drop(starts);
        if call.is_live() {
            self.state().live_call = Some(call.clone());
        }
        Ok(call)
    }

    /// The same key for the same click repeated within
    /// [`DOUBLE_CLICK_WINDOW`], unless that call has already ended.
    fn idempotency_key(&self, start: &CallStart) -> (String, String) {
        let fingerprint = serde_json::to_string(start).unwrap_or_default();
        let mut starts = self.recent_starts.lock().unwrap_or_else(|p| p.into_inner());
        starts.retain(|s| s.at.elapsed() < DOUBLE_CLICK_WINDOW);
        if let Some(s) = starts.iter().find(|s| s.fingerprint == fingerprint) {
            return (s.key.clone(), fingerprint);
        }
        let key = uuid::Uuid::new_v4().to_string();
        starts.push(RecentStart {
            fingerprint: fingerprint.clone(),
            key: key.clone(),
            at: Instant::now(),
            call_id: None,
        });
        (key, fingerprint)
    }

    /// Runs `f` with the backend client, keeping the backend's state and the
    /// login state up to date from its outcome.
    pub async fn with_client<T, F, Fut>(&self, f: F) -> Result<T, HostError>
    where
        F: FnOnce(BackendClient) -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        let client = self.client().await?;
        let outcome = f(client).await;
        match &outcome {
            Ok(_) | Err(BackendError::Api { .. }) => self.set_reachable(),
            Err(BackendError::Unauthorized) => self.token_refused().await,
            Err(BackendError::Unreachable(detail)) => self.set_unreachable(detail),
        }
        outcome.map_err(|e| e.to_host_error())
    }

    /// The backend client, built from `host.toml` and the credential store
    /// on first need.
    pub async fn client(&self) -> Result<BackendClient, HostError> {
        let mut cached = self.client.lock().await;
        if let Some((_, client)) = cached.as_ref() {
            return Ok(client.clone());
        }
        let config = HostConfig::load(&self.paths).map_err(|e| {
            tracing::error!(error = %e, "cannot read the host settings");
            not_logged_in()
        })?;
        let Some(login) = config.login else {
            self.auth_failed(None);
            return Err(not_logged_in());
        };
        // The store (D-Bus or a system call) and the TLS set-up (the
        // system's root certificates) block: off the runtime's thread, so
        // requests like status.get are answered meanwhile.
        let store = CredentialStore::new(login.credential_store);
        let backend_url = login.backend_url.clone();
        let built =
            tokio::task::spawn_blocking(move || -> Result<Option<BackendClient>, HostError> {
                let token: Option<Zeroizing<String>> = store.load(&backend_url).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot read the token from the credential store");
                None
            });
                let Some(token) = token else {
                    return Ok(None);
                };
                let url = BackendUrl::parse(&backend_url).map_err(|e| {
                    tracing::error!(error = %e, "bad backend URL in the host settings");
                    not_logged_in()
                })?;
                BackendClient::new(url, &token)
                    .map(Some)
                    .map_err(|e| e.to_host_error())
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "credential store task failed");
                not_logged_in()
            })?;
        let Some(client) = built? else {
            self.auth_failed(Some(login));
            return Err(not_logged_in());
        };
        {
            let mut state = self.state();
            state.login = Some(login.clone());
            state.auth_failed = false;
        }
        *cached = Some((login, client.clone()));
        Ok(client)
    }

    /// The backend refused the token: forget the client (the next use reads
    /// the store again) and tell the extension.
    pub async fn token_refused(&self) {
        let login = self.client.lock().await.take().map(|(login, _)| login);
        self.auth_failed(login.or_else(|| self.state().login.clone()));
    }

    fn auth_failed(&self, login: Option<Login>) {
        let newly = {
            let mut state = self.state();
            let newly = !state.auth_failed;
            state.auth_failed = true;
            state.login = login;
            newly
        };
        if newly {
            tracing::warn!("no usable token: the extension is told to log in");
            self.send(HostMessage::AuthRequired {
                message: not_logged_in().message,
            });
        }
    }

    pub fn set_reachable(&self) {
        let changed = {
            let mut state = self.state();
            let changed = state.backend != BackendState::Reachable;
            state.backend = BackendState::Reachable;
            changed
        };
        if changed {
            tracing::info!("backend reachable");
            self.send(HostMessage::BackendReachable);
        }
    }

    pub fn set_unreachable(&self, detail: &str) {
        let changed = {
            let mut state = self.state();
            let changed = state.backend != BackendState::Unreachable;
            state.backend = BackendState::Unreachable;
            changed
        };
        if changed {
            tracing::warn!(detail, "backend unreachable");
            self.send(HostMessage::BackendUnreachable {
                message: BackendError::Unreachable(String::new())
                    .to_host_error()
                    .message,
            });
        }
    }

    /// A call of the user's changed: remember it if live, and relay it.
    pub fn call_updated(&self, call: Call) {
        {
            let mut state = self.state();
            if call.is_live() {
                state.live_call = Some(call.clone());
            } else if state.live_call.as_ref().is_some_and(|c| c.id == call.id) {
                state.live_call = None;
            }
        }
        if !call.is_live() {
            // A new click on the same number is a new call.
            self.recent_starts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|s| s.call_id.as_deref() != Some(call.id.as_str()));
        }
        self.send(HostMessage::CallUpdate {
            call: Box::new(call),
        });
    }
}
