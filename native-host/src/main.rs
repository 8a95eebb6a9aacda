use std::process::ExitCode;

use clap::Parser;
use disca_host::cli::{self, Cli};
use disca_host::config::Paths;
use disca_host::serve::{self, Ended};

fn main() -> ExitCode {
    let paths = match Paths::from_platform() {
        Ok(paths) => paths,
        Err(e) => {
            eprintln!("disca-host: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Chrome runs `disca-host chrome-extension://<id>/` (plus, on Windows,
    // `--parent-window=<handle>`).
    let origin = std::env::args()
        .nth(1)
        .filter(|a| a.starts_with("chrome-extension://"));
    match origin {
        Some(origin) => serve_browser(&origin, paths),
        None => cli::run(Cli::parse(), &paths),
    }
}

fn serve_browser(origin: &str, paths: Paths) -> ExitCode {
    disca_host::telemetry::init(&paths);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the runtime");
            return ExitCode::FAILURE;
        }
    };
    let ended = runtime.block_on(serve::serve(
        origin,
        paths,
        tokio::io::stdin(),
        tokio::io::stdout(),
    ));
    // Blocked reads of stdin or the credential store must not hold the exit.
    runtime.shutdown_background();
    match ended {
        Ended::PortClosed => ExitCode::SUCCESS,
        Ended::OriginRefused | Ended::Io => ExitCode::FAILURE,
    }
}
