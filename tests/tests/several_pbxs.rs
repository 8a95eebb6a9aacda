//! Two backends sharing one PostgreSQL database (a throwaway server) and
//! two real Asterisk servers: tenant `acme` on the default PBX, tenant
//! `globex` on the PBX `campinas`. Each PBX's calls are followed by one
//! backend; a click through either backend goes out through its tenant's
//! PBX; when `campinas` goes down only `globex` is refused (503), and its
//! clicks work again once it is back; and when `globex` moves to the
//! default PBX mid-call, that call ends as it really did on `campinas` and
//! the next one goes out through the default PBX. A PBX on a machine of its
//! own reads its phones from its schema in PostgreSQL: a salesperson of its
//! tenant gets a desk phone there, registers on that PBX, and rings; when
//! the tenant moves to the default PBX, the phone goes with its password,
//! and a trunk that registers with its carrier is registered by the new
//! PBX and unregistered by the old one.

use std::time::Duration;

use disca_backend::crm::{Secret, SecretKey};
use disca_backend::domain::PbxName;
use disca_backend::domain::TrunkSettings;
use disca_backend::phones::directory::{Directory, PostgresDirectory};
use disca_backend::phones::pbx_directories::schema_of;
use disca_backend::storage::{
    Actor, AuditAction, AuditEntry, Store, TRUNK_PASSWORD, TenantDialing, TrunkAccount,
};
use disca_testkit::postgres::Cluster;
use disca_testkit::sip::DeskPhone;
use disca_testkit::system::{
    BackendProcess, BackendProcessOptions, LEAD, Lab, PATIENCE, backend_binary, follows,
    manager_session, place_at, seed_users_in, wait_for_call,
};
use disca_testkit::{
    AsteriskRoot, PeerBehavior, PostgresDirectoryAccess, SipPeer, TestPbx, TestPbxOptions,
    free_udp_port,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};

const TALK: Duration = Duration::from_secs(3);
/// Globex's caller ID, set in the console.
const CALLER_ID: &str = "+551140000000";

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
            .set_tenant_pbx("globex", &pbx, false, &Actor::cli())
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
        .set_tenant_pbx("globex", &PbxName::default(), false, &Actor::cli())
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

/// Runs `disca-backend …` with `env`; its standard output.
fn command(env: &[(&str, &str)], data_dir: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new(backend_binary())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The value printed after `label` (`  password:  …`).
fn printed<'a>(output: &'a str, label: &str) -> &'a str {
    output
        .lines()
        .find_map(|line| line.trim().strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in {output}"))
        .trim()
}

/// A throwaway PostgreSQL server holding the backends' database and
/// campinas's phone directory, and campinas, an Asterisk reading that
/// directory as the role `asterisk_campinas`.
struct OnPostgres {
    _cluster: Cluster,
    url: String,
    /// The server's superuser.
    admin: sqlx::PgConnection,
    pbx: TestPbx,
}

/// Starts [`OnPostgres`], campinas's trunk at `trunk_sip_port`. The
/// directory is made first, as a backend does at start, so Asterisk's first
/// lookups find the tables.
async fn campinas_on_postgres(trunk_sip_port: u16) -> OnPostgres {
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    admin
        .execute(
            "CREATE ROLE asterisk_campinas LOGIN PASSWORD 'senha-da-central';
             ALTER ROLE asterisk_campinas SET search_path = disca_phones_campinas",
        )
        .await
        .unwrap();
    Directory::connect(&PostgresDirectory {
        url: url.clone(),
        schema: schema_of(&"campinas".parse().unwrap()),
        pbx_role: Some("asterisk_campinas".into()),
    })
    .await
    .unwrap();
    let port = reqwest::Url::parse(&url).unwrap().port().unwrap();
    let pbx = TestPbx::start_with_postgres_directory(
        &AsteriskRoot::locate().unwrap(),
        TestPbxOptions {
            agent_sip_port: free_udp_port(),
            trunk_sip_port,
            lead_ring_timeout_secs: 10,
            extra_agents: 0,
            websocket: false,
        },
        &PostgresDirectoryAccess {
            host: "127.0.0.1".into(),
            port,
            dbname: "postgres".into(),
            user: "asterisk_campinas".into(),
            password: "senha-da-central".into(),
        },
    )
    .await
    .unwrap();
    OnPostgres {
        _cluster: cluster,
        url,
        admin,
        pbx,
    }
}

