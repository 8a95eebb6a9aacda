//! CRM write-back against the RD Station stand-in over real HTTP: the real
//! backend on a random port with its own database file, calls ended through
//! `Store::save_calls` (the path the PBX tracker takes), and the notes read
//! back from the stand-in. Faults: 429 storms, RD Station down for 100
//! calls, a timeout after the note was stored, permanent errors, and the
//! backend killed with SIGKILL in the middle of delivery.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use disca_backend::configuration::CrmSettings;
use disca_backend::crm::Secret;
use disca_backend::domain::{Call, CrmDelivery, CrmState, CrmUserId, Outcome, Role, User};
use disca_backend::storage::Store;
use disca_backend::storage::testing::TestDatabase;
use disca_testkit::TestApp;
use disca_testkit::crm::{
    ANA, ANA_TOKEN, AURORA, AURORA_TRAINING, BOA_VISTA, BRUNO, JULIANA_PHONE, MARIANA_PHONE,
    OAUTH_CLIENT, RAFAEL_PHONE, add_tenant, add_user, connect_tenant_v1, connect_tenant_v2,
    end_call, secrets_key,
};
use rdstation_standin::{Config, Fault, FaultSpec, Note, RateLimit, Running, Scope, StandIn};
use reqwest::StatusCode;
use serde_json::Value;

/// Nobody at the stand-in has this number.
const NOBODY_PHONE: &str = "+5511955554444";
/// No such deal at the stand-in.
const MISSING_DEAL: &str = "64b7f0c2a1e4d30000000dff";
const REDIRECT: &str = "http://127.0.0.1/callback";
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Api {
    V1,
    V2,
}

pub(super) struct Harness {
    pub standin: Running,
    pub store: Store,
    pub base: String,
    pub http: reqwest::Client,
    /// API tokens by first name (`Ana`, `Bruno`, `Gerente`...).
    pub tokens: HashMap<&'static str, String>,
    pub users: HashMap<&'static str, User>,
    pub app: TestApp,
}

/// Test timings: quick retries, short request timeout, frequent polls.
pub(super) fn quick_crm(crm: &mut CrmSettings) {
    crm.public_url = Some("https://disca.example.com".into());
    crm.request_timeout = Duration::from_secs(2);
    crm.retry_base = Duration::from_millis(100);
    crm.retry_max = Duration::from_secs(1);
    crm.poll_interval = Duration::from_millis(200);
}

/// The stand-in, a tenant `acme` with Ana (agent, CRM user Ana), Bruno
/// (agent, CRM user Bruno) and a manager; the tenant connected through
/// `api` unless `connect` is false.
async fn prepare(
    api: Api,
    standin_config: Config,
    connect: bool,
) -> (
    Running,
    Store,
    HashMap<&'static str, User>,
    HashMap<&'static str, String>,
    (tempfile::TempDir, TestDatabase),
) {
    let standin = StandIn::start(standin_config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::new(dir.path()).await.unwrap();
    let store = database.open().await.unwrap();
    add_tenant(&store, "acme", "Acme").await;
    let mut users = HashMap::new();
    let mut tokens = HashMap::new();
    for (name, ext, role, crm) in [
        ("Ana Souza", "1001", Role::Agent, Some(ANA)),
        ("Bruno Oliveira", "1002", Role::Agent, Some(BRUNO)),
        ("Sem Usuário CRM", "1003", Role::Agent, None),
        ("Gerente", "1009", Role::Manager, None),
    ] {
        let (user, token) = add_user(&store, "acme", (name, ext, role), crm).await;
        let first = name.split(' ').next().unwrap();
        tokens.insert(first, token);
        users.insert(first, user);
    }
    if connect {
        connect_tenant(&store, dir.path(), &standin, api).await;
    }
    (standin, store, users, tokens, (dir, database))
}

async fn connect_tenant(store: &Store, data_dir: &Path, standin: &Running, api: Api) {
    match api {
        Api::V1 => connect_tenant_v1(store, data_dir, "acme", &standin.v1_base(), ANA_TOKEN).await,
        Api::V2 => {
            let code = standin
                .authorization_code(OAUTH_CLIENT.0, ANA, REDIRECT)
                .unwrap();
            let apis = (standin.v2_base(), standin.oauth_token_url());
            connect_tenant_v2(store, data_dir, "acme", (&apis.0, &apis.1), &code, REDIRECT).await;
        }
    }
}

/// The CRM settings of a test: [`quick_crm`], then its own changes.
pub(super) type CrmChange = fn(&mut CrmSettings);

pub(super) async fn start(api: Api, standin_config: Config, crm: CrmChange) -> Harness {
    start_with(api, standin_config, crm, true).await
}

async fn start_with(api: Api, standin_config: Config, crm: CrmChange, connect: bool) -> Harness {
    let (standin, store, users, tokens, (dir, database)) =
        prepare(api, standin_config, connect).await;
    drop(store);
    let app = TestApp::builder()
        .data_in(dir)
        .database_url(database.url())
        .configure(move |s| crm(&mut s.crm))
        .start()
        .await;
    // Calls end through the application's own store, as the tracker's do.
    Harness {
        standin,
        store: app.store.clone(),
        base: app.base.clone(),
        http: reqwest::Client::new(),
        tokens,
        users,
        app,
    }
}

impl Harness {
    /// A call by the user named `who`, ended with `outcome`.
    pub async fn end(&self, who: &str, to: &str, deal: Option<&str>, outcome: Outcome) -> Call {
        end_call(&self.store, &self.users[who], to, deal, outcome).await
    }

    /// The v2 refresh token the backend stored, unsealed.
    async fn stored_refresh_token(&self) -> Secret {
        let account = self.store.crm_account("acme").await.unwrap().unwrap();
        let sealed = account.refresh_token.unwrap();
        secrets_key(self.app.data_dir())
            .open("acme", "refresh-token", &sealed)
            .unwrap()
    }

    /// Uses `token` at the token endpoint, as another holder of it would;
    /// returns RD Station's status.
    async fn use_refresh_token(&self, token: &Secret) -> StatusCode {
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", OAUTH_CLIENT.0),
            ("client_secret", OAUTH_CLIENT.1),
            ("refresh_token", token.expose()),
        ];
        let answer = self
            .http
            .post(self.standin.oauth_token_url())
            .form(&form)
            .send();
        answer.await.unwrap().status()
    }
}

