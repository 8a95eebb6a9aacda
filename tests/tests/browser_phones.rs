//! Browser phones at the real PBX: the backend issues the credentials and
//! writes the endpoint into the phone directory, and the real Asterisk 22
//! takes a REGISTER with them at once (PJSIP realtime, no reload); rotating
//! the password with the real `disca-backend` command drops the
//! registration and refuses the old password; a click for a phone that is
//! not connected is refused before anything rings.

use std::net::SocketAddr;

use disca_backend::phones::Directory;
use disca_backend::phones::directory::Line;
use disca_testkit::PeerBehavior;
use disca_testkit::sip::{register, register_then_unregister};
use disca_testkit::system::{Backend, LEAD, Lab, backend_binary};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn phone(backend: &Backend, token: &str) -> (StatusCode, Value) {
    let response = backend
        .http
        .get(format!("{}/v1/phone", backend.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store"),
        "credentials are never cached"
    );
    (response.status(), response.json().await.unwrap())
}

async fn password(backend: &Backend, token: &str) -> String {
    let (status, body) = phone(backend, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["browser"]["password"].as_str().unwrap().to_owned()
}

/// Runs the real `disca-backend user <command>` for bruna@example.com of
/// acme, on the backend's data and the PBX's phone directory.
fn bruna_command(backend: &Backend, lab: &Lab, command: &str) {
    let mut cli = std::process::Command::new(backend_binary());
    cli.args(["user", command, "--tenant", "acme"])
        .args(["--email", "bruna@example.com"])
        .arg("--data-dir")
        .arg(backend.data_dir())
        .env("DISCA_PHONES__DIRECTORY_DB", &lab.pbx.phone_directory);
    // On PostgreSQL (DISCA_TEST_POSTGRES), the backend's database.
    if let Some(url) = &backend.app.settings.database_url {
        cli.env("DISCA_DATABASE_URL", url);
    }
    let status = cli.status().unwrap();
    assert!(status.success(), "user {command}");
}

#[tokio::test]
async fn a_new_salesperson_registers_at_once_and_a_rotated_password_drops_the_registration() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let mut backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let sip: SocketAddr = lab.pbx.sip_addr;
    // Added while Asterisk runs: nothing is reloaded.
    let token = backend.add_browser_user("bruna", "acme", "1005").await;

    let (status, body) = phone(&backend, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "browser");
    assert_eq!(body["endpoint"], "acme-1005");
    assert_eq!(body["browser"]["username"], "acme-1005");
    assert!(
        body["browser"]["ws_url"]
            .as_str()
            .unwrap()
            .starts_with("ws")
    );
    let first = body["browser"]["password"].as_str().unwrap().to_owned();
    assert_eq!(first.len(), 32);
    assert_eq!(
        password(&backend, &token).await,
        first,
        "stable until rotated"
    );

    assert!(
        !register(sip, "acme-1005", "not-the-password")
            .await
            .unwrap()
    );
    assert!(register(sip, "acme-1005", &first).await.unwrap());
    let directory = Directory::open(&lab.pbx.phone_directory).await.unwrap();
    assert_eq!(directory.registrations("acme-1005").await.unwrap(), 1);

    bruna_command(&backend, &lab, "rotate-phone-password");
    assert_eq!(
        directory.registrations("acme-1005").await.unwrap(),
        0,
        "the old registration is dropped at once"
    );
    assert!(
        !register(sip, "acme-1005", &first).await.unwrap(),
        "the old password is refused"
    );
    let second = password(&backend, &token).await;
    assert_ne!(second, first);
    assert!(register(sip, "acme-1005", &second).await.unwrap());
}

#[tokio::test]
async fn a_click_for_a_phone_that_is_not_connected_rings_nobody() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let mut backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let token = backend.add_browser_user("bruna", "acme", "1005").await;
    // In the directory, never registered.
    assert_eq!(phone(&backend, &token).await.0, StatusCode::OK);
    let (status, body) = backend.place("bruna", json!({"to": LEAD}), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "agent_phone_offline", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Seu telefone não está conectado"),
        "{body}"
    );
    let (_, calls) = backend.get("bruna", "/v1/calls").await;
    assert_eq!(calls["calls"], json!([]), "nothing was stored");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(lab.agents.calls_received(), 0);
    assert_eq!(lab.trunk.calls_received(), 0, "the lead was not called");

    // A desk phone the PBX reaches still rings as before.
    let id = backend.place_ok("acme-1001").await;
    assert!(!id.is_empty());
}

// A phone that registered and then signed out: Asterisk forgets the
// registration but cannot delete its row from the directory (it would list
// it again, as "NonQualified"); the backend deletes it when Asterisk
// announces the removal, and the click is refused.
#[tokio::test]
async fn a_click_for_a_phone_that_signed_out_rings_nobody() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let mut backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let token = backend.add_browser_user("bruna", "acme", "1005").await;
    let secret = password(&backend, &token).await;
    assert!(
        register_then_unregister(lab.pbx.sip_addr, "acme-1005", &secret)
            .await
            .unwrap()
    );
    let directory = Directory::open(&lab.pbx.phone_directory).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while directory.registrations("acme-1005").await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the removed registration stays in the directory"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, body) = backend.place("bruna", json!({"to": LEAD}), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "agent_phone_offline", "{body}");
    assert_eq!(lab.trunk.calls_received(), 0, "the lead was not called");
}

// Disabling a salesperson (the real `disca-backend user disable`) kicks
// their browser phone at once: a new password, the registration dropped,
// the old password refused. Enabled again, the phone's new password works.
#[tokio::test]
async fn disabling_a_salesperson_drops_their_phone_at_once() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let mut backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let sip: SocketAddr = lab.pbx.sip_addr;
    let token = backend.add_browser_user("bruna", "acme", "1005").await;
    let first = password(&backend, &token).await;
    assert!(register(sip, "acme-1005", &first).await.unwrap());
    let directory = Directory::open(&lab.pbx.phone_directory).await.unwrap();
    assert_eq!(directory.registrations("acme-1005").await.unwrap(), 1);

    bruna_command(&backend, &lab, "disable");
    assert_eq!(
        directory.registrations("acme-1005").await.unwrap(),
        0,
        "the registration is dropped at once"
    );
    assert!(
        !register(sip, "acme-1005", &first).await.unwrap(),
        "the old password is refused"
    );
    let kicked = directory
        .password("acme-1005", Line::Browser)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(kicked.expose(), first, "the password was rotated");

    bruna_command(&backend, &lab, "enable");
    let again = password(&backend, &token).await;
    assert_eq!(
        again,
        kicked.expose(),
        "the enabled phone gets the new password"
    );
    assert!(register(sip, "acme-1005", &again).await.unwrap());
}
