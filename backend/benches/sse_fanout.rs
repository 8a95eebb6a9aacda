//! Event streams fanned out by one backend: 10,000 concurrent
//! `GET /v1/events` streams, on SQLite and on PostgreSQL side by side (a
//! throwaway server, `disca_testkit::postgres`; there a change reaches the
//! streams through `pg_notify` and the backend's tail of `call_events`).
//!
//! For each database: the real `disca-backend` (release build) with a
//! stand-in AMI server that logs it in and answers every action; one
//! manager opens 10,000 streams (read up to `stream.start`, the caps raised
//! for the bench); resident memory is read two seconds later. Then 20
//! agents each place one call, 500 ms apart, and every stream is read: the
//! latency of a call's first `call.update` on a stream is measured from
//! the moment its `POST /v1/calls` was sent. The bench process reads all
//! 10,000 sockets on the same 2 cores as the backend.
//!
//! Run: `cargo bench -p disca-backend --bench sse_fanout` with a hard open
//! file limit above 10,500 (each of the two processes holds one socket per
//! stream).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use disca_testkit::limited::{
    LimitedBackend, LimitedOptions, answering_ami, open_stream, seed_with_cli_env,
};
use disca_testkit::postgres;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

const STREAMS: usize = 10_000;
const CALLS: usize = 20;
/// Between two calls: longer than one fan-out takes here, so each event's
/// latency is its own, not a queue behind the one before (set
/// `DISCA_BENCH_CALL_GAP_MS` to try others).
const CALL_GAP_MS: u64 = 500;
/// Streams being opened at once.
const OPENING: usize = 64;

struct Figures {
    database: &'static str,
    idle_kib: u64,
    open_kib: u64,
    opened_in: Duration,
    latencies: Vec<Duration>,
    missing: usize,
}

#[tokio::main]
async fn main() {
    // This process holds as many sockets as the backend.
    disca_backend::server::raise_fd_limit();
    let binary = Path::new(env!("CARGO_BIN_EXE_disca-backend"));
    let mut rows = vec![run(binary, None).await];
    match postgres::server_programs() {
        Some(_) => {
            let cluster = postgres::Cluster::start().expect("a throwaway PostgreSQL");
            rows.push(run(binary, Some(&cluster.url())).await);
        }
        None => println!("PostgreSQL is not installed: SQLite only"),
    }
    println!(
        "sse_fanout: {STREAMS} event streams on one backend, {CALLS} calls each seen on every stream"
    );
    println!(
        "  {:<10} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "database",
        "idle MiB",
        "open MiB",
        "KiB/stream",
        "opened s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "missing"
    );
    for r in rows {
        let mut l = r.latencies.clone();
        l.sort();
        let at = |q: f64| {
            l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
        };
        println!(
            "  {:<10} {:>9.1} {:>9.1} {:>10.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8}",
            r.database,
            r.idle_kib as f64 / 1024.0,
            r.open_kib as f64 / 1024.0,
            r.open_kib.saturating_sub(r.idle_kib) as f64 / STREAMS as f64,
            r.opened_in.as_secs_f64(),
            at(0.50),
            at(0.99),
            l.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
            r.missing
        );
    }
}

async fn run(binary: &Path, database_url: Option<&str>) -> Figures {
    let gap = std::env::var("DISCA_BENCH_CALL_GAP_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(CALL_GAP_MS);
    let dir = tempfile::tempdir().unwrap();
    let mut env = vec![
        ("DISCA_MAX_CONNECTIONS", "12000"),
        ("DISCA_SSE_STREAMS_PER_USER", "12000"),
        ("DISCA_SSE_STREAMS_PER_TENANT", "12000"),
    ];
    if let Some(url) = database_url {
        env.push(("DISCA_DATABASE_URL", url));
    }
    let agents: Vec<String> = (0..CALLS).map(|i| (1001 + i).to_string()).collect();
    let mut users: Vec<(&str, &str, &str)> = vec![("acme", "9000", "manager")];
    users.extend(agents.iter().map(|ext| ("acme", ext.as_str(), "agent")));
    let tokens = seed_with_cli_env(binary, dir.path(), &env, &["acme"], &users);
    let backend = LimitedBackend::start(LimitedOptions {
        binary,
        data_dir: dir.path(),
        ami_addr: answering_ami().await,
        nofile: None,
        env: &env,
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_kib = backend.status_kib("VmRSS:");

    let manager = tokens["acme-9000"].clone();
    let started = Instant::now();
    let mut streams: Vec<TcpStream> = Vec::with_capacity(STREAMS);
    while streams.len() < STREAMS {
        let batch = OPENING.min(STREAMS - streams.len());
        let opened = futures::future::join_all(
            (0..batch).map(|_| open_stream(backend.addr, &manager, None)),
        )
        .await;
        for o in opened {
            let (socket, status, _) = o.expect("the stream opens");
            assert_eq!(status, 200);
            streams.push(socket);
        }
    }
    let opened_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open_kib = backend.status_kib("VmRSS:");

    // Every stream read until it has seen each call.
    let readers: Vec<_> = streams
        .into_iter()
        .map(|socket| tokio::spawn(first_sightings(socket)))
        .collect();
    let http = reqwest::Client::new();
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    for ext in &agents {
        let sent = Instant::now();
        let r = http
            .post(format!("{}/v1/calls", backend.base))
            .bearer_auth(&tokens[&format!("acme-{ext}")])
            .json(&serde_json::json!({"to": "(11) 98765-4321"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let call: serde_json::Value = r.json().await.unwrap();
        sent_at.insert(call["id"].as_str().unwrap().to_owned(), sent);
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }
    let mut latencies = Vec::with_capacity(STREAMS * CALLS);
    let mut missing = 0;
    for reader in readers {
        let seen = reader.await.unwrap();
        for (id, sent) in &sent_at {
            match seen.get(id) {
                Some(at) => latencies.push(at.saturating_duration_since(*sent)),
                None => missing += 1,
            }
        }
    }
    drop(backend);
    Figures {
        database: if database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        idle_kib,
        open_kib,
        opened_in,
        latencies,
        missing,
    }
}

/// When each call's first `call.update` arrived on `socket`, until every
/// call was seen or nothing came for 10 s.
async fn first_sightings(mut socket: TcpStream) -> HashMap<String, Instant> {
    let mut seen = HashMap::new();
    let mut pending = String::new();
    let mut buf = vec![0u8; 16 * 1024];
    while seen.len() < CALLS {
        let n = match tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => break,
        };
        let at = Instant::now();
        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        while let Some(end) = pending.find('\n') {
            let line: String = pending.drain(..=end).collect();
            // The call's id is its JSON's first field: found without
            // parsing, so the reader spends little of the cores it shares
            // with the backend.
            if let Some(data) = line.strip_prefix("data: {\"id\":\"")
                && let Some(id) = data.split('"').next()
            {
                seen.entry(id.to_owned()).or_insert(at);
            }
        }
    }
    seen
}
