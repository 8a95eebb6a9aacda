//! A call whose end the backend did not see — it was SIGKILLed and came
//! back after the lead hung up — is ended where it was last seen alive, with
//! its durations marked estimated: the downtime is never counted as talk.

use std::time::Duration;

use disca_testkit::PeerBehavior;
use disca_testkit::system::{
    BackendProcess, BackendProcessOptions, LEAD, Lab, backend_binary, place_ok_at, seed_users,
    wait_for_call,
};
use serde_json::json;

#[tokio::test]
async fn a_call_that_ends_while_the_backend_is_down_gets_estimated_durations() {
    const TALK: Duration = Duration::from_secs(6);
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup { talk: TALK },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (tokens, _) = seed_users(dir.path()).await;
    let token = &tokens["acme-1001"];
    let binary = backend_binary();
    let options = || BackendProcessOptions {
        binary: &binary,
        data_dir: dir.path(),
        ami_addr: lab.pbx.ami_addr,
        ami_username: &lab.pbx.ami_username,
        ami_secret: &lab.pbx.ami_secret,
        extra_args: &[],
        env: &[],
    };
    let http = reqwest::Client::new();

    let backend = BackendProcess::start(options()).await;
    let id = place_ok_at(&http, &backend.base, token, &json!({"to": LEAD})).await;
    wait_for_call(&http, &backend.base, token, &id, "connected", |c| {
        c["state"] == "connected"
    })
    .await;

    // The backend dies mid-call; the lead hangs up meanwhile; the backend
    // comes back long after.
    tokio::time::sleep(Duration::from_secs(1)).await;
    backend.kill();
    tokio::time::sleep(TALK + Duration::from_secs(15)).await;
    let backend = BackendProcess::start(options()).await;

    let call = wait_for_call(&http, &backend.base, token, &id, "ended", |c| {
        c["state"] == "ended"
    })
    .await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    assert_eq!(call["durations_estimated"], true, "{call:#}");
    let talk = call["talk_seconds"].as_i64().unwrap();
    assert!(
        talk <= TALK.as_secs() as i64,
        "talk time {talk} s is longer than the real {TALK:?}: downtime counted as talk"
    );
}

#[tokio::test]
async fn a_call_seen_ending_has_measured_durations() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(2),
        },
    )
    .await;
    let backend = disca_testkit::system::Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let id = backend.place_ok("acme-1001").await;
    let call = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    assert!(call.get("durations_estimated").is_none(), "{call:#}");
    assert!(call["talk_seconds"].as_i64().unwrap() >= 1, "{call:#}");
}