/// Sets globex's telephony as its admin does in the console: a trunk at
/// `127.0.0.1:<port>`, E.164 numbers, [`CALLER_ID`], registering with
/// `registration` if given.
async fn set_console_telephony(store: &Store, port: u16, registration: Option<TrunkAccount>) {
    let dialing = TenantDialing {
        trunk: TrunkSettings::parse("127.0.0.1", port.into(), "e164", "0", CALLER_ID, 30).unwrap(),
        registration,
        caller_ids: Vec::new(),
    };
    let entry = AuditEntry {
        action: AuditAction::DialingChanged,
        target: "globex".into(),
        detail: "test".into(),
    };
    store
        .set_tenant_dialing("globex", &dialing, &Actor::cli(), &entry)
        .await
        .unwrap();
}

/// The settings a backend or command needs for the database at `url` and
/// campinas (`pbx`) with its directory there.
fn campinas_settings(url: &str, pbx: &TestPbx) -> Vec<(&'static str, String)> {
    vec![
        ("DISCA_DATABASE_URL", url.to_owned()),
        ("DISCA_PBXS__CAMPINAS__ADDR", pbx.ami_addr.to_string()),
        ("DISCA_PBXS__CAMPINAS__USERNAME", pbx.ami_username.clone()),
        ("DISCA_PBXS__CAMPINAS__SECRET", pbx.ami_secret.clone()),
        ("DISCA_PBXS__CAMPINAS__DIRECTORY_URL", url.to_owned()),
        (
            "DISCA_PBXS__CAMPINAS__DIRECTORY_PBX_ROLE",
            "asterisk_campinas".into(),
        ),
        (
            "DISCA_PBXS__CAMPINAS__SIP_DOMAIN",
            "pbx-campinas.example.com.br".into(),
        ),
        (
            "DISCA_PBXS__CAMPINAS__WS_URL",
            "wss://pbx-campinas.example.com.br:8089/ws".into(),
        ),
    ]
}

