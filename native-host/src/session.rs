//! One browser port's session: answers requests, keeps what the popup needs
//! (the backend's state, the live call) and pushes events when they change.
//!
//! The login is re-read from `host.toml` on every use (a small file): a
//! `logout` or a `login` as someone else, made while the port is open, takes
//! effect at once. The backend client is built on first need from the token
//! in the credential store and dropped when the login changes or the backend
//! refuses the token; a refused token is not tried again until the store
//! holds another one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use disca_protocol::api::CreateCallRequest;
use disca_protocol::native::{
    BackendState, CallStart, ErrorCode, HostError, HostMessage, Request, RequestBody, Status,
};
use disca_protocol::{Call, Me};
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;
use tracing::Instrument;
use zeroize::Zeroizing;

use crate::backend::{BackendClient, BackendError, BackendUrl, not_logged_in};
use crate::config::{HostConfig, Login, Paths};
use crate::credentials::CredentialStore;
use crate::sign_in::{self, SignInError};

/// Two identical clicks closer than this are one call (same Idempotency-Key).
const DOUBLE_CLICK_WINDOW: Duration = Duration::from_secs(3);

/// Calls listed by `calls.recent` without a `limit`.
const DEFAULT_RECENT: u32 = 10;

/// Longest wait for the credential store (a locked Secret Service may show an
/// unlock prompt nobody answers).
const STORE_TIMEOUT: Duration = Duration::from_secs(20);

/// Ended calls remembered, so a late reply cannot bring one back to life.
const ENDED_REMEMBERED: usize = 32;

/// What the session sends to the browser, in order.
pub type Outbox = UnboundedSender<HostMessage>;

pub struct Session {
    paths: Paths,
    outbox: Outbox,
    /// The backend client for the current login, once built.
    client: tokio::sync::Mutex<Option<Cached>>,
    state: Mutex<LinkState>,
    recent_starts: Mutex<Vec<RecentStart>>,
    /// Bumped whenever the login changes: the relay starts over.
    generation: watch::Sender<u64>,
    /// The sign-in under way, if any.
    sign_in_task: Mutex<Option<tokio::task::AbortHandle>>,
    /// The company's address from the machine's settings, if IT set one.
    preset_url: Option<String>,
}

struct Cached {
    token: Zeroizing<String>,
    client: BackendClient,
}

struct LinkState {
    login: Option<Login>,
    backend: BackendState,
    /// No usable token (none stored, or refused): until a new login,
    /// nothing works, and the extension was told.
    auth_failed: bool,
    /// The token the backend refused.
    refused: Option<Zeroizing<String>>,
    live_call: Option<Call>,
    /// Ids of the latest calls seen ended.
    ended: VecDeque<String>,
    /// The company's address used last (kept after a sign-out).
    remembered_url: Option<String>,
}

/// A `call.start` recently sent, for double-click detection.
struct RecentStart {
    fingerprint: String,
    key: String,
    at: Instant,
    call_id: Option<String>,
}

fn same_login(a: Option<&Login>, b: Option<&Login>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.backend_url == b.backend_url
                && a.credential_store == b.credential_store
                && a.user.id == b.user.id
        }
        _ => false,
    }
}

fn store_unavailable() -> HostError {
    HostError {
        code: ErrorCode::CredentialStoreUnavailable,
        message: "Não foi possível ler seu token no chaveiro do sistema (ele está bloqueado?). Desbloqueie o chaveiro e tente de novo; se continuar, rode: disca-host status".into(),
    }
}

