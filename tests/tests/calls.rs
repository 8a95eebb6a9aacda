//! Calls placed through the real backend, a real Asterisk 22 and real SIP
//! peers (SIPp): every outcome, hangup, idempotency, validation before AMI,
//! and tenant isolation.

use std::time::Duration;

use disca_testkit::PeerBehavior;
use disca_testkit::system::{Backend, LEAD, LEAD_E164, LOCAL_AGENT_CHANNEL, Lab, manager_session};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn answered_call_has_ring_and_talk_time_and_a_recording() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(3),
        },
    )
    .await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let id = backend.place_ok("acme-1001").await;
    let call = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    assert_eq!(call["to"], LEAD_E164);
    assert_eq!(call["agent_endpoint"], "acme-1001");
    assert_eq!(call["context"]["deal_id"], "5f1e7a9b2c3d4e5f6a7b8c9d");
    assert_eq!(call["context"]["contact_name"], "Maria da Silva");
    assert!(call["ring_seconds"].as_i64().unwrap() >= 0);
    assert!(call["talk_seconds"].as_i64().unwrap() >= 2, "{call:#}");
    for stamp in [
        "created_at",
        "agent_answered_at",
        "lead_answered_at",
        "ended_at",
    ] {
        assert!(call[stamp].is_string(), "{stamp} missing: {call:#}");
    }
    assert_eq!(call["hangup_cause"]["code"], 16, "{call:#}");
    let file = call["recording_file"].as_str().unwrap();
    assert_eq!(file, format!("acme-{id}.wav"));
    let recording = lab.pbx.recordings_dir.join(file);
    let wait_until = tokio::time::Instant::now() + Duration::from_secs(5);
    while !recording.exists() && tokio::time::Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recording.exists(),
        "no recording at {}",
        recording.display()
    );
}

#[tokio::test]
async fn busy_lead() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::Busy).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let id = backend.place_ok("acme-1001").await;
    let call = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(call["outcome"], "busy", "{call:#}");
    assert_eq!(call["hangup_cause"]["code"], 17, "{call:#}");
    assert!(
        call.get("talk_seconds").is_none() && call.get("recording_file").is_none(),
        "{call:#}"
    );
}

/// A number the carrier says does not exist (404, cause 1): the call
/// fails, and the manager page flags the number to be fixed in the CRM.
#[tokio::test]
async fn a_number_that_does_not_exist_is_flagged_for_the_manager() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::NotFound).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let id = backend.place_ok("acme-1001").await;
    let call = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(call["outcome"], "failed", "{call:#}");
    assert_eq!(call["hangup_cause"]["code"], 1, "{call:#}");
    let cookie = manager_session(&backend.http, &backend.base, backend.token("acme-manager")).await;
    let rows: serde_json::Value = backend
        .http
        .get(format!("{}/manager/api/calls", backend.base))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = &rows["calls"][0];
    assert_eq!(row["id"], id.as_str());
    assert!(
        row["number_problem"]
            .as_str()
            .is_some_and(|p| p.starts_with("Número inexistente")),
        "{row:#}"
    );
}

#[tokio::test]
async fn lead_never_answers() {
    let lab =
        Lab::start_with_ring_timeout(PeerBehavior::AnswerAndWait, PeerBehavior::RingForever, 3)
            .await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let id = backend.place_ok("acme-1001").await;
    backend
        .wait_for_state("acme-1001", &id, "ringing_lead")
        .await;
    let call = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(call["outcome"], "no_answer", "{call:#}");
    assert!(call["ring_seconds"].as_i64().unwrap() >= 2, "{call:#}");
}

#[tokio::test]
async fn lead_declines() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::Decline).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let id = backend.place_ok("acme-1001").await;
    let call = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(call["outcome"], "rejected", "{call:#}");
}

#[tokio::test]
async fn agent_does_not_answer_and_the_lead_is_never_dialled() {
    let lab = Lab::start(PeerBehavior::RingForever, PeerBehavior::AnswerAndWait).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let id = backend.place_ok("acme-1001").await;
    backend
        .wait_for_state("acme-1001", &id, "ringing_agent")
        .await;
    let call = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(call["outcome"], "agent_no_answer", "{call:#}");
    assert!(call.get("agent_answered_at").is_none(), "{call:#}");
    assert_eq!(lab.trunk.calls_received(), 0, "the lead was dialled");
}

