//! The SSE stream against a real call: every state change, in order, and the
//! same changes again after a reconnect with `Last-Event-ID`.

use std::time::Duration;

use disca_testkit::PeerBehavior;
use disca_testkit::system::{Backend, Lab};
use futures::StreamExt;
use serde_json::Value;

/// One parsed `call.update` event.
#[derive(Debug, Clone)]
struct SseEvent {
    id: i64,
    call: Value,
}

/// Reads events from `/v1/events` until `stop` says so or `limit` passes.
async fn read_events(
    backend: &Backend,
    user: &str,
    last_event_id: Option<i64>,
    stop: impl Fn(&[SseEvent]) -> bool,
) -> Vec<SseEvent> {
    let mut req = backend
        .http
        .get(format!("{}/v1/events", backend.base))
        .bearer_auth(backend.token(user))
        .timeout(Duration::from_secs(60));
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let response = req.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + disca_testkit::system::PATIENCE;
    while !stop(&events) {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("events in time")
            .expect("stream open")
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (None, None, String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().parse().unwrap());
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if kind.as_deref() == Some("call.update") {
                events.push(SseEvent {
                    id: id.unwrap(),
                    call: serde_json::from_str(&data).unwrap(),
                });
            }
        }
    }
    events
}

fn ended(events: &[SseEvent]) -> bool {
    events.last().is_some_and(|e| e.call["state"] == "ended")
}

fn distinct_states(events: &[SseEvent]) -> Vec<String> {
    let mut states: Vec<String> = Vec::new();
    for e in events {
        let s = e.call["state"].as_str().unwrap().to_owned();
        if states.last() != Some(&s) {
            states.push(s);
        }
    }
    states
}

#[tokio::test]
async fn every_state_change_arrives_in_order_and_resumes_after_a_reconnect() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(2),
        },
    )
    .await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;

    // The manager watches the whole tenant from now on.
    let manager = {
        let backend = &backend;
        async move { read_events(backend, "acme-manager", None, ended).await }
    };
    // The agent's stream drops after three events and comes back.
    let agent = {
        let backend = &backend;
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let id = backend.place_ok("acme-1001").await;
            let first = read_events(backend, "acme-1001", Some(0), |e| e.len() >= 3).await;
            let resumed = read_events(backend, "acme-1001", Some(first[2].id), ended).await;
            (id, first, resumed)
        }
    };
    let (watched, (id, first, resumed)) = tokio::join!(manager, agent);

    let expected = [
        "queued",
        "ringing_agent",
        "dialing_lead",
        "ringing_lead",
        "connected",
        "ended",
    ];
    assert_eq!(
        distinct_states(&watched),
        expected,
        "manager stream: {watched:#?}"
    );
    assert!(watched.iter().all(|e| e.call["id"] == id.as_str()));
    assert!(
        watched.windows(2).all(|w| w[0].id < w[1].id),
        "ids increase"
    );

    let mut joined: Vec<SseEvent> = first[..3].to_vec();
    joined.extend(resumed);
    let ids: Vec<i64> = joined.iter().map(|e| e.id).collect();
    let watched_ids: Vec<i64> = watched.iter().map(|e| e.id).collect();
    assert_eq!(
        ids, watched_ids,
        "the resumed stream has exactly the missed events, no gap, no repeat"
    );
    assert_eq!(distinct_states(&joined), expected);
}
