//! Wiring: storage, metrics, the PBX connection and the HTTP server.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::accounts::Accounts;
use crate::api::phone::Phones;
use crate::api::{AppState, router};
use crate::configuration::{CrmSettings, Settings};

use crate::crm::connections::Connections;
use crate::crm::worker::Worker;
use crate::mail::Mailer;
use crate::manager::ManagerConfig;
use crate::pbx::Pbxs;
use crate::server::ConnectionLimits;
use crate::storage::Store;
use crate::telemetry::Metrics;

/// A bound, ready-to-serve backend.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
}

impl Application {
    /// Opens the database, starts the AMI connection and binds the listener
    /// (`listen` may use port 0: see [`Application::local_addr`]). Raises
    /// the open file limit first and sets the connection caps from it.
    /// Loads the numbering plans too, so the first call does not wait for
    /// them.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        let limits = ConnectionLimits::from_settings(&settings.http);
        let store = Store::from_settings(settings).await?;
        tokio::task::spawn_blocking(crate::domain::phone::load_numbering_plans).await?;
        store.set_report_wait(settings.crm.report_wait);
        let metrics = Metrics::default();
        let key = crate::crm::secrets::load_for(&settings.secrets_key_file(), &store).await?;
        let http = crm_http_client(&settings.crm)?;
        let connector = crate::crm::connect::Connector {
            key: key.clone(),
            http: http.clone(),
            settings: settings.crm.clone(),
        };
        let connections = Arc::new(Connections::new(
            store.clone(),
            key.clone(),
            http,
            settings.crm.clone(),
        ));
        let lock_file = settings.data_dir.join("crm-worker.lock");
        let worker = Worker::new(
            store.clone(),
            connections.clone(),
            settings.crm.clone(),
            metrics.clone(),
            lock_file,
        );
        tokio::spawn(worker.run());
        let by_pbx = crate::phones::pbx_directories::open_all(settings).await?;
        let mut without_registration = Vec::new();
        for (pbx, phones) in &by_pbx {
            let stale = crate::pbx::dialing::sync_all(
                &store,
                pbx,
                &phones.directory,
                &phones.settings,
                &key,
            )
            .await?;
            without_registration.push((pbx.clone(), stale));
            crate::recordings::sync_all(&store, pbx, &phones.directory, &settings.recordings)
                .await?;
        }
        let phones = Phones {
            settings: settings.phones.clone(),
            by_pbx,
            key: Some(key.clone()),
        };
        let recordings_dirs = settings.recordings_dirs();
        if !recordings_dirs.is_empty() {
            tokio::spawn(crate::recordings::retention::run(
                store.clone(),
                recordings_dirs,
                settings.recordings.sweep_interval,
            ));
        }
        let pbxs = Pbxs::start(settings, &store, &metrics, &phones.by_pbx);
        for name in store.pbx_names_in_use().await? {
            if !pbxs
                .all()
                .any(|(configured, _)| configured.as_str() == name)
            {
                tracing::error!(
                    pbx = name,
                    "tenants or live calls name a PBX this backend's configuration does not have: \
                     their clicks are refused (503) and their live calls not followed until it is \
                     configured ([pbxs.{name}]) or the tenants moved (tenant set-pbx)"
                );
            }
        }
        for (pbx, stale) in without_registration {
            if let Some(pbx) = pbxs.get(&pbx) {
                tokio::spawn(crate::pbx::dialing::reconcile(pbx.clone(), stale));
            }
        }
        let listener = TcpListener::bind(settings.listen).await?;
        let state = AppState::new(store, pbxs, metrics, settings.calls.calls_per_minute)
            .with_manager(ManagerConfig::from_settings(settings))
            .with_limits(&settings.http)
            .with_phones(phones)
            .with_accounts(Accounts::new(
                &settings.public_base_url(listener.local_addr()?),
                Mailer::from_settings(&settings.mail)?,
            ))
            .with_downloads(settings.downloads.dir.clone())
            .with_crm(connector, connections)
            .with_recordings(settings.recordings.clone());
        tokio::spawn(state.revocations.follow(state.store.clone()));
        Ok(Application {
            listener,
            state,
            limits,
        })
    }

    /// The connection caps in force.
    pub fn connection_limits(&self) -> ConnectionLimits {
        self.limits
    }

    /// The application's store: calls ended through it wake the CRM worker
    /// at once, as the PBX tracker's do.
    pub fn store(&self) -> Store {
        self.state.store.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until ctrl-c or SIGTERM.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        tracing::info!(
            addr = %self.local_addr(),
            max_connections = self.limits.max_connections,
            reserve = self.limits.reserve,
            fd_limit = self.limits.fd_limit,
            "serving"
        );
        let (metrics, streams) = (self.state.metrics.clone(), self.state.streams.clone());
        crate::server::serve(
            self.listener,
            router(self.state),
            self.limits,
            metrics,
            streams,
            shutdown_signal(),
        )
        .await
    }
}

/// The HTTP client for RD Station: bounded waits, no redirects (a redirect
/// would carry v1's token in its query elsewhere).
pub fn crm_http_client(settings: &CrmSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(settings.request_timeout)
        .connect_timeout(
            settings
                .request_timeout
                .min(std::time::Duration::from_secs(5)),
        )
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Disca/", env!("CARGO_PKG_VERSION")))
        .build()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
