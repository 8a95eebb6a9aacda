//! The PBX connection failing mid-call: every call still ends with a
//! definite outcome, none stays live.

use std::time::Duration;

use disca_tests::PeerBehavior;
use disca_tests::system::{Backend, Lab, TcpProxy};

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
