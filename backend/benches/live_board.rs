//! Live board latency (BENCHMARKS.md §13): from the AMI event that changes
//! a call to the change arriving on the manager's live board, against the
//! real stack — a real Asterisk 22, SIPp phone and trunk, the real backend
//! in-process on a random port. Side by side, in the same run, the anchor:
//! the same change arriving on the salesperson's own stream (`/v1/events`),
//! the path the extension has used since the start.
//!
//! A loopback relay between the backend and Asterisk stamps every AMI event
//! as it passes towards the backend (on its own thread and runtime, before
//! forwarding it). For each call, two changes are timed:
//! - answered: the first `DialEnd` with `DialStatus: ANSWER` or lead
//!   `BridgeEnter` of the call (its `Linkedid`) → the row "Em conversa";
//! - ended: the call's last `Hangup` → the row leaving.
//!
//! The board and the stream are read by this process (HTTP on loopback):
//! the browser's drawing is not included (the Chromium test
//! `tests/tests/live_board.rs` checks the whole path under a second).
//!
//! Run as root with a provisioned Asterisk root:
//! `cargo bench -p disca-backend --bench live_board`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use disca_testkit::PeerBehavior;
use disca_testkit::sse::each_data;
use disca_testkit::system::{Backend, Lab};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CALLS: usize = 40;

/// AMI events by call id (`Linkedid`): (when it passed, its fields).
type AmiLog = Arc<Mutex<HashMap<String, Vec<(Instant, HashMap<String, String>)>>>>;
/// What a stream said about a call: (call id, what) → first time seen.
type Seen = Arc<Mutex<HashMap<(String, &'static str), Instant>>>;

/// A relay that stamps each AMI event on its way from Asterisk to the backend.
fn ami_sniffer(upstream: SocketAddr, log: AmiLog) -> SocketAddr {
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
                let log = log.clone();
                tokio::spawn(async move {
                    let server = TcpStream::connect(upstream).await.unwrap();
                    client.set_nodelay(true).unwrap();
                    server.set_nodelay(true).unwrap();
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    });
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut pending = String::new();
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let now = Instant::now();
                        pending.push_str(&String::from_utf8_lossy(&buf[..n]));
                        while let Some(end) = pending.find("\r\n\r\n") {
                            let message: String = pending.drain(..end + 4).collect();
                            let fields: HashMap<String, String> = message
                                .lines()
                                .filter_map(|l| l.split_once(": "))
                                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                                .collect();
                            if let Some(call) = fields.get("Linkedid").cloned() {
                                log.lock()
                                    .unwrap()
                                    .entry(call)
                                    .or_default()
                                    .push((now, fields));
                            }
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        })
    });
    addr
}

fn note(seen: &Seen, id: &str, what: &'static str) {
    seen.lock()
        .unwrap()
        .entry((id.to_owned(), what))
        .or_insert_with(Instant::now);
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(1),
        },
    )
    .await;
    let log: AmiLog = Arc::default();
    let relay = ami_sniffer(lab.pbx.ami_addr, log.clone());
    let backend = Backend::start(&lab.pbx, relay).await;

    let http = reqwest::Client::new();
    let login = http
        .post(format!("{}/manager/login", backend.base))
        .header("x-disca-manager", "1")
        .json(&json!({ "token": backend.token("acme-manager") }))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let board_seen: Seen = Arc::default();
    let stream_seen: Seen = Arc::default();
    let board = http
        .get(format!("{}/manager/api/live", backend.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(board.status(), 200);
    let seen = board_seen.clone();
    each_data(board, move |update| {
        if let Some(row) = update.get("row") {
            if row["talking"] == true {
                note(&seen, row["id"].as_str().unwrap_or_default(), "answered");
            }
        } else if let Some(id) = update.get("ended").and_then(Value::as_str) {
            note(&seen, id, "ended");
        }
    });
    let events = http
        .get(format!("{}/v1/events", backend.base))
        .bearer_auth(backend.token("acme-1001"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let seen = stream_seen.clone();
    each_data(events, move |call| {
        let id = call["id"].as_str().unwrap_or_default();
        match call["state"].as_str() {
            Some("connected") => note(&seen, id, "answered"),
            Some("ended") => note(&seen, id, "ended"),
            _ => {}
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut ids = Vec::new();
    for _ in 0..CALLS {
        let id = backend.place_ok("acme-1001").await;
        let call = backend.wait_until_ended("acme-1001", &id).await;
        assert_eq!(call["outcome"], "answered", "{call:#}");
        ids.push(id);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let log = log.lock().unwrap();
    let mut rows: Vec<(&str, Vec<Duration>, Vec<Duration>)> = Vec::new();
    for what in ["answered", "ended"] {
        let mut board = Vec::new();
        let mut anchor = Vec::new();
        for id in &ids {
            let events = &log[id];
            let cause = match what {
                "answered" => events
                    .iter()
                    .find(|(_, f)| {
                        let event = f.get("Event").map(String::as_str);
                        (event == Some("DialEnd")
                            && f.get("DialStatus").map(String::as_str) == Some("ANSWER"))
                            || (event == Some("BridgeEnter")
                                && !f
                                    .get("Uniqueid")
                                    .is_some_and(|u| u.starts_with(id.as_str())))
                    })
                    .map(|(at, _)| *at),
                _ => events
                    .iter()
                    .rev()
                    .find(|(_, f)| f.get("Event").map(String::as_str) == Some("Hangup"))
                    .map(|(at, _)| *at),
            }
            .unwrap_or_else(|| panic!("no AMI event for {what} of {id}"));
            let on = |seen: &Seen| {
                *seen
                    .lock()
                    .unwrap()
                    .get(&(id.clone(), what))
                    .unwrap_or_else(|| panic!("{what} of {id} never shown"))
            };
            board.push(on(&board_seen).saturating_duration_since(cause));
            anchor.push(on(&stream_seen).saturating_duration_since(cause));
        }
        board.sort();
        anchor.sort();
        rows.push((what, board, anchor));
    }
    println!("Live board latency, {CALLS} real calls (AMI event → message received):");
    println!("| change | stream | p50 | p95 | max |");
    println!("|---|---|---:|---:|---:|");
    for (what, board, anchor) in &rows {
        for (name, times) in [("live board", board), ("/v1/events (anchor)", anchor)] {
            println!(
                "| {what} | {name} | {} | {} | {} |",
                ms(percentile(times, 0.5)),
                ms(percentile(times, 0.95)),
                ms(*times.last().unwrap())
            );
        }
    }
}
