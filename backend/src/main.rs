//! `disca-backend`: see `disca-backend --help`.

use clap::Parser;
use rustix::fs::Mode;

/// jemalloc rather than glibc's malloc: a long-running server whose load
/// comes in bursts (a storage stall queues requests and events) keeps
/// glibc's per-thread arenas at their high-water mark, while jemalloc
/// returns unused pages to the system after a few seconds; and it counts
/// what the program holds, which `/metrics` reports (BENCHMARKS.md §10).
/// It also replaces `malloc` for the C code in the process (the feature
/// `unprefixed_malloc_on_supported_platforms`): SQLite's page caches and
/// statements are allocated, counted and returned the same way.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's counters, refreshed (`epoch`) before reading.
fn heap_stats() -> Option<disca_backend::telemetry::HeapStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(disca_backend::telemetry::HeapStats {
        allocated: u64::try_from(stats::allocated::read().ok()?).ok()?,
        resident: u64::try_from(stats::resident::read().ok()?).ok()?,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Everything the backend creates (database, WAL, keys, locks) is its
    // user's alone.
    rustix::process::umask(Mode::from_bits_truncate(0o077));
    disca_backend::telemetry::report_heap_with(heap_stats);
    disca_backend::cli::run(disca_backend::cli::Cli::parse()).await
}