/// Hangs the call up through the API (202) and waits until it ends `canceled`.
async fn hang_up_cancels(backend: &Backend, id: &str) {
    let (status, _) = backend
        .post("acme-1001", &format!("/v1/calls/{id}/hangup"))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let call = backend.wait_until_ended("acme-1001", id).await;
    assert_eq!(call["outcome"], "canceled", "{call:#}");
}

#[tokio::test]
async fn hangup_while_the_lead_rings_cancels() {
    let lab =
        Lab::start_with_ring_timeout(PeerBehavior::AnswerAndWait, PeerBehavior::RingForever, 30)
            .await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let id = backend.place_ok("acme-1001").await;
    backend
        .wait_for_state("acme-1001", &id, "ringing_lead")
        .await;
    hang_up_cancels(&backend, &id).await;
    let (status, again) = backend
        .post("acme-1001", &format!("/v1/calls/{id}/hangup"))
        .await;
    assert_eq!(
        (status, &again["outcome"]),
        (StatusCode::OK, &json!("canceled"))
    );
}

#[tokio::test]
async fn hangup_while_the_agent_rings_cancels() {
    let lab = Lab::start(PeerBehavior::RingForever, PeerBehavior::AnswerAndWait).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let id = backend.place_ok("acme-1001").await;
    backend
        .wait_for_state("acme-1001", &id, "ringing_agent")
        .await;
    hang_up_cancels(&backend, &id).await;
    assert_eq!(lab.trunk.calls_received(), 0);
}

