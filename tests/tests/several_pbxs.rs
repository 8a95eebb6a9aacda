//! Two backends sharing one PostgreSQL database (a throwaway server) and
//! two real Asterisk servers: tenant `acme` on the default PBX, tenant
//! `globex` on the PBX `campinas`. Each PBX's calls are followed by one
//! backend; a click through either backend goes out through its tenant's
//! PBX; when `campinas` goes down only `globex` is refused (503), and its
//! clicks work again once it is back; and when `globex` moves to the
//! default PBX mid-call, that call ends as it really did on `campinas` and
//! the next one goes out through the default PBX.

use std::time::Duration;

use disca_backend::domain::PbxName;
use disca_backend::storage::{Actor, Store};
use disca_testkit::PeerBehavior;
use disca_testkit::postgres::Cluster;
use disca_testkit::system::{
    BackendProcess, BackendProcessOptions, LEAD, Lab, PATIENCE, backend_binary, follows, place_at,
    seed_users_in, wait_for_call,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const TALK: Duration = Duration::from_secs(3);

/// Places a call to the lead for `token` through `base`.
async fn click(http: &reqwest::Client, base: &str, token: &str) -> (StatusCode, Value) {
    place_at(http, base, token, &json!({ "to": LEAD })).await
}

/// `/readyz` of `base`: its status and body.
async fn readiness(http: &reqwest::Client, base: &str) -> (StatusCode, Value) {
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

/// Waits until `/readyz` of `base` says `pbx` is logged in (or not).
async fn wait_for_pbx(http: &reqwest::Client, base: &str, pbx: &str, connected: bool) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let (_, body) = readiness(http, base).await;
        let listed = body["pbxs"].as_array().cloned().unwrap_or_default();
        if listed
            .iter()
            .any(|p| p["name"] == pbx && p["ami_connected"] == connected)
        {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "PBX {pbx} never became connected={connected} at {base}: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until exactly one of `backends` follows `pbx`'s calls (and never
/// two).
async fn one_follower(http: &reqwest::Client, backends: &[BackendProcess], pbx: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut following = 0;
        for backend in backends {
            following += usize::from(follows(http, &backend.base, pbx).await);
        }
        assert!(following <= 1, "{following} backends follow PBX {pbx}");
        if following == 1 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nobody follows {pbx}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asterisk's channels, one per line (`core show channels concise`).
async fn channels(lab: &Lab) -> String {
    lab.pbx
        .cli("core show channels concise")
        .await
        .unwrap_or_default()
}

/// A call placed through `base` that the lead answers: checks that its
/// channels are on `on` and not on `not_on`, then that it ends answered.
async fn call_through(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    on: &Lab,
    not_on: &Lab,
) -> String {
    let (status, call) = click(http, base, token).await;
    assert_eq!(status, StatusCode::CREATED, "{call:#}");
    let id = call["id"].as_str().unwrap().to_owned();
    let connected = wait_for_call(http, base, token, &id, "connected", |c| {
        c["state"] == "connected"
    })
    .await;
    assert!(connected["lead_answered_at"].is_string(), "{connected:#}");
    assert!(channels(on).await.contains(&id), "{id} not on its PBX");
    assert!(
        !channels(not_on).await.contains(&id),
        "{id} on the other PBX"
    );
    let ended = wait_for_call(http, base, token, &id, "ended", |c| c["state"] == "ended").await;
    assert_eq!(ended["outcome"], "answered", "{ended:#}");
    assert_ne!(ended["durations_estimated"], true, "{ended:#}");
    id
}

#[tokio::test]
async fn each_tenant_calls_through_its_pbx_and_a_pbx_down_refuses_only_its_tenants() {
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let answer = || PeerBehavior::AnswerThenHangup { talk: TALK };
    let main = Lab::start(PeerBehavior::AnswerAndWait, answer()).await;
    let mut campinas = Lab::start(PeerBehavior::AnswerAndWait, answer()).await;
    let dir = tempfile::tempdir().unwrap();
    let (tokens, _) = {
        let store = Store::connect(&url).await.unwrap();
        let seeded = seed_users_in(&store).await;
        let pbx: PbxName = "campinas".parse().unwrap();
        store
            .set_tenant_pbx("globex", &pbx, &Actor::cli())
            .await
            .unwrap();
        seeded
    };
    let (acme, globex) = (&tokens["acme-1001"], &tokens["globex-2001"]);
    let binary = backend_binary();
    let campinas_addr = campinas.pbx.ami_addr.to_string();
    let env = [
        ("DISCA_DATABASE_URL", url.as_str()),
        ("DISCA_PBXS__CAMPINAS__ADDR", campinas_addr.as_str()),
        (
            "DISCA_PBXS__CAMPINAS__USERNAME",
            campinas.pbx.ami_username.as_str(),
        ),
        (
            "DISCA_PBXS__CAMPINAS__SECRET",
            campinas.pbx.ami_secret.as_str(),
        ),
    ];
    let options = || BackendProcessOptions {
        binary: &binary,
        data_dir: dir.path(),
        ami_addr: main.pbx.ami_addr,
        ami_username: &main.pbx.ami_username,
        ami_secret: &main.pbx.ami_secret,
        extra_args: &[],
        env: &env,
    };
    let http = reqwest::Client::new();
    let backends = [
        BackendProcess::start(options()).await,
        BackendProcess::start(options()).await,
    ];

    // Each PBX's calls are followed by exactly one backend.
    one_follower(&http, &backends, "default").await;
    one_follower(&http, &backends, "campinas").await;
    for backend in &backends {
        wait_for_pbx(&http, &backend.base, "campinas", true).await;
        let (status, body) = readiness(&http, &backend.base).await;
        assert_eq!(status, StatusCode::OK, "{body:#}");
        assert_eq!(body["status"], "ok", "{body:#}");
    }

    // Through either backend, each tenant's call goes out through its PBX.
    let (first, second) = (&backends[0].base, &backends[1].base);
    let (a, g) = tokio::join!(
        call_through(&http, first, acme, &main, &campinas),
        call_through(&http, second, globex, &campinas, &main),
    );
    call_through(&http, second, acme, &main, &campinas).await;
    call_through(&http, first, globex, &campinas, &main).await;
    assert_ne!(a, g);

    // Campinas goes down: only globex is refused, on every backend.
    campinas.pbx.stop().await;
    for backend in &backends {
        let body = wait_for_pbx(&http, &backend.base, "campinas", false).await;
        let (status, _) = readiness(&http, &backend.base).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "ready while one PBX is up: {body:#}"
        );
        assert_eq!(body["status"], "degraded", "{body:#}");
        assert_eq!(body["ami_connected"], false, "{body:#}");
        let (status, refused) = click(&http, &backend.base, globex).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused:#}");
        assert_eq!(refused["error"]["code"], "pbx_unavailable", "{refused:#}");
    }
    call_through(&http, second, acme, &main, &campinas).await;

    // Back up: globex calls again.
    campinas.pbx.restart().await.unwrap();
    for backend in &backends {
        wait_for_pbx(&http, &backend.base, "campinas", true).await;
    }
    one_follower(&http, &backends, "campinas").await;
    call_through(&http, first, globex, &campinas, &main).await;

    // Globex moves to the default PBX in the middle of a call: the call
    // stays followed on campinas and ends as it really did; the next one
    // goes through the default PBX.
    let (status, call) = click(&http, second, globex).await;
    assert_eq!(status, StatusCode::CREATED, "{call:#}");
    let id = call["id"].as_str().unwrap().to_owned();
    wait_for_call(&http, second, globex, &id, "connected", |c| {
        c["state"] == "connected"
    })
    .await;
    Store::connect(&url)
        .await
        .unwrap()
        .set_tenant_pbx("globex", &PbxName::default(), &Actor::cli())
        .await
        .unwrap();
    let ended = wait_for_call(&http, first, globex, &id, "ended", |c| {
        c["state"] == "ended"
    })
    .await;
    assert_eq!(ended["outcome"], "answered", "{ended:#}");
    assert_ne!(ended["durations_estimated"], true, "{ended:#}");
    let talk = ended["talk_seconds"].as_i64().unwrap();
    assert!((2..=4).contains(&talk), "talk {talk} s: {ended:#}");
    // Every backend sees the move within its revocation poll (1 s).
    tokio::time::sleep(Duration::from_secs(2)).await;
    call_through(&http, first, globex, &main, &campinas).await;
}