impl Session {
    /// A session for `config`'s login; `preset_url` is the company's
    /// address the machine's installer set, if any.
    pub fn new(
        paths: Paths,
        config: &HostConfig,
        preset_url: Option<String>,
        outbox: Outbox,
    ) -> Session {
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
                refused: None,
                live_call: None,
                ended: VecDeque::new(),
                remembered_url: config
                    .backend_url
                    .clone()
                    .or_else(|| config.login.as_ref().map(|l| l.backend_url.clone()))
                    .or_else(|| preset_url.clone()),
            }),
            preset_url,
            sign_in_task: Mutex::new(None),
            recent_starts: Mutex::new(Vec::new()),
            generation: watch::Sender::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn send(&self, message: HostMessage) {
        // Only fails once the writer is gone, i.e. the browser closed the port.
        let _ = self.outbox.send(message);
    }

    /// Changes of login, for the relay.
    pub fn login_changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The login in `host.toml`, applied to the session when it changed.
    pub async fn refresh_login(&self) -> Option<Login> {
        let current = match HostConfig::load(&self.paths) {
            Ok(config) => {
                self.state().remembered_url = config
                    .backend_url
                    .or_else(|| config.login.as_ref().map(|l| l.backend_url.clone()))
                    .or_else(|| self.preset_url.clone());
                config.login
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the host settings; keeping the current login");
                return self.state().login.clone();
            }
        };
        if same_login(self.state().login.as_ref(), current.as_ref()) {
            return current;
        }
        tracing::info!(logged_in = current.is_some(), "the login changed");
        *self.client.lock().await = None;
        {
            let mut state = self.state();
            state.login = current.clone();
            state.auth_failed = false;
            state.refused = None;
            state.live_call = None;
            state.backend = if current.is_some() {
                BackendState::Connecting
            } else {
                BackendState::NotConfigured
            };
        }
        self.generation.send_modify(|g| *g += 1);
        current
    }

    /// Answers one request.
    pub async fn handle(self: &Arc<Self>, request: Request) {
        let id = request.id;
        let reply = match request.body {
            RequestBody::StatusGet => {
                self.refresh_login().await;
                Ok(HostMessage::Status {
                    id: id.clone(),
                    status: Box::new(self.status()),
                })
            }
            RequestBody::CallStart(start) => {
                self.start_call(start)
                    .await
                    .map(|call| HostMessage::CallStarted {
                        id: id.clone(),
                        call,
                    })
            }
            RequestBody::CallHangup(hangup) => {
                // Checked by `Request::parse`: a call id, nothing else.
                let span = tracing::error_span!("call", call_id = %hangup.call_id);
                self.with_client(|client| async move { client.hangup(&hangup.call_id).await })
                    .instrument(span)
                    .await
                    .map(|call| HostMessage::HangupRequested {
                        id: id.clone(),
                        call,
                    })
            }
            RequestBody::CallsRecent(recent) => {
                let limit = recent.limit.unwrap_or(DEFAULT_RECENT);
                let user = self.user_id().unwrap_or_default();
                self.with_client(|client| async move { client.recent_calls(limit, &user).await })
                    .await
                    .map(|calls| HostMessage::RecentCalls {
                        id: id.clone(),
                        calls,
                    })
            }
            RequestBody::CallReport(request) => {
                let span = tracing::error_span!("call", call_id = %request.call_id);
                self.with_client(|client| async move {
                    client.report(&request.call_id, &request.report).await
                })
                .instrument(span)
                .await
                .map(|saved| HostMessage::ReportSaved {
                    id: id.clone(),
                    saved,
                })
            }
            RequestBody::CallOtherPhones(call) => {
                let span = tracing::error_span!("call", call_id = %call.call_id);
                self.with_client(|client| async move { client.other_phones(&call.call_id).await })
                    .instrument(span)
                    .await
                    .map(|found| HostMessage::OtherPhones {
                        id: id.clone(),
                        deal_id: found.deal_id,
                        phones: found.phones,
                    })
            }
            RequestBody::DispositionsGet => self
                .with_client(|client| async move { client.dispositions().await })
                .await
                .map(|dispositions| HostMessage::Dispositions {
                    id: id.clone(),
                    dispositions,
                }),
            RequestBody::PhoneConfig => self
                .with_client(|client| async move { client.phone().await })
                .await
                .map(|phone| HostMessage::PhoneConfig {
                    id: id.clone(),
                    phone,
                }),
            RequestBody::SignIn(request) => {
                self.sign_in(request.backend_url.as_deref())
                    .await
                    .map(|authorize_url| HostMessage::SignInStarted {
                        id: id.clone(),
                        authorize_url,
                    })
            }
            RequestBody::SignOut => self
                .sign_out()
                .await
                .map(|()| HostMessage::SignedOut { id: id.clone() }),
        };
        self.send(reply.unwrap_or_else(|error| HostMessage::Error {
            id: Some(id),
            error,
        }));
    }

    /// Starts a sign-in to `backend_url` (or the address used last): binds
    /// the loopback listener and answers the page to open; the rest runs in
    /// the background and ends with `auth.signed_in` or
    /// `auth.sign_in_failed`. A new sign-in replaces one under way.
    async fn sign_in(self: &Arc<Self>, backend_url: Option<&str>) -> Result<String, HostError> {
        let remembered = self.state().remembered_url.clone();
        let Some(raw) = backend_url.map(str::to_owned).or(remembered) else {
            return Err(HostError {
                code: ErrorCode::BackendUrlRequired,
                message: "Informe o endereço do Disca da sua empresa (peça ao seu gestor).".into(),
            });
        };
        let base = BackendUrl::parse(&raw).map_err(|e| HostError {
            code: ErrorCode::InvalidBackendUrl,
            message: format!("Endereço do Disca inválido: {e}."),
        })?;
        let pending = sign_in::begin(base).await.map_err(|e| HostError {
            code: ErrorCode::SignInFailed,
            message: format!("Não foi possível começar a entrada: {e}."),
        })?;
        let authorize_url = pending.authorize_url.clone();
        let session = self.clone();
        let task = tokio::spawn(async move {
            let message = match session.finish_sign_in(pending).await {
                Ok(user) => HostMessage::SignedIn { user },
                Err(e) => {
                    tracing::warn!(error = %e, "sign-in did not finish");
                    HostMessage::SignInFailed {
                        message: format!("Não foi possível entrar: {e}."),
                    }
                }
            };
            session.send(message);
        });
        if let Some(previous) = self
            .sign_in_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(task.abort_handle())
        {
            previous.abort();
        }
        tracing::info!("sign-in started");
        Ok(authorize_url)
    }

    async fn finish_sign_in(&self, pending: sign_in::Pending) -> Result<Me, SignInError> {
        let (base, token) = pending.finish().await?;
        // The token this sign-in replaces is revoked, not left valid.
        if self.refresh_login().await.is_some()
            && let Ok(previous) = self.client().await
            && let Err(e) = previous.sign_out().await
        {
            tracing::warn!(error = %e, "the backend did not revoke the previous token");
        }
        let paths = self.paths.clone();
        let user = token.user.clone();
        let secret = Zeroizing::new(token.access_token);
        // The credential store (D-Bus or a system call) blocks.
        let kept = tokio::task::spawn_blocking(move || {
            let store = CredentialStore::detect(base.as_str());
            sign_in::keep(&paths, &base, &secret, user, store)
        });
        tokio::time::timeout(STORE_TIMEOUT, kept)
            .await
            .map_err(|_| SignInError::StoreTimedOut)?
            .map_err(|_| SignInError::StoreTimedOut)??;
        // The same login as before keeps its cached client: drop it, it
        // holds the previous token.
        *self.client.lock().await = None;
        {
            let mut state = self.state();
            state.refused = None;
            state.auth_failed = false;
        }
        self.generation.send_modify(|g| *g += 1);
        self.refresh_login().await;
        tracing::info!(user_id = %token.user.id, "signed in");
        Ok(token.user)
    }

    /// Signs out: the backend revokes the token (if it answers), the
    /// credential store forgets it, `host.toml` forgets the login (not the
    /// address).
    async fn sign_out(&self) -> Result<(), HostError> {
        let Some(login) = self.refresh_login().await else {
            return Ok(());
        };
        if let Ok(client) = self.client().await
            && let Err(e) = client.sign_out().await
        {
            tracing::warn!(error = %e, "the backend did not revoke the token; forgetting it anyway");
        }
        let paths = self.paths.clone();
        let forget = tokio::task::spawn_blocking(move || {
            let deleted = CredentialStore::new(login.credential_store).delete(&login.backend_url);
            let mut config = HostConfig::load(&paths).map_err(|e| e.to_string())?;
            config.login = None;
            config.backend_url = Some(login.backend_url.clone());
            config.save(&paths).map_err(|e| e.to_string())?;
            deleted.map(|_| ()).map_err(|e| e.to_string())
        });
        match tokio::time::timeout(STORE_TIMEOUT, forget).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                tracing::error!(error = %e, "cannot forget the login");
                return Err(HostError {
                    code: ErrorCode::CredentialStoreUnavailable,
                    message: format!("Não foi possível sair: {e}."),
                });
            }
            _ => return Err(store_unavailable()),
        }
        self.refresh_login().await;
        tracing::info!("signed out");
        Ok(())
    }

    pub fn status(&self) -> Status {
        let state = self.state();
        Status {
            host_version: env!("CARGO_PKG_VERSION").to_owned(),
            logged_in: state.login.is_some() && !state.auth_failed,
            user: state.login.as_ref().map(|l| l.user.clone()),
            backend_url: state
                .login
                .as_ref()
                .map(|l| l.backend_url.clone())
                .or_else(|| state.remembered_url.clone()),
            backend: state.backend,
            credential_store: state
                .login
                .as_ref()
                .map(|l| l.credential_store.as_str().to_owned()),
            live_call: state.live_call.clone(),
        }
    }

    /// The logged-in user's id.
    pub fn user_id(&self) -> Option<String> {
        self.state().login.as_ref().map(|l| l.user.id.clone())
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
        self.track(&call);
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

    /// The backend client for the current login, built from the token in the
    /// credential store on first need.
    pub async fn client(&self) -> Result<BackendClient, HostError> {
        let Some(login) = self.refresh_login().await else {
            self.auth_failed();
            return Err(not_logged_in());
        };
        let mut cached = self.client.lock().await;
        if let Some(cached) = cached.as_ref() {
            return Ok(cached.client.clone());
        }
        // The store (D-Bus or a system call) and the TLS set-up (the
        // system's root certificates) block: off the runtime's thread, so
        // requests like status.get are answered meanwhile.
        let store = CredentialStore::new(login.credential_store);
        let backend_url = login.backend_url.clone();
        let load = tokio::task::spawn_blocking(move || {
            let Some(token) = store.load(&backend_url)? else {
                return Ok(None);
            };
            let client = BackendUrl::parse(&backend_url)
                .ok()
                .and_then(|url| BackendClient::new(url, &token).ok());
            Ok(client.map(|client| (token, client)))
        });
        let loaded: Result<
            Option<(Zeroizing<String>, BackendClient)>,
            crate::credentials::CredentialError,
        > = match tokio::time::timeout(STORE_TIMEOUT, load).await {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "credential store task failed");
                return Err(store_unavailable());
            }
            Err(_) => {
                tracing::error!("the credential store did not answer in time");
                return Err(store_unavailable());
            }
        };
        let (token, client) = match loaded {
            Ok(Some(found)) => found,
            Ok(None) => {
                drop(cached);
                tracing::warn!("no usable token in the credential store");
                self.auth_failed();
                return Err(not_logged_in());
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the token from the credential store");
                return Err(store_unavailable());
            }
        };
        {
            let mut state = self.state();
            if state.refused.as_ref().is_some_and(|r| **r == *token) {
                // Still the token the backend refused: wait for a new login.
                return Err(not_logged_in());
            }
            state.refused = None;
            state.auth_failed = false;
        }
        *cached = Some(Cached {
            token,
            client: client.clone(),
        });
        Ok(client)
    }

    /// The backend refused the token: forget the client, remember the token
    /// (so it is not tried again) and tell the extension.
    pub async fn token_refused(&self) {
        if let Some(cached) = self.client.lock().await.take() {
            self.state().refused = Some(cached.token);
        }
        tracing::warn!("the backend refused the token");
        self.auth_failed();
    }

    /// Marks the login unusable; tells the extension once.
    fn auth_failed(&self) {
        let newly = {
            let mut state = self.state();
            !std::mem::replace(&mut state.auth_failed, true)
        };
        if newly {
            self.send(HostMessage::AuthRequired {
                message: not_logged_in().message,
            });
        }
    }

    pub fn set_reachable(&self) {
        let changed = {
            let mut state = self.state();
            std::mem::replace(&mut state.backend, BackendState::Reachable)
                != BackendState::Reachable
        };
        if changed {
            tracing::info!("backend reachable");
            self.send(HostMessage::BackendReachable);
        }
    }

    pub fn set_unreachable(&self, detail: &str) {
        let changed = {
            let mut state = self.state();
            std::mem::replace(&mut state.backend, BackendState::Unreachable)
                != BackendState::Unreachable
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

    /// Keeps the live call up to date with `call`; `false` when `call` is
    /// someone else's (a manager's stream carries the team's calls) or older
    /// than what is already known.
    fn track(&self, call: &Call) -> bool {
        let mut state = self.state();
        if state
            .login
            .as_ref()
            .is_none_or(|l| l.user.id != call.user_id)
        {
            return false;
        }
        if state.ended.contains(&call.id) {
            return false;
        }
        if call.is_live() {
            if let Some(known) = &state.live_call
                && call.is_behind(known)
            {
                return false;
            }
            state.live_call = Some(call.clone());
        } else {
            if state.ended.len() == ENDED_REMEMBERED {
                state.ended.pop_front();
            }
            state.ended.push_back(call.id.clone());
            if state.live_call.as_ref().is_some_and(|c| c.id == call.id) {
                state.live_call = None;
            }
        }
        true
    }

    /// A call changed at the backend: remember it and relay it, if it is the
    /// user's and news.
    pub fn call_updated(&self, call: Call) {
        if !self.track(&call) {
            return;
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
