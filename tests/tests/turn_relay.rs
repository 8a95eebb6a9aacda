//! TURN for browser phones behind strict firewalls: the short-lived
//! credentials the backend hands a browser phone (`GET /v1/phone`, coturn's
//! "TURN REST API" scheme) are accepted by a real coturn. Chromium, given
//! exactly the phone's `ice_servers` and allowed only relayed candidates,
//! gets a relay address from the server over UDP and over TCP; with the
//! password altered, coturn refuses it and no relay candidate comes.

use disca_testkit::PeerBehavior;
use disca_testkit::chromium::{Chromium, ChromiumOptions};
use disca_testkit::system::{Backend, Lab};
use disca_testkit::turn::TurnServer;
use serde_json::Value;

const SECRET: &str = "the-turn-secret-shared-with-coturn";

/// Gathers ICE candidates with `servers` and relayed candidates only;
/// evaluates to the candidate lines.
const GATHER: &str = r#"(async (servers) => {
  const pc = new RTCPeerConnection({ iceServers: servers, iceTransportPolicy: 'relay' });
  pc.createDataChannel('probe');
  const found = [];
  pc.onicecandidate = (event) => {
    if (event.candidate && event.candidate.candidate) found.push(event.candidate.candidate);
  };
  const complete = new Promise((resolve) => {
    pc.onicegatheringstatechange = () => {
      if (pc.iceGatheringState === 'complete') resolve();
    };
  });
  await pc.setLocalDescription(await pc.createOffer());
  await Promise.race([complete, new Promise((resolve) => setTimeout(resolve, 10000))]);
  pc.close();
  return found;
})"#;

#[tokio::test]
async fn the_phone_s_turn_credentials_get_a_relay_from_coturn() {
    let turn = TurnServer::start(SECRET).await.expect("coturn starts");
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let urls = vec![turn.url("udp"), turn.url("tcp")];
    let mut backend = Backend::start_with_phone_settings(&lab.pbx, move |phones| {
        phones.turn_urls = urls;
        phones.turn_secret = Some(SECRET.into());
    })
    .await;
    let token = backend.add_browser_user("bruna", "acme", "1005").await;
    let (status, body) = backend.get("bruna", "/v1/phone").await;
    assert_eq!(status, 200, "{body}");
    let servers = body["browser"]["ice_servers"].clone();
    let turn_entry = servers
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["username"].is_string())
        .unwrap_or_else(|| panic!("no TURN server with credentials in {servers}"));
    let username = turn_entry["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').expect("<expiry>:<user>");
    assert!(expiry.parse::<u64>().is_ok(), "{username}");
    assert!(!user.is_empty() && !user.contains(&token), "{username}");

    let dir = tempfile::tempdir().unwrap();
    let chromium = Chromium::launch(ChromiumOptions::new(dir.path().join("profile")))
        .await
        .expect("chromium starts");
    let page = chromium.open("about:blank").await.expect("a page");
    let gather = |servers: &Value| format!("{GATHER}({servers})");

    // Each TURN URL on its own (UDP, then TCP), with the phone's credential.
    let urls: Vec<String> = turn_entry["urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(urls.len(), 2, "{turn_entry}");
    for url in &urls {
        let mut one = turn_entry.clone();
        one["urls"] = Value::from(vec![url.clone()]);
        let candidates = page
            .evaluate(&gather(&Value::from(vec![one])))
            .await
            .unwrap();
        let relays: Vec<&str> = candidates
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .filter(|c| c.contains(" typ relay"))
            .collect();
        assert!(
            relays.iter().any(|c| c.contains("127.0.0.1")),
            "no relay address from coturn through {url}: {candidates}"
        );
    }

    let mut forged = servers.clone();
    for server in forged.as_array_mut().unwrap() {
        if let Some(credential) = server["credential"].as_str() {
            server["credential"] = Value::from(format!("{credential}x"));
        }
    }
    let candidates = page.evaluate(&gather(&forged)).await.unwrap();
    assert!(
        !candidates.to_string().contains(" typ relay"),
        "coturn relayed with a forged password: {candidates}"
    );
}