/// `settings` as environment variables.
fn as_env<'a>(settings: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    settings.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// `campinas` is on a machine of its own: its phones are in the schema
/// `disca_phones_campinas`, which Asterisk reads through
/// `res_config_pgsql` as a role that may read the directory and write
/// registrations, nothing else.
#[tokio::test]
async fn a_pbx_of_its_own_reads_its_tenants_phones_from_postgresql() {
    let main = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup { talk: TALK },
    )
    .await;
    let trunk = SipPeer::start(
        free_udp_port(),
        PeerBehavior::AnswerThenHangup { talk: TALK },
    )
    .await
    .unwrap();
    let OnPostgres {
        _cluster,
        url,
        mut admin,
        pbx,
    } = campinas_on_postgres(trunk.port()).await;
    let campinas: PbxName = "campinas".parse().unwrap();
    {
        let store = Store::connect(&url).await.unwrap();
        seed_users_in(&store).await;
        store
            .set_tenant_pbx("globex", &campinas, false, &Actor::cli())
            .await
            .unwrap();
        // Globex's telephony is set in the console: the backend writes it
        // into campinas's directory when it starts, and campinas's dialplan
        // reads it from there (REALTIME_FIELD through res_config_pgsql).
        set_console_telephony(&store, trunk.port(), None).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let main_directory = main.pbx.phone_directory.display().to_string();
    let main_recordings = main.pbx.recordings_dir.display().to_string();
    let campinas_recordings = pbx.recordings_dir.display().to_string();
    let mut settings = campinas_settings(&url, &pbx);
    settings.extend([
        ("DISCA_PHONES__DIRECTORY_DB", main_directory),
        ("DISCA_CRM__RECORDINGS_DIR", main_recordings),
        ("DISCA_PBXS__CAMPINAS__RECORDINGS_DIR", campinas_recordings),
    ]);
    let env = as_env(&settings);
    let binary = backend_binary();
    let backend = BackendProcess::start(BackendProcessOptions {
        binary: &binary,
        data_dir: dir.path(),
        ami_addr: main.pbx.ami_addr,
        ami_username: &main.pbx.ami_username,
        ami_secret: &main.pbx.ami_secret,
        extra_args: &[],
        env: &env,
    })
    .await;
    let http = reqwest::Client::new();
    wait_for_pbx(&http, &backend.base, "campinas", true).await;

    // A salesperson of globex with a desk phone: written into campinas's
    // directory; the credentials name campinas's address.
    let added = command(
        &env,
        dir.path(),
        &[
            "user",
            "add",
            "--tenant",
            "globex",
            "--name",
            "Gabriela",
            "--email",
            "gabriela@globex.example.com",
            "--endpoint",
            "2050",
            "--phone",
            "desk",
        ],
    );
    let token = added.lines().last().unwrap().trim().to_owned();
    let rotate = [
        "user",
        "rotate-phone-password",
        "--tenant",
        "globex",
        "--email",
        "gabriela@globex.example.com",
    ];
    let credentials = command(&env, dir.path(), &rotate);
    assert_eq!(
        printed(&credentials, "server:"),
        "pbx-campinas.example.com.br"
    );
    assert_eq!(printed(&credentials, "user:"), "globex-2050");
    let phone = DeskPhone::register(
        pbx.sip_addr,
        "globex-2050",
        printed(&credentials, "password:"),
    )
    .await
    .expect("the desk phone registers on campinas with the credentials printed");
    let registrations = || async {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM disca_phones_campinas.ps_contacts WHERE endpoint = 'globex-2050'",
        )
        .fetch_one(&mut sqlx::PgConnection::connect(&url).await.unwrap())
        .await
        .unwrap();
        count
    };
    assert_eq!(registrations().await, 1, "Asterisk wrote the registration");

    // A click rings the desk phone through campinas, then the lead.
    let (status, call) = click(&http, &backend.base, &token).await;
    assert_eq!(status, StatusCode::CREATED, "{call:#}");
    let id = call["id"].as_str().unwrap().to_owned();
    let ended = wait_for_call(&http, &backend.base, &token, &id, "ended", |c| {
        c["state"] == "ended"
    })
    .await;
    assert_eq!(ended["outcome"], "answered", "{ended:#}");
    assert_eq!(phone.invites().len(), 1, "the desk phone rang");
    assert_eq!(
        trunk.calls_received(),
        1,
        "campinas's trunk dialled the lead"
    );
    assert_eq!(main.trunk.calls_received(), 0);

    // Campinas recorded the call into its own spool (here its folder; on
    // another machine, a mount of it): globex's manager plays it.
    let manager = command(
        &env,
        dir.path(),
        &[
            "user",
            "add",
            "--tenant",
            "globex",
            "--name",
            "Gil",
            "--email",
            "gil@globex.example.com",
            "--endpoint",
            "2009",
            "--role",
            "manager",
            "--phone",
            "desk",
        ],
    );
    let cookie =
        manager_session(&http, &backend.base, manager.lines().last().unwrap().trim()).await;
    let recording = http
        .get(format!("{}/manager/calls/{id}/recording", backend.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(recording.status(), StatusCode::OK);
    let wav = recording.bytes().await.unwrap();
    assert!(wav.starts_with(b"RIFF"), "{} bytes", wav.len());
    assert!(
        pbx.recordings_dir
            .join(ended["recording_file"].as_str().unwrap())
            .exists()
    );

    // A new password drops the registration at once.
    let credentials = command(&env, dir.path(), &rotate);
    assert_eq!(registrations().await, 0);

    // Globex moves to the default PBX, whose directory is a file: the phone
    // goes with its password, and registers there with it.
    let moved = command(
        &env,
        dir.path(),
        &[
            "tenant", "set-pbx", "--tenant", "globex", "--pbx", "default",
        ],
    );
    assert!(
        moved.contains("2 phone(s) moved"),
        "Gabriela's and Gil's: {moved}"
    );
    assert!(
        moved.contains("telephony is now written for PBX default"),
        "{moved}"
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM disca_phones_campinas.ps_endpoints WHERE id = 'globex-2050'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(left, 0, "the phone left campinas's directory");
    drop(phone);
    let phone = DeskPhone::register(
        main.pbx.sip_addr,
        "globex-2050",
        printed(&credentials, "password:"),
    )
    .await
    .expect("the desk phone registers on the default PBX with the same password");
    // Every backend sees the move within its revocation poll (1 s).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, call) = click(&http, &backend.base, &token).await;
    assert_eq!(status, StatusCode::CREATED, "{call:#}");
    let id = call["id"].as_str().unwrap().to_owned();
    let ended = wait_for_call(&http, &backend.base, &token, &id, "ended", |c| {
        c["state"] == "ended"
    })
    .await;
    assert_eq!(ended["outcome"], "answered", "{ended:#}");
    assert_eq!(
        phone.invites().len(),
        1,
        "the desk phone on the default PBX rang"
    );
    // The default test PBX's site file defines a `globex-trunk` too, which
    // wins over the directory's (sorcery.conf): the lead is dialled there,
    // with the console's rules, moved with globex (E.164, its caller ID;
    // the site's own context would dial 0-prefixed national numbers).
    let invites = main.trunk.invites();
    assert_eq!(invites.len(), 1, "the default PBX dialled the lead");
    assert!(
        invites[0].request_uri.starts_with("sip:+5511987654321@")
            && invites[0].header("From").unwrap().contains(CALLER_ID),
        "{:?}",
        invites[0]
    );
    assert_eq!(trunk.calls_received(), 1);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM disca_phones_campinas.disca_tenants")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, 0, "globex's telephony left campinas's directory");

    // Asterisk's role reads nothing of the backend's.
    admin.execute("SET ROLE asterisk_campinas").await.unwrap();
    for denied in [
        "SELECT COUNT(*) FROM public.calls",
        "SELECT COUNT(*) FROM public.tokens",
        "UPDATE disca_phones_campinas.ps_auths SET password = 'x'",
    ] {
        let error = admin.execute(denied).await.unwrap_err();
        assert!(
            error.to_string().contains("permission denied"),
            "{denied}: {error}"
        );
    }
    let console = std::fs::read_to_string(pbx.instance().console_log()).unwrap_or_default();
    assert!(
        !console.contains("PostgreSQL RealTime: Failed"),
        "every query of Asterisk's succeeded:\n{console}"
    );
}

/// Whether `registrar` received a REGISTER from the PBX at `pbx` (its
/// Via names the PBX's SIP port) that `matches`.
fn registered_from(
    registrar: &SipPeer,
    pbx: &TestPbx,
    matches: impl Fn(&disca_testkit::ReceivedInvite) -> bool,
) -> bool {
    let port = format!("127.0.0.1:{}", pbx.sip_addr.port());
    registrar
        .requests("REGISTER")
        .iter()
        .any(|r| r.header("Via").is_some_and(|via| via.contains(&port)) && matches(r))
}

/// An un-REGISTER: the contact's expiry, or the request's, is 0.
fn unregisters(request: &disca_testkit::ReceivedInvite) -> bool {
    request.header("Expires").is_some_and(|e| e.trim() == "0")
        || request
            .header("Contact")
            .is_some_and(|c| c.replace(' ', "").contains("expires=0"))
}

async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A tenant whose trunk registers with its carrier moves between PBXs with
/// `tenant set-pbx` alone (no backend running): the new PBX registers the
/// account, the old one unregisters it, so the carrier never sees both.
#[tokio::test]
async fn a_registering_trunk_follows_its_tenant_to_another_pbx() {
    let main = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let OnPostgres {
        _cluster,
        url,
        admin: _,
        pbx,
    } = campinas_on_postgres(free_udp_port()).await;
    let registrar = SipPeer::registrar(
        free_udp_port(),
        "1130001000",
        "S3nha-d@-operadora",
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::connect(&url).await.unwrap();
        seed_users_in(&store).await;
        let key = SecretKey::load_or_create(&dir.path().join("crm-secrets.key")).unwrap();
        let account = TrunkAccount {
            username: "1130001000".parse().unwrap(),
            sealed_password: key.seal(
                "globex",
                TRUNK_PASSWORD,
                &Secret::new("S3nha-d@-operadora".into()),
            ),
        };
        set_console_telephony(&store, registrar.port(), Some(account)).await;
    }
    let mut settings = campinas_settings(&url, &pbx);
    settings.extend([
        ("DISCA_AMI__ADDR", main.pbx.ami_addr.to_string()),
        ("DISCA_AMI__USERNAME", main.pbx.ami_username.clone()),
        ("DISCA_AMI__SECRET", main.pbx.ami_secret.clone()),
        (
            "DISCA_PHONES__DIRECTORY_DB",
            main.pbx.phone_directory.display().to_string(),
        ),
    ]);
    let env = as_env(&settings);
    let set_pbx = |to: &str| {
        command(
            &env,
            dir.path(),
            &["tenant", "set-pbx", "--tenant", "globex", "--pbx", to],
        )
    };

    let moved = set_pbx("campinas");
    assert!(
        moved.contains("PBX campinas was told about globex-trunk's registration"),
        "{moved}"
    );
    until("campinas registers globex's account", || {
        registered_from(&registrar, &pbx, |r| !unregisters(r))
    })
    .await;
    assert!(!registered_from(&registrar, &main.pbx, |_| true));

    let moved = set_pbx("default");
    assert!(
        moved.contains("PBX default was told about globex-trunk's registration")
            && moved.contains("PBX campinas was told about globex-trunk's registration"),
        "{moved}"
    );
    until("the default PBX registers globex's account", || {
        registered_from(&registrar, &main.pbx, |r| !unregisters(r))
    })
    .await;
    until("campinas unregisters it", || {
        registered_from(&registrar, &pbx, unregisters)
    })
    .await;
    let listed = pbx
        .cli("pjsip show registrations")
        .await
        .unwrap_or_default();
    assert!(!listed.contains("globex-trunk"), "{listed}");
}
