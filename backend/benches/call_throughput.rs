//! Placed calls per second through one real Asterisk 22, in three layouts:
//! one backend on SQLite, one backend on PostgreSQL, two backends sharing
//! one PostgreSQL (a throwaway server, `disca_testkit::postgres`).
//!
//! Closed loop: each of `AGENTS` clients is one agent; it places a call
//! (`POST /v1/calls`), waits for the call to end (seen on the manager's
//! event stream, `/v1/events`), and places the next. Agents are reached
//! through Local channels (the dialplan answers for them, so Asterisk does
//! no SIP on the agent side); the leads are a SIPp trunk that answers at
//! once and hangs up after `TALK`. With two backends the clients alternate
//! between them and the stream is read from the first, so a call placed
//! through the second reaches it through the database. A call counts when
//! its POST started inside the measured window and got `201 Created`.
//!
//! Run as root with a provisioned Asterisk root:
//! `cargo bench -p disca-backend --bench call_throughput`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use disca_backend::storage::Store;
use disca_testkit::PeerBehavior;
use disca_testkit::postgres::Cluster;
use disca_testkit::procfs;
use disca_testkit::sse::each_data;
use disca_testkit::system::{
    BackendProcess, BackendProcessOptions, LEAD, LOCAL_AGENT_CHANNEL, Lab, follows_the_pbx,
    seed_load_agents_in,
};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const AGENTS: u32 = 300;
const TALK: Duration = Duration::from_millis(500);
const WARM_UP: Duration = Duration::from_secs(5);
const MEASURED: Duration = Duration::from_secs(20);
/// Longest a call may take to end before the bench gives up on it.
const CALL_PATIENCE: Duration = Duration::from_secs(30);

/// A call's end: seen before its client asked, or a client waiting for it.
enum End {
    Seen(String),
    Awaited(oneshot::Sender<String>),
}

type Ends = Arc<Mutex<HashMap<String, End>>>;

/// Reads the manager's event stream, handing each ended call's outcome to
/// whoever waits for it.
fn follow_ends(response: reqwest::Response, ends: Ends) {
    each_data(response, move |call| {
        if call["state"] != "ended" {
            return;
        }
        let Some(id) = call["id"].as_str() else {
            return;
        };
        let outcome = call["outcome"].as_str().unwrap_or("none").to_owned();
        let mut ends = ends.lock().unwrap();
        match ends.remove(id) {
            Some(End::Awaited(waiter)) => {
                let _ = waiter.send(outcome);
            }
            _ => {
                ends.insert(id.to_owned(), End::Seen(outcome));
            }
        }
    });
}

/// What one phase measured.
#[derive(Default)]
struct Measured {
    placed: usize,
    /// From each counted POST's start to its end seen on the stream.
    cycles: Vec<Duration>,
    refused: HashMap<u16, usize>,
    latencies: Vec<Duration>,
    outcomes: HashMap<String, usize>,
    lost: usize,
}

