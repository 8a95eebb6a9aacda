//! `disca-backend`: see `disca-backend --help`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    disca_backend::cli::run(disca_backend::cli::Cli::parse()).await
}
