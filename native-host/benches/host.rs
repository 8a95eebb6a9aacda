//! The release `disca-host` binary, started as Chrome starts it (pipes, the
//! origin argument), logged in with its token in the kernel keyring:
//!
//! 1. cold start: from spawning the process to reading the reply to a
//!    `status.get` written at once (200 starts);
//! 2. relay latency: from the backend writing a `call.update` event on its
//!    SSE stream to the host's frame being read from its stdout (2,000
//!    events, one every 5 ms);
//! 3. resident memory of the host while it relays that live call.
//!
//! The backend is a stand-in speaking the backend's wire format
//! (`/v1/me`, `/v1/calls`, `/v1/events` with `event: call.update`, `id`,
//! `data: <Call JSON>`), so each event's write instant is known exactly.
//!
//! Run: `cargo bench -p disca-host --bench host`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::sse::{Event, Sse};
use axum::routing::get;
use disca_host::credentials::{CredentialStore, StoreKind};
use disca_protocol::{Me, Role};
use disca_testkit::host::HostHome;
use serde_json::json;
use tokio::sync::broadcast;

const STARTS: usize = 200;
const EVENTS: usize = 2000;
const EVENT_INTERVAL: Duration = Duration::from_millis(5);

/// When each event was handed to the HTTP stream, by sequence number.
type Sent = Arc<Mutex<HashMap<u64, Instant>>>;

fn call_json(seq: u64) -> String {
    let state = if seq.is_multiple_of(2) {
        "ringing_lead"
    } else {
        "connected"
    };
    json!({
        "id": format!("0193a1b2-0000-7000-8000-{seq:012}"),
        "tenant": "acme", "user_id": "u1", "agent_endpoint": "acme-1001",
        "to": "+5511987654321", "state": state,
        "created_at": "2026-11-21T12:00:00.123Z",
        "agent_answered_at": "2026-11-21T12:00:02Z",
        "context": {"deal_id": "5f1e7a9b2c3d4e5f6a7b8c9d", "contact_name": "Maria da Silva",
            "page_url": "https://crm.rdstation.com/app/deals/5f1e7a9b2c3d4e5f6a7b8c9d"}
    })
    .to_string()
}

/// A backend stand-in: `/v1/events` streams what is sent on `events`.
async fn stand_in(events: broadcast::Sender<u64>, sent: Sent) -> String {
    let app = Router::new()
        .route(
            "/v1/me",
            get(|| async {
                axum::Json(Me {
                    id: "u1".into(),
                    name: "Ana".into(),
                    email: "ana@example.com".into(),
                    tenant: "acme".into(),
                    role: Role::Agent,
                    extension: "1001".into(),
                })
            }),
        )
        .route(
            "/v1/calls",
            get(|| async { axum::Json(json!({"calls": []})) }),
        )
        .route(
            "/v1/events",
            get(move || {
                let (events, sent) = (events.clone(), sent.clone());
                async move {
                    let mut receiver = events.subscribe();
                    let stream = async_stream::stream! {
                        while let Ok(seq) = receiver.recv().await {
                            let event = Event::default()
                                .event("call.update")
                                .id(seq.to_string())
                                .data(call_json(seq));
                            sent.lock().unwrap().insert(seq, Instant::now());
                            yield Ok::<_, Infallible>(event);
                        }
                    };
                    Sse::new(stream)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name}: n={} p50={:.2} ms p90={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.90)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap()),
    );
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let (events, _) = broadcast::channel(EVENTS);
    let sent: Sent = Arc::default();
    let base = stand_in(events.clone(), sent.clone()).await;
    let home = HostHome::new(env!("CARGO_BIN_EXE_disca-host").into());
    home.install().await;
    home.write_login(&base, &format!("disca_{}", "ab".repeat(32)));

    // 1. Cold start to first reply.
    let mut starts = Vec::with_capacity(STARTS);
    for i in 0..STARTS {
        let started = Instant::now();
        let mut port = home.open_port();
        port.send(&json!({"v": 1, "id": i, "type": "status.get"}))
            .await;
        let reply = port.reply(&json!(i)).await;
        starts.push(started.elapsed());
        assert_eq!(reply["type"], "status.get.ok", "{reply}");
        assert!(port.wait().await.success());
    }
    report("cold start → status.get reply", starts);

    // 2 and 3. One port relaying a live call's updates.
    let mut port = home.open_port();
    let pid = port.child.id().expect("running");
    port.event("backend.reachable").await;
    let mut latencies = Vec::with_capacity(EVENTS);
    let mut peak_rss = 0;
    let mut ticker = tokio::time::interval(EVENT_INTERVAL);
    for seq in 1..=EVENTS as u64 {
        ticker.tick().await;
        events.send(seq).unwrap();
        let frame = port.event("call.update").await;
        let read = Instant::now();
        let id = frame["call"]["id"].as_str().unwrap();
        let echoed: u64 = id.rsplit('-').next().unwrap().parse().unwrap();
        assert_eq!(echoed, seq, "events out of order");
        let written = sent.lock().unwrap()[&seq];
        latencies.push(read - written);
        if seq.is_multiple_of(100) {
            peak_rss = peak_rss.max(rss_kib(pid, "VmRSS:"));
        }
    }
    let hwm = rss_kib(pid, "VmHWM:");
    report("backend event → frame on stdout", latencies);
    println!(
        "resident memory while relaying: peak VmRSS {:.1} MB, VmHWM {:.1} MB",
        peak_rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    assert!(port.wait().await.success());
    CredentialStore::new(StoreKind::KernelKeyring)
        .delete(&base)
        .unwrap();
}
