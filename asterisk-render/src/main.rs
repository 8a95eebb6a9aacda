//! `disca-asterisk-render --site DIR --out DIR`: renders Disca's Asterisk
//! configuration (templates built into this binary) with a site directory,
//! on a machine with no cargo and no checkout of the repository.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use disca_asterisk_render::{Templates, render_site};

/// Renders Disca's Asterisk configuration for a site.
#[derive(Parser)]
#[command(name = "disca-asterisk-render", version)]
struct Cli {
    /// Site directory: site.vars plus pjsip.d/ and extensions.d/ tenant files.
    #[arg(long)]
    site: PathBuf,
    /// Empty or missing directory to write the configuration into.
    #[arg(long)]
    out: PathBuf,
    /// Render these templates instead of the ones built in (a directory
    /// like the repository's asterisk-config/).
    #[arg(long)]
    templates: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let templates = cli.templates.map_or(Templates::Embedded, Templates::Dir);
    match render_site(&templates, &cli.site, &cli.out) {
        Ok(files) => {
            for file in files {
                println!("{}", cli.out.join(file).display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("disca-asterisk-render: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
