//! `cargo xtask`: the project's automation. It owns provisioning Asterisk on
//! a Debian 12 machine, the development PBX (`asterisk up`/`down`/`status`),
//! rendering the Asterisk configuration for a site, building the browser
//! extension (`extension`), the extension's generated protocol module
//! (`codegen`), the two test tiers (`test --fast`, and `test`, which CI
//! runs), running the product locally (`run`) and what a company installs
//! (`dist`: the host's .deb and .rpm, the extension's store zip and CRX).

mod backend_deb;
mod checks;
mod codegen;
mod demo;
mod dev_pbx;
mod dist;
mod extension;
mod javascript;
mod packages;
mod process;
mod provision;
#[cfg(test)]
mod tidy;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use disca_asterisk_render::{Templates, render_site};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Disca project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Asterisk: provisioning, the development PBX, configuration.
    #[command(subcommand)]
    Asterisk(AsteriskCommand),
    /// What CI runs: system packages, Asterisk, fmt, clippy, every test.
    Test {
        /// Only what needs no root, Asterisk, Chromium or system package:
        /// fmt, clippy, unit and API tests, the extension's script checks.
        #[arg(long)]
        fast: bool,
    },
    /// The whole product on this machine: the development PBX, the RD
    /// Station stand-in, the backend, disca-host and Chromium with the
    /// extension on a demo deal page (without a display: clicks, prints
    /// the call and its note, stops).
    Run {
        /// Click and stop even when a display is available.
        #[arg(long)]
        headless: bool,
    },
    /// Build the browser extension into dist/extension/.
    Extension,
    /// disca-backend's .deb in target/dist/: the program, its hardened
    /// systemd unit, default settings and the `disca` system user.
    BackendDeb {
        /// Package this program instead of a new release build.
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// Write extension/static/shared/protocol.js from disca-protocol.
    Codegen,
    /// What a company installs, in target/dist/: disca-host's .deb and .rpm
    /// (system-wide manifests for every browser), the extension's Chrome Web
    /// Store zip, its signed CRX3 and update.xml, and the macOS/Windows
    /// package inputs.
    Dist {
        /// The extension's signing key (PEM, RSA): its id is the extension's.
        /// Without it, a development key made once in target/dist/.
        #[arg(long)]
        extension_key: Option<PathBuf>,
        /// Where the files will be downloaded from (the backend's
        /// /downloads): update.xml names the CRX there.
        #[arg(long, default_value = "https://disca.example.com.br/downloads")]
        downloads_url: String,
        /// Another extension id the host serves (e.g. the Web Store's).
        #[arg(long)]
        extension_id: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AsteriskCommand {
    /// Build the Debian sid root with Asterisk 22 (skipped when present).
    Provision,
    /// Start the development PBX (AMI 127.0.0.1:15038, SIP 127.0.0.1:15060).
    Up,
    /// Stop the development PBX.
    Down,
    /// Show whether the development PBX runs.
    Status,
    /// Render asterisk-config/ with a site directory into a configuration
    /// directory (e.g. for production's /etc/asterisk).
    Render {
        /// Site directory: site.vars plus pjsip.d/ and extensions.d/ tenant files.
        #[arg(long)]
        site: PathBuf,
        /// Empty or missing directory to write the configuration into.
        #[arg(long)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Asterisk(AsteriskCommand::Provision) => provision::provision().map(drop),
        Command::Asterisk(AsteriskCommand::Up) => dev_pbx::up(),
        Command::Asterisk(AsteriskCommand::Down) => dev_pbx::down(),
        Command::Asterisk(AsteriskCommand::Status) => dev_pbx::status(),
        Command::Asterisk(AsteriskCommand::Render { site, out }) => render(&site, &out),
        Command::Test { fast: true } => checks::fast(),
        Command::Test { fast: false } => checks::test(),
        Command::Run { headless } => checks::run_product(headless),
        Command::Extension => extension::build_extension(),
        Command::BackendDeb { binary } => backend_deb::backend_deb(binary.as_deref()).map(drop),
        Command::Codegen => codegen::codegen(),
        Command::Dist {
            extension_key,
            downloads_url,
            extension_id,
        } => dist::dist(&dist::DistOptions {
            extension_key,
            downloads_url,
            extra_extension_ids: extension_id,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Renders the built-in templates (`asterisk-config/`) with the site
/// directory `site` into `out`, as the shipped `disca-asterisk-render` does.
fn render(site: &Path, out: &Path) -> anyhow::Result<()> {
    for file in render_site(&Templates::Embedded, site, out)? {
        println!("{}", out.join(file).display());
    }
    Ok(())
}