/// One client's loop until the window closes.
async fn agent_loop(
    http: reqwest::Client,
    base: String,
    token: String,
    ends: Ends,
    window: (Instant, Instant),
) -> Measured {
    let mut m = Measured::default();
    while Instant::now() < window.1 {
        let started = Instant::now();
        let counted = started >= window.0;
        let r = http
            .post(format!("{base}/v1/calls"))
            .bearer_auth(&token)
            .json(&json!({ "to": LEAD }))
            .send()
            .await;
        let Ok(r) = r else {
            *m.refused.entry(0).or_default() += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let status = r.status().as_u16();
        if status != 201 {
            if counted {
                *m.refused.entry(status).or_default() += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let latency = started.elapsed();
        let call: Value = r.json().await.unwrap();
        let id = call["id"].as_str().unwrap().to_owned();
        if counted {
            m.placed += 1;
            m.latencies.push(latency);
        }
        let waiting = {
            let mut ends = ends.lock().unwrap();
            match ends.remove(&id) {
                Some(End::Seen(outcome)) => Err(outcome),
                _ => {
                    let (tx, rx) = oneshot::channel();
                    ends.insert(id.clone(), End::Awaited(tx));
                    Ok(rx)
                }
            }
        };
        let outcome = match waiting {
            Err(outcome) => Some(outcome),
            Ok(rx) => tokio::time::timeout(CALL_PATIENCE, rx)
                .await
                .ok()
                .and_then(Result::ok),
        };
        match outcome {
            Some(outcome) if counted => {
                m.cycles.push(started.elapsed());
                *m.outcomes.entry(outcome).or_default() += 1;
            }
            Some(_) => {}
            None => {
                m.lost += 1;
                ends.lock().unwrap().remove(&id);
            }
        }
    }
    m
}

/// The processes whose command is `comm` (`postgres`, `sipp`).
fn pids_named(comm: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

/// CPU time used so far by each group of processes.
fn cpu_times(groups: &[(&'static str, Vec<u32>)]) -> Vec<Duration> {
    groups
        .iter()
        .map(|(_, pids)| pids.iter().filter_map(|&pid| procfs::cpu_time(pid)).sum())
        .collect()
}

/// Runs the closed loop against `bases` and prints what it measured, with
/// the cores each group of processes used during the measured window.
async fn measure(
    name: &str,
    bases: &[String],
    tokens: &[String],
    manager: &str,
    groups: Vec<(&'static str, Vec<u32>)>,
) {
    let http = reqwest::Client::new();
    let ends: Ends = Arc::default();
    let stream = http
        .get(format!("{}/v1/events", bases[0]))
        .bearer_auth(manager)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    follow_ends(stream, ends.clone());
    let start = Instant::now();
    let window = (start + WARM_UP, start + WARM_UP + MEASURED);
    let groups = Arc::new(groups);
    let cpu = {
        let groups = groups.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(window.0.into()).await;
            let before = cpu_times(&groups);
            tokio::time::sleep_until(window.1.into()).await;
            let after = cpu_times(&groups);
            after
                .iter()
                .zip(before)
                .map(|(a, b)| a.saturating_sub(b).as_secs_f64() / MEASURED.as_secs_f64())
                .collect::<Vec<f64>>()
        })
    };
    let clients: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            tokio::spawn(agent_loop(
                http.clone(),
                bases[i % bases.len()].clone(),
                token.clone(),
                ends.clone(),
                window,
            ))
        })
        .collect();
    let mut total = Measured::default();
    for client in clients {
        let m = client.await.unwrap();
        total.placed += m.placed;
        total.lost += m.lost;
        total.latencies.extend(m.latencies);
        total.cycles.extend(m.cycles);
        for (k, v) in m.refused {
            *total.refused.entry(k).or_default() += v;
        }
        for (k, v) in m.outcomes {
            *total.outcomes.entry(k).or_default() += v;
        }
    }
    total.latencies.sort();
    let pct = |p: f64| {
        let l = &total.latencies;
        l.get(((l.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!("{name}:");
    println!(
        "  placed {} calls in {} s: {:.1} calls/s",
        total.placed,
        MEASURED.as_secs(),
        total.placed as f64 / MEASURED.as_secs_f64()
    );
    println!(
        "  POST /v1/calls → 201: p50 {:.1} ms  p99 {:.1} ms",
        pct(0.5),
        pct(0.99)
    );
    total.cycles.sort();
    println!(
        "  cycle (POST → end seen on the stream): p50 {:.0} ms  p99 {:.0} ms",
        total
            .cycles
            .get(total.cycles.len() / 2)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        total
            .cycles
            .get(total.cycles.len() * 99 / 100)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    );
    println!("  outcomes: {:?}", total.outcomes);
    println!(
        "  refused (status: count): {:?}; ends not seen within {} s: {}",
        total.refused,
        CALL_PATIENCE.as_secs(),
        total.lost
    );
    let cores = cpu.await.unwrap();
    let used: Vec<String> = groups
        .iter()
        .zip(&cores)
        .map(|((group, _), c)| format!("{group} {c:.2}"))
        .collect();
    println!(
        "  cores used (of {}): {} — total {:.2}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        used.join(", "),
        cores.iter().sum::<f64>()
    );
}

/// The processes to watch: Asterisk, the backends, PostgreSQL's, SIPp's and
/// this load generator.
fn groups(lab: &Lab, running: &[BackendProcess]) -> Vec<(&'static str, Vec<u32>)> {
    vec![
        ("asterisk", lab.pbx.pid().into_iter().collect()),
        (
            "backends",
            running.iter().map(BackendProcess::pid).collect(),
        ),
        ("postgres", pids_named("postgres")),
        ("sipp", pids_named("sipp")),
        ("generator", vec![std::process::id()]),
    ]
}

/// Starts `count` backends on `database_url` (`None`: SQLite in `dir`).
async fn backends(
    lab: &Lab,
    dir: &Path,
    database_url: Option<&str>,
    count: usize,
) -> Vec<BackendProcess> {
    let binary = Path::new(env!("CARGO_BIN_EXE_disca-backend"));
    let mut env = vec![("DISCA_CALLS__CALLS_PER_MINUTE", "10000")];
    if let Some(url) = database_url {
        env.push(("DISCA_DATABASE_URL", url));
    }
    let mut started = Vec::new();
    for _ in 0..count {
        started.push(
            BackendProcess::start(BackendProcessOptions {
                binary,
                data_dir: dir,
                ami_addr: lab.pbx.ami_addr,
                ami_username: &lab.pbx.ami_username,
                ami_secret: &lab.pbx.ami_secret,
                extra_args: &["--agent-channel", LOCAL_AGENT_CHANNEL],
                env: &env,
            })
            .await,
        );
    }
    // One of them follows the PBX's calls before the load starts.
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut any = false;
        for b in &started {
            any |= follows_the_pbx(&http, &b.base).await;
        }
        if any {
            return started;
        }
        assert!(Instant::now() < deadline, "no backend follows the PBX");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() {
    let lab = Lab::start_with_options(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup { talk: TALK },
        10,
        AGENTS,
    )
    .await;
    println!(
        "{AGENTS} agents (Local channels), leads answer and hang up after {} ms; \
         {} s warm-up, {} s measured",
        TALK.as_millis(),
        WARM_UP.as_secs(),
        MEASURED.as_secs()
    );

    // One backend on SQLite.
    let dir = tempfile::tempdir().unwrap();
    let (tokens, manager) = {
        let store = Store::open(dir.path()).await.unwrap();
        seed_load_agents_in(&store, AGENTS).await
    };
    let running = backends(&lab, dir.path(), None, 1).await;
    let bases: Vec<String> = running.iter().map(|b| b.base.clone()).collect();
    let watched = groups(&lab, &running);
    measure("1 backend, SQLite", &bases, &tokens, &manager, watched).await;
    drop(running);

    // One, then two backends on PostgreSQL, each with a new server.
    for count in [1, 2] {
        let cluster = Cluster::start().expect("a throwaway PostgreSQL");
        let url = cluster.url();
        let dir = tempfile::tempdir().unwrap();
        let (tokens, manager) = {
            let store = Store::connect(&url).await.unwrap();
            seed_load_agents_in(&store, AGENTS).await
        };
        let running = backends(&lab, dir.path(), Some(&url), count).await;
        let bases: Vec<String> = running.iter().map(|b| b.base.clone()).collect();
        let name = format!("{count} backend(s), PostgreSQL");
        let watched = groups(&lab, &running);
        measure(&name, &bases, &tokens, &manager, watched).await;
        drop(running);
    }
}
