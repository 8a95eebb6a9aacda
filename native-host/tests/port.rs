//! The real `disca-host` binary started as Chrome starts it (pipes, the
//! origin as first argument) in a home of its own, against a real backend
//! with no PBX behind it: the origin check, every malformed input, login
//! state, backend state and backend errors as replies. Calls through a real
//! Asterisk are in /tests/tests/host.rs.

use disca_host::credentials::{CredentialStore, StoreKind};
use disca_testkit::host::{HostHome, TEST_EXTENSION_ID};
use disca_testkit::system::Backend;
use serde_json::{Value, json};

fn home() -> HostHome {
    HostHome::new(env!("CARGO_BIN_EXE_disca-host").into())
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_ne_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

fn error_code(message: &Value) -> &str {
    assert_eq!(message["type"], "error", "{message}");
    message["error"]["code"].as_str().unwrap()
}

#[tokio::test]
async fn refuses_a_caller_it_was_not_installed_for() {
    let home = home();
    let mut port = home.open_port();
    let refusal = port.next().await.unwrap();
    assert_eq!(error_code(&refusal), "origin_not_allowed");
    assert!(!port.wait().await.success());

    home.install().await;
    let mut other = home.open_port_for("chrome-extension://pppppppppppppppppppppppppppppppp/");
    assert_eq!(
        error_code(&other.next().await.unwrap()),
        "origin_not_allowed"
    );
    assert!(!other.wait().await.success());
}

#[tokio::test]
async fn every_malformed_input_gets_an_error_naming_it_and_the_host_keeps_serving() {
    let home = home();
    home.install().await;
    let mut port = home.open_port();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // A length over the cap, with its bytes.
        (frame(&vec![b' '; 100_000]), "frame_too_large"),
        (frame(b"\"\xff\xfe\""), "invalid_utf8"),
        (frame(b"{\"v\": 1, \"id\": "), "invalid_json"),
        (frame(b"[1, 2, 3]"), "invalid_message"),
        (
            frame(br#"{"v": 1, "id": "a", "type": "call.transfer"}"#),
            "unknown_type",
        ),
        (
            frame(br#"{"v": 1, "id": "b", "type": "call.start", "number": 11987654321}"#),
            "invalid_fields",
        ),
        (
            frame(br#"{"v": 1, "type": "status.get"}"#),
            "invalid_fields",
        ),
        (
            frame(br#"{"v": 9, "id": "c", "type": "status.get"}"#),
            "unsupported_version",
        ),
        (
            frame(
                br#"{"v": 1, "id": "d", "type": "call.start", "number": "11\r\nAction: Hangup"}"#,
            ),
            "invalid_number",
        ),
    ];
    // Nobody is logged in: the host says so first.
    port.event("auth.required").await;
    for (bytes, code) in &cases {
        port.send_raw(bytes).await;
        let reply = port.next().await.unwrap();
        assert_eq!(error_code(&reply), *code, "{reply}");
        assert!(!reply["error"]["message"].as_str().unwrap().is_empty());
    }
    // Ids are echoed when they could be read.
    port.send(&json!({"v": 1, "id": 42, "type": "calls.recent", "limit": "5"}))
        .await;
    let reply = port.next().await.unwrap();
    assert_eq!(
        (error_code(&reply), &reply["id"]),
        ("invalid_fields", &json!(42))
    );
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limit"),
        "{reply}"
    );

    // Still serving.
    let status = port
        .request(json!({"v": 1, "id": "s", "type": "status.get"}))
        .await;
    assert_eq!(status["type"], "status.get.ok");
    assert_eq!(status["status"]["logged_in"], false);
    assert_eq!(status["status"]["backend"], "not_configured");
    let refused = port
        .request(json!({"v": 1, "id": "x", "type": "call.start", "number": "+5511987654321"}))
        .await;
    assert_eq!(error_code(&refused), "not_logged_in");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("clique em Entrar")
    );

    // A frame cut short by the end of input is reported, then the host exits.
    port.send_raw(&frame(br#"{"v": 1, "id": "t", "type": "status.get"}"#)[..10])
        .await;
    port.close_input();
    assert_eq!(error_code(&port.next().await.unwrap()), "truncated_frame");
    assert!(port.wait().await.success());
    // So is a length cut short.
    let mut port = home.open_port();
    port.event("auth.required").await;
    port.send_raw(&[0x10, 0x00]).await;
    port.close_input();
    let reply = port.next().await.unwrap();
    assert_eq!(error_code(&reply), "truncated_frame");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 de 4 bytes"),
        "{reply}"
    );
    assert!(port.wait().await.success());
    // Nothing but frames on stdout, and the log names each problem.
    let log = home.log();
    assert!(log.contains("malformed frame"), "{log}");
}

#[tokio::test]
async fn a_logged_in_host_relays_backend_answers_and_errors() {
    let backend = Backend::start_without_pbx().await;
    let home = home();
    home.install().await;
    let token = backend.token("acme-1001");
    let login = home.login(&backend.base, token).await;
    assert!(login.status.success(), "{}", login.stderr);
    assert!(login.stdout.contains("acme-1001"), "{}", login.stdout);
    // The token is in no file of the host's.
    let config = std::fs::read_to_string(home.config_file()).unwrap();
    assert!(!config.contains(token));
    assert!(config.contains(TEST_EXTENSION_ID));

    let mut port = home.open_port();
    port.event("backend.reachable").await;
    let status = port
        .request(json!({"v": 1, "id": 1, "type": "status.get"}))
        .await;
    let status = &status["status"];
    assert_eq!(status["logged_in"], true);
    assert_eq!(status["backend"], "reachable");
    assert_eq!(status["user"]["name"], "acme-1001");
    assert_eq!(status["credential_store"], "kernel-keyring");

    let invalid = port
        .request(json!({"v": 1, "id": 2, "type": "call.start", "number": "123"}))
        .await;
    assert_eq!(error_code(&invalid), "invalid_number");
    assert!(
        invalid["error"]["message"]
            .as_str()
            .unwrap()
            .contains("número"),
        "{invalid}"
    );

    let pbx_down = port
        .request(
            json!({"v": 1, "id": 3, "type": "call.start", "number": "+5511987654321",
            "context": {"deal_id": "5f1e7a9b2c3d4e5f6a7b8c9d", "contact_name": "Maria"}}),
        )
        .await;
    assert_eq!(error_code(&pbx_down), "pbx_unavailable", "{pbx_down}");

    let unknown = port
        .request(json!({"v": 1, "id": 4, "type": "call.hangup",
            "call_id": "0193a1b2-0000-7000-8000-000000000001"}))
        .await;
    assert_eq!(error_code(&unknown), "not_found", "{unknown}");

    let recent = port
        .request(json!({"v": 1, "id": 5, "type": "calls.recent"}))
        .await;
    assert_eq!(recent["type"], "calls.recent.ok", "{recent}");
    assert!(recent["calls"].is_array());

    let log = home.log();
    assert!(!log.contains(token), "the token is in the log");
}

#[tokio::test]
async fn a_token_the_backend_no_longer_accepts_asks_for_login() {
    let backend = Backend::start_without_pbx().await;
    let home = HostHome::logged_in(
        env!("CARGO_BIN_EXE_disca-host").into(),
        &backend.base,
        backend.token("acme-1002"),
    )
    .await;
    // `login` itself refuses a token the backend does not know...
    let forged = format!("disca_{}", "0".repeat(64));
    let refused = home.login(&backend.base, &forged).await;
    assert!(!refused.status.success());
    assert!(refused.stderr.contains("recusou"), "{}", refused.stderr);
    // ...so revoke it behind the host's back: replace it in the store.
    CredentialStore::new(StoreKind::KernelKeyring)
        .save(&backend.base, &forged)
        .unwrap();

    let mut port = home.open_port();
    let event = port.event("auth.required").await;
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("clique em Entrar")
    );
    let reply = port
        .request(json!({"v": 1, "id": 1, "type": "call.start", "number": "+5511987654321"}))
        .await;
    assert_eq!(error_code(&reply), "not_logged_in", "{reply}");
    let status = port
        .request(json!({"v": 1, "id": 2, "type": "status.get"}))
        .await;
    assert_eq!(status["status"]["logged_in"], false);
}

#[tokio::test]
async fn a_backend_that_does_not_answer_is_reported_and_login_refuses_it() {
    let home = home();
    home.install().await;
    let dead = format!("http://127.0.0.1:{}", disca_testkit::free_tcp_port());
    let login = home
        .login(&dead, &format!("disca_{}", "1".repeat(64)))
        .await;
    assert!(!login.status.success());
    assert!(
        login.stderr.contains("não foi possível falar"),
        "{}",
        login.stderr
    );

    // Logged in earlier to a backend that is now down.
    home.write_login(&dead, &format!("disca_{}", "1".repeat(64)));
    let mut port = home.open_port();
    let event = port.event("backend.unreachable").await;
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("servidor do Disca")
    );
    let status = port
        .request(json!({"v": 1, "id": 1, "type": "status.get"}))
        .await;
    assert_eq!(status["status"]["backend"], "unreachable");
    let reply = port
        .request(json!({"v": 1, "id": 2, "type": "call.start", "number": "+5511987654321"}))
        .await;
    assert_eq!(error_code(&reply), "backend_unreachable", "{reply}");
    CredentialStore::new(StoreKind::KernelKeyring)
        .delete(&dead)
        .unwrap();
}

#[tokio::test]
async fn logout_and_login_while_the_port_is_open_take_effect_at_once() {
    let backend = Backend::start_without_pbx().await;
    let home = HostHome::logged_in(
        env!("CARGO_BIN_EXE_disca-host").into(),
        &backend.base,
        backend.token("acme-1001"),
    )
    .await;
    let mut port = home.open_port();
    port.event("backend.reachable").await;

    assert!(home.run(&["logout"], "").await.status.success());
    let status = port
        .request(json!({"v": 1, "id": 1, "type": "status.get"}))
        .await;
    assert_eq!(status["status"]["logged_in"], false, "{status}");
    assert!(status["status"].get("user").is_none(), "{status}");
    let refused = port
        .request(json!({"v": 1, "id": 2, "type": "calls.recent"}))
        .await;
    assert_eq!(error_code(&refused), "not_logged_in");
    port.event("auth.required").await;

    // Someone else logs in on this machine: the open port is theirs now.
    assert!(
        home.login(&backend.base, backend.token("acme-1002"))
            .await
            .status
            .success()
    );
    let status = port
        .request(json!({"v": 1, "id": 3, "type": "status.get"}))
        .await;
    assert_eq!(status["status"]["logged_in"], true, "{status}");
    assert_eq!(status["status"]["user"]["name"], "acme-1002");
    let recent = port
        .request(json!({"v": 1, "id": 4, "type": "calls.recent"}))
        .await;
    assert_eq!(recent["type"], "calls.recent.ok", "{recent}");
    // Told once, not on every retry.
    port.close_input();
    while let Some(message) = port.next().await {
        assert_ne!(message["type"], "auth.required", "told twice: {message}");
    }
}

/// A page that floods the port with malformed messages cannot fill the
/// disk: their log lines are limited to a few a minute, then summed up.
#[tokio::test]
async fn thousands_of_malformed_messages_leave_the_log_small() {
    let home = home();
    home.install().await;
    let mut port = home.open_port();
    port.event("auth.required").await;
    const FLOOD: usize = 3000;
    for i in 0..FLOOD {
        let bytes = match i % 3 {
            0 => frame(b"{\"v\": 1, \"id\": "),
            1 => frame(b"\"\xff\xfe\""),
            _ => frame(br#"{"v": 1, "id": "a", "type": "call.transfer"}"#),
        };
        port.send_raw(&bytes).await;
        assert_eq!(port.next().await.unwrap()["type"], "error");
    }
    // Still serving.
    let status = port
        .request(json!({"v": 1, "id": "s", "type": "status.get"}))
        .await;
    assert_eq!(status["type"], "status.get.ok");
    port.close_input();
    assert!(port.wait().await.success());
    let log = home.log();
    let lines = log.lines().count();
    assert!(
        lines < 100 && log.len() < 20_000,
        "{lines} lines, {} bytes for {FLOOD} malformed messages",
        log.len()
    );
    assert!(log.contains("malformed frame"), "{log}");
    assert!(log.contains("suppressed"), "the rest is counted: {log}");
}

/// Plays the browser's part of a sign-in started on `port`: signs in on the
/// backend's page with `password` and follows the redirect to the host's
/// listener; returns once the host says `auth.signed_in`.
async fn sign_in_over_the_port(
    port: &mut disca_testkit::host::HostPort,
    backend: &Backend,
    email: &str,
    password: &str,
    id: u64,
) -> Value {
    let started = port
        .request(json!({"v": 1, "id": id, "type": "auth.sign_in", "backend_url": backend.base}))
        .await;
    assert_eq!(started["type"], "auth.sign_in.ok", "{started}");
    let authorize = url::Url::parse(started["authorize_url"].as_str().unwrap()).unwrap();
    let mut form: serde_json::Map<String, Value> = authorize
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    form.insert("email".into(), email.into());
    form.insert("password".into(), password.into());
    let answer: Value = backend
        .http
        .post(authorize.as_str().split('?').next().unwrap())
        .header("x-disca-page", "1")
        .json(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let redirect = answer["redirect"].as_str().expect("a redirect to the host");
    let page = reqwest::get(redirect).await.unwrap().text().await.unwrap();
    assert!(page.contains("você entrou no Disca"), "{page}");
    port.event("auth.signed_in").await
}

#[tokio::test]
async fn signing_in_again_revokes_the_token_it_replaces_and_signing_out_the_last() {
    let backend = Backend::start_without_pbx().await;
    let user = backend
        .app
        .store
        .user_by_email("acme", "acme-1001@example.com")
        .await
        .unwrap();
    disca_testkit::accounts::give_password(
        &backend.base,
        &backend.app.store,
        &user,
        "senha-boa-de-teste",
    )
    .await;
    let home = home();
    home.install().await;
    let mut port = home.open_port();
    let signed_in = sign_in_over_the_port(
        &mut port,
        &backend,
        "acme-1001@example.com",
        "senha-boa-de-teste",
        1,
    )
    .await;
    assert_eq!(signed_in["user"]["email"], "acme-1001@example.com");
    let first = CredentialStore::new(StoreKind::KernelKeyring)
        .load(&backend.base)
        .unwrap()
        .unwrap();
    let status = port
        .request(json!({"v": 1, "id": 2, "type": "status.get"}))
        .await;
    assert_eq!(status["status"]["logged_in"], true);

    // Again, as the same person: the first device token stops working.
    sign_in_over_the_port(
        &mut port,
        &backend,
        "acme-1001@example.com",
        "senha-boa-de-teste",
        3,
    )
    .await;
    let second = CredentialStore::new(StoreKind::KernelKeyring)
        .load(&backend.base)
        .unwrap()
        .unwrap();
    assert_ne!(*first, *second);
    let me = |token: String| {
        let request = backend
            .http
            .get(format!("{}/v1/me", backend.base))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(me(first.to_string()).await, 401);
    assert_eq!(me(second.to_string()).await, 200);
    let devices = backend.app.store.tokens(&user.id).await.unwrap();
    assert_eq!(
        devices
            .iter()
            .filter(|t| t.label.starts_with("disca-host"))
            .count(),
        1
    );

    // "Sair": the token in use is revoked and forgotten.
    let out = port
        .request(json!({"v": 1, "id": 4, "type": "auth.sign_out"}))
        .await;
    assert_eq!(out["type"], "auth.sign_out.ok", "{out}");
    assert_eq!(me(second.to_string()).await, 401);
    assert!(
        CredentialStore::new(StoreKind::KernelKeyring)
            .load(&backend.base)
            .unwrap()
            .is_none()
    );
    let status = port
        .request(json!({"v": 1, "id": 5, "type": "status.get"}))
        .await;
    assert_eq!(status["status"]["logged_in"], false);
    assert_eq!(
        status["status"]["backend_url"], backend.base,
        "the address is kept"
    );
}