/// Waits until `check` holds, or fails the test saying `what`.
pub(super) async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn crm_state(store: &Store, call_id: &str) -> Option<CrmDelivery> {
    store.call(call_id).await.unwrap().crm
}

pub(super) async fn settled(store: &Store, call_id: &str) -> CrmDelivery {
    let start = Instant::now();
    loop {
        let crm = crm_state(store, call_id).await;
        if let Some(crm) = crm.as_ref().filter(|c| c.state != CrmState::Pending) {
            return crm.clone();
        }
        assert!(
            start.elapsed() < PATIENCE,
            "note of {call_id} not settled: {crm:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The notes at the stand-in carrying `call_id`.
pub(super) fn notes_of(standin: &Running, call_id: &str) -> Vec<Note> {
    standin
        .all_notes()
        .into_iter()
        .filter(|n| n.text.contains(call_id))
        .collect()
}

#[tokio::test]
async fn an_answered_call_becomes_one_v1_note_on_its_deal() {
    let h = start(Api::V1, Config::default(), quick_crm).await;
    let call = h
        .end("Bruno", MARIANA_PHONE, Some(AURORA), Outcome::Answered)
        .await;
    let crm = settled(&h.store, &call.id).await;
    assert_eq!(crm.state, CrmState::Delivered, "{crm:?}");
    let notes = h.standin.notes(AURORA);
    assert_eq!(notes.len(), 1);
    let note = &notes[0];
    assert_eq!(crm.note_id.as_deref(), Some(note.id.as_str()));
    assert_eq!(
        note.user_id, BRUNO,
        "v1 notes are written as the salesperson"
    );
    assert_eq!(note.via, rdstation_standin::Api::V1);
    let lines: Vec<&str> = note.text.lines().collect();
    assert_eq!(lines[0], "Ligação pelo Disca: atendida");
    assert_eq!(lines[1], "Vendedor: Bruno Oliveira");
    assert_eq!(lines[2], "Número: (11) 97173-0783");
    assert_eq!(lines[3], "Contato: Mariana Costa");
    assert!(lines[4].starts_with("Data e hora: ") && lines[4].ends_with(" (horário de Brasília)"));
    assert_eq!(lines[5], "Tempo chamando: 7 s");
    assert_eq!(lines[6], "Duração da conversa: 1 min 05 s");
    assert_eq!(
        lines[7],
        "Motivo do encerramento: desligamento normal (causa 16)"
    );
    assert_eq!(
        lines[8],
        format!(
            "Gravação: https://disca.example.com/manager/calls/{}/recording",
            call.id
        )
    );
    assert_eq!(lines[9], format!("ID da ligação no Disca: {}", call.id));
    let requests = h.standin.requests();
    assert_eq!(
        requests.endpoint("POST /api/v1/activities"),
        1,
        "{:?}",
        requests.by_endpoint()
    );
    assert_eq!(
        requests.endpoint("GET /api/v1/token/check"),
        1,
        "when connecting"
    );
    assert_eq!(
        requests.total(),
        2,
        "the page gave the deal: nothing else asked"
    );

    // Managers see it on GET /v1/calls.
    let page: Value = h
        .http
        .get(format!("{}/v1/calls", h.base))
        .bearer_auth(&h.tokens["Gerente"])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = &page["calls"][0]["crm"];
    assert_eq!(listed["state"], "delivered");
    assert_eq!(listed["deal_id"], AURORA);
    assert_eq!(listed["note_id"], note.id.as_str());
    assert_eq!(listed["attempts"], 1);
}

#[tokio::test]
async fn v2_notes_and_refresh_token_rotation() {
    // Access tokens that are always about to expire: every delivery refreshes.
    let config = Config {
        access_token_lifetime: Duration::from_secs(5),
        ..Config::default()
    };
    let h = start(Api::V2, config, quick_crm).await;
    let first_generation = h
        .store
        .crm_account("acme")
        .await
        .unwrap()
        .unwrap()
        .generation;
    let mut ids = Vec::new();
    for outcome in [Outcome::NoAnswer, Outcome::Busy, Outcome::Answered] {
        let call = h.end("Ana", RAFAEL_PHONE, Some(BOA_VISTA), outcome).await;
        assert_eq!(settled(&h.store, &call.id).await.state, CrmState::Delivered);
        ids.push(call.id);
    }
    let notes = h.standin.notes(BOA_VISTA);
    assert_eq!(notes.len(), 3);
    for (note, id) in notes.iter().zip(&ids) {
        assert!(note.text.contains(id.as_str()));
        assert_eq!(note.via, rdstation_standin::Api::V2);
        assert_eq!(note.user_id, ANA, "v2 notes are the token owner's");
    }
    assert!(
        notes[0]
            .text
            .starts_with("Ligação pelo Disca: não atendida (o cliente não atendeu)\n")
    );
    assert!(notes[1].text.starts_with("Ligação pelo Disca: ocupado\n"));
    let requests = h.standin.requests();
    let refreshes = requests.endpoint("POST /oauth2/token");
    assert!(refreshes >= 3, "{:?}", requests.by_endpoint());
    let account = h.store.crm_account("acme").await.unwrap().unwrap();
    assert_eq!(
        account.generation - first_generation,
        i64::try_from(refreshes).unwrap() - 1,
        "every refresh (the first token came from the code exchange) stored its new refresh token"
    );
    // The stored refresh token is the live one: RD Station accepts it...
    let stored = h.stored_refresh_token().await;
    assert_eq!(h.use_refresh_token(&stored).await, 200);
    // ...once: a refresh token is single-use.
    assert_eq!(h.use_refresh_token(&stored).await, 400);
    // Nothing secret reached the database in clear.
    let bytes = h.app.stored_bytes().await;
    assert!(bytes.len() > 1000, "the database was read");
    for secret in [OAUTH_CLIENT.1, stored.expose()] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}

#[tokio::test]
async fn without_a_deal_on_the_page_the_deal_is_found_by_phone() {
    for api in [Api::V1, Api::V2] {
        let h = start(api, Config::default(), quick_crm).await;
        // Mariana has two open deals: Ana's (Aurora) and Bruno's (training).
        let by_ana = h.end("Ana", MARIANA_PHONE, None, Outcome::Answered).await;
        let by_bruno = h.end("Bruno", MARIANA_PHONE, None, Outcome::NoAnswer).await;
        // Rafael has one open deal; Juliana only a won one; nobody has this number.
        let rafael = h.end("Ana", RAFAEL_PHONE, None, Outcome::Busy).await;
        let juliana = h.end("Ana", JULIANA_PHONE, None, Outcome::Answered).await;
        let nobody = h.end("Ana", NOBODY_PHONE, None, Outcome::Answered).await;
        // A page deal id that is not an RD Station id is not trusted.
        let odd = h
            .end("Ana", RAFAEL_PHONE, Some("../../users"), Outcome::Busy)
            .await;

        let delivered_to = async |call: &Call| {
            let crm = settled(&h.store, &call.id).await;
            assert_eq!(crm.state, CrmState::Delivered, "{api:?} {crm:?}");
            crm.deal_id.unwrap()
        };
        if api == Api::V1 {
            assert_eq!(
                delivered_to(&by_ana).await,
                AURORA,
                "the caller's own deal first"
            );
            assert_eq!(delivered_to(&by_bruno).await, AURORA_TRAINING);
        } else {
            // v2 notes need no author, but the rule still prefers the caller's deal.
            assert_eq!(delivered_to(&by_ana).await, AURORA);
            assert_eq!(delivered_to(&by_bruno).await, AURORA_TRAINING);
        }
        assert_eq!(delivered_to(&rafael).await, BOA_VISTA);
        assert_eq!(delivered_to(&odd).await, BOA_VISTA);
        for call in [&juliana, &nobody] {
            let crm = settled(&h.store, &call.id).await;
            assert_eq!(crm.state, CrmState::NoDeal, "{api:?}");
            assert!(
                crm.error
                    .unwrap()
                    .starts_with("nenhum negócio aberto no RD Station para ")
            );
            assert!(notes_of(&h.standin, &call.id).is_empty());
        }
        let requests = h.standin.requests();
        let contacts = if api == Api::V1 {
            "GET /api/v1/contacts"
        } else {
            "GET /crm/v2/contacts"
        };
        assert_eq!(
            requests.endpoint(contacts),
            6,
            "{:?}",
            requests.by_endpoint()
        );
    }
}

#[tokio::test]
async fn a_429_storm_delays_notes_but_loses_and_doubles_none() {
    // RD Station's limiter set tight (10 per 2 s), the backend's wrongly
    // generous (100 per 2 s): a real storm of 429s, plus injected ones.
    let config = Config {
        rate_limit: RateLimit {
            requests: 10,
            window: Duration::from_secs(2),
        },
        ..Config::default()
    };
    let crm: CrmChange = |crm| {
        quick_crm(crm);
        crm.requests_per_window = 100;
        crm.rate_window = Duration::from_secs(2);
    };
    let h = start(Api::V2, config, crm).await;
    h.standin.faults().set_for_next(
        Fault::Status429 {
            retry_after_secs: 1,
        },
        15,
    );
    let mut calls = Vec::new();
    for _ in 0..30 {
        calls.push(
            h.end("Ana", RAFAEL_PHONE, Some(BOA_VISTA), Outcome::Answered)
                .await,
        );
    }
    for call in &calls {
        assert_eq!(settled(&h.store, &call.id).await.state, CrmState::Delivered);
        assert_eq!(notes_of(&h.standin, &call.id).len(), 1, "exactly once");
    }
    assert_eq!(h.standin.notes(BOA_VISTA).len(), 30);
}

#[tokio::test]
async fn a_v1_429_without_retry_after_is_retried() {
    let h = start(Api::V1, Config::default(), quick_crm).await;
    h.standin.faults().set_for_next(
        Fault::Status429 {
            retry_after_secs: 0,
        },
        1,
    );
    let call = h
        .end("Ana", MARIANA_PHONE, Some(AURORA), Outcome::Answered)
        .await;
    let crm = settled(&h.store, &call.id).await;
    assert_eq!(crm.state, CrmState::Delivered);
    assert_eq!(notes_of(&h.standin, &call.id).len(), 1);
}

#[tokio::test]
async fn rd_station_down_for_100_calls_then_every_note_once() {
    // After the outage every note is looked for, then sent: 200 requests
    // for 100 notes, drained at the rate limit. RD Station's 120 per minute
    // is scaled to 120 per 10 s on both sides to keep the test short.
    let config = Config {
        rate_limit: RateLimit {
            requests: 120,
            window: Duration::from_secs(10),
        },
        ..Config::default()
    };
    let crm: CrmChange = |crm| {
        quick_crm(crm);
        crm.rate_window = Duration::from_secs(10);
    };
    for api in [Api::V1, Api::V2] {
        let h = start(api, config.clone(), crm).await;
        h.standin.faults().set(Fault::Down);
        let mut calls = Vec::new();
        for i in 0..100 {
            let outcome = if i % 3 == 0 {
                Outcome::NoAnswer
            } else {
                Outcome::Answered
            };
            calls.push(h.end("Ana", MARIANA_PHONE, Some(AURORA), outcome).await);
        }
        // Every note was tried and failed while RD Station was down.
        for call in &calls {
            eventually("a failed attempt", async || {
                crm_state(&h.store, &call.id)
                    .await
                    .filter(|c| c.state == CrmState::Pending && c.error.is_some())
            })
            .await;
        }
        assert!(h.standin.all_notes().is_empty());
        h.standin.faults().clear();
        for call in &calls {
            let crm = settled(&h.store, &call.id).await;
            assert_eq!(crm.state, CrmState::Delivered, "{api:?}");
            assert_eq!(
                notes_of(&h.standin, &call.id).len(),
                1,
                "{api:?}: exactly once"
            );
        }
        assert_eq!(h.standin.notes(AURORA).len(), 100);
    }
}

#[tokio::test]
async fn a_timeout_after_the_note_was_stored_does_not_double_it() {
    for api in [Api::V1, Api::V2] {
        let h = start(api, Config::default(), quick_crm).await;
        h.standin.faults().set_for_next(Fault::TimeoutAfterStore, 1);
        let call = h
            .end("Ana", MARIANA_PHONE, Some(AURORA), Outcome::Answered)
            .await;
        let crm = settled(&h.store, &call.id).await;
        assert_eq!(crm.state, CrmState::Delivered, "{api:?}");
        let notes = notes_of(&h.standin, &call.id);
        assert_eq!(notes.len(), 1, "{api:?}: no duplicate");
        assert_eq!(crm.note_id.as_deref(), Some(notes[0].id.as_str()));
        assert_eq!(crm.attempts, 1, "{api:?}: found, not sent again");
    }
}

#[tokio::test]
async fn permanent_errors_stop_with_the_crm_message_and_can_be_retried() {
    let h = start(Api::V1, Config::default(), quick_crm).await;
    let missing = h
        .end("Ana", MARIANA_PHONE, Some(MISSING_DEAL), Outcome::Answered)
        .await;
    let crm = settled(&h.store, &missing.id).await;
    assert_eq!(crm.state, CrmState::Failed);
    assert_eq!(
        crm.error.as_deref(),
        Some("RD Station recusou (HTTP 404): Deal not found.")
    );
    assert_eq!(crm.attempts, 1);

    let no_author = h
        .end("Sem", MARIANA_PHONE, Some(AURORA), Outcome::Answered)
        .await;
    let crm = settled(&h.store, &no_author.id).await;
    assert_eq!(crm.state, CrmState::Failed);
    assert!(
        crm.error
            .unwrap()
            .contains("disca-backend user set-crm-user")
    );
    let before = h.standin.requests().total();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        h.standin.requests().total(),
        before,
        "no retries after a permanent error"
    );

    // Fixed by the manager (the user mapped), then queued again.
    h.store
        .set_crm_user(
            "acme",
            "1003@acme.example.com",
            Some(&CrmUserId::parse(ANA).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        h.store
            .requeue_deliveries("acme", Some(&no_author.id))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        settled(&h.store, &no_author.id).await.state,
        CrmState::Delivered
    );
    assert_eq!(
        crm_state(&h.store, &missing.id).await.unwrap().state,
        CrmState::Failed
    );
}

/// Redirects are not followed (v1's token is in the URL). A permanent one
/// (301, 308) means the configured address is wrong: the note stops after
/// one attempt with a message saying so, never with the token. A temporary
/// one (302, 303, 307) is retried with the usual backoff.
#[tokio::test]
async fn a_permanent_redirect_stops_the_note_and_a_temporary_one_is_retried() {
    let h = start(Api::V1, Config::default(), quick_crm).await;
    for status in [301, 308] {
        h.standin.faults().apply(FaultSpec {
            fault: Fault::Redirect { status },
            count: None,
            scope: Scope::V1,
        });
        let call = h
            .end("Ana", MARIANA_PHONE, Some(AURORA), Outcome::Answered)
            .await;
        let crm = settled(&h.store, &call.id).await;
        assert_eq!(crm.state, CrmState::Failed, "{status}");
        assert_eq!(crm.attempts, 1, "{status}");
        let error = crm.error.unwrap();
        assert!(
            error.contains(&format!("redirecionamento permanente (HTTP {status})"))
                && error.contains("https://api.moved.example/api/v1/activities")
                && error.contains("confira o endereço da API"),
            "{status}: {error}"
        );
        assert!(
            !error.contains(ANA_TOKEN) && !error.contains('?'),
            "{status}: the query (and its token) is left out: {error}"
        );
        let before = h.standin.requests().total();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            h.standin.requests().total(),
            before,
            "{status}: no retries after a permanent redirect"
        );
        assert!(notes_of(&h.standin, &call.id).is_empty());
    }
    for status in [302, 303, 307] {
        h.standin.faults().apply(FaultSpec {
            fault: Fault::Redirect { status },
            count: Some(1),
            scope: Scope::V1,
        });
        let call = h
            .end("Ana", MARIANA_PHONE, Some(AURORA), Outcome::Answered)
            .await;
        let crm = settled(&h.store, &call.id).await;
        assert_eq!(crm.state, CrmState::Delivered, "{status}: {crm:?}");
        assert!(crm.attempts >= 2, "{status}: retried: {crm:?}");
        assert_eq!(notes_of(&h.standin, &call.id).len(), 1, "{status}");
    }
}

#[tokio::test]
async fn a_revoked_v2_authorization_is_a_permanent_error() {
    let config = Config {
        access_token_lifetime: Duration::from_secs(5),
        ..Config::default()
    };
    let h = start(Api::V2, config, quick_crm).await;
    // Someone else used (and so killed) the stored refresh token.
    let stored = h.stored_refresh_token().await;
    assert_eq!(h.use_refresh_token(&stored).await, 200);
    let call = h
        .end("Ana", RAFAEL_PHONE, Some(BOA_VISTA), Outcome::Answered)
        .await;
    let crm = settled(&h.store, &call.id).await;
    assert_eq!(crm.state, CrmState::Failed);
    assert!(
        crm.error
            .unwrap()
            .contains("conecte de novo com disca-backend crm connect-v2")
    );
}

#[tokio::test]
async fn a_tenant_without_a_crm_waits_until_one_is_connected() {
    let h = start_with(Api::V1, Config::default(), quick_crm, false).await;
    let call = h
        .end("Ana", MARIANA_PHONE, Some(AURORA), Outcome::Answered)
        .await;
    assert_eq!(
        settled(&h.store, &call.id).await.state,
        CrmState::NotConfigured
    );
    connect_tenant(&h.store, h.app.data_dir(), &h.standin, Api::V1).await;
    assert_eq!(settled(&h.store, &call.id).await.state, CrmState::Delivered);
    assert_eq!(notes_of(&h.standin, &call.id).len(), 1);
}

/// The backend as a process (`disca-backend serve`), to be killed; its
/// logs (debug level, every crate) go to `log`.
fn spawn_backend(
    data: &(tempfile::TempDir, TestDatabase),
    config_file: &Path,
    log: &Path,
) -> tokio::process::Child {
    spawn_backend_at(data, config_file, log, "127.0.0.1:0", "debug")
}

/// [`spawn_backend`] listening on `listen`, with `RUST_LOG=rust_log`.
fn spawn_backend_at(
    (data_dir, database): &(tempfile::TempDir, TestDatabase),
    config_file: &Path,
    log: &Path,
    listen: &str,
    rust_log: &str,
) -> tokio::process::Child {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_disca-backend"));
    if let Some(url) = database.url() {
        command.env("DISCA_DATABASE_URL", url);
    }
    command
        .arg("serve")
        .env("DISCA_CONFIG", config_file)
        .env("DISCA_DATA_DIR", data_dir.path())
        .env("DISCA_LISTEN", listen)
        .env("DISCA_AMI_ADDR", closed.to_string())
        // Not the development PBX: `serve` wants a secret of its own.
        .env("DISCA_AMI_SECRET", "no-pbx-here")
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn killed_with_sigkill_mid_delivery_nothing_lost_nothing_doubled() {
    let (standin, store, users, _, data) = prepare(Api::V1, Config::default(), true).await;
    let config = data.0.path().join("disca.toml");
    let log = data.0.path().join("backend.log");
    std::fs::write(
        &config,
        "[crm]\nrequest_timeout_secs = 30\nretry_base_ms = 100\nretry_max_secs = 1\npoll_interval_ms = 100\nconcurrency = 4\n",
    )
    .unwrap();
    // Notes are stored by RD Station but never answered: the backend is
    // waiting on four of them when it is killed.
    standin.faults().set_for_next(Fault::TimeoutAfterStore, 4);
    let mut backend = spawn_backend(&data, &config, &log);
    let mut calls = Vec::new();
    for _ in 0..40 {
        calls.push(
            end_call(
                &store,
                &users["Ana"],
                MARIANA_PHONE,
                Some(AURORA),
                Outcome::Answered,
            )
            .await,
        );
    }
    eventually("four notes stored and unanswered", async || {
        (standin.all_notes().len() >= 4).then_some(())
    })
    .await;
    backend.start_kill().unwrap();
    backend.wait().await.unwrap();
    let stored_before_restart = standin.all_notes().len();

    let mut backend = spawn_backend(&data, &config, &log);
    for call in &calls {
        let crm = settled(&store, &call.id).await;
        assert_eq!(crm.state, CrmState::Delivered);
        assert_eq!(notes_of(&standin, &call.id).len(), 1, "exactly once");
    }
    assert_eq!(standin.notes(AURORA).len(), 40);
    assert!(stored_before_restart >= 4);
    // The CRM token travels in v1 URLs; it never reaches the logs.
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("note delivered to the CRM"), "{logs}");
    assert!(!logs.contains(ANA_TOKEN), "the RD Station token was logged");
    backend.start_kill().unwrap();
    backend.wait().await.unwrap();
}

/// Tokens in URLs (RD Station's v1 token in every request, one a client
/// puts in an address) are never logged, at any level.
#[tokio::test]
async fn no_token_in_a_url_reaches_the_logs_even_at_trace_level() {
    let (standin, store, users, _, data) = prepare(Api::V1, Config::default(), true).await;
    let config = data.0.path().join("disca.toml");
    let log = data.0.path().join("backend.log");
    std::fs::write(&config, "[crm]\npoll_interval_ms = 100\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut backend = spawn_backend_at(&data, &config, &log, &listen, "trace");
    let call = end_call(
        &store,
        &users["Ana"],
        MARIANA_PHONE,
        Some(AURORA),
        Outcome::Answered,
    )
    .await;
    assert_eq!(settled(&store, &call.id).await.state, CrmState::Delivered);
    assert_eq!(notes_of(&standin, &call.id).len(), 1);

    const SECRET: &str = "s3cr3t-t0k3n-in-a-query";
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/healthz",
        "/v1/calls",
        "/v1/events",
        "/manager",
        "/manager/calls.csv",
        "/no/such/page",
    ] {
        let url = format!("http://{listen}{path}?token={SECRET}&access_token={SECRET}");
        http.get(&url).send().await.unwrap();
    }
    // The last request's log lines are written.
    tokio::time::sleep(Duration::from_millis(500)).await;
    backend.start_kill().unwrap();
    backend.wait().await.unwrap();
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(
        logs.contains("started processing request"),
        "debug logs are on"
    );
    assert!(logs.contains("note delivered to the CRM"), "{logs}");
    assert!(
        logs.contains("/healthz"),
        "requests are logged (their path)"
    );
    for (what, secret) in [
        ("the RD Station token", ANA_TOKEN),
        ("a query token", SECRET),
    ] {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(secret)).collect();
        assert!(lines.is_empty(), "{what} was logged:\n{}", lines.join("\n"));
    }
}

#[tokio::test]
async fn a_tenant_held_back_by_rd_station_does_not_hold_back_the_others() {
    // One delivery at a time: a tenant waiting out a 429 must not keep it.
    let crm: CrmChange = |crm| {
        quick_crm(crm);
        crm.concurrency = 1;
    };
    // Acme on API v2 (its 429s carry Retry-After), Recife on v1.
    let h = start(Api::V2, Config::default(), crm).await;
    add_tenant(&h.store, "recife", "Recife Tech").await;
    let eduardo = ("Eduardo Santos", "2001", Role::Agent);
    let (eduardo, _) = add_user(
        &h.store,
        "recife",
        eduardo,
        Some("64b7f0c2a1e4d30000000a11"),
    )
    .await;
    connect_tenant_v1(
        &h.store,
        h.app.data_dir(),
        "recife",
        &h.standin.v1_base(),
        "e5d3b1a97c2f46e8d0b4a6c2",
    )
    .await;

    // Acme's first v2 request gets a 429 asking to wait an hour.
    h.standin.faults().apply(FaultSpec {
        fault: Fault::Status429 {
            retry_after_secs: 3600,
        },
        count: Some(1),
        scope: Scope::V2,
    });
    let held = h
        .end("Ana", RAFAEL_PHONE, Some(BOA_VISTA), Outcome::Answered)
        .await;
    eventually("the 429", async || {
        crm_state(&h.store, &held.id)
            .await
            .filter(|c| c.error.as_deref().is_some_and(|e| e.contains("HTTP 429")))
    })
    .await;
    let acme_again = h
        .end("Bruno", RAFAEL_PHONE, Some(BOA_VISTA), Outcome::Busy)
        .await;
    let recife = end_call(
        &h.store,
        &eduardo,
        "+5581998765432",
        Some("64b7f0c2a1e4d30000000d11"),
        Outcome::Answered,
    )
    .await;
    let started = Instant::now();
    assert_eq!(
        settled(&h.store, &recife.id).await.state,
        CrmState::Delivered
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // Acme waits, without failing: its notes are pending, not refused.
    for call in [&held, &acme_again] {
        let crm = crm_state(&h.store, &call.id).await.unwrap();
        assert_eq!(crm.state, CrmState::Pending, "{crm:?}");
        let due = crm.next_attempt_at.unwrap() - time::OffsetDateTime::now_utc();
        assert!(due > time::Duration::minutes(50), "{due}");
    }
    assert!(notes_of(&h.standin, &held.id).is_empty());
}

#[tokio::test]
async fn two_backends_on_one_database_deliver_each_note_once() {
    let h = start(Api::V1, Config::default(), quick_crm).await;
    // A second backend on the same data directory (a rolling deploy).
    let second = TestApp::builder()
        .shared_with(&h.app)
        .configure(|s| quick_crm(&mut s.crm))
        .start()
        .await;
    let second_store = second.store.clone();
    let mut calls = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 { &h.store } else { &second_store };
        let user = &h.users["Ana"];
        calls.push(end_call(store, user, MARIANA_PHONE, Some(AURORA), Outcome::Answered).await);
    }
    for call in &calls {
        assert_eq!(settled(&h.store, &call.id).await.state, CrmState::Delivered);
        assert_eq!(notes_of(&h.standin, &call.id).len(), 1, "exactly once");
    }
}

/// The PostgreSQL session (its pid) delivering `tenant`'s notes, if any:
/// the holder of its lock in this database.
async fn deliverer_of(database: &sqlx::AnyPool, tenant: &str) -> Option<i32> {
    sqlx::query_scalar::<_, i32>(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND ((classid::bigint << 32) | objid::bigint) = $1 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(disca_backend::crm::partition::tenant_lock(tenant))
    .fetch_optional(database)
    .await
    .unwrap()
}

/// On PostgreSQL a tenant's deliverer is whichever backend holds its
/// session advisory lock. When that session ends (its connection cut, as
/// when the backend dies or the network fails), the backend stops
/// delivering and one of the two takes the tenant again: every note is
/// still written once.
#[tokio::test]
async fn on_postgresql_the_delivery_moves_when_the_deliverers_session_ends() {
    let h = start(Api::V1, Config::default(), quick_crm).await;
    if h.app.settings.database_url.is_none() {
        eprintln!("SQLite: the deliverer is the lock file's holder (the test above)");
        return;
    }
    let second = TestApp::builder()
        .shared_with(&h.app)
        .configure(|s| quick_crm(&mut s.crm))
        .start()
        .await;
    let database = h.app.database().await;
    let holder = || deliverer_of(&database, "acme");
    let user = &h.users["Ana"];
    let stores = [&h.store, &second.store];
    let mut calls = Vec::new();
    for store in stores.into_iter().cycle().take(6) {
        calls.push(end_call(store, user, MARIANA_PHONE, Some(AURORA), Outcome::Answered).await);
    }
    // A backend takes acme (it has work now) within a second or so.
    let waited = Instant::now();
    let first = loop {
        if let Some(pid) = holder().await {
            break pid;
        }
        assert!(waited.elapsed() < PATIENCE, "nobody delivers");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(first)
        .fetch_one(&database)
        .await
        .unwrap();
    assert!(ended);
    for store in stores.into_iter().cycle().take(6) {
        calls.push(end_call(store, user, MARIANA_PHONE, Some(AURORA), Outcome::Answered).await);
    }
    // Taken again (by either backend, on a new session) within seconds.
    let start = Instant::now();
    let next = loop {
        if let Some(pid) = holder().await.filter(|pid| *pid != first) {
            break pid;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "nobody delivers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(next, first);
    for call in &calls {
        assert_eq!(settled(&h.store, &call.id).await.state, CrmState::Delivered);
        assert_eq!(notes_of(&h.standin, &call.id).len(), 1, "exactly once");
    }
}

/// 1,000 notes of two tenants queued through two backends sharing a
/// PostgreSQL database: both backends deliver (one tenant each), and with
/// the session of a tenant's deliverer cut twice while they drain, every
/// note is written exactly once (the handover looks up the notes that were
/// "maybe sent" before sending them again).
#[tokio::test]
async fn on_postgresql_a_thousand_notes_through_two_backends_are_each_written_once() {
    const NOTES: usize = 1000;
    fn fast(crm: &mut CrmSettings) {
        quick_crm(crm);
        crm.requests_per_window = 100_000;
        crm.concurrency = 16;
    }
    let standin_config = Config {
        rate_limit: RateLimit {
            requests: 100_000,
            window: Duration::from_secs(60),
        },
        ..Config::default()
    };
    let h = start(Api::V1, standin_config, fast).await;
    if h.app.settings.database_url.is_none() {
        eprintln!("SQLite: one backend per database");
        return;
    }
    // A second tenant, on the same RD Station account.
    add_tenant(&h.store, "globex", "Globex").await;
    let (gil, _) = add_user(&h.store, "globex", ("Gil", "2001", Role::Agent), Some(ANA)).await;
    connect_tenant_v1(
        &h.store,
        h.app.data_dir(),
        "globex",
        &h.standin.v1_base(),
        ANA_TOKEN,
    )
    .await;
    let second = TestApp::builder()
        .shared_with(&h.app)
        .configure(|s| fast(&mut s.crm))
        .start()
        .await;
    let database = h.app.database().await;
    let holder = |tenant| deliverer_of(&database, tenant);
    let users = [&h.users["Ana"], &gil];
    let stores = [&h.store, &second.store];
    let mut calls = Vec::new();
    // The calls end in three parts; after each of the first two, the
    // session delivering acme is cut while notes are still being written.
    let start = Instant::now();
    let mut cuts = Vec::new();
    let mut both_delivered = false;
    for part in 0..3 {
        for i in 0..NOTES / 3 + usize::from(part == 2) {
            let (store, user) = (stores[i % 2], users[(i / 2) % 2]);
            calls.push(end_call(store, user, MARIANA_PHONE, Some(AURORA), Outcome::Answered).await);
            if i % 50 == 0
                && let (Some(a), Some(g)) = (holder("acme").await, holder("globex").await)
            {
                both_delivered |= a != g;
            }
        }
        if part == 2 {
            break;
        }
        // Cut once acme's deliverer has written some.
        let before = cuts.last().map_or(0, |(_, written)| *written);
        let wait = Instant::now();
        while h.standin.all_notes().len() < before + 20 {
            assert!(wait.elapsed() < PATIENCE, "nobody delivers");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let pid = loop {
            if let Some(pid) = holder("acme").await {
                break pid;
            }
            assert!(wait.elapsed() < PATIENCE, "nobody delivers acme");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let cut: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&database)
            .await
            .unwrap();
        assert!(cut);
        cuts.push((pid, h.standin.all_notes().len()));
    }
    assert_eq!(calls.len(), NOTES);
    for call in &calls {
        assert_eq!(settled(&h.store, &call.id).await.state, CrmState::Delivered);
    }
    assert!(
        both_delivered,
        "the two tenants were never delivered by two backends at once"
    );
    let notes = h.standin.all_notes();
    let mut per_call: HashMap<&str, usize> = HashMap::new();
    for call in &calls {
        per_call.insert(&call.id, 0);
    }
    for note in &notes {
        for call in &calls {
            if note.text.contains(&call.id) {
                *per_call.get_mut(call.id.as_str()).unwrap() += 1;
            }
        }
    }
    let wrong: Vec<_> = per_call.iter().filter(|(_, n)| **n != 1).collect();
    assert!(wrong.is_empty(), "not exactly once: {wrong:?}");
    assert_eq!(notes.len(), NOTES);
    eprintln!(
        "{NOTES} notes of 2 tenants through 2 backends, acme's deliverer cut twice (notes written by then: {:?}): all once in {:.1} s",
        cuts.iter().map(|(_, n)| n).collect::<Vec<_>>(),
        start.elapsed().as_secs_f64()
    );
}
