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
//! the moment its `POST /v1/calls` was sent.
//!
//! The bench reads all 10,000 sockets on the same cores as the backend, so
//! its readers are made to cost those cores as little as they can: one
//! thread of plain `mio` polling (no async runtime, no task per socket),
//! which looks for new data every millisecond rather than sleeping until
//! each write wakes it (a wake-up the backend would pay for on every write,
//! since loopback delivers in the sender's context). That adds about a
//! millisecond or more to a measured latency (the poll interval, and the
//! sockets handled before it in the same poll), never takes any off. Each
//! arrival is stamped right after the read that returned it. The readers are all
//! waiting before the first call, and every socket stays open until the
//! last stream was read, so no stream's set-up or close is counted against
//! another's event. The CPU spent per change is printed too: the backend's
//! (not PostgreSQL's own processes), and this whole bench process's (the
//! readers, the stand-in AMI, the HTTP client).
//!
//! Each database is measured twice. First with every stream read as its
//! events arrive. Then with every tenth stream read so (its latencies are
//! the figures) and the other nine read only after the last call, to check
//! that they got every call: their events are delivered into their sockets
//! as they are written, the same work for the backend, but the bench does
//! not copy them out meanwhile. That is the readers' share of these cores,
//! which clients on their own machines would not take from the backend.
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
use disca_testkit::{postgres, procfs};
use tokio::net::TcpStream;

const STREAMS: usize = 10_000;
const CALLS: usize = 20;
/// Between two calls: longer than one fan-out takes here, so each event's
/// latency is its own, not a queue behind the one before (set
/// `DISCA_BENCH_CALL_GAP_MS` to try others).
const CALL_GAP_MS: u64 = 500;
/// Streams being opened at once.
const OPENING: usize = 64;
/// Every how many streams one is read as its events arrive, in the second
/// pass of each database.
const SAMPLED: usize = 10;

struct Figures {
    database: &'static str,
    /// Every how many streams one was read as events arrived.
    read_live: usize,
    idle_kib: u64,
    open_kib: u64,
    opened_in: Duration,
    latencies: Vec<Duration>,
    missing: usize,
    /// Changes each stream carried while the calls were placed (a call's
    /// first update, and any the backend sent meanwhile).
    changes: usize,
    backend_cpu: Duration,
    bench_cpu: Duration,
}

#[tokio::main]
async fn main() {
    // This process holds as many sockets as the backend.
    disca_backend::server::raise_fd_limit();
    let binary = Path::new(env!("CARGO_BIN_EXE_disca-backend"));
    let mut rows = vec![run(binary, None, 1).await, run(binary, None, SAMPLED).await];
    match postgres::server_programs() {
        Some(_) => {
            for read_live in [1, SAMPLED] {
                // A fresh server for each pass.
                let cluster = postgres::Cluster::start().expect("a throwaway PostgreSQL");
                rows.push(run(binary, Some(&cluster.url()), read_live).await);
            }
        }
        None => println!("PostgreSQL is not installed: SQLite only"),
    }
    println!(
        "sse_fanout: {STREAMS} event streams on one backend, {CALLS} calls each seen on every stream"
    );
    println!(
        "  {:<10} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>13} {:>13}",
        "database",
        "read live",
        "idle MiB",
        "open MiB",
        "KiB/stream",
        "opened s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "missing",
        "changes",
        "backend ms/ch",
        "bench ms/ch"
    );
    for r in rows {
        let mut l = r.latencies.clone();
        l.sort();
        let at = |q: f64| {
            l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
        };
        let per_change = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / r.changes.max(1) as f64;
        println!(
            "  {:<10} {:>9} {:>9.1} {:>9.1} {:>10.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>8} {:>13.1} {:>13.1}",
            r.database,
            if r.read_live == 1 {
                "all".to_owned()
            } else {
                format!("1 in {}", r.read_live)
            },
            r.idle_kib as f64 / 1024.0,
            r.open_kib as f64 / 1024.0,
            r.open_kib.saturating_sub(r.idle_kib) as f64 / STREAMS as f64,
            r.opened_in.as_secs_f64(),
            at(0.50),
            at(0.99),
            l.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
            r.missing,
            r.changes,
            per_change(r.backend_cpu),
            per_change(r.bench_cpu)
        );
    }
}

