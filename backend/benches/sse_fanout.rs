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
//! since loopback delivers in the sender's context). That adds at most
//! 1 ms to a measured latency, never takes any off. The readers are all
//! waiting before the first call, and every socket stays open until the
//! last stream was read, so no stream's set-up or close is counted against
//! another's event. The CPU both processes spent per change is printed too.
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
        "  {:<10} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>13} {:>13}",
        "database",
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
        "readers ms/ch"
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
            "  {:<10} {:>9.1} {:>9.1} {:>10.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8} {:>8} {:>13.1} {:>13.1}",
            r.database,
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
    let streams: Vec<std::net::TcpStream> = streams
        .into_iter()
        .map(|socket| socket.into_std().expect("a plain socket"))
        .collect();
    let (waiting, readers_waiting) = std::sync::mpsc::channel();
    let readers = std::thread::spawn(move || read_sightings(streams, waiting));
    readers_waiting.recv().expect("the readers start");
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
    for seen in sightings {
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
        changes: changes / STREAMS,
        backend_cpu,
        bench_cpu,
    }
}

/// When each call's first `call.update` arrived on each stream, until
/// every stream saw every call or nothing came for 10 s; with the number
/// of `call.update` events read in all, and the sockets, still open.
/// Sends on `waiting` once every socket is being watched.
fn read_sightings(
    streams: Vec<std::net::TcpStream>,
    waiting: std::sync::mpsc::Sender<()>,
) -> (
    Vec<HashMap<String, Instant>>,
    usize,
    Vec<mio::net::TcpStream>,
) {
    use std::io::Read;
    // The call's id is its JSON's first field: found without parsing.
    const DATA: &[u8] = b"data: {\"id\":\"";
    const UPDATE: &[u8] = b"event: call.update";
    let mut poll = mio::Poll::new().expect("epoll");
    let mut sockets: Vec<mio::net::TcpStream> = streams
        .into_iter()
        .map(mio::net::TcpStream::from_std)
        .collect();
    for (i, socket) in sockets.iter_mut().enumerate() {
        poll.registry()
            .register(socket, mio::Token(i), mio::Interest::READABLE)
            .expect("a socket watched");
    }
    let mut seen = vec![HashMap::<String, Instant>::new(); sockets.len()];
    let mut pending = vec![Vec::<u8>::new(); sockets.len()];
    let (mut complete, mut updates) = (0, 0);
    let mut events = mio::Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_data = Instant::now();
    waiting.send(()).expect("the bench waits");
    while complete < sockets.len() && last_data.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
        poll.poll(&mut events, Some(Duration::ZERO)).expect("epoll");
        for event in &events {
            let i = event.token().0;
            let at = Instant::now();
            last_data = at;
            loop {
                let n = match sockets[i].read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => panic!("reading a stream: {e}"),
                };
                let before = seen[i].len();
                let lines = &mut pending[i];
                lines.extend_from_slice(&buf[..n]);
                let mut start = 0;
                while let Some(end) = lines[start..].iter().position(|b| *b == b'\n') {
                    let line = &lines[start..start + end];
                    if line.starts_with(UPDATE) {
                        updates += 1;
                    } else if let Some(rest) = line.strip_prefix(DATA)
                        && let Some(close) = rest.iter().position(|b| *b == b'"')
                    {
                        let id = String::from_utf8_lossy(&rest[..close]).into_owned();
                        seen[i].entry(id).or_insert(at);
                    }
                    start += end + 1;
                }
                lines.drain(..start);
                if before < CALLS && seen[i].len() >= CALLS {
                    complete += 1;
                }
            }
        }
    }
    (seen, updates, sockets)
}

/// CPU time (user and system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    // Fields after the command's closing parenthesis; utime and stime are
    // the 14th and 15th of the whole line, in clock ticks.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a stat line") + 2..]
        .split(' ')
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = rustix::param::clock_ticks_per_second();
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}
