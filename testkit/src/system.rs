//! The system under test, assembled: a [`Lab`] (a test PBX with its SIP
//! peers), the real backend started in-process ([`TestApp`]) with the users
//! the system tests know, with real tokens ([`Backend`]), and a TCP proxy
//! that can cut the backend's AMI connection ([`TcpProxy`]). Used by the
//! system tests and the load benchmark.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{
    AsteriskRoot, PeerBehavior, SipPeer, TestApp, TestAppBuilder, TestPbx, TestPbxOptions,
    free_udp_port,
};
use disca_backend::auth::issue_token;
use disca_backend::domain::{CrmUserId, Role, Tenant};
use disca_backend::storage::{NewUser, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

pub const LEAD: &str = "(11) 98765-4321";
pub const LEAD_E164: &str = "+5511987654321";
/// How long a test waits for a call to reach a state.
pub const PATIENCE: Duration = Duration::from_secs(40);

/// A PBX with its two SIP peers: the agents' phones and the trunk's far end.
pub struct Lab {
    pub pbx: TestPbx,
    pub agents: SipPeer,
    pub trunk: SipPeer,
}

impl Lab {
    pub async fn start(agents: PeerBehavior, trunk: PeerBehavior) -> Lab {
        Lab::start_with_ring_timeout(agents, trunk, 4).await
    }

    pub async fn start_with_ring_timeout(
        agents: PeerBehavior,
        trunk: PeerBehavior,
        lead_ring_timeout_secs: u32,
    ) -> Lab {
        Lab::start_with_options(agents, trunk, lead_ring_timeout_secs, 0).await
    }

    pub async fn start_with_options(
        agents: PeerBehavior,
        trunk: PeerBehavior,
        lead_ring_timeout_secs: u32,
        extra_agents: u32,
    ) -> Lab {
        Lab::start_inner(agents, trunk, lead_ring_timeout_secs, extra_agents, false).await
    }

    /// A lab whose PBX also serves SIP over WebSocket, for browser phones.
    pub async fn start_with_websocket(agents: PeerBehavior, trunk: PeerBehavior) -> Lab {
        Lab::start_inner(agents, trunk, 10, 0, true).await
    }

    async fn start_inner(
        agents: PeerBehavior,
        trunk: PeerBehavior,
        lead_ring_timeout_secs: u32,
        extra_agents: u32,
        websocket: bool,
    ) -> Lab {
        let root = AsteriskRoot::locate().expect("provisioned Asterisk root");
        let (agent_port, trunk_port) = (free_udp_port(), free_udp_port());
        let agents = SipPeer::start(agent_port, agents)
            .await
            .expect("agent SIPp");
        let trunk = SipPeer::start(trunk_port, trunk).await.expect("trunk SIPp");
        let pbx = TestPbx::start(
            &root,
            TestPbxOptions {
                agent_sip_port: agent_port,
                trunk_sip_port: trunk_port,
                lead_ring_timeout_secs,
                extra_agents,
                websocket,
            },
        )
        .await
        .expect("Asterisk started");
        Lab { pbx, agents, trunk }
    }
}

/// Users the backend knows, by name: `acme-1001`, `acme-1002`,
/// `acme-manager` (extension 1009), `globex-2001`, and `initech-3001`, whose
/// tenant has no dialplan or endpoints at the PBX. A [`TestApp`] with the
/// system tests' timings (agents ring 4 s, a listing every 2 s, no rate
/// limit to speak of).
pub struct Backend {
    pub base: String,
    pub http: reqwest::Client,
    pub tokens: HashMap<&'static str, String>,
    pub user_ids: HashMap<&'static str, String>,
    pub app: TestApp,
}

impl Backend {
    /// Starts the backend against `ami_addr` with the test PBX's AMI user.
    pub async fn start(pbx: &TestPbx, ami_addr: SocketAddr) -> Backend {
        Backend::start_with_agent_channel(pbx, ami_addr, None).await
    }

    /// [`Backend::start`] with another agent channel template (see
    /// `disca_backend::configuration::CallSettings::agent_channel`).
    pub async fn start_with_agent_channel(
        pbx: &TestPbx,
        ami_addr: SocketAddr,
        agent_channel: Option<&str>,
    ) -> Backend {
        let mut builder = TestApp::builder()
            .ami(ami_addr, &pbx.ami_username, &pbx.ami_secret)
            .phone_directory(&pbx.phone_directory);
        if let Some(channel) = agent_channel {
            let channel = channel.to_owned();
            builder = builder.configure(move |s| s.calls.agent_channel = channel);
        }
        let backend = Backend::start_with(builder).await;
        backend.wait_until_healthy().await;
        backend
    }

    /// [`Backend::start`] with browser phones: the PBX's phone directory
    /// and its SIP-over-WebSocket URL (a [`Lab::start_with_websocket`]).
    pub async fn start_with_browser_phones(pbx: &TestPbx) -> Backend {
        Backend::start_with_phone_settings(pbx, |_| {}).await
    }

    /// [`Backend::start_with_browser_phones`], then `configure` changes
    /// the phone settings (STUN and TURN servers, say).
    pub async fn start_with_phone_settings(
        pbx: &TestPbx,
        configure: impl FnOnce(&mut disca_backend::configuration::PhoneSettings) + Send + 'static,
    ) -> Backend {
        let ws_url = pbx.ws_url();
        let builder = TestApp::builder()
            .ami(pbx.ami_addr, &pbx.ami_username, &pbx.ami_secret)
            .phone_directory(&pbx.phone_directory)
            .configure(move |s| {
                s.phones.ws_url = ws_url;
                s.phones.sip_domain = "127.0.0.1".into();
                configure(&mut s.phones);
            });
        let backend = Backend::start_with(builder).await;
        backend.wait_until_healthy().await;
        backend
    }

    /// [`Backend::start`], then `configure` changes other settings.
    pub async fn start_configured(
        pbx: &TestPbx,
        configure: impl FnOnce(&mut disca_backend::configuration::Settings) + 'static,
    ) -> Backend {
        let builder = TestApp::builder()
            .ami(pbx.ami_addr, &pbx.ami_username, &pbx.ami_secret)
            .phone_directory(&pbx.phone_directory)
            .configure(configure);
        let backend = Backend::start_with(builder).await;
        backend.wait_until_healthy().await;
        backend
    }

    /// The backend with no PBX behind it (its AMI address is a closed port):
    /// for what is decided before a call reaches Asterisk.
    pub async fn start_without_pbx() -> Backend {
        Backend::start_with(TestApp::builder()).await
    }

    /// [`Backend::start`] on SQLite, whatever `DISCA_TEST_POSTGRES` says:
    /// for tests of SQLite's own faults.
    pub async fn start_on_sqlite(pbx: &TestPbx, ami_addr: SocketAddr) -> Backend {
        let builder = TestApp::builder()
            .ami(ami_addr, &pbx.ami_username, &pbx.ami_secret)
            .phone_directory(&pbx.phone_directory)
            .sqlite();
        let backend = Backend::start_with(builder).await;
        backend.wait_until_healthy().await;
        backend
    }

    /// [`Backend::start`] on SQLite with its data in `dir` (a folder on a
    /// small file system, say), whatever `DISCA_TEST_POSTGRES` says.
    pub async fn start_in(pbx: &TestPbx, ami_addr: SocketAddr, dir: tempfile::TempDir) -> Backend {
        let builder = TestApp::builder()
            .ami(ami_addr, &pbx.ami_username, &pbx.ami_secret)
            .phone_directory(&pbx.phone_directory)
            .data_in(dir)
            .sqlite();
        let backend = Backend::start_with(builder).await;
        backend.wait_until_healthy().await;
        backend
    }

    /// [`Backend::start`] on the PostgreSQL database at `url` (a
    /// [`crate::postgres::Cluster`] of the test's own, say).
    pub async fn start_on(pbx: &TestPbx, ami_addr: SocketAddr, url: &str) -> Backend {
        let builder = TestApp::builder()
            .ami(ami_addr, &pbx.ami_username, &pbx.ami_secret)
            .phone_directory(&pbx.phone_directory)
            .database_url(Some(url));
        let backend = Backend::start_with(builder).await;
        backend.wait_until_healthy().await;
        backend
    }

    async fn start_with(builder: TestAppBuilder) -> Backend {
        let app = builder
            .configure(|s| {
                s.calls.agent_ring_timeout = Duration::from_secs(4);
                s.calls.reconcile_interval = Duration::from_secs(2);
                s.calls.calls_per_minute = 1000;
            })
            .start()
            .await;
        let (tokens, user_ids) = seed_users_in(&app.store).await;
        Backend {
            base: app.base.clone(),
            http: app.http.clone(),
            tokens,
            user_ids,
            app,
        }
    }

    /// Adds `name` (e-mail `<name>@example.com`) to `tenant` at `extension`
    /// with a browser phone (then known by name, like the seeded users);
    /// returns their token.
    pub async fn add_browser_user(
        &mut self,
        name: &'static str,
        tenant: &str,
        extension: &str,
    ) -> String {
        let token = issue_token();
        let user = self
            .app
            .store
            .add_user(NewUser {
                tenant,
                name,
                email: &format!("{name}@example.com"),
                extension: &extension.parse().unwrap(),
                role: Role::Agent,
                token_hash: Some(&token.hash),
                phone: disca_backend::domain::PhoneKind::Browser,
            })
            .await
            .unwrap();
        self.tokens.insert(name, token.secret.clone());
        self.user_ids.insert(name, user.id);
        token.secret
    }

    /// `GET /healthz`: its status and body.
    pub async fn health(&self) -> (StatusCode, Value) {
        self.app.health().await
    }

    /// Waits until the backend is ready and follows the PBX's calls: on
    /// PostgreSQL it takes the follower lock, and waits its fence, only
    /// after it is up (its clicks meanwhile are followed from then on).
    pub async fn wait_until_healthy(&self) {
        self.app.wait_until_healthy().await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !follows_the_pbx(&self.http, &self.base).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the backend never followed the PBX's calls"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Connects `tenant` to RD Station CRM through API v1 at `v1_base` with
    /// `token`, and maps each `(user, crm user id)` for the notes' author.
    pub async fn connect_crm(
        &self,
        tenant: &str,
        v1_base: &str,
        token: &str,
        users: &[(&str, &str)],
    ) {
        let store = &self.app.store;
        crate::crm::connect_tenant_v1(store, self.data_dir(), tenant, v1_base, token).await;
        for (user, crm_user) in users {
            let crm_user = CrmUserId::parse(crm_user).unwrap();
            store
                .set_crm_user(tenant, &format!("{user}@example.com"), Some(&crm_user))
                .await
                .unwrap();
        }
    }

    /// The backend's data folder (its database is `disca.sqlite3` there).
    pub fn data_dir(&self) -> &Path {
        self.app.data_dir()
    }

    pub fn token(&self, user: &str) -> &str {
        &self.tokens[user]
    }

    /// `POST /v1/calls` as `user`.
    pub async fn place(
        &self,
        user: &str,
        body: Value,
        idempotency_key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}/v1/calls", self.base))
            .bearer_auth(self.token(user))
            .json(&body);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// Places a call to [`LEAD`] that must be accepted; returns its id.
    pub async fn place_ok(&self, user: &str) -> String {
        let (status, call) = self
            .place(
                user,
                json!({"to": LEAD, "context": {"deal_id": "5f1e7a9b2c3d4e5f6a7b8c9d", "contact_name": "Maria da Silva"}}),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{call}");
        call["id"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, user: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(self.token(user))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, user: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.token(user))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// Polls the call until `done` holds; fails the test after [`PATIENCE`].
    pub async fn wait_for(
        &self,
        user: &str,
        id: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        wait_for_call(&self.http, &self.base, self.token(user), id, what, done).await
    }

    pub async fn wait_for_state(&self, user: &str, id: &str, state: &str) -> Value {
        self.wait_for(user, id, state, |c| c["state"] == state)
            .await
    }

    pub async fn wait_until_ended(&self, user: &str, id: &str) -> Value {
        self.wait_for_state(user, id, "ended").await
    }
}

/// `GET /v1/calls/{id}` from the backend at `base`, as the holder of
/// `token`; fails the test unless it answers 200.
pub async fn call_at(http: &reqwest::Client, base: &str, token: &str, id: &str) -> Value {
    let r = http
        .get(format!("{base}/v1/calls/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let call = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::OK, "{call}");
    call
}

/// Signs in to the manager page of the backend at `base` with `token`
/// (an API token of a manager or admin): the session cookie
/// (`name=value`).
pub async fn manager_session(http: &reqwest::Client, base: &str, token: &str) -> String {
    let login = http
        .post(format!("{base}/manager/login"))
        .header("x-disca-manager", "1")
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// Places a call through the backend at `base` for `token`'s user:
/// `POST /v1/calls` with `body`, its status and answer.
pub async fn place_at(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let r = http
        .post(format!("{base}/v1/calls"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// [`place_at`] for a call that must be accepted; its id.
pub async fn place_ok_at(http: &reqwest::Client, base: &str, token: &str, body: &Value) -> String {
    let (status, call) = place_at(http, base, token, body).await;
    assert_eq!(status, StatusCode::CREATED, "{call}");
    call["id"].as_str().unwrap().to_owned()
}

/// Polls the call at the backend at `base` ([`call_at`]) until `done`
/// holds; fails the test after [`PATIENCE`].
pub async fn wait_for_call(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let call = call_at(http, base, token, id).await;
        if done(&call) {
            return call;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "call never {what}: {call:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the backend at `base` follows the default PBX's calls, as its
/// `/metrics` says (`disca_pbx_following{pbx="default"} 1`); `false` when
/// it does not answer.
pub async fn follows_the_pbx(http: &reqwest::Client, base: &str) -> bool {
    follows(http, base, "default").await
}

/// Whether the backend at `base` follows the calls of the PBX `pbx`.
pub async fn follows(http: &reqwest::Client, base: &str, pbx: &str) -> bool {
    let Ok(r) = http.get(format!("{base}/metrics")).send().await else {
        return false;
    };
    r.text()
        .await
        .unwrap_or_default()
        .lines()
        .any(|l| l.trim() == format!("disca_pbx_following{{pbx=\"{pbx}\"}} 1"))
}

/// A TCP proxy (in front of AMI, or of the backend's HTTP) whose connections
/// the test can cut.
pub struct TcpProxy {
    pub addr: SocketAddr,
    blocked: Arc<AtomicBool>,
    cut: Arc<Notify>,
    stalled: tokio::sync::watch::Sender<bool>,
}

impl TcpProxy {
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let blocked = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Notify::new());
        let (stalled, _) = tokio::sync::watch::channel(false);
        let (b, c, st) = (blocked.clone(), cut.clone(), stalled.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if b.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let (c, st) = (c.clone(), st.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        _ = pump(client_read, server_write, st.subscribe()) => {}
                        _ = pump(server_read, client_write, st.subscribe()) => {}
                        _ = c.notified() => {}
                    }
                });
            }
        });
        TcpProxy {
            addr,
            blocked,
            cut,
            stalled,
        }
    }

    /// Drops every proxied connection and refuses new ones for `outage`.
    pub async fn cut_for(&self, outage: Duration) {
        self.blocked.store(true, Ordering::SeqCst);
        self.cut.notify_waiters();
        tokio::time::sleep(outage).await;
        self.blocked.store(false, Ordering::SeqCst);
    }

    /// Stops forwarding anything, either way, on every connection (new ones
    /// too), without closing any: a link that stalls.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Forwards again (what was read meanwhile follows).
    pub fn resume(&self) {
        self.stalled.send_replace(false);
    }
}

/// Copies `from` to `to`, holding each chunk while the proxy is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stalled.wait_for(|s| !*s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Seeds `data_dir`'s database with the tenants and users [`Backend`]
/// knows; returns their tokens and ids by name.
pub async fn seed_users(
    data_dir: &Path,
) -> (HashMap<&'static str, String>, HashMap<&'static str, String>) {
    seed_users_in(&Store::open(data_dir).await.unwrap()).await
}

/// [`seed_users`] through an open store (one on PostgreSQL, say).
pub async fn seed_users_in(
    store: &Store,
) -> (HashMap<&'static str, String>, HashMap<&'static str, String>) {
    let mut tokens = HashMap::new();
    let mut user_ids = HashMap::new();
    let users: [(&'static str, &str, &str, Role); 5] = [
        ("acme-1001", "acme", "1001", Role::Agent),
        ("acme-1002", "acme", "1002", Role::Agent),
        ("acme-manager", "acme", "1009", Role::Manager),
        ("globex-2001", "globex", "2001", Role::Agent),
        // A tenant the backend knows but the PBX was never configured for.
        ("initech-3001", "initech", "3001", Role::Agent),
    ];
    for slug in ["acme", "globex", "initech"] {
        let tenant = Tenant::in_brazil(slug.parse().unwrap(), format!("{slug} Ltda"));
        store.add_tenant(&tenant).await.unwrap();
    }
    for (name, tenant, ext, role) in users {
        let token = issue_token();
        let user = store
            .add_user(NewUser {
                tenant,
                name,
                email: &format!("{name}@example.com"),
                extension: &ext.parse().unwrap(),
                role,
                token_hash: Some(&token.hash),
                phone: disca_backend::domain::PhoneKind::Desk,
            })
            .await
            .unwrap();
        tokens.insert(name, token.secret);
        user_ids.insert(name, user.id);
    }
    (tokens, user_ids)
}

/// Creates tenant `acme` with `count` agents at extensions 5000, 5001...
/// (the test PBX's [`TestPbxOptions::extra_agents`]) in the database in
/// `data_dir`; returns their tokens in extension order.
pub async fn seed_load_agents(data_dir: &Path, count: u32) -> Vec<String> {
    let store = Store::open(data_dir).await.unwrap();
    seed_load_agents_in(&store, count).await.0
}

/// [`seed_load_agents`] in `store`, with a manager of `acme` too (extension
/// 4999, whose event stream carries every agent's calls): the agents'
/// tokens in extension order, and the manager's.
pub async fn seed_load_agents_in(store: &Store, count: u32) -> (Vec<String>, String) {
    let tenant = Tenant::in_brazil("acme".parse().unwrap(), "Acme Ltda");
    store.add_tenant(&tenant).await.unwrap();
    let mut tokens = Vec::new();
    for (ext, role) in (0..count)
        .map(|i| (5000 + i, Role::Agent))
        .chain([(4999, Role::Manager)])
    {
        let token = issue_token();
        store
            .add_user(NewUser {
                tenant: "acme",
                name: &format!("Agent {ext}"),
                email: &format!("agent{ext}@example.com"),
                extension: &ext.to_string().parse().unwrap(),
                role,
                token_hash: Some(&token.hash),
                phone: disca_backend::domain::PhoneKind::Desk,
            })
            .await
            .unwrap();
        tokens.push(token.secret);
    }
    let manager = tokens.pop().expect("the manager's token");
    (tokens, manager)
}

/// `target/<profile>/disca-backend`, next to the test binaries' folder.
/// Cargo builds it with the workspace (`cargo test --workspace`).
pub fn backend_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps")
        .join("disca-backend");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p disca-backend` (cargo test --workspace does)",
        binary.display()
    );
    binary
}

/// The real `disca-backend` binary as a child process on a free port; it is
/// healthy (logged in to AMI) when [`BackendProcess::start`] returns, and
/// killed on drop.
pub struct BackendProcess {
    pub base: String,
    child: std::process::Child,
}

/// How to start a [`BackendProcess`].
pub struct BackendProcessOptions<'a> {
    /// The binary (`env!("CARGO_BIN_EXE_disca-backend")` in the backend's benches).
    pub binary: &'a Path,
    pub data_dir: &'a Path,
    pub ami_addr: SocketAddr,
    pub ami_username: &'a str,
    pub ami_secret: &'a str,
    /// More `serve` flags.
    pub extra_args: &'a [&'a str],
    /// Settings in the environment (`DISCA_DATABASE_URL`...).
    pub env: &'a [(&'a str, &'a str)],
}

impl BackendProcess {
    pub async fn start(options: BackendProcessOptions<'_>) -> BackendProcess {
        let port = crate::free_tcp_port();
        let child = std::process::Command::new(options.binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args([
                "--ami-addr",
                &options.ami_addr.to_string(),
                "--ami-username",
                options.ami_username,
            ])
            .arg("--data-dir")
            .arg(options.data_dir)
            .args(options.extra_args)
            .envs(options.env.iter().copied())
            .env("DISCA_AMI_SECRET", options.ami_secret)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("disca-backend starts");
        let process = BackendProcess {
            base: format!("http://127.0.0.1:{port}"),
            child,
        };
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !http
            .get(format!("{}/healthz", process.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "disca-backend never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ends the process with SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BackendProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The agent channel of the test PBX's Local-channel agents.
pub const LOCAL_AGENT_CHANNEL: &str = "Local/{endpoint}@disca-test-local-agents";
