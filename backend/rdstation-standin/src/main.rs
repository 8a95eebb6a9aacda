//! `rdstation-standin`: see `rdstation-standin --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    rdstation_standin::cli::run(rdstation_standin::cli::Cli::parse()).await
}
