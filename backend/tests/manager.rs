//! The manager page over HTTP, on a random port with a real SQLite file and
//! no PBX nor CRM behind it: login and sessions (cookie, expiry, logout),
//! who may log in, CSRF, tenant isolation, the calls as rows, filters, the
//! CSV export, recordings (and what they refuse), and queuing a stopped
//! note again from the page and with a bearer token. The page itself in
//! Chromium is tested in `tests/tests/manager_page.rs`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use disca_backend::auth::{hash_token, issue_token};
use disca_backend::configuration::{AmiSettings, CrmSettings, Settings};
use disca_backend::domain::{
    Call, CallContext, CallState, CrmState, E164Number, Outcome, Region, Role, User,
};
use disca_backend::startup::Application;
use disca_backend::storage::{CreateCall, Created, DeliveryUpdate, NewUser, Store};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

const CSRF: (&str, &str) = ("x-disca-manager", "1");
const DEAL_404: &str = "RD Station recusou (HTTP 404): Deal not found.";

struct TestApp {
    base: String,
    http: reqwest::Client,
    store: Store,
    data: PathBuf,
    recordings: PathBuf,
    /// Tokens by name: `acme-manager`, `acme-ana`, `acme-bruno`,
    /// `globex-manager`, `globex-agent`.
    tokens: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

struct Options {
    recordings: bool,
    public_url: Option<&'static str>,
}

async fn spawn_app() -> TestApp {
    spawn_app_with(Options {
        recordings: true,
        public_url: None,
    })
    .await
}

async fn spawn_app_with(options: Options) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let recordings = dir.path().join("spool");
    std::fs::create_dir_all(&recordings).unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The test's own store writes the calls: the app's worker finds their
    // notes by polling.
    let settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.clone(),
        ami: AmiSettings {
            addr: closed_port.to_string(),
            ..AmiSettings::default()
        },
        crm: CrmSettings {
            recordings_dir: options.recordings.then(|| recordings.clone()),
            public_url: options.public_url.map(Into::into),
            poll_interval: Duration::from_millis(50),
            ..CrmSettings::default()
        },
        ..Settings::default()
    };
    let store = Store::open(&data).await.unwrap();
    for slug in ["acme", "globex"] {
        disca_tests::crm::add_tenant(&store, slug, &format!("{slug} Ltda")).await;
    }
    let mut tokens = Vec::new();
    for (name, tenant, person, ext, role) in [
        (
            "acme-manager",
            "acme",
            "Marta Gestora",
            "1009",
            Role::Manager,
        ),
        ("acme-ana", "acme", "Ana Souza", "1001", Role::Agent),
        ("acme-bruno", "acme", "Bruno Lima", "1002", Role::Agent),
        (
            "globex-manager",
            "globex",
            "Gil Gerente",
            "2009",
            Role::Manager,
        ),
        ("globex-agent", "globex", "Gustavo", "2001", Role::Agent),
    ] {
        let token = issue_token();
        store
            .add_user(NewUser {
                tenant,
                name: person,
                email: &format!("{name}@example.com"),
                extension: &ext.parse().unwrap(),
                role,
                token_hash: &token.hash,
            })
            .await
            .unwrap();
        tokens.push((name, token.secret));
    }
    let app = Application::build(&settings).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        store,
        data,
        recordings,
        tokens,
        _dir: dir,
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

impl TestApp {
    fn token(&self, name: &str) -> &str {
        &self.tokens.iter().find(|(n, _)| *n == name).unwrap().1
    }

