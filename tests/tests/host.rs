//! A call placed and followed through the real `disca-host` (started as
//! Chrome starts it, token in the kernel keyring) against the real backend,
//! a real Asterisk 22 and SIPp phones.

use std::time::Duration;

use disca_testkit::PeerBehavior;
use disca_testkit::host::{HostHome, host_binary};
use disca_testkit::system::{Backend, LEAD, LEAD_E164, Lab, TcpProxy};
use serde_json::{Value, json};

fn call_start(id: u64) -> Value {
    json!({"v": 1, "id": id, "type": "call.start", "number": LEAD,
        "context": {"deal_id": "5f1e7a9b2c3d4e5f6a7b8c9d", "contact_name": "Maria da Silva",
            "page_url": "https://crm.rdstation.com/app/deals/5f1e7a9b2c3d4e5f6a7b8c9d"}})
}

#[tokio::test]
async fn a_call_through_the_host_is_followed_live_and_hung_up_through_it() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let home = HostHome::logged_in(host_binary(), &backend.base, backend.token("acme-1001")).await;
    let mut port = home.open_port();
    port.event("backend.reachable").await;

    // A double click: the same request twice in a row is one call.
    port.send(&call_start(1)).await;
    port.send(&call_start(2)).await;
    let first = port.reply(&json!(1)).await;
    let second = port.reply(&json!(2)).await;
    assert_eq!(first["type"], "call.start.ok", "{first}");
    assert_eq!(second["type"], "call.start.ok", "{second}");
    let id = first["call"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        second["call"]["id"],
        id.as_str(),
        "a double click placed two calls"
    );
    assert_eq!(first["call"]["to"], LEAD_E164);
    assert_eq!(first["call"]["context"]["contact_name"], "Maria da Silva");

    // Every change arrives as call.update, in order, until both talk.
    let mut states = Vec::new();
    loop {
        let update = port
            .wait_for("call.update", |m| {
                m["type"] == "call.update" && m["call"]["id"] == id.as_str()
            })
            .await;
        let state = update["call"]["state"].as_str().unwrap().to_owned();
        states.push(state.clone());
        if state == "connected" {
            break;
        }
        assert_ne!(state, "ended", "ended before connecting: {update}");
    }
    let order = [
        "queued",
        "ringing_agent",
        "dialing_lead",
        "ringing_lead",
        "connected",
    ];
    let positions: Vec<usize> = states
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap())
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] <= w[1]),
        "out of order: {states:?}"
    );
    let status = port
        .request(json!({"v": 1, "id": 3, "type": "status.get"}))
        .await;
    assert_eq!(status["status"]["live_call"]["id"], id.as_str(), "{status}");

    // Hang up through the host.
    let hangup = port
        .request(json!({"v": 1, "id": 4, "type": "call.hangup", "call_id": id}))
        .await;
    assert_eq!(hangup["type"], "call.hangup.ok", "{hangup}");
    let ended = port
        .wait_for("the end of the call", |m| {
            m["type"] == "call.update"
                && m["call"]["id"] == id.as_str()
                && m["call"]["state"] == "ended"
        })
        .await;
    assert_eq!(ended["call"]["outcome"], "answered", "{ended}");
    assert!(ended["call"]["talk_seconds"].is_i64(), "{ended}");
    assert_eq!(lab.agents.calls_received(), 1, "one click, one call");
    assert_eq!(lab.trunk.calls_received(), 1);

    let status = port
        .request(json!({"v": 1, "id": 5, "type": "status.get"}))
        .await;
    assert!(status["status"].get("live_call").is_none(), "{status}");
    let recent = port
        .request(json!({"v": 1, "id": 6, "type": "calls.recent", "limit": 5}))
        .await;
    assert_eq!(recent["calls"][0]["id"], id.as_str());

    // The port closing ends the host cleanly; the token never reached its log.
    assert!(port.wait().await.success());
    assert!(!home.log().contains(backend.token("acme-1001")));
}

#[tokio::test]
async fn the_host_resumes_the_event_stream_after_a_cut_and_misses_nothing() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let upstream: std::net::SocketAddr =
        backend.base.trim_start_matches("http://").parse().unwrap();
    let proxy = TcpProxy::start(upstream).await;
    let via_proxy = format!("http://{}", proxy.addr);
    let home = HostHome::logged_in(host_binary(), &via_proxy, backend.token("acme-1001")).await;
    // A manager of the same tenant follows through a host of their own: the
    // team's calls are not theirs to see as their own live call.
    let manager =
        HostHome::logged_in(host_binary(), &backend.base, backend.token("acme-manager")).await;
    let mut manager_port = manager.open_port();
    manager_port.event("backend.reachable").await;

    let mut port = home.open_port();
    port.event("backend.reachable").await;
    let started = port.request(call_start(1)).await;
    let id = started["call"]["id"].as_str().unwrap().to_owned();
    port.wait_for("connected", |m| {
        m["type"] == "call.update"
            && m["call"]["id"] == id.as_str()
            && m["call"]["state"] == "connected"
    })
    .await;

    // The connection to the backend is cut; the call ends meanwhile.
    let cut = proxy.cut_for(Duration::from_secs(3));
    let hangup = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        backend
            .post("acme-1001", &format!("/v1/calls/{id}/hangup"))
            .await;
        backend.wait_until_ended("acme-1001", &id).await;
    };
    tokio::join!(cut, hangup);
    port.event("backend.unreachable").await;
    // Back: the change made during the cut arrives, resumed with Last-Event-ID.
    let ended = port
        .wait_for("the end missed during the cut", |m| {
            m["type"] == "call.update"
                && m["call"]["id"] == id.as_str()
                && m["call"]["state"] == "ended"
        })
        .await;
    assert_eq!(ended["call"]["outcome"], "answered");
    port.event("backend.reachable").await;
    let status = port
        .request(json!({"v": 1, "id": 2, "type": "status.get"}))
        .await;
    assert_eq!(status["status"]["backend"], "reachable");
    assert!(status["status"].get("live_call").is_none(), "{status}");

    // The manager's host relayed none of the agent's call.
    let status = manager_port
        .request(json!({"v": 1, "id": 1, "type": "status.get"}))
        .await;
    assert!(status["status"].get("live_call").is_none(), "{status}");
    let recent = manager_port
        .request(json!({"v": 1, "id": 2, "type": "calls.recent"}))
        .await;
    assert_eq!(recent["calls"], json!([]), "{recent}");
    manager_port.close_input();
    while let Some(message) = manager_port.next().await {
        assert_ne!(
            message["type"], "call.update",
            "the manager's host relayed {message}"
        );
    }
}
