//! Real headless Chromium with a probe extension (`tests/browser-extension/`)
//! and the real `disca-host`, registered with `disca-host install
//! --user-data-dir`: Chromium accepts the manifest, starts the host for the
//! extension's port, and a call is placed, followed live and hung up through
//! it, against the real backend, Asterisk 22 and SIPp phones.

use std::path::Path;
use std::process::Stdio;

use axum::Router;
use axum::routing::post;
use disca_testkit::PeerBehavior;
use disca_testkit::host::{HostHome, host_binary};
use disca_testkit::system::{Backend, LEAD, LEAD_E164, Lab, PATIENCE};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Receives what the probe reports: `{"kind": "message" | "disconnected", "payload"}`.
async fn report_server() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (reports, received) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/report",
        post(move |body: String| {
            let reports = reports.clone();
            async move {
                if let Ok(report) = serde_json::from_str::<Value>(&body) {
                    let _ = reports.send(report);
                }
                [("access-control-allow-origin", "*")]
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/report", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

fn copy_probe(to: &Path, config: &Value) {
    std::fs::create_dir_all(to).unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser-extension");
    for file in ["manifest.json", "worker.js"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
    std::fs::write(to.join("config.json"), config.to_string()).unwrap();
}

#[tokio::test]
async fn chromium_places_and_follows_a_call_through_the_installed_host() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let home = HostHome::logged_in(host_binary(), &backend.base, backend.token("acme-1001")).await;

    let (report_url, mut reports) = report_server().await;
    let extension = home.path().join("extension");
    copy_probe(&extension, &json!({"report": report_url, "number": LEAD}));
    let mut chromium = tokio::process::Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", home.browser_dir().display()))
        .arg(format!(
            "--disable-extensions-except={}",
            extension.display()
        ))
        .arg(format!("--load-extension={}", extension.display()))
        .arg("about:blank")
        // The host Chromium starts inherits this home: its settings, its log.
        .envs(home.environment())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium (Debian package chromium) runs");

    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let ended = loop {
        let report = tokio::time::timeout_at(deadline, reports.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the call never ended; the probe saw {messages:#?}\nhost log:\n{}",
                    home.log()
                )
            })
            .expect("report server running");
        assert_eq!(
            report["kind"],
            "message",
            "port closed: {report}; before that: {messages:#?}\nhost log:\n{}",
            home.log()
        );
        let message = report["payload"].clone();
        messages.push(message.clone());
        if message["type"] == "call.update" && message["call"]["state"] == "ended" {
            break message;
        }
    };
    let _ = chromium.kill().await;

    let find = |kind: &str| messages.iter().find(|m| m["type"] == kind).cloned();
    let status = find("status.get.ok").expect("status reply");
    assert_eq!(status["status"]["logged_in"], true, "{status}");
    let started = find("call.start.ok").expect("call.start reply");
    assert_eq!(started["call"]["to"], LEAD_E164);
    let id = started["call"]["id"].clone();
    assert!(
        messages
            .iter()
            .any(|m| m["type"] == "call.update" && m["call"]["state"] == "connected")
    );
    assert!(find("call.hangup.ok").is_some(), "{messages:#?}");
    assert_eq!(ended["call"]["id"], id);
    assert_eq!(ended["call"]["outcome"], "answered", "{ended}");
    assert_eq!(lab.agents.calls_received(), 1);
    assert_eq!(lab.trunk.calls_received(), 1);
    assert!(home.log().contains("port opened"), "{}", home.log());
}
