//! The `rdstation-standin` command line: serve a stand-in until Ctrl-C or
//! SIGTERM, printing its base URL on stdout.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::configuration::{Config, DEFAULT_LISTEN, RateLimit, read_seed};
use crate::seed::Seed;
use crate::startup::StandIn;
use crate::telemetry::{LogFormat, init_logs};

#[derive(Parser)]
#[command(
    name = "rdstation-standin",
    version,
    about = "A local stand-in for RD Station CRM's APIs (v1, v2, OAuth2), with fault injection"
)]
pub struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "RDSTATION_STANDIN_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Seed file, JSON or TOML by extension [default: the built-in demo].
    #[arg(long, env = "RDSTATION_STANDIN_SEED")]
    pub seed: Option<PathBuf>,
    /// Print the demo seed as JSON (a starting point for --seed) and exit.
    #[arg(long)]
    pub print_demo_seed: bool,
    /// Lifetime of OAuth2 access tokens, in seconds.
    #[arg(long, default_value_t = 2 * 60 * 60)]
    pub access_token_secs: u64,
    /// Lifetime of unused OAuth2 refresh tokens, in seconds.
    #[arg(long, default_value_t = 14 * 24 * 60 * 60)]
    pub refresh_token_secs: u64,
    /// Requests allowed per token within the window.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit: u32,
    /// The rate limit's sliding window, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate_window_secs: u64,
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.print_demo_seed {
        println!("{}", serde_json::to_string_pretty(&Seed::demo())?);
        return Ok(());
    }
    init_logs(cli.log_format);
    let seed = match &cli.seed {
        Some(path) => read_seed(path)?,
        None => Seed::demo(),
    };
    let config = Config {
        listen: cli.listen,
        seed,
        access_token_lifetime: Duration::from_secs(cli.access_token_secs),
        refresh_token_lifetime: Duration::from_secs(cli.refresh_token_secs),
        rate_limit: RateLimit {
            requests: cli.rate_limit,
            window: Duration::from_secs(cli.rate_window_secs),
        },
        ..Config::default()
    };
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
