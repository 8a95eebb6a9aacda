//! The `rdstation-standin` command line: serve a stand-in until Ctrl-C or
//! SIGTERM, printing its base URL on stdout.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use figment::value::Value;

use crate::configuration::Settings;
use crate::seed::Seed;
use crate::startup::StandIn;
use crate::telemetry::{LogFormat, init_logs};

#[derive(Parser)]
#[command(
    name = "rdstation-standin",
    version,
    about = "A local stand-in for RD Station CRM's APIs (v1, v2, OAuth2), with fault injection",
    after_help = "Settings: built-in defaults, then the TOML file (--config), then \
                  RDSTATION_STANDIN_* environment variables (RDSTATION_STANDIN_LISTEN, \
                  RDSTATION_STANDIN_RATE_LIMIT__REQUESTS), then flags."
)]
pub struct Cli {
    /// TOML configuration file (keys as the flags: `listen`, `seed`,
    /// `access_token_secs`, `[rate_limit] requests`...).
    #[arg(long, env = "RDSTATION_STANDIN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8787].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Seed file, JSON or TOML by extension [default: the built-in demo].
    #[arg(long)]
    pub seed: Option<PathBuf>,
    /// Print the demo seed as JSON (a starting point for --seed) and exit.
    #[arg(long)]
    pub print_demo_seed: bool,
    /// Lifetime of OAuth2 access tokens, in seconds [default: 7200].
    #[arg(long)]
    pub access_token_secs: Option<u64>,
    /// Lifetime of unused OAuth2 refresh tokens, in seconds [default: 1209600].
    #[arg(long)]
    pub refresh_token_secs: Option<u64>,
    /// Requests allowed per token within the window [default: 120].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: Option<u32>,
    /// The rate limit's sliding window, in seconds [default: 60].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_window_secs: Option<u64>,
    /// Log format [default: text].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

impl Cli {
    /// The flags given, by settings key.
    fn flags(&self) -> Vec<(&'static str, Value)> {
        let mut flags = Vec::new();
        let mut set = |key, value: Option<Value>| flags.extend(value.map(|v| (key, v)));
        set("listen", self.listen.map(|a| a.to_string().into()));
        set(
            "seed",
            self.seed
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned().into()),
        );
        set("access_token_secs", self.access_token_secs.map(Into::into));
        set(
            "refresh_token_secs",
            self.refresh_token_secs.map(Into::into),
        );
        set("rate_limit.requests", self.rate_limit.map(Into::into));
        set(
            "rate_limit.window_secs",
            self.rate_window_secs.map(Into::into),
        );
        set(
            "log_format",
            self.log_format.map(|f| {
                match f {
                    LogFormat::Text => "text",
                    LogFormat::Json => "json",
                }
                .into()
            }),
        );
        flags
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.print_demo_seed {
        println!("{}", serde_json::to_string_pretty(&Seed::demo())?);
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref(), cli.flags())?;
    init_logs(settings.log_format);
    let config = settings.into_config()?;
    let running = StandIn::start(config).await?;
    println!("{}", running.base_url());
    tracing::info!(
        v1 = %running.v1_base(),
        v2 = %running.v2_base(),
        token_url = %running.oauth_token_url(),
        authorize_url = %running.oauth_authorize_url(),
        admin = %format!("{}/_standin", running.base_url()),
        "ready"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.stop().await;
    Ok(())
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
}