#[tokio::test]
async fn a_retried_click_places_one_call_and_a_second_call_while_busy_is_409() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(2),
        },
    )
    .await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let body = json!({"to": LEAD, "context": {"deal_id": "42"}});
    let (s1, first) = backend
        .place("acme-1001", body.clone(), Some("click-1"))
        .await;
    let (s2, retry) = backend
        .place("acme-1001", body.clone(), Some("click-1"))
        .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first["id"], retry["id"]);
    let (s3, reuse) = backend
        .place(
            "acme-1001",
            json!({"to": "(21) 2345-6789"}),
            Some("click-1"),
        )
        .await;
    assert_eq!(s3, StatusCode::UNPROCESSABLE_ENTITY, "{reuse}");
    let (s4, busy) = backend.place("acme-1001", body, Some("click-2")).await;
    assert_eq!(s4, StatusCode::CONFLICT, "{busy}");
    assert_eq!(busy["error"]["code"], "agent_busy");
    let id = first["id"].as_str().unwrap();
    backend.wait_until_ended("acme-1001", id).await;
    assert_eq!(lab.agents.calls_received(), 1, "one click, one call");
    let (_, list) = backend.get("acme-1001", "/v1/calls").await;
    assert_eq!(list["calls"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_input_never_reaches_asterisk() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let (status, body) = backend.place("acme-1001", json!({"to": "123"}), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = backend
        .place(
            "acme-1001",
            json!({"to": "11 98765-4321\r\nAction: Originate"}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = backend
        .place("acme-1001", json!({"to": "11 98765-4321\u{0}"}), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for context in [
        json!({"deal_id": "1\r\nAction: Command"}),
        json!({"contact_id": "a\u{7}"}),
        json!({"page_url": "https://x/\nEvent: x"}),
    ] {
        let (status, body) = backend
            .place("acme-1001", json!({"to": LEAD, "context": context}), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        lab.agents.calls_received(),
        0,
        "an invalid request rang a phone"
    );
    let (_, list) = backend.get("acme-1001", "/v1/calls").await;
    assert!(list["calls"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn tenants_are_isolated() {
    let lab =
        Lab::start_with_ring_timeout(PeerBehavior::AnswerAndWait, PeerBehavior::RingForever, 30)
            .await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let id = backend.place_ok("acme-1001").await;
    backend
        .wait_for_state("acme-1001", &id, "ringing_lead")
        .await;
    let path = format!("/v1/calls/{id}");
    // Another tenant's call is answered exactly like an unknown one: no
    // way to learn that an id exists.
    let unknown = "/v1/calls/01a23a7a-964c-75e1-9483-653147c4e685";
    let (status, body) = backend.get("globex-2001", &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!((status, body), backend.get("globex-2001", unknown).await);
    let (status, body) = backend.post("globex-2001", &format!("{path}/hangup")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        (status, body),
        backend
            .post("globex-2001", &format!("{unknown}/hangup"))
            .await
    );
    assert_eq!(
        backend
            .post("globex-2001", &format!("{path}/crm/retry"))
            .await
            .0,
        StatusCode::FORBIDDEN,
        "an agent may not queue notes: refused before any look-up"
    );
    assert_eq!(
        backend.get("acme-1002", &path).await.0,
        StatusCode::FORBIDDEN,
        "agents see only their own calls"
    );
    assert_eq!(
        backend.get("acme-manager", &path).await.0,
        StatusCode::OK,
        "managers see the tenant's calls"
    );
    let (_, theirs) = backend.get("globex-2001", "/v1/calls").await;
    assert!(theirs["calls"].as_array().unwrap().is_empty());
    let (_, managed) = backend.get("acme-manager", "/v1/calls").await;
    assert_eq!(managed["calls"][0]["id"], id.as_str());
    // The other tenant's stream, replayed from the very beginning, is empty.
    let r = backend
        .http
        .get(format!("{}/v1/events", backend.base))
        .bearer_auth(backend.token("globex-2001"))
        .header("Last-Event-ID", "0")
        .timeout(Duration::from_millis(1500))
        .send()
        .await
        .unwrap();
    let mut stream = r.bytes_stream();
    let mut seen = Vec::new();
    while let Ok(Some(Ok(chunk))) = tokio::time::timeout(
        Duration::from_millis(1000),
        futures::StreamExt::next(&mut stream),
    )
    .await
    {
        seen.extend_from_slice(&chunk);
    }
    assert!(
        !String::from_utf8_lossy(&seen).contains("call.update"),
        "globex saw acme's calls"
    );
    // Still live and untouched by the other tenant's hangup.
    assert_eq!(
        backend.get("acme-1001", &path).await.1["state"],
        "ringing_lead"
    );
    backend.post("acme-1001", &format!("{path}/hangup")).await;
    backend.wait_until_ended("acme-1001", &id).await;
}

#[tokio::test]
async fn a_phone_the_pbx_does_not_know_is_refused_before_anything_is_stored() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    // initech's endpoints do not exist at the PBX.
    let (status, error) = backend
        .place("initech-3001", json!({"to": LEAD}), Some("click-1"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    assert_eq!(error["error"]["code"], "agent_phone_offline");
    let (_, list) = backend.get("initech-3001", "/v1/calls").await;
    assert_eq!(list["calls"], json!([]), "{list:#}");
}

#[tokio::test]
async fn a_call_the_pbx_refuses_is_502_and_a_retry_tries_again() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    // Through a Local channel (no reachability check), to an agent the
    // dialplan has no extension for: Asterisk refuses the Originate.
    let backend =
        Backend::start_with_agent_channel(&lab.pbx, lab.pbx.ami_addr, Some(LOCAL_AGENT_CHANNEL))
            .await;
    let body = json!({"to": LEAD});
    for _ in 0..2 {
        let (status, error) = backend
            .place("initech-3001", body.clone(), Some("click-1"))
            .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{error}");
        assert_eq!(error["error"]["code"], "pbx_refused");
    }
    let (_, list) = backend.get("initech-3001", "/v1/calls").await;
    let calls = list["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "each attempt is kept: {list:#}");
    assert!(
        calls
            .iter()
            .all(|c| c["state"] == "ended" && c["outcome"] == "failed"),
        "{list:#}"
    );
    // Its agent is not left "in a call".
    let (status, _) = backend.place("initech-3001", body, None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn an_agent_reached_through_a_local_channel() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(2),
        },
    )
    .await;
    let backend =
        Backend::start_with_agent_channel(&lab.pbx, lab.pbx.ami_addr, Some(LOCAL_AGENT_CHANNEL))
            .await;
    let id = backend.place_ok("acme-1001").await;
    let call = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    assert!(call["talk_seconds"].as_i64().unwrap() >= 1, "{call:#}");
    assert_eq!(
        lab.agents.calls_received(),
        0,
        "the agent side stayed inside Asterisk"
    );
    assert_eq!(lab.trunk.calls_received(), 1);
}
