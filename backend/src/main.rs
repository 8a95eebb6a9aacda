//! `disca-backend`: see `disca-backend --help`.

use clap::Parser;
use rustix::fs::Mode;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Everything the backend creates (database, WAL, keys, locks) is its
    // user's alone.
    rustix::process::umask(Mode::from_bits_truncate(0o077));
    disca_backend::cli::run(disca_backend::cli::Cli::parse()).await
}
