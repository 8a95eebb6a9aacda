//! Starting a stand-in: check the seed, bind, serve in the background.
//! [`Running`] is the handle: addresses, controls and what was received.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::{AppState, router};
use crate::configuration::Config;
use crate::crm::Crm;
use crate::faults::Faults;
use crate::net::{Cut, CuttableListener};
use crate::notes::Note;
use crate::oauth::{AuthorizeError, Lifetimes, OAuth};
use crate::rate_limit::RateLimiter;
use crate::requests::{RequestCounts, RequestLog};
use crate::seed::{Seed, SeedError};

/// How long [`Running::stop`] lets requests in flight finish.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// The stand-in server; see [`StandIn::start`].
pub struct StandIn;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Seed(#[from] SeedError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
}

impl StandIn {
    /// Checks the seed, binds `config.listen` and serves in the background
    /// until [`Running::stop`] or the handle is dropped.
    pub async fn start(config: Config) -> Result<Running, StartError> {
        config.seed.validate()?;
        let bind_error = |source| StartError::Bind {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let lifetimes = Lifetimes {
            access: config.access_token_lifetime,
            refresh: config.refresh_token_lifetime,
            code: config.authorization_code_lifetime,
        };
        let state = AppState {
            oauth: Arc::new(OAuth::new(config.seed.oauth_clients.clone(), lifetimes)),
            crm: Arc::new(Crm::new(config.seed)),
            limiter: Arc::new(RateLimiter::new(config.rate_limit)),
            faults: Faults::default(),
            requests: Arc::new(RequestLog::default()),
            base_url: format!("http://{addr}").into(),
        };
        let app = router(state.clone()).into_make_service_with_connect_info::<Cut>();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(CuttableListener(listener), app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(base_url = %state.base_url, "RD Station stand-in listening");
        Ok(Running {
            addr,
            state,
            stop: Some(stop),
            server,
        })
    }
}

/// A serving stand-in. Dropping it stops accepting connections at once.
pub struct Running {
    addr: SocketAddr,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<io::Result<()>>,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.state.base_url.to_string()
    }

    /// API v1's base, standing for `https://crm.rdstation.com/api/v1`.
    pub fn v1_base(&self) -> String {
        format!("{}/api/v1", self.state.base_url)
    }

    /// API v2's base, standing for `https://api.rd.services/crm/v2`.
    pub fn v2_base(&self) -> String {
        format!("{}/crm/v2", self.state.base_url)
    }

    /// Standing for `https://api.rd.services/oauth2/token`.
    pub fn oauth_token_url(&self) -> String {
        format!("{}/oauth2/token", self.state.base_url)
    }

    /// Standing for `https://api.rd.services/oauth2/authorize`.
    pub fn oauth_authorize_url(&self) -> String {
        format!("{}/oauth2/authorize", self.state.base_url)
    }

    /// The seed it started with.
    pub fn seed(&self) -> &Seed {
        self.state.crm.seed()
    }

    /// The fault switch.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// One deal's notes, oldest first.
    pub fn notes(&self, deal_id: &str) -> Vec<Note> {
        self.state.crm.notes.filtered(|n| n.deal_id == deal_id)
    }

    /// The tasks on `deal_id`, oldest first.
    pub fn tasks(&self, deal_id: &str) -> Vec<crate::Task> {
        self.state.crm.tasks.filtered(|t| t.deal_id == deal_id)
    }

    /// Every task, oldest first.
    pub fn all_tasks(&self) -> Vec<crate::Task> {
        self.state.crm.tasks.filtered(|_| true)
    }

    /// Every note, oldest first.
    pub fn all_notes(&self) -> Vec<Note> {
        self.state.crm.notes.filtered(|_| true)
    }

    /// Requests received so far.
    pub fn requests(&self) -> RequestCounts {
        self.state.requests.snapshot()
    }

    /// What the consent page gives `client_id` when user `user_id` accepts:
    /// a code for `POST /oauth2/token`, bound to `redirect_uri`.
    pub fn authorization_code(
        &self,
        client_id: &str,
        user_id: &str,
        redirect_uri: &str,
    ) -> Result<String, AuthorizeError> {
        self.state
            .oauth
            .authorize(&self.state.crm, client_id, redirect_uri, user_id)
    }

    /// Stops accepting, lets requests in flight finish for up to a second,
    /// then drops the rest.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(STOP_GRACE, &mut self.server)
            .await
            .is_err()
        {
            self.server.abort();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
    }
}
