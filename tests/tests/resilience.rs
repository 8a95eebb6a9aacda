//! The PBX connection failing mid-call: every call still ends with a
//! definite outcome, none stays live.

use std::time::{Duration, Instant};

use disca_testkit::PeerBehavior;
use disca_testkit::system::{Backend, LEAD, Lab, PATIENCE, TcpProxy};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn ami_connection_cut_mid_call() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(3),
        },
    )
    .await;
    let proxy = TcpProxy::start(lab.pbx.ami_addr).await;
    let backend = Backend::start(&lab.pbx, proxy.addr).await;
    let id = backend.place_ok("acme-1001").await;
    backend.wait_for_state("acme-1001", &id, "connected").await;
    // The lead hangs up while the backend is not listening.
    proxy.cut_for(Duration::from_secs(5)).await;
    let call = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    // Its end was not seen: estimated, and the outage is not talk time.
    assert_eq!(call["durations_estimated"], true, "{call:#}");
    assert!(call["talk_seconds"].as_i64().unwrap() <= 3, "{call:#}");
    backend.wait_until_healthy().await;
    // And the reconnected backend places calls again.
    let next = backend.place_ok("acme-1001").await;
    let call = backend.wait_until_ended("acme-1001", &next).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
}

#[tokio::test]
async fn ami_connection_cut_while_the_call_goes_on() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(6),
        },
    )
    .await;
    let proxy = TcpProxy::start(lab.pbx.ami_addr).await;
    let backend = Backend::start(&lab.pbx, proxy.addr).await;
    let id = backend.place_ok("acme-1001").await;
    backend.wait_for_state("acme-1001", &id, "connected").await;
    proxy.cut_for(Duration::from_secs(1)).await;
    backend.wait_until_healthy().await;
    // Reconciled as still live, then followed to its real end.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        backend.get("acme-1001", &format!("/v1/calls/{id}")).await.1["state"],
        "connected"
    );
    let call = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    assert!(call["talk_seconds"].as_i64().unwrap() >= 5, "{call:#}");
}

#[tokio::test]
async fn asterisk_restarted_mid_call() {
    let mut lab =
        Lab::start_with_ring_timeout(PeerBehavior::AnswerAndWait, PeerBehavior::RingForever, 60)
            .await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let ringing = backend.place_ok("acme-1001").await;
    backend
        .wait_for_state("acme-1001", &ringing, "ringing_lead")
        .await;
    lab.pbx.restart().await.expect("Asterisk restarted");
    let call = backend.wait_until_ended("acme-1001", &ringing).await;
    assert!(call["outcome"].is_string(), "{call:#}");
    backend.wait_until_healthy().await;
    let (_, live) = backend.get("acme-manager", "/v1/calls").await;
    assert!(
        live["calls"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["state"] == "ended"),
        "{live:#}"
    );
}

/// The AMI link stalls (open, nothing forwarded): detected within the
/// keepalive's bound; a click meanwhile is answered 503 quickly, its call
/// ends as never placed (no CRM note) once the link is back, and it never
/// blocks the salesperson.
#[tokio::test]
async fn a_stalled_ami_link_leaves_no_phantom_call() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(1),
        },
    )
    .await;
    let proxy = TcpProxy::start(lab.pbx.ami_addr).await;
    let backend = Backend::start(&lab.pbx, proxy.addr).await;

    proxy.stall();
    let started = Instant::now();
    let (status, body) = backend
        .place(
            "acme-1001",
            json!({"to": LEAD}),
            Some("click-during-the-stall"),
        )
        .await;
    let answered_after = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:#}");
    assert_eq!(body["error"]["code"], "pbx_unavailable", "{body:#}");
    // Ping every 2 s, 2 s to answer: a stall is found within 4 s.
    assert!(
        answered_after < Duration::from_secs(5),
        "the click waited {answered_after:?} on a stalled link"
    );
    let (_, health) = backend.health().await;
    assert_eq!(health["ami_connected"], false, "{health:#}");

    proxy.resume();
    backend.wait_until_healthy().await;
    // The call that never reached Asterisk ends as not placed, without a note.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let phantom = loop {
        let (_, page) = backend.get("acme-1001", "/v1/calls").await;
        let calls = page["calls"].as_array().unwrap().clone();
        assert_eq!(calls.len(), 1, "{page:#}");
        if calls[0]["state"] == "ended" {
            break calls[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{page:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(phantom["not_placed"], true, "{phantom:#}");
    assert_eq!(phantom["outcome"], "failed", "{phantom:#}");
    assert!(
        phantom.get("crm").is_none(),
        "a note was queued: {phantom:#}"
    );
    // The salesperson is not blocked: the same click now places the call.
    let (status, call) = backend
        .place(
            "acme-1001",
            json!({"to": LEAD}),
            Some("click-during-the-stall"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{call:#}");
    let call = backend
        .wait_until_ended("acme-1001", call["id"].as_str().unwrap())
        .await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
}