async fn run(binary: &Path, database_url: Option<&str>, read_live: usize) -> Figures {
    let gap = std::env::var("DISCA_BENCH_CALL_GAP_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(CALL_GAP_MS);
    let dir = tempfile::tempdir().unwrap();
    let mut env = vec![
        ("DISCA_MAX_CONNECTIONS", "12000"),
        ("DISCA_SSE_STREAMS_PER_USER", "12000"),
        ("DISCA_SSE_STREAMS_PER_TENANT", "12000"),
        // The stand-in PBX lists no channels, so the tracker's periodic
        // listing would end the calls during the run, and those changes
        // would land among the calls' own (when they happen to); listed
        // once an hour here, every run carries the same 20 changes.
        ("DISCA_CALLS__RECONCILE_INTERVAL_SECS", "3600"),
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

    // The streams read until they have seen each call (see `read_sightings`).
    let streams: Vec<std::net::TcpStream> = streams
        .into_iter()
        .map(|socket| socket.into_std().expect("a plain socket"))
        .collect();
    let (waiting, readers_waiting) = std::sync::mpsc::channel();
    let readers = std::thread::spawn(move || read_sightings(streams, read_live, waiting));
    readers_waiting.recv().expect("the readers start");
    let cpu_time = |pid| procfs::cpu_time(pid).expect("the process runs");
    let cpu_before = (cpu_time(backend.pid()), cpu_time(std::process::id()));
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
    let (sightings, changes, _open) = tokio::task::spawn_blocking(move || readers.join())
        .await
        .unwrap()
        .expect("the readers finish");
    let backend_cpu = cpu_time(backend.pid()) - cpu_before.0;
    let bench_cpu = cpu_time(std::process::id()) - cpu_before.1;
    let mut latencies = Vec::with_capacity(STREAMS * CALLS);
    let mut missing = 0;
    for (i, seen) in sightings.iter().enumerate() {
        for (id, sent) in &sent_at {
            match seen.get(id) {
                Some(at) if i % read_live == 0 => {
                    latencies.push(at.saturating_duration_since(*sent))
                }
                Some(_) => {}
                None => missing += 1,
            }
        }
    }
    drop(backend);
    Figures {
        read_live,
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
        // Live streams stop being read at their last call's first update;
        // the others are read to the end: a change that came after that
        // counts on those only.
        changes: changes / STREAMS,
        backend_cpu,
        bench_cpu,
    }
}

/// When each call's first `call.update` arrived on each stream, until
/// every stream saw every call or nothing came for 10 s; with the number
/// of `call.update` events read in all, and the sockets, still open.
/// Every `read_live`-th stream is read as its events arrive, the others
/// only once those are done (their times are then not arrivals). Sends on
/// `waiting` once every socket read live is being watched.
fn read_sightings(
    streams: Vec<std::net::TcpStream>,
    read_live: usize,
    waiting: std::sync::mpsc::Sender<()>,
) -> (
    Vec<HashMap<String, Instant>>,
    usize,
    Vec<mio::net::TcpStream>,
) {
    let mut poll = mio::Poll::new().expect("epoll");
    let mut streams: Vec<Sightings> = streams.into_iter().map(Sightings::new).collect();
    let live = streams.len().div_ceil(read_live);
    for (i, stream) in streams.iter_mut().enumerate().step_by(read_live) {
        poll.registry()
            .register(&mut stream.socket, mio::Token(i), mio::Interest::READABLE)
            .expect("a socket watched");
    }
    let mut complete = 0;
    let mut events = mio::Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_data = Instant::now();
    waiting.send(()).expect("the bench waits");
    while complete < live && last_data.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
        poll.poll(&mut events, Some(Duration::ZERO)).expect("epoll");
        for event in &events {
            last_data = Instant::now();
            if streams[event.token().0].read_available(&mut buf) {
                complete += 1;
            }
        }
    }
    // The others, read over and over until each has seen every call
    // (or for at most 10 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut incomplete = 0;
        for (i, stream) in streams.iter_mut().enumerate() {
            if i % read_live != 0 && stream.seen.len() < CALLS {
                stream.read_available(&mut buf);
                incomplete += usize::from(stream.seen.len() < CALLS);
            }
        }
        if incomplete == 0 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let updates = streams.iter().map(|s| s.updates).sum();
    let (seen, sockets) = streams.into_iter().map(|s| (s.seen, s.socket)).unzip();
    (seen, updates, sockets)
}

/// One stream as the bench reads it.
struct Sightings {
    socket: mio::net::TcpStream,
    /// Read but not yet a whole line.
    pending: Vec<u8>,
    /// When each call was first seen.
    seen: HashMap<String, Instant>,
    /// `call.update` events read.
    updates: usize,
}

impl Sightings {
    fn new(socket: std::net::TcpStream) -> Sightings {
        Sightings {
            socket: mio::net::TcpStream::from_std(socket),
            pending: Vec::new(),
            seen: HashMap::new(),
            updates: 0,
        }
    }

    /// Reads what has arrived; true when that completed the calls.
    fn read_available(&mut self, buf: &mut [u8]) -> bool {
        use std::io::Read;
        // The call's id is its JSON's first field: found without parsing.
        const DATA: &[u8] = b"data: {\"id\":\"";
        const UPDATE: &[u8] = b"event: call.update";
        let before = self.seen.len();
        loop {
            let n = match self.socket.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => panic!("reading a stream: {e}"),
            };
            let at = Instant::now();
            self.pending.extend_from_slice(&buf[..n]);
            let mut start = 0;
            while let Some(end) = self.pending[start..].iter().position(|b| *b == b'\n') {
                let line = &self.pending[start..start + end];
                if line.starts_with(UPDATE) {
                    self.updates += 1;
                } else if let Some(rest) = line.strip_prefix(DATA)
                    && let Some(close) = rest.iter().position(|b| *b == b'"')
                {
                    let id = String::from_utf8_lossy(&rest[..close]).into_owned();
                    self.seen.entry(id).or_insert(at);
                }
                start += end + 1;
            }
            self.pending.drain(..start);
        }
        before < CALLS && self.seen.len() >= CALLS
    }
}
