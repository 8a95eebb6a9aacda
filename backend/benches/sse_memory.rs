//! Resident memory of the real `disca-backend` process (release build) per
//! open event stream (`GET /v1/events`). A stand-in AMI server logs the
//! backend in (no calls are followed); one agent opens 500, then 1,000,
//! then 2,000 streams (the stream caps raised for the bench), each read up
//! to its `stream.start` and then held; RSS is read from
//! `/proc/<pid>/status` two seconds after each level. Then one call is
//! placed, so every stream carries a `call.update`, and RSS read again.
//!
//! Run: `cargo bench -p disca-backend --bench sse_memory`.

use std::path::Path;
use std::time::{Duration, Instant};

use disca_testkit::limited::{
    LimitedBackend, LimitedOptions, answering_ami, open_stream, seed_with_cli,
};

const LEVELS: [usize; 3] = [500, 1000, 2000];

#[tokio::main]
async fn main() {
    // This process holds as many sockets as the backend.
    disca_backend::server::raise_fd_limit();
    let binary = Path::new(env!("CARGO_BIN_EXE_disca-backend"));
    let dir = tempfile::tempdir().unwrap();
    let tokens = seed_with_cli(binary, dir.path(), &["acme"], &[("acme", "1001", "agent")]);
    let token = &tokens["acme-1001"];
    let backend = LimitedBackend::start(LimitedOptions {
        binary,
        data_dir: dir.path(),
        ami_addr: answering_ami().await,
        nofile: None,
        env: &[
            ("DISCA_MAX_CONNECTIONS", "4000"),
            ("DISCA_SSE_STREAMS_PER_USER", "4000"),
            ("DISCA_SSE_STREAMS_PER_TENANT", "4000"),
        ],
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = backend.status_kib("VmRSS:");
    println!("sse_memory: RSS of the release backend per open event stream");
    println!("  open file limit (soft, hard): {:?}", backend.nofile());
    println!("  {:>6} streams  RSS {:>8.1} MiB", 0, idle as f64 / 1024.0);

    let mut held = Vec::new();
    let mut rows = Vec::new();
    for level in LEVELS {
        let started = Instant::now();
        while held.len() < level {
            let (socket, status, _) = open_stream(backend.addr, token, None)
                .await
                .expect("the stream opens");
            assert_eq!(status, 200);
            held.push(socket);
        }
        let opened_in = started.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss = backend.status_kib("VmRSS:");
        let per = (rss.saturating_sub(idle)) as f64 / level as f64;
        println!(
            "  {level:>6} streams  RSS {:>8.1} MiB  {per:>6.1} KiB per stream  (opened in {:.1} s)",
            rss as f64 / 1024.0,
            opened_in.as_secs_f64()
        );
        rows.push((level, rss));
    }
    // One call: every stream writes a call.update (nobody reads them: they
    // wait in the sockets' buffers).
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/v1/calls", backend.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"to": "(11) 98765-4321"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss = backend.status_kib("VmRSS:");
    let n = held.len();
    println!(
        "  {n:>6} streams after one call.update each: RSS {:>8.1} MiB  {:>6.1} KiB per stream",
        rss as f64 / 1024.0,
        (rss.saturating_sub(idle)) as f64 / n as f64
    );
    println!(
        "  peak RSS (VmHWM) {:>8.1} MiB",
        backend.status_kib("VmHWM:") as f64 / 1024.0
    );
    let fds = backend.open_fds();
    println!("  open descriptors {fds}");
    drop(held);
}
