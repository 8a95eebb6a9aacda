//! A tenant's telephony set in the admin console reaches a running
//! Asterisk 22 without a restart, a reload or any new AMI right: tenant
//! `umbrella` is unknown to the PBX's site files; its admin adds a
//! salesperson, the trunk (the SIPp carrier), the tenant's caller ID and one
//! for leads of area code 11, and the next click goes out on that trunk with
//! that caller ID (the agent side is a Local channel that answers at once). Blocking
//! mobiles in the console is enforced twice: the backend refuses the click,
//! and the dialplan refuses a call an AMI user starts without the backend
//! (hangup cause 52), while a fixed number still goes out. Recordings: the
//! lead hears the tenant's announcement (uploaded, or the default one
//! spoken by espeak-ng) before the bridge and the recording starts with
//! it; with recording off, an answered call leaves no file and no link.
//! A desk phone is set up from the console alone: it registers with the
//! credentials the console shows and rings on the next click; then the
//! carrier is switched to one that wants the PBX to register (a SIPp
//! registrar checking the digest): a wrong password shows as refused, the
//! right one as registered, calls go out on it, and switching back removes
//! the registration at the carrier — all without a reload.

use std::time::Duration;

use disca_backend::auth::issue_token;
use disca_backend::domain::{PhoneKind, Role, Tenant};
use disca_testkit::PeerBehavior;
use disca_testkit::SipPeer;
use disca_testkit::accounts::Someone;
use disca_testkit::ami::AmiSession;
use disca_testkit::sip::DeskPhone;
use disca_testkit::system::{Backend, LOCAL_AGENT_CHANNEL, Lab, PATIENCE, manager_session};
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde_json::{Value, json};

const CSRF: (&str, &str) = ("x-disca-manager", "1");

/// Adds a person of umbrella with an API token; returns the token.
async fn add(backend: &Backend, name: &str, ext: &str, role: Role, admin: bool) -> String {
    Someone {
        tenant: "umbrella",
        name,
        email: &format!("{ext}@umbrella.example.com"),
        extension: ext,
        role,
        phone: PhoneKind::Desk,
        admin,
    }
    .add(&backend.app.store)
    .await
    .1
}

async fn console_session(backend: &Backend, token: &str) -> String {
    manager_session(&backend.http, &backend.base, token).await
}

