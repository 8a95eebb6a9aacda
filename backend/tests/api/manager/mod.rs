//! The manager page over HTTP, on a random port with a real SQLite file and
//! no PBX nor CRM behind it: login and sessions (cookie, expiry, logout),
//! who may log in, CSRF, tenant isolation, the calls as rows, filters, the
//! CSV export, recordings (and what they refuse), and queuing a stopped
//! note again from the page and with a bearer token. The page itself in
//! Chromium is tested in `tests/tests/manager_page.rs`.

mod crm_retry;
mod dashboard;
mod export;
mod live;
mod recordings;
mod sessions;
mod team_calls;

use std::ops::Deref;
use std::path::PathBuf;
use std::time::Duration;

use disca_backend::auth::{hash_token, issue_token};
use disca_backend::domain::{Call, CallContext, CallState, CrmState, Outcome, Role, User};
use disca_backend::storage::{DeliveryUpdate, NewUser};
use disca_testkit::TestApp;
use disca_testkit::crm::new_call;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

const CSRF: (&str, &str) = ("x-disca-manager", "1");
const DEAL_404: &str = "RD Station recusou (HTTP 404): Deal not found.";

/// The backend with two tenants' managers and agents, and a recordings
/// spool.
struct ManagerApp {
    app: TestApp,
    /// The spool (`crm.recordings_dir`, when configured): `spool/` in a
    /// folder of its own, whose other files are "outside the spool".
    recordings: PathBuf,
    /// The PBX `campinas`'s spool (its `recordings_dir`, when configured).
    campinas_recordings: PathBuf,
    /// Tokens by name: `acme-manager`, `acme-ana`, `acme-bruno`,
    /// `globex-manager`, `globex-agent`.
    tokens: Vec<(&'static str, String)>,
    _spool: tempfile::TempDir,
}

impl Deref for ManagerApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

struct Options {
    recordings: bool,
    /// A second PBX, `campinas`, with a recordings folder of its own.
    campinas: bool,
    public_url: Option<&'static str>,
}

async fn spawn_app() -> ManagerApp {
    spawn_app_with(Options {
        recordings: true,
        campinas: false,
        public_url: None,
    })
    .await
}

async fn spawn_app_with(options: Options) -> ManagerApp {
    let spool = tempfile::tempdir().unwrap();
    let recordings = spool.path().join("spool");
    std::fs::create_dir_all(&recordings).unwrap();
    let recordings_dir = options.recordings.then(|| recordings.clone());
    let campinas_recordings = spool.path().join("campinas");
    std::fs::create_dir_all(&campinas_recordings).unwrap();
    let campinas = options.campinas.then(|| campinas_recordings.clone());
    let app = TestApp::builder()
        .follow_redirects(false)
        .configure(move |s| {
            s.crm.recordings_dir = recordings_dir;
            if let Some(dir) = campinas {
                s.pbxs.insert(
                    "campinas".into(),
                    disca_backend::configuration::AmiSettings {
                        addr: "127.0.0.1:9".into(),
                        secret: "campinas".into(),
                        recordings_dir: Some(dir),
                        ..Default::default()
                    },
                );
            }
            s.crm.public_url = options.public_url.map(Into::into);
            // The test's store writes the calls; the worker also polls.
            s.crm.poll_interval = Duration::from_millis(50);
        })
        .start()
        .await;
    for slug in ["acme", "globex"] {
        disca_testkit::crm::add_tenant(&app.store, slug, &format!("{slug} Ltda")).await;
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
        app.store
            .add_user(NewUser {
                tenant,
                name: person,
                email: &format!("{name}@example.com"),
                extension: &ext.parse().unwrap(),
                role,
                token_hash: Some(&token.hash),
                phone: disca_backend::domain::PhoneKind::Desk,
            })
            .await
            .unwrap();
        tokens.push((name, token.secret));
    }
    ManagerApp {
        app,
        recordings,
        campinas_recordings,
        tokens,
        _spool: spool,
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

impl ManagerApp {
    fn token(&self, name: &str) -> &str {
        &self.tokens.iter().find(|(n, _)| *n == name).unwrap().1
    }

    async fn user(&self, name: &str) -> User {
        self.store
            .user_by_token_hash(&hash_token(self.token(name)))
            .await
            .unwrap()
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
        let context = CallContext {
            contact_name: end.contact.map(Into::into),
            deal_id: end.deal.map(Into::into),
            ..CallContext::default()
        };
        let mut call = new_call(&self.store, &user, end.to, &context).await;
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

async fn sessions_table(app: &TestApp) -> sqlx::AnyPool {
    app.database().await
}
