//! Load against the real stack: the real `disca-backend` process, a real
//! Asterisk 22, SIPp phones and trunk; the load generator is this process.
//! Two measurements in one run:
//!
//! 1. `POST /v1/calls` → `Originate` written to the AMI socket, with 100
//!    concurrent clients (each an agent with its own phone), several rounds.
//!    The time the Originate is written is taken by a loopback TCP relay
//!    between the backend and Asterisk that timestamps the `ChannelId:` line
//!    of each Originate as it passes (the relay adds one loopback hop).
//! 2. 200 concurrent calls placed at once, each answered by the lead and hung
//!    up after a few seconds: every one must end `answered`, none lost.
//!
//! Run as root with a provisioned Asterisk root:
//! `cargo bench -p disca-backend --bench originate_load`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use disca_testkit::PeerBehavior;
use disca_testkit::system::{
    BackendProcess, BackendProcessOptions, LEAD, LOCAL_AGENT_CHANNEL, Lab, seed_load_agents,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CLIENTS: usize = 100;
const ROUNDS: usize = 5;
const CONCURRENT_CALLS: usize = 200;

type Seen = Arc<Mutex<HashMap<String, Instant>>>;

/// A relay that records when each Originate's `ChannelId` passes towards Asterisk.
/// The relay runs on its own thread and runtime, so the load generator's
/// tasks never delay its timestamps.
fn originate_sniffer(upstream: SocketAddr, seen: Seen) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            while let Ok((client, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let server = TcpStream::connect(upstream).await.unwrap();
                    client.set_nodelay(true).unwrap();
                    server.set_nodelay(true).unwrap();
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut line = Vec::new();
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let now = Instant::now();
                        // Recorded before forwarding, so the backend cannot see the
                        // answer before the timestamp exists.
                        for &b in &buf[..n] {
                            if b == b'\n' {
                                let text = String::from_utf8_lossy(&line);
                                if let Some(id) = text.trim_end().strip_prefix("ChannelId: ") {
                                    seen.lock().unwrap().insert(id.to_owned(), now);
                                }
                                line.clear();
                            } else {
                                line.push(b);
                            }
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        })
    });
    addr
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn place(http: &reqwest::Client, base: &str, token: &str) -> (Instant, Duration, Value) {
    let sent = Instant::now();
    let r = http
        .post(format!("{base}/v1/calls"))
        .bearer_auth(token)
        .json(&json!({"to": LEAD, "context": {"deal_id": "5f1e7a9b2c3d4e5f6a7b8c9d"}}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    (sent, sent.elapsed(), body)
}

async fn wait_all_ended(
    http: &reqwest::Client,
    base: &str,
    ids: &[(String, String)],
) -> HashMap<String, usize> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut outcomes = HashMap::new();
    for (token, id) in ids {
        loop {
            let call: Value = http
                .get(format!("{base}/v1/calls/{id}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if call["state"] == "ended" {
                *outcomes
                    .entry(call["outcome"].as_str().unwrap().to_owned())
                    .or_insert(0) += 1;
                break;
            }
            assert!(Instant::now() < deadline, "call {id} never ended: {call}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    outcomes
}

#[tokio::main]
async fn main() {
    let lab = Lab::start_with_options(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(3),
        },
        20,
        CONCURRENT_CALLS as u32,
    )
    .await;
    let seen: Seen = Arc::default();
    let relay = originate_sniffer(lab.pbx.ami_addr, seen.clone());
    println!("originate_load: disca-backend process + Asterisk 22 + SIPp on loopback");
    for (label, agent_channel, own_cpu) in [
        (
            "agents' phones are PJSIP endpoints (SIPp), all processes share both CPUs",
            "PJSIP/{endpoint}",
            false,
        ),
        (
            "agents reached through Local channels, all processes share both CPUs",
            LOCAL_AGENT_CHANNEL,
            false,
        ),
        (
            "agents' phones are PJSIP endpoints (SIPp), the backend alone on CPU 0; Asterisk, SIPp and the generator on CPU 1",
            "PJSIP/{endpoint}",
            true,
        ),
    ] {
        println!("\n== {label}: agent_channel = {agent_channel}");
        phase(&lab, relay, &seen, agent_channel, own_cpu).await;
    }
}

/// Pins every thread of `pid` to `cpu` (util-linux `taskset`).
fn pin(pid: Option<u32>, cpu: u32) {
    let pid = pid.expect("a running process").to_string();
    let status = std::process::Command::new("taskset")
        .args(["--all-tasks", "--cpu-list", "-p", &cpu.to_string(), &pid])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("taskset runs");
    assert!(status.success(), "taskset failed for {pid}");
}

/// Latency bursts and the 200-call burst with one agent channel template,
/// against a fresh backend process.
async fn phase(lab: &Lab, relay: SocketAddr, seen: &Seen, agent_channel: &str, own_cpu: bool) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = seed_load_agents(dir.path(), CONCURRENT_CALLS as u32).await;
    let backend = BackendProcess::start(BackendProcessOptions {
        binary: Path::new(env!("CARGO_BIN_EXE_disca-backend")),
        data_dir: dir.path(),
        ami_addr: relay,
        ami_username: &lab.pbx.ami_username,
        ami_secret: &lab.pbx.ami_secret,
        extra_args: &[
            "--agent-ring-timeout-secs",
            "10",
            "--agent-channel",
            agent_channel,
        ],
        env: &[],
    })
    .await;
    if own_cpu {
        pin(Some(std::process::id()), 1);
        pin(lab.pbx.pid(), 1);
        pin(lab.agents.pid(), 1);
        pin(lab.trunk.pid(), 1);
        pin(Some(backend.pid()), 0);
    }
    let base = backend.base.clone();
    let http = reqwest::Client::new();

    // 1. Latency with 100 concurrent clients: a cold burst (fresh
    // connections, nothing cached), then ROUNDS measured bursts.
    let mut cold = Vec::new();
    let mut to_socket = Vec::new();
    let mut round_trip = Vec::new();
    for round in 0..=ROUNDS {
        let mut tasks = tokio::task::JoinSet::new();
        let start = Arc::new(tokio::sync::Barrier::new(CLIENTS));
        for token in tokens.iter().take(CLIENTS).cloned() {
            let (base, http, start) = (base.clone(), http.clone(), start.clone());
            tasks.spawn(async move {
                start.wait().await;
                let (sent, rtt, body) = place(&http, &base, &token).await;
                (token, sent, rtt, body["id"].as_str().unwrap().to_owned())
            });
        }
        let mut ids = Vec::new();
        while let Some(r) = tasks.join_next().await {
            let (token, sent, rtt, id) = r.unwrap();
            let written = {
                let seen = seen.lock().unwrap();
                *seen
                    .get(&id)
                    .unwrap_or_else(|| panic!("no Originate seen for {id} ({} seen)", seen.len()))
            };
            if round == 0 {
                cold.push(written - sent);
            } else {
                to_socket.push(written - sent);
                round_trip.push(rtt);
            }
            ids.push((token, id));
        }
        let outcomes = wait_all_ended(&http, &base, &ids).await;
        assert_eq!(outcomes.get("answered"), Some(&CLIENTS), "{outcomes:?}");
    }
    cold.sort();
    to_socket.sort();
    round_trip.sort();

    // 2. 200 concurrent calls.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens.iter().cloned() {
        let (base, http) = (base.clone(), http.clone());
        tasks.spawn(async move {
            let (_, _, body) = place(&http, &base, &token).await;
            (token, body["id"].as_str().unwrap().to_owned())
        });
    }
    let mut ids = Vec::new();
    while let Some(r) = tasks.join_next().await {
        ids.push(r.unwrap());
    }
    let outcomes = wait_all_ended(&http, &base, &ids).await;
    let all_done = started.elapsed();

    println!(
        "cold first burst of {CLIENTS} (new connections, nothing cached): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&cold, 0.5).as_secs_f64() * 1e3,
        percentile(&cold, 0.99).as_secs_f64() * 1e3
    );
    println!(
        "POST /v1/calls -> Originate written to the AMI socket ({} calls: {ROUNDS} bursts of {CLIENTS} concurrent clients after the cold one)",
        to_socket.len()
    );
    for (name, p) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0)] {
        println!(
            "  {name}: {:>7.2} ms   (full POST round trip {:>7.2} ms)",
            percentile(&to_socket, p).as_secs_f64() * 1e3,
            percentile(&round_trip, p).as_secs_f64() * 1e3
        );
    }
    println!(
        "{CONCURRENT_CALLS} concurrent calls: outcomes {outcomes:?}, all ended within {:.1} s",
        all_done.as_secs_f64()
    );
    assert_eq!(
        outcomes.get("answered"),
        Some(&CONCURRENT_CALLS),
        "every call answered, none lost"
    );
}