    async fn user(&self, name: &str) -> User {
        self.store
            .user_by_token_hash(&hash_token(self.token(name)))
            .await
            .unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn login_as(&self, token: &str, next: Option<&str>) -> reqwest::Response {
        self.http
            .post(self.url("/manager/login"))
            .header(CSRF.0, CSRF.1)
            .json(&json!({"token": token, "next": next}))
            .send()
            .await
            .unwrap()
    }

    /// Logs in as `name` and returns the `Cookie` header value.
    async fn session(&self, name: &str) -> String {
        let r = self.login_as(self.token(name), None).await;
        assert_eq!(r.status(), StatusCode::OK);
        cookie_of(&r)
    }

    async fn get(&self, cookie: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap()
    }

    async fn get_json(&self, cookie: &str, path: &str) -> (StatusCode, Value) {
        let r = self.get(cookie, path).await;
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The page's rows for `query`, as call ids.
    async fn listed(&self, cookie: &str, query: &str) -> Vec<String> {
        let (status, page) = self
            .get_json(cookie, &format!("/manager/api/calls?{query}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        ids(&page["calls"])
    }

    async fn retry_from_page(&self, cookie: &str, id: &str, csrf: bool) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(self.url(&format!("/manager/api/calls/{id}/crm/retry")))
            .header(COOKIE, cookie);
        if csrf {
            request = request.header(CSRF.0, CSRF.1);
        }
        let r = request.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn retry_with_token(&self, token: &str, id: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(self.url(&format!("/v1/calls/{id}/crm/retry")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Ends a new call of `who` as the PBX tracker would.
    async fn ended_call(&self, who: &str, end: End) -> Call {
        let user = self.user(who).await;
        let to = E164Number::parse(end.to, Region::BRAZIL).unwrap();
        let Created::New(mut call) = self
            .store
            .create_call(CreateCall {
                user: &user,
                to: &to,
                context: &CallContext {
                    contact_name: end.contact.map(Into::into),
                    deal_id: end.deal.map(Into::into),
                    ..CallContext::default()
                },
                idempotency: None,
            })
            .await
            .unwrap()
        else {
            panic!("a new call")
        };
        call.state = CallState::Ended;
        call.outcome = Some(end.outcome);
        call.ended_at = Some(time::OffsetDateTime::now_utc());
        call.ring_seconds = Some(4);
        call.talk_seconds = (end.outcome == Outcome::Answered).then_some(185);
        call.recording_file = end.recording.map(Into::into);
        self.store
            .save_calls(std::slice::from_ref(&call))
            .await
            .unwrap();
        call
    }

    /// Waits until the worker has settled the call's note (no CRM is
    /// connected: `not_configured`), then sets it to `state`.
    async fn settle(&self, call: &Call, update: Option<DeliveryUpdate>) {
        self.wait_crm(&call.id, CrmState::NotConfigured).await;
        if let Some(update) = update {
            self.store.update_delivery(&call.id, update).await.unwrap();
        }
    }

    async fn wait_crm(&self, id: &str, state: CrmState) -> Call {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let call = self.store.call(id).await.unwrap();
            if call.crm.as_ref().map(|c| c.state) == Some(state) {
                return call;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the note of {id} never became {state:?}: {:?}",
                call.crm
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

struct End {
    to: &'static str,
    outcome: Outcome,
    contact: Option<&'static str>,
    deal: Option<&'static str>,
    recording: Option<&'static str>,
}

impl End {
    fn answered(to: &'static str) -> End {
        End {
            to,
            outcome: Outcome::Answered,
            contact: None,
            deal: None,
            recording: None,
        }
    }
}

fn cookie_of(r: &reqwest::Response) -> String {
    let set = r.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

fn ids(calls: &Value) -> Vec<String> {
    calls
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn sessions_table(data: &Path) -> sqlx::SqlitePool {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(data.join("disca.sqlite3"));
    sqlx::SqlitePool::connect_with(options).await.unwrap()
}

#[tokio::test]
async fn a_manager_logs_in_with_a_strict_cookie_and_logs_out() {
    let app = spawn_app().await;
    // Not logged in: the page sends the browser to the login.
    let r = app.get("", "/manager").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/manager/login");
    let login_page = app.get("", "/manager/login").await;
    assert_eq!(login_page.status(), StatusCode::OK);
    let csp = login_page.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.starts_with("default-src 'self'"), "{csp}");
    let html = login_page.text().await.unwrap();
    assert!(html.contains("Seu token de gestor"), "{html}");
    assert!(!html.contains("<script>"), "no inline script");

    let r = app.login_as(app.token("acme-manager"), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let set_cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/manager",
        "Max-Age=43200",
    ] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain http: {set_cookie}");
    let cookie = cookie_of(&r);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["next"], "/manager");

    // Only the SHA-256 of the session id is stored.
    let id = cookie.strip_prefix("disca_manager=").unwrap();
    assert_eq!(id.len(), 64);
    let db = sessions_table(&app.data).await;
    let stored: Vec<String> = sqlx::query_scalar("SELECT id_hash FROM manager_sessions")
        .fetch_all(&db)
        .await
        .unwrap();
    assert_eq!(stored, [hash_token(id)]);

    let page = app.get(&cookie, "/manager").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("<script src=\"/manager/static/manager.js\" defer></script>")
    );
    let (status, info) = app.get_json(&cookie, "/manager/api/session").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["manager"]["name"], "Marta Gestora");
    assert_eq!(info["tenant"]["slug"], "acme");
    let team: Vec<&str> = info["team"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(team, ["Ana Souza", "Bruno Lima", "Marta Gestora"]);
    assert!(
        info["outcomes"]
            .as_array()
            .unwrap()
            .contains(&json!({"value": "no_answer", "label": "Não atendida"}))
    );

    // Logging out needs the page's header; then the session is gone.
    let r = app
        .http
        .post(app.url("/manager/logout"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get(&cookie, "/manager").await.status(), StatusCode::OK);
    let r = app
        .http
        .post(app.url("/manager/logout"))
        .header(COOKIE, &cookie)
        .header(CSRF.0, CSRF.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(
        r.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("disca_manager=; Path=/manager; Max-Age=0")
    );
    let (status, body) = app.get_json(&cookie, "/manager/api/session").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "session_required")
    );
    assert_eq!(
        app.get(&cookie, "/manager").await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn agents_wrong_tokens_and_cross_site_logins_are_refused() {
    let app = spawn_app().await;
    let r = app.login_as(app.token("acme-ana"), None).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get(SET_COOKIE).is_none());
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "not_a_manager");
    assert!(message(&body).contains("token é de um vendedor"), "{body}");
    for wrong in [
        format!("disca_{}", "0".repeat(64)),
        "senha123".into(),
        String::new(),
    ] {
        let r = app.login_as(&wrong, None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{wrong:?}");
        assert!(r.headers().get(SET_COOKIE).is_none());
        let body: Value = r.json().await.unwrap();
        assert_eq!(code(&body), "invalid_token");
        assert!(message(&body).starts_with("Token inválido"), "{body}");
    }
    // The token with spaces around it, as pasted, is fine.
    let padded = format!("  {}\n", app.token("acme-manager"));
    assert_eq!(app.login_as(&padded, None).await.status(), StatusCode::OK);

    // A form or script of another site cannot log anybody in.
    let without_header = app
        .http
        .post(app.url("/manager/login"))
        .json(&json!({"token": app.token("acme-manager")}))
        .send()
        .await
        .unwrap();
    assert_eq!(without_header.status(), StatusCode::FORBIDDEN);
    let cross_site = app
        .http
        .post(app.url("/manager/login"))
        .header(CSRF.0, CSRF.1)
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"token": app.token("acme-manager")}))
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let body: Value = cross_site.json().await.unwrap();
    assert_eq!(code(&body), "cross_site_request");
    let form = app
        .http
        .post(app.url("/manager/login"))
        .header(CSRF.0, CSRF.1)
        .form(&[("token", app.token("acme-manager"))])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::BAD_REQUEST);
    // A bearer token is not a page session.
    let r = app
        .http
        .get(app.url("/manager/api/calls"))
        .bearer_auth(app.token("acme-manager"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_expire() {
    let app = spawn_app().await;
    let cookie = app.session("acme-manager").await;
    assert_eq!(
        app.get_json(&cookie, "/manager/api/session").await.0,
        StatusCode::OK
    );
    let db = sessions_table(&app.data).await;
    sqlx::query("UPDATE manager_sessions SET expires_at = expires_at - 12 * 3600 * 1000")
        .execute(&db)
        .await
        .unwrap();
    let (status, body) = app.get_json(&cookie, "/manager/api/session").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "session_required")
    );
    let r = app.get(&cookie, "/manager?crm=failed").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[LOCATION],
        "/manager/login?next=/manager%3Fcrm%3Dfailed"
    );
    // The next login removes the expired session.
    app.session("acme-manager").await;
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM manager_sessions")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(left, 1);
}

#[tokio::test]
async fn the_login_only_sends_back_to_manager_pages() {
    let app = spawn_app().await;
    let next = |r: reqwest::Response| async move {
        let body: Value = r.json().await.unwrap();
        body["next"].as_str().unwrap().to_owned()
    };
    let token = app.token("acme-manager");
    for (asked, sent) in [
        ("/manager?crm=failed", "/manager?crm=failed"),
        (
            "/manager/calls.csv?outcome=busy",
            "/manager/calls.csv?outcome=busy",
        ),
        ("https://evil.example/manager", "/manager"),
        ("//evil.example", "/manager"),
        ("/manager/../v1/calls", "/manager"),
        ("/managerial", "/manager"),
        ("/manager/login", "/manager"),
    ] {
        let got = next(app.login_as(token, Some(asked)).await).await;
        assert_eq!(got, sent, "{asked}");
    }
    // The CSV and recordings come back after the login too.
    let r = app.get("", "/manager/calls.csv?crm=failed").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers()[LOCATION],
        "/manager/login?next=/manager/calls.csv%3Fcrm%3Dfailed"
    );
}

#[tokio::test]
async fn managers_see_only_their_own_tenant() {
    let app = spawn_app().await;
    std::fs::write(app.recordings.join("globex-1.wav"), b"RIFF....WAVE").unwrap();
    let ours = app
        .ended_call("acme-ana", End::answered("(11) 98765-4321"))
        .await;
    let theirs = app
        .ended_call(
            "globex-agent",
            End {
                recording: Some("globex-1.wav"),
                ..End::answered("(21) 98765-4321")
            },
        )
        .await;
    app.settle(
        &theirs,
        Some(DeliveryUpdate::Failed {
            error: DEAL_404.into(),
        }),
    )
    .await;
    let acme = app.session("acme-manager").await;
    let globex = app.session("globex-manager").await;

    assert_eq!(app.listed(&acme, "").await, [ours.id.as_str()]);
    assert_eq!(app.listed(&globex, "").await, [theirs.id.as_str()]);
    let globex_user = app.user("globex-agent").await;
    assert!(
        app.listed(&acme, &format!("user={}", globex_user.id))
            .await
            .is_empty()
    );
    // Another tenant's call is not found, whatever the way in.
    for path in [
        format!("/manager/api/calls/{}", theirs.id),
        format!("/manager/calls/{}/recording", theirs.id),
    ] {
        let (status, body) = app.get_json(&acme, &path).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let (status, _) = app.retry_from_page(&acme, &theirs.id, true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .retry_with_token(app.token("acme-manager"), &theirs.id)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "like an unknown id");
    assert_eq!(
        app.store.call(&theirs.id).await.unwrap().crm.unwrap().state,
        CrmState::Failed,
        "nobody of acme queued globex's note"
    );
    let csv = app
        .get(&acme, "/manager/calls.csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains(&ours.id) && !csv.contains(&theirs.id), "{csv}");
    // The page's recording of their call works for them.
    assert_eq!(
        app.get(&globex, &format!("/manager/calls/{}/recording", theirs.id))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn rows_read_in_portuguese_with_filters_and_pages() {
    let app = spawn_app().await;
    let busy = app
        .ended_call(
            "acme-bruno",
            End {
                outcome: Outcome::Busy,
                ..End::answered("(21) 3456-7890")
            },
        )
        .await;
    let failed = app
        .ended_call(
            "acme-ana",
            End {
                contact: Some("Mariana Costa"),
                deal: Some("64b7f0c2a1e4d30000000dff"),
                ..End::answered("(11) 97173-0783")
            },
        )
        .await;
    let open = app
        .ended_call("acme-ana", End::answered("(11) 98765-4321"))
        .await;
    app.settle(&busy, None).await;
    app.settle(
        &failed,
        Some(DeliveryUpdate::Failed {
            error: DEAL_404.into(),
        }),
    )
    .await;
    app.settle(&open, None).await;
    let cookie = app.session("acme-manager").await;

    let (_, page) = app.get_json(&cookie, "/manager/api/calls").await;
    assert_eq!(
        ids(&page["calls"]),
        [open.id.as_str(), failed.id.as_str(), busy.id.as_str()]
    );
    let row = &page["calls"][1];
    assert_eq!(row["salesperson"], "Ana Souza");
    assert_eq!(row["number"], "(11) 97173-0783");
    assert_eq!(row["contact"], "Mariana Costa");
    assert_eq!(
        row["deal_url"],
        "https://crm.rdstation.com/app/deals/64b7f0c2a1e4d30000000dff"
    );
    assert_eq!(row["outcome_label"], "Atendida");
    assert_eq!(
        (row["ring"].as_str(), row["talk"].as_str()),
        (Some("4 s"), Some("3:05"))
    );
    assert_eq!(row["crm"]["state"], "failed");
    assert_eq!(row["crm"]["label"], "Falhou");
    assert_eq!(row["crm"]["error"], DEAL_404);
    assert_eq!(row["crm"]["retryable"], true);
    assert!(row["when"].as_str().unwrap().contains('/'), "{row}");
    assert_eq!(page["calls"][2]["outcome_label"], "Ocupado");
    assert_eq!(page["calls"][2]["crm"]["label"], "CRM não configurado");

    // Filters.
    assert_eq!(
        app.listed(&cookie, "crm=failed").await,
        [failed.id.as_str()]
    );
    assert_eq!(
        app.listed(&cookie, "outcome=busy").await,
        [busy.id.as_str()]
    );
    let bruno = app.user("acme-bruno").await;
    assert_eq!(
        app.listed(&cookie, &format!("user={}", bruno.id)).await,
        [busy.id.as_str()]
    );
    assert_eq!(
        app.listed(&cookie, "user=&from=&to=&outcome=&crm=")
            .await
            .len(),
        3,
        "empty filters mean any"
    );
    let today =
        time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(-3, 0, 0).unwrap());
    let day = |d: time::OffsetDateTime| {
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let (today, tomorrow) = (day(today), day(today + time::Duration::days(1)));
    assert_eq!(
        app.listed(&cookie, &format!("from={today}&to={today}"))
            .await
            .len(),
        3
    );
    assert!(
        app.listed(&cookie, &format!("from={tomorrow}"))
            .await
            .is_empty()
    );
    // Pages of two.
    let (_, first) = app.get_json(&cookie, "/manager/api/calls?limit=2").await;
    assert_eq!(ids(&first["calls"]), [open.id.as_str(), failed.id.as_str()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get_json(
            &cookie,
            &format!("/manager/api/calls?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(ids(&second["calls"]), [busy.id.as_str()]);
    assert!(second.get("next_cursor").is_none());
    // Bad filters are named in Portuguese.
    for query in [
        "outcome=exploded",
        "crm=sent",
        "from=21/11/2026",
        "limit=0",
        "cursor=x",
    ] {
        let (status, body) = app
            .get_json(&cookie, &format!("/manager/api/calls?{query}"))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "malformed_request"),
            "{query}"
        );
    }
    // The same filter on the API, for managers' scripts.
    let r = app
        .http
        .get(app.url("/v1/calls?crm=failed"))
        .bearer_auth(app.token("acme-manager"))
        .send()
        .await
        .unwrap();
    let listed: Value = r.json().await.unwrap();
    assert_eq!(ids(&listed["calls"]), [failed.id.as_str()]);
    assert_eq!(listed["calls"][0]["crm"]["error"], DEAL_404);
}

#[tokio::test]
async fn the_csv_export_is_excel_ready_quoted_and_inert() {
    let app = spawn_app().await;
    let tricky = app
        .ended_call(
            "acme-ana",
            End {
                contact: Some("=HYPERLINK(\"http://evil.example\";\"clique\")"),
                ..End::answered("(11) 98765-4321")
            },
        )
        .await;
    let quoted = app
        .ended_call(
            "acme-bruno",
            End {
                contact: Some("Silva; \"Zé\" & filhos"),
                outcome: Outcome::NoAnswer,
                ..End::answered("(21) 3456-7890")
            },
        )
        .await;
    let at = app
        .ended_call(
            "acme-bruno",
            End {
                contact: Some("@SUM(1+1)"),
                ..End::answered("(21) 3456-7891")
            },
        )
        .await;
    app.settle(
        &tricky,
        Some(DeliveryUpdate::Failed {
            error: "-1+1 recusado".into(),
        }),
    )
    .await;
    app.settle(&quoted, None).await;
    app.settle(&at, None).await;
    let cookie = app.session("acme-manager").await;

    let r = app.get(&cookie, "/manager/calls.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"ligacoes-acme-"),
        "{disposition}"
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 byte order mark");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(Into::into).collect();
    assert_eq!(header[0], "Data e hora");
    assert_eq!(header[1], "Vendedor");
    assert_eq!(header[8], "Duração confirmada");
    assert_eq!(header[11], "Erro do CRM");
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3);
    let by_id = |id: &str| {
        records
            .iter()
            .find(|r| r.get(13) == Some(id))
            .unwrap_or_else(|| panic!("no row for {id}"))
            .clone()
    };
    let row = by_id(&tricky.id);
    assert_eq!(
        &row[3], "'=HYPERLINK(\"http://evil.example\";\"clique\")",
        "a formula is kept as text"
    );
    assert_eq!(&row[11], "'-1+1 recusado");
    assert_eq!(&row[10], "Falhou");
    assert_eq!(&row[8], "sim", "measured durations");
    assert_eq!(
        (&row[1], &row[2], &row[5]),
        ("Ana Souza", "(11) 98765-4321", "Atendida")
    );
    assert_eq!((&row[6], &row[7]), ("4", "185"));
    assert_eq!(&by_id(&at.id)[3], "'@SUM(1+1)");
    let row = by_id(&quoted.id);
    assert_eq!(&row[3], "Silva; \"Zé\" & filhos", "quoting round-trips");
    assert_eq!((&row[5], &row[10]), ("Não atendida", "CRM não configurado"));
    // São Paulo time, sortable.
    let when = &row[0];
    assert_eq!(when.len(), "2026-11-21 09:03:12".len(), "{when}");
    // The text as Excel reads it: the quoted cell is quoted.
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(text.contains("\"Silva; \"\"Zé\"\" & filhos\""), "{text}");

    // Filters apply to the export.
    let failed_only = app
        .get(&cookie, "/manager/calls.csv?crm=failed")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(failed_only.lines().count(), 2, "{failed_only}");
    assert!(failed_only.contains(&tricky.id));
    let r = app.get(&cookie, "/manager/calls.csv?outcome=nope").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn recordings_play_from_the_spool_and_nothing_else() {
    let app = spawn_app().await;
    let wav: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(app.recordings.join("acme-1.wav"), &wav).unwrap();
    // Files a traversal would reach.
    std::fs::write(
        app.recordings.parent().unwrap().join("secret.wav"),
        b"secret",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        app.recordings.parent().unwrap().join("secret.wav"),
        app.recordings.join("link.wav"),
    )
    .unwrap();
    // A hard link is a plain file name of a regular file, but the file is
    // the one outside.
    std::fs::hard_link(
        app.recordings.parent().unwrap().join("secret.wav"),
        app.recordings.join("hard.wav"),
    )
    .unwrap();
    let recorded = app
        .ended_call(
            "acme-ana",
            End {
                recording: Some("acme-1.wav"),
                ..End::answered("(11) 98765-4321")
            },
        )
        .await;
    let cookie = app.session("acme-manager").await;
    let path = format!("/manager/calls/{}/recording", recorded.id);

    let r = app.get(&cookie, &path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "audio/wav");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(r.bytes().await.unwrap().as_ref(), wav.as_slice());
    let r = app
        .http
        .get(app.url(&path))
        .header(COOKIE, &cookie)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 100-199/4096");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &wav[100..200]);
    for (range, status, content_range, bytes) in [
        ("bytes=4000-", 206, "bytes 4000-4095/4096", &wav[4000..]),
        ("bytes=-10", 206, "bytes 4086-4095/4096", &wav[4086..]),
        ("bytes=0-0", 206, "bytes 0-0/4096", &wav[..1]),
        ("bytes=4096-", 416, "bytes */4096", &[][..]),
    ] {
        let r = app
            .http
            .get(app.url(&path))
            .header(COOKIE, &cookie)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{range}");
        assert_eq!(r.headers()["content-range"], content_range, "{range}");
        assert_eq!(r.bytes().await.unwrap().as_ref(), bytes, "{range}");
    }
    let (_, rows) = app.get_json(&cookie, "/manager/api/calls").await;
    assert_eq!(rows["calls"][0]["recording_url"], path.as_str());
    // Not logged in: to the login, and back here afterwards.
    let r = app.get("", &path).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // Stored names that leave the spool, a link, a missing file, none.
    for (name, expected) in [
        (Some("../secret.wav"), "recording_not_found"),
        (Some("/etc/passwd"), "recording_not_found"),
        (Some("link.wav"), "recording_not_found"),
        (Some("hard.wav"), "recording_not_found"),
        (Some("absent.wav"), "recording_not_found"),
        (None, "recording_not_found"),
    ] {
        let call = app
            .ended_call(
                "acme-bruno",
                End {
                    recording: name,
                    ..End::answered("(11) 98765-4321")
                },
            )
            .await;
        let (status, body) = app
            .get_json(&cookie, &format!("/manager/calls/{}/recording", call.id))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, expected),
            "{name:?}"
        );
        assert!(message(&body).contains("grava"), "{body}");
        let (_, row) = app
            .get_json(&cookie, &format!("/manager/api/calls/{}", call.id))
            .await;
        assert!(row["recording_url"].is_null(), "{name:?}: {row}");
    }
    // Traversal in the address itself.
    for path in [
        "/manager/calls/..%2F..%2Fsecret.wav/recording",
        "/manager/calls/../../secret.wav/recording",
        "/manager/calls/%2E%2E/recording",
    ] {
        let r = app.get(&cookie, path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert_ne!(r.bytes().await.unwrap().as_ref(), b"secret");
    }

    // A server without a recordings folder says so.
    let bare = spawn_app_with(Options {
        recordings: false,
        public_url: Some("https://disca.example.com"),
    })
    .await;
    let call = bare
        .ended_call(
            "acme-ana",
            End {
                recording: Some("acme-1.wav"),
                ..End::answered("(11) 98765-4321")
            },
        )
        .await;
    let r = bare.login_as(bare.token("acme-manager"), None).await;
    assert!(
        r.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .ends_with("; Secure"),
        "https public address: Secure cookie"
    );
    let cookie = cookie_of(&r);
    let (status, body) = bare
        .get_json(&cookie, &format!("/manager/calls/{}/recording", call.id))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "recordings_not_configured")
    );
}

/// The name is checked, then the file opened: a symbolic link swapped in
/// between the two must not be followed. A thread swaps `swap.wav` between
/// a recording and a link to a file outside the spool as fast as it can
/// while the recording is fetched again and again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_swapped_in_after_the_check_is_not_followed() {
    let app = spawn_app().await;
    let outside = app.recordings.parent().unwrap().join("secret.wav");
    std::fs::write(&outside, b"secret").unwrap();
    let call = app
        .ended_call(
            "acme-ana",
            End {
                recording: Some("swap.wav"),
                ..End::answered("(11) 98765-4321")
            },
        )
        .await;
    let cookie = app.session("acme-manager").await;
    let path = format!("/manager/calls/{}/recording", call.id);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = std::thread::spawn({
        let stop = stop.clone();
        let spool = app.recordings.clone();
        move || {
            let target = spool.join("swap.wav");
            let (file, link) = (spool.join(".file.tmp"), spool.join(".link.tmp"));
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::write(&file, b"RIFF....WAVE").unwrap();
                std::fs::rename(&file, &target).unwrap();
                let _ = std::fs::remove_file(&link);
                std::os::unix::fs::symlink(&outside, &link).unwrap();
                std::fs::rename(&link, &target).unwrap();
            }
        }
    });
    let (mut served, mut refused) = (0, 0);
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let r = app.get(&cookie, &path).await;
        let status = r.status();
        let body = r.bytes().await.unwrap();
        assert_ne!(body.as_ref(), b"secret", "the link was followed");
        match status {
            StatusCode::OK => {
                assert_eq!(body.as_ref(), b"RIFF....WAVE");
                served += 1;
            }
            StatusCode::NOT_FOUND => refused += 1,
            other => panic!("{other}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    swapper.join().unwrap();
    assert!(
        served > 0 && refused > 0,
        "served {served}, refused {refused}"
    );
}

#[tokio::test]
async fn a_stopped_note_is_queued_again_from_the_page_or_the_api() {
    let app = spawn_app().await;
    let failed = app
        .ended_call("acme-ana", End::answered("(11) 98765-4321"))
        .await;
    app.settle(
        &failed,
        Some(DeliveryUpdate::Failed {
            error: DEAL_404.into(),
        }),
    )
    .await;
    let cookie = app.session("acme-manager").await;

    // Without the page's header (a form of another site), nothing happens.
    let (status, body) = app.retry_from_page(&cookie, &failed.id, false).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "cross_site_request")
    );
    assert_eq!(
        app.store.call(&failed.id).await.unwrap().crm.unwrap().state,
        CrmState::Failed
    );
    let (status, row) = app.retry_from_page(&cookie, &failed.id, true).await;
    assert_eq!(status, StatusCode::OK, "{row}");
    assert_eq!(row["id"], failed.id.as_str());
    assert!(
        ["pending", "not_configured"].contains(&row["crm"]["state"].as_str().unwrap()),
        "{row}"
    );
    // The worker tried it again: no CRM is connected here.
    let again = app.wait_crm(&failed.id, CrmState::NotConfigured).await;
    assert_eq!(again.crm.unwrap().error, None);

    // With a bearer token: managers only.
    let (status, body) = app
        .retry_with_token(app.token("acme-ana"), &failed.id)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "managers_only")
    );
    let (status, call) = app
        .retry_with_token(app.token("acme-manager"), &failed.id)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{call}");
    assert_eq!(call["id"], failed.id.as_str());
    app.wait_crm(&failed.id, CrmState::NotConfigured).await;

    // A delivered note, and a live call, have nothing to queue.
    app.store
        .update_delivery(
            &failed.id,
            DeliveryUpdate::Delivered {
                note_id: "n1".into(),
            },
        )
        .await
        .unwrap();
    let (status, body) = app
        .retry_with_token(app.token("acme-manager"), &failed.id)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "crm_not_stopped")
    );
    let (status, body) = app.retry_from_page(&cookie, &failed.id, true).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "crm_not_stopped")
    );
    let bruno = app.user("acme-bruno").await;
    let to = E164Number::parse("(11) 98765-4321", Region::BRAZIL).unwrap();
    let Created::New(live) = app
        .store
        .create_call(CreateCall {
            user: &bruno,
            to: &to,
            context: &CallContext::default(),
            idempotency: None,
        })
        .await
        .unwrap()
    else {
        panic!("a new call")
    };
    let (status, _) = app
        .retry_with_token(app.token("acme-manager"), &live.id)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, row) = app
        .get_json(&cookie, &format!("/manager/api/calls/{}", live.id))
        .await;
    assert_eq!(row["crm"]["label"], "Aguardando o fim da ligação");
    assert_eq!(row["outcome_label"], "Na fila");
    for path in [
        "/manager/api/calls/not-a-uuid/crm/retry",
        "/v1/calls/not-a-uuid/crm/retry",
    ] {
        let r = app
            .http
            .post(app.url(path))
            .header(COOKIE, &cookie)
            .header(CSRF.0, CSRF.1)
            .bearer_auth(app.token("acme-manager"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }

    // Documented.
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/v1/calls/{id}/crm/retry"]["post"].is_object());
    let params = doc["paths"]["/v1/calls"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(params.iter().any(|p| p["name"] == "crm"), "{params:?}");
}
