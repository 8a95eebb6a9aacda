//! Resident memory of the real `disca-backend` process holding 1,000 live
//! calls. A replaying AMI server stands in for Asterisk: it answers every
//! Originate with the event stream a real Asterisk 22 sent for an answered
//! call (captured in `backend/ami/tests/data/answered_call.ami`, ids
//! rewritten per call), stopped once both legs are bridged, and lists the
//! live channels on `CoreShowChannels` so reconciliation keeps them.
//!
//! Run: `cargo bench -p disca-backend --bench live_calls_memory`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use disca_testkit::procfs::status_kib;
use disca_testkit::system::{BackendProcess, BackendProcessOptions, seed_load_agents};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const CALLS: usize = 1000;
const CAPTURE: &str = include_str!("../ami/tests/data/answered_call.ami");

/// The captured answered call from the agent's Newchannel to the second
/// BridgeEnter, as a template.
fn template() -> String {
    let start = CAPTURE
        .find("Event: Newchannel")
        .expect("capture has a Newchannel");
    let bridged = CAPTURE
        .rfind("Event: BridgeEnter")
        .expect("capture has BridgeEnter");
    let end = bridged
        + CAPTURE[bridged..]
            .find("\r\n\r\n")
            .expect("complete message")
        + 4;
    CAPTURE[start..end].to_owned()
}

type Live = Arc<Mutex<HashMap<String, usize>>>;

async fn fake_asterisk(listener: TcpListener, live: Live) {
    let template = Arc::new(template());
    while let Ok((socket, _)) = listener.accept().await {
        let (template, live) = (template.clone(), live.clone());
        socket.set_nodelay(true).ok();
        tokio::spawn(async move {
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            write
                .write_all(b"Asterisk Call Manager/11.0.0\r\n")
                .await
                .ok();
            let mut headers: HashMap<String, String> = HashMap::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((k, v)) = line.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    continue;
                }
                if !line.is_empty() {
                    continue;
                }
                let action = headers
                    .remove("action")
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let id = headers.remove("actionid").unwrap_or_default();
                let mut out = String::new();
                match action.as_str() {
                    "challenge" => {
                        out += &format!(
                            "Response: Success\r\nActionID: {id}\r\nChallenge: 123456789\r\n\r\n"
                        )
                    }
                    "ping" => {
                        out += &format!("Response: Success\r\nActionID: {id}\r\nPing: Pong\r\n\r\n")
                    }
                    "originate" => {
                        let call = headers.get("channelid").cloned().unwrap_or_default();
                        let n = {
                            let mut live = live.lock().unwrap();
                            let n = live.len();
                            live.insert(call.clone(), n);
                            n
                        };
                        out += &format!(
                            "Response: Success\r\nActionID: {id}\r\nMessage: Originate successfully queued\r\n\r\n"
                        );
                        out += &template
                            .replace("disca-call-1", &call)
                            .replace("1795237288.1", &format!("lead-{n}"))
                            .replace("agent-1001-00000000", &format!("agent-{n:08}"))
                            .replace("trunk-00000001", &format!("trunk-{n:08}"));
                    }
                    "coreshowchannels" => {
                        out += &format!(
                            "Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n"
                        );
                        let live = live.lock().unwrap();
                        for (call, n) in live.iter() {
                            out += &format!(
                                "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: PJSIP/agent-{n:08}\r\nChannelState: 6\r\nUniqueid: {call}\r\nLinkedid: {call}\r\nBridgeId: b{n}\r\n\r\n"
                            );
                            out += &format!(
                                "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: PJSIP/trunk-{n:08}\r\nChannelState: 6\r\nUniqueid: lead-{n}\r\nLinkedid: {call}\r\nBridgeId: b{n}\r\n\r\n"
                            );
                        }
                        out += &format!(
                            "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: {}\r\n\r\n",
                            live.len() * 2
                        );
                    }
                    _ => out += &format!("Response: Success\r\nActionID: {id}\r\n\r\n"),
                }
                if write.write_all(out.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = seed_load_agents(dir.path(), CALLS as u32).await;
    let ami = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ami_addr = ami.local_addr().unwrap();
    let live: Live = Arc::default();
    tokio::spawn(fake_asterisk(ami, live.clone()));
    let backend = BackendProcess::start(BackendProcessOptions {
        binary: Path::new(env!("CARGO_BIN_EXE_disca-backend")),
        data_dir: dir.path(),
        ami_addr,
        ami_username: "disca",
        ami_secret: "replayed",
        extra_args: &[],
        env: &[],
    })
    .await;
    let pid = backend.pid();
    let base = backend.base.clone();
    let http = reqwest::Client::new();
    let idle_rss = status_kib(pid, "VmRSS:");

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in tokens.chunks(CALLS / 50) {
        let (chunk, http, base) = (chunk.to_vec(), http.clone(), base.clone());
        tasks.spawn(async move {
            for token in chunk {
                let r = http
                    .post(format!("{base}/v1/calls"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"to": "(11) 98765-4321", "context": {"deal_id": "5f1e7a9b2c3d4e5f6a7b8c9d", "page_url": "https://crm.rdstation.com/app/deals/5f1e7a9b2c3d4e5f6a7b8c9d"}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    // Wait until the backend has followed every call to `connected`.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let metrics = http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let live_calls = metrics
            .lines()
            .find_map(|l| l.strip_prefix("disca_calls_live{pbx=\"default\"} "))
            .unwrap_or("0")
            .trim()
            .to_owned();
        let page: serde_json::Value = http
            .get(format!("{base}/v1/calls?limit=1"))
            .bearer_auth(&tokens[CALLS - 1])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if live_calls == CALLS.to_string() && page["calls"][0]["state"] == "connected" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "calls never all connected (live {live_calls})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let placed_in = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await; // a reconciliation pass included
    let live_rss = status_kib(pid, "VmRSS:");
    let peak = status_kib(pid, "VmHWM:");
    println!("live_calls_memory: {CALLS} live calls (connected, followed by the tracker)");
    println!(
        "  placed and followed in   {:>8.2} s",
        placed_in.as_secs_f64()
    );
    println!(
        "  RSS idle                 {:>8.1} MB",
        idle_rss as f64 / 1024.0
    );
    println!(
        "  RSS with {CALLS} live calls {:>8.1} MB",
        live_rss as f64 / 1024.0
    );
    println!(
        "  RSS peak (VmHWM)         {:>8.1} MB",
        peak as f64 / 1024.0
    );
    println!("  target                   {:>8.1} MB", 50.0);
    assert_eq!(live.lock().unwrap().len(), CALLS);
}