async fn put(backend: &Backend, cookie: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let r = backend
        .http
        .put(format!("{}{path}", backend.base))
        .header(COOKIE, cookie)
        .header(CSRF.0, CSRF.1)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn click(backend: &Backend, token: &str, to: &str) -> (StatusCode, Value) {
    let r = backend
        .http
        .post(format!("{}/v1/calls", backend.base))
        .bearer_auth(token)
        .json(&json!({ "to": to }))
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn wait_ended(backend: &Backend, token: &str, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let call: Value = backend
            .http
            .get(format!("{}/v1/calls/{id}", backend.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if call["state"] == "ended" {
            return call;
        }
        assert!(tokio::time::Instant::now() < deadline, "{call:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The INVITEs the carrier received so far.
async fn invites_after(lab: &Lab, count: usize) -> Vec<disca_testkit::sip::ReceivedInvite> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let invites = lab.trunk.invites();
        if invites.len() >= count {
            return invites;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the carrier got {} INVITEs, not {count}",
            invites.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_trunk_and_caller_ids_set_in_the_console_carry_the_next_call() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(1),
        },
    )
    .await;
    let backend =
        Backend::start_with_agent_channel(&lab.pbx, lab.pbx.ami_addr, Some(LOCAL_AGENT_CHANNEL))
            .await;
    backend
        .app
        .store
        .add_tenant(&Tenant::in_brazil(
            "umbrella".parse().unwrap(),
            "Umbrella Vendas",
        ))
        .await
        .unwrap();
    let admin = add(&backend, "Ivo TI", "4009", Role::Manager, true).await;
    let cookie = console_session(&backend, &admin).await;
    // Sara is added in the console (her phone here: a Local channel that
    // answers at once); a script's token places her clicks.
    let r = backend
        .http
        .post(format!("{}/manager/admin/api/people", backend.base))
        .header(COOKIE, &cookie)
        .header(CSRF.0, CSRF.1)
        .json(&json!({"name": "Sara", "email": "sara@umbrella.example.com", "extension": "4001", "phone": "desk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let invited: Value = r.json().await.unwrap();
    let sara_token = issue_token();
    backend
        .app
        .store
        .add_token(
            invited["person"]["id"].as_str().unwrap(),
            disca_backend::storage::TokenKind::Api,
            "test",
            &sara_token.hash,
        )
        .await
        .unwrap();
    let sara = sara_token.secret;

    let (status, body) = put(
        &backend,
        &cookie,
        "/manager/admin/api/dialing",
        json!({
            "trunk_host": "127.0.0.1",
            "trunk_port": lab.trunk.port(),
            "number_format": "e164",
            "caller_id": "+551130001000",
            "lead_ring_secs": 30,
            "area_caller_ids": [{"area": "11", "number": "+551130001111"}],
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["warning"].is_null(), "{body}");

    // A lead in São Paulo (11): the area's caller ID.
    let (status, call) = click(&backend, &sara, "(11) 98765-4321").await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    let call = wait_ended(&backend, &sara, call["id"].as_str().unwrap()).await;
    let log = std::fs::read_to_string(lab.pbx.instance().messages_log()).unwrap_or_default();
    let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
    assert_eq!(call["outcome"], "answered", "{call:#}\n{tail}");
    let invites = invites_after(&lab, 1).await;
    assert!(
        invites[0].request_uri.starts_with("sip:+5511987654321@"),
        "{:?}",
        invites[0]
    );
    let from = invites[0].header("From").unwrap();
    assert!(
        from.contains("+551130001111"),
        "area 11's caller ID: {from}"
    );
    // A lead in Rio (21): the tenant's.
    let (_, call) = click(&backend, &sara, "(21) 2345-6789").await;
    wait_ended(&backend, &sara, call["id"].as_str().unwrap()).await;
    let invites = invites_after(&lab, 2).await;
    assert!(
        invites[1].header("From").unwrap().contains("+551130001000"),
        "{:?}",
        invites[1]
    );

    // Mobiles blocked: the backend refuses the click...
    let (status, policy) = put(
        &backend,
        &cookie,
        "/manager/admin/api/policy",
        json!({"allow_fixed": true, "allow_mobile": false, "allow_toll_free": true,
               "allow_premium": false, "allow_collect": false, "allow_international": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    let (status, body) = click(&backend, &sara, "(11) 98765-4321").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "destination_not_allowed");
    // ...and the dialplan refuses the same call started without the
    // backend, with the backend's own AMI user.
    let mut ami = AmiSession::connect(lab.pbx.ami_addr).await.unwrap();
    ami.login(&lab.pbx.ami_username, &lab.pbx.ami_secret)
        .await
        .unwrap();
    let mut causes = Vec::new();
    for number in ["+5511987654321", "+552123456789"] {
        let id = uuid::Uuid::new_v4().to_string();
        let response = ami
            .action(
                "Originate",
                &[
                    ("Channel", "Local/umbrella-4001@disca-test-local-agents"),
                    ("Context", "disca-outbound"),
                    ("Exten", number),
                    ("Priority", "1"),
                    ("Async", "true"),
                    ("Timeout", "10000"),
                    ("ChannelId", &id),
                ],
            )
            .await
            .unwrap();
        assert!(response.is_success(), "{response:?}");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let cause = loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = ami.next_event(remaining).await.unwrap();
            if event.is_event("Hangup") && event.get("Uniqueid") == Some(id.as_str()) {
                break event.get("Cause").unwrap_or_default().to_owned();
            }
        };
        causes.push(cause);
    }
    assert_eq!(causes[0], "52", "a mobile is barred by the dialplan");
    let invites = invites_after(&lab, 3).await;
    assert_eq!(
        invites.len(),
        3,
        "only the fixed number reached the carrier"
    );
    assert!(invites[2].request_uri.starts_with("sip:+552123456789@"));
}

/// What the PBX recorded of umbrella's call `id`, once MixMonitor has
/// finished the file (when the channel goes).
async fn recording_of(lab: &Lab, id: &str) -> disca_testkit::audio::Audio {
    let file = lab.pbx.recordings_dir.join(format!("umbrella-{id}.wav"));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !file.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {}",
            file.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    disca_testkit::audio::analyse(&file).unwrap()
}

/// A 1 kHz tone, as an admin's announcement file (48 kHz, converted by the
/// backend to what Asterisk plays).
fn tone_wav(seconds: f64) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aviso.wav");
    disca_testkit::audio::write_tone(&path, 1000.0, seconds).unwrap();
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn the_lead_hears_the_announcement_first_and_recording_off_records_nothing() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(4),
        },
    )
    .await;
    let instance = lab.pbx.instance();
    let (prompts, pbx_prompts, spool) = (
        instance.prompts_dir(),
        instance.pbx_prompts_dir(),
        lab.pbx.recordings_dir.clone(),
    );
    let backend = Backend::start_configured(&lab.pbx, move |s| {
        s.calls.agent_channel = LOCAL_AGENT_CHANNEL.into();
        s.crm.recordings_dir = Some(spool);
        s.recordings.prompts_dir = Some(prompts);
        s.recordings.pbx_prompts_dir = Some(pbx_prompts);
    })
    .await;
    backend
        .app
        .store
        .add_tenant(&Tenant::in_brazil(
            "umbrella".parse().unwrap(),
            "Umbrella Vendas",
        ))
        .await
        .unwrap();
    let admin = add(&backend, "Ivo TI", "4009", Role::Manager, true).await;
    let sara = add(&backend, "Sara", "4001", Role::Agent, false).await;
    let cookie = console_session(&backend, &admin).await;
    let (status, body) = put(
        &backend,
        &cookie,
        "/manager/admin/api/dialing",
        json!({"trunk_host": "127.0.0.1", "trunk_port": lab.trunk.port(), "number_format": "e164",
               "caller_id": "+551130001000", "lead_ring_secs": 30}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The announcement, uploaded in the console.
    let r = backend
        .http
        .post(format!(
            "{}/manager/admin/api/recording/announcement",
            backend.base
        ))
        .header(COOKIE, &cookie)
        .header(CSRF.0, CSRF.1)
        .header("content-type", "audio/wav")
        .body(tone_wav(2.0))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["announcement"], true);
    assert!(body["warning"].is_null(), "{body}");

    let (status, call) = click(&backend, &sara, "(11) 98765-4321").await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    let id = call["id"].as_str().unwrap().to_owned();
    let call = wait_ended(&backend, &sara, &id).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    let audio = recording_of(&lab, &id).await;
    assert!(
        (950.0..1050.0).contains(&audio.frequency_hz),
        "the recording starts with the announcement's tone: {audio:?}"
    );
    assert!(audio.seconds >= 1.9, "the whole announcement: {audio:?}");

    // Recording off: the next answered call leaves no file and no link.
    let (status, rules) = put(
        &backend,
        &cookie,
        "/manager/admin/api/recording",
        json!({"enabled": false, "retention_days": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rules}");
    let (_, call) = click(&backend, &sara, "(11) 98765-4321").await;
    let id = call["id"].as_str().unwrap().to_owned();
    let call = wait_ended(&backend, &sara, &id).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !lab.pbx
            .recordings_dir
            .join(format!("umbrella-{id}.wav"))
            .exists()
    );
    let stored = backend.app.store.call(&id).await.unwrap();
    assert_eq!(stored.recording_file, None, "no recording link in the note");

    // The default announcement, spoken in Portuguese by espeak-ng when the
    // backend was built (the test command installs it): speech (loudness
    // that varies) from the start, until the lead hangs up after 4 s.
    put(
        &backend,
        &cookie,
        "/manager/admin/api/recording",
        json!({"enabled": true, "retention_days": 30}),
    )
    .await;
    let r = backend
        .http
        .post(format!(
            "{}/manager/admin/api/recording/announcement/default",
            backend.base
        ))
        .header(COOKIE, &cookie)
        .header(CSRF.0, CSRF.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let (_, call) = click(&backend, &sara, "(11) 98765-4321").await;
    let id = call["id"].as_str().unwrap().to_owned();
    let call = wait_ended(&backend, &sara, &id).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    let audio = recording_of(&lab, &id).await;
    assert!(
        audio.loudness_variation > 0.3 && audio.seconds > 3.0,
        "the recording starts with the spoken announcement: {audio:?}"
    );
}

/// Waits until the console shows umbrella's registration starting with
/// `label`.
async fn wait_registration(backend: &Backend, cookie: &str, label: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let view: Value = backend
            .http
            .get(format!("{}/manager/admin/api/dialing", backend.base))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let shown = view["registration"].as_str().unwrap_or_default();
        if shown.starts_with(label) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the console shows {shown:?}, not {label:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Sets up umbrella with its admin (Ivo) and the lab's carrier as its
/// trunk, all in the console; returns Ivo's console cookie.
async fn umbrella_with_trunk(backend: &Backend, lab: &Lab) -> String {
    backend
        .app
        .store
        .add_tenant(&Tenant::in_brazil(
            "umbrella".parse().unwrap(),
            "Umbrella Vendas",
        ))
        .await
        .unwrap();
    let admin = add(backend, "Ivo TI", "4009", Role::Manager, true).await;
    let cookie = console_session(backend, &admin).await;
    let (status, body) = put(
        backend,
        &cookie,
        "/manager/admin/api/dialing",
        json!({"trunk_host": "127.0.0.1", "trunk_port": lab.trunk.port(), "number_format": "e164",
               "caller_id": "+551130001000", "lead_ring_secs": 30}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    cookie
}

/// A desk phone set up from the console alone: Davi is added with a desk
/// phone, the admin takes his SIP credentials from the console, the phone
/// (SIPp) registers with them to the directory's endpoint — no site file,
/// no reload — and a click rings it and then the lead. A new password from
/// the console drops that registration at once: the next click rings
/// nothing, and the old password no longer registers.
#[tokio::test]
async fn a_desk_phone_and_a_registration_trunk_set_up_in_the_console_work_at_once() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(1),
        },
    )
    .await;
    // The agents' real PJSIP endpoints, no Local channel.
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let cookie = umbrella_with_trunk(&backend, &lab).await;
    let r = backend
        .http
        .post(format!("{}/manager/admin/api/people", backend.base))
        .header(COOKIE, &cookie)
        .header(CSRF.0, CSRF.1)
        .json(&json!({"name": "Davi", "email": "davi@umbrella.example.com", "extension": "4002", "phone": "desk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let invited: Value = r.json().await.unwrap();
    assert!(invited["warning"].is_null(), "{invited}");
    let davi_id = invited["person"]["id"].as_str().unwrap().to_owned();
    let token = issue_token();
    backend
        .app
        .store
        .add_token(
            &davi_id,
            disca_backend::storage::TokenKind::Api,
            "test",
            &token.hash,
        )
        .await
        .unwrap();
    let davi = token.secret;

    // Not registered yet: refused, nothing rings.
    let (status, body) = click(&backend, &davi, "(11) 3456-7890").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "agent_phone_offline");

    let credentials = format!(
        "{}/manager/admin/api/people/{davi_id}/desk-phone",
        backend.base
    );
    let issue = || async {
        let r = backend
            .http
            .post(&credentials)
            .header(COOKIE, &cookie)
            .header(CSRF.0, CSRF.1)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Value>().await.unwrap()
    };
    let sip = issue().await;
    assert_eq!(sip["username"], "umbrella-4002");
    assert_eq!(sip["transport"], "udp");
    let password = sip["password"].as_str().unwrap().to_owned();
    let phone = DeskPhone::register(lab.pbx.sip_addr, "umbrella-4002", &password)
        .await
        .expect("the desk phone registers with the console's credentials");

    let (status, call) = click(&backend, &davi, "(11) 3456-7890").await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    let call = wait_ended(&backend, &davi, call["id"].as_str().unwrap()).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    assert_eq!(phone.invites().len(), 1, "the desk phone rang");
    let invites = invites_after(&lab, 1).await;
    assert!(
        invites[0].request_uri.starts_with("sip:+551134567890@"),
        "then the lead, on umbrella's trunk: {:?}",
        invites[0]
    );

    // The carrier now wants the PBX to register with umbrella's account.
    // A wrong password first: the carrier refuses it, and the console says
    // so; then the right one.
    let registrar = SipPeer::registrar(
        disca_testkit::free_udp_port(),
        "1130001000",
        "S3nha-d@-operadora",
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    let registration = |password: &str| {
        json!({"trunk_mode": "registration", "trunk_username": "1130001000",
               "trunk_password": password, "trunk_host": "127.0.0.1",
               "trunk_port": registrar.port(), "number_format": "e164",
               "caller_id": "+551130001000", "lead_ring_secs": 30})
    };
    let (status, body) = put(
        &backend,
        &cookie,
        "/manager/admin/api/dialing",
        registration("errada"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["warning"].is_null(), "{body}");
    assert!(body["dialing"].get("trunk_password").is_none(), "{body}");
    wait_registration(&backend, &cookie, "Recusado").await;
    let (status, body) = put(
        &backend,
        &cookie,
        "/manager/admin/api/dialing",
        registration("S3nha-d@-operadora"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    wait_registration(&backend, &cookie, "Registrado").await;
    // A call goes out on the registered trunk: From carries the account,
    // P-Asserted-Identity the caller ID.
    let (status, call) = click(&backend, &davi, "(11) 3456-7890").await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    let call = wait_ended(&backend, &davi, call["id"].as_str().unwrap()).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    let invite = &registrar.invites()[0];
    assert!(
        invite
            .header("From")
            .unwrap()
            .contains("sip:1130001000@127.0.0.1"),
        "{invite:?}"
    );
    assert!(
        invite
            .header("P-Asserted-Identity")
            .unwrap()
            .contains("+551130001000"),
        "{invite:?}"
    );
    // Back to the IP-authenticated trunk: the registration is removed at
    // the carrier (a REGISTER with expiry 0), and calls use the IP trunk.
    let (status, body) = put(
        &backend,
        &cookie,
        "/manager/admin/api/dialing",
        json!({"trunk_host": "127.0.0.1", "trunk_port": lab.trunk.port(), "number_format": "e164",
               "caller_id": "+551130001000", "lead_ring_secs": 30}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !registrar.requests("REGISTER").iter().any(|r| {
        r.header("Expires") == Some("0")
            || r.header("Contact").is_some_and(|c| c.contains("expires=0"))
    }) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no un-REGISTER: {:?}",
            registrar.requests("REGISTER")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A new password: the registration is gone at once. Asterisk may
    // still report the device as reachable until its next qualify, so the
    // click is refused or fails at the PBX; either way nothing rings.
    let _ = issue().await;
    let (status, body) = click(&backend, &davi, "(11) 3456-7890").await;
    match status {
        StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "agent_phone_offline"),
        StatusCode::CREATED => {
            let call = wait_ended(&backend, &davi, body["id"].as_str().unwrap()).await;
            assert_ne!(call["outcome"], "answered", "{call:#}");
        }
        other => panic!("{other}: {body}"),
    }
    assert_eq!(phone.invites().len(), 2, "the phone did not ring again");
    assert_eq!(lab.trunk.invites().len(), 1, "nor did the lead");
    assert_eq!(registrar.invites().len(), 1);
    drop(phone);
    assert!(
        !disca_testkit::sip::register(lab.pbx.sip_addr, "umbrella-4002", &password)
            .await
            .unwrap(),
        "the old password is refused"
    );
    // Every row the backend wrote loaded whole (an empty column of an
    // enumerated option fails the endpoint).
    let log = std::fs::read_to_string(lab.pbx.instance().messages_log()).unwrap_or_default();
    assert!(!log.contains("Error parsing"), "{log}");
}
