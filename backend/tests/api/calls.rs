//! The calls API (`/v1/...`) with no PBX behind it (the AMI address is a
//! closed port): everything decided before a call reaches Asterisk. Calls
//! through a real Asterisk are tested in /tests.

use std::ops::Deref;

use disca_backend::auth::{hash_token, issue_token};
use disca_backend::domain::{Call, CallContext, CallState, Outcome, Role, Tenant};
use disca_backend::storage::NewUser;
use disca_testkit::crm::new_call;
use disca_testkit::{TestApp, TestAppBuilder};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The backend with tenants `acme` and `globex`, each with an agent.
struct CallsApp {
    app: TestApp,
    agent: String,
    other_tenant_agent: String,
}

impl Deref for CallsApp {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

async fn spawn_app() -> CallsApp {
    spawn_app_with(TestApp::builder()).await
}

async fn spawn_app_with(builder: TestAppBuilder) -> CallsApp {
    let app = builder.start().await;
    let mut tokens = Vec::new();
    for slug in ["acme", "globex"] {
        let tenant = Tenant::in_brazil(slug.parse().unwrap(), slug);
        app.store.add_tenant(&tenant).await.unwrap();
        let token = issue_token();
        app.store
            .add_user(NewUser {
                tenant: slug,
                name: "Ana",
                email: "ana@example.com",
                extension: &"1001".parse().unwrap(),
                role: Role::Agent,
                token_hash: Some(&token.hash),
                phone: disca_backend::domain::PhoneKind::Desk,
            })
            .await
            .unwrap();
        tokens.push(token.secret);
    }
    CallsApp {
        app,
        agent: tokens.remove(0),
        other_tenant_agent: tokens.remove(0),
    }
}

impl CallsApp {
    /// `GET path` as the holder of `token`: status and JSON body (null if none).
    async fn get(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn post_call(&self, token: &str, body: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/v1/calls", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401() {
    let app = spawn_app().await;
    for auth in [
        None,
        Some("Bearer nope"),
        Some("Bearer disca_0000000000000000000000000000000000000000000000000000000000000000"),
    ] {
        let mut req = app.http.get(format!("{}/v1/calls", app.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let body: Value = r.json().await.unwrap();
        assert_eq!(code(&body), "unauthorized");
    }
}

#[tokio::test]
async fn malformed_bodies_get_400() {
    let app = spawn_app().await;
    for body in [
        "",
        "{",
        "[]",
        r#"{"to": 11}"#,
        r#"{"too": "11 98765-4321"}"#,
        r#"{"to": "11 98765-4321", "context": {"deal_id": "a\nb"}}"#,
    ] {
        let (status, json) = app.post_call(&app.agent, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(code(&json), "malformed_request");
    }
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let app = spawn_app().await;
    let huge = format!(
        r#"{{"to": "(11) 98765-4321", "context": {{"page_url": "https://x/{}"}}}}"#,
        "a".repeat(64 * 1024)
    );
    let (status, json) = app.post_call(&app.agent, &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&json), "payload_too_large");
}

#[tokio::test]
async fn invalid_numbers_get_422_in_portuguese() {
    let app = spawn_app().await;
    let cases = [
        ("98765-4321", "missing_area_code", "DDD"),
        ("abc", "not_a_number", "número"),
        (
            "11 98765-4321\r\nAction: Command",
            "control_characters",
            "caracteres",
        ),
        ("(11) 9876", "too_short", "incompleto"),
    ];
    for (to, reason, word) in cases {
        let (status, json) = app
            .post_call(&app.agent, &json!({"to": to}).to_string())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{to:?}");
        assert_eq!(code(&json), "invalid_number");
        assert_eq!(json["error"]["reason"], reason, "{to:?}");
        assert!(
            json["error"]["message"].as_str().unwrap().contains(word),
            "{json}"
        );
    }
}

#[tokio::test]
async fn refused_destinations_get_403() {
    let app = spawn_app().await;
    for to in ["0900 123 4567", "+1 212 555 0123", "90 21 11 98765-4321"] {
        let (status, json) = app
            .post_call(&app.agent, &json!({"to": to}).to_string())
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{to}");
        assert_eq!(code(&json), "destination_not_allowed");
    }
}

#[tokio::test]
async fn a_valid_call_with_the_pbx_down_gets_503_and_no_call_is_kept() {
    let app = spawn_app().await;
    let (status, json) = app
        .post_call(&app.agent, r#"{"to": "(11) 98765-4321"}"#)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(code(&json), "pbx_unavailable");
    let (_, list) = app.get(&app.agent, "/v1/calls").await;
    assert_eq!(list["calls"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn unknown_and_foreign_calls() {
    let app = spawn_app().await;
    for (token, path, status) in [
        (&app.agent, "/v1/calls/not-a-uuid", StatusCode::NOT_FOUND),
        (
            &app.other_tenant_agent,
            "/v1/calls/0190a000-0000-7000-8000-000000000000",
            StatusCode::NOT_FOUND,
        ),
        (&app.agent, "/v1/calls?limit=0", StatusCode::BAD_REQUEST),
        (
            &app.agent,
            "/v1/calls?outcome=exploded",
            StatusCode::BAD_REQUEST,
        ),
        (
            &app.agent,
            "/v1/calls?from=yesterday",
            StatusCode::BAD_REQUEST,
        ),
        (&app.agent, "/v1/calls?cursor=zzz", StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(app.get(token, path).await.0, status, "{path}");
    }
    let r = app
        .http
        .delete(format!("{}/v1/calls", app.base))
        .bearer_auth(&app.agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(code(&r.json().await.unwrap()), "method_not_allowed");
}

/// With no PBX: alive (a liveness probe must not restart it), not ready
/// (`/readyz`, and `/healthz`, its older name, say why).
#[tokio::test]
async fn health_metrics_and_openapi() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/livez", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");
    for path in ["/readyz", "/healthz"] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        let health: Value = r.json().await.unwrap();
        assert_eq!(health["ami_connected"], false, "{path}");
        assert_eq!(
            health["pbxs"],
            serde_json::json!([{ "name": "default", "ami_connected": false }]),
            "{path}"
        );
        assert_eq!(health["database_ok"], true, "{path}");
    }
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("disca_ami_connected{pbx=\"default\"} 0"),
        "{metrics}"
    );
    let doc: Value = app
        .http
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/v1/calls",
        "/v1/calls/{id}",
        "/v1/calls/{id}/hangup",
        "/v1/events",
        "/livez",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
}

/// With a metrics token set, `/metrics` answers only to it, and counts the
/// CRM outbox's backlog per tenant at each scrape.
#[tokio::test]
async fn metrics_behind_a_token_count_the_crm_backlog_per_tenant() {
    let token = "metrics-0123456789abcdef0123456789abcdef";
    let app = spawn_app_with(
        TestApp::builder()
            .configure(move |s| s.http.metrics_token_sha256 = Some(hash_token(token))),
    )
    .await;
    let agent = app
        .store
        .user_by_token_hash(&hash_token(&app.agent))
        .await
        .unwrap();
    disca_testkit::crm::end_call(
        &app.store,
        &agent,
        "+5511987654321",
        None,
        disca_backend::domain::Outcome::Answered,
    )
    .await;
    let scrape = |bearer: Option<&'static str>| {
        let mut request = app.http.get(format!("{}/metrics", app.base));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    assert_eq!(scrape(None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(Some("metrics-wrong")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The note settles as not_configured (no CRM here), then is counted.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, text) = scrape(Some(token)).await;
        assert_eq!(status, StatusCode::OK);
        let tenant = agent.tenant.slug.as_str();
        if text.contains(&format!(
            "disca_crm_outbox{{tenant=\"{tenant}\",state=\"not_configured\"}} 1"
        )) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn too_many_clicks_get_429_with_retry_after() {
    let app = spawn_app_with(TestApp::builder().configure(|s| s.calls.calls_per_minute = 2)).await;
    for _ in 0..2 {
        let (status, _) = app
            .post_call(&app.agent, r#"{"to": "(11) 98765-4321"}"#)
            .await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "the PBX is down, the limiter lets it through"
        );
    }
    let r = app
        .http
        .post(format!("{}/v1/calls", app.base))
        .bearer_auth(&app.agent)
        .body(r#"{"to": "(11) 98765-4321"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=31).contains(&wait), "{wait}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "rate_limited");
    // Another user is not limited by this one's clicks.
    let (status, _) = app
        .post_call(&app.other_tenant_agent, r#"{"to": "(11) 98765-4321"}"#)
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

/// Stores a finished call for the first agent (acme), as the tracker would.
async fn finished_call(app: &CallsApp, to: &str, outcome: Outcome) -> Call {
    let user = app
        .store
        .user_by_token_hash(&hash_token(&app.agent))
        .await
        .unwrap();
    let mut call = new_call(&app.store, &user, to, &CallContext::default()).await;
    call.state = CallState::Ended;
    call.outcome = Some(outcome);
    call.ended_at = Some(time::OffsetDateTime::now_utc());
    app.store
        .save_calls(std::slice::from_ref(&call))
        .await
        .unwrap();
    call
}

#[tokio::test]
async fn listing_filters_and_pages() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (i, outcome) in [
        Outcome::Answered,
        Outcome::Busy,
        Outcome::Answered,
        Outcome::NoAnswer,
        Outcome::Answered,
    ]
    .into_iter()
    .enumerate()
    {
        ids.push(
            finished_call(&app, &format!("(11) 98765-432{i}"), outcome)
                .await
                .id,
        );
    }
    let get = |query: String| {
        let app = &app;
        async move {
            let (status, page) = app.get(&app.agent, &format!("/v1/calls?{query}")).await;
            assert_eq!(status, StatusCode::OK);
            page
        }
    };
    let ids_of = |page: &Value| -> Vec<String> {
        page["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Newest first, two per page, three pages.
    let first = get("limit=2".into()).await;
    assert_eq!(ids_of(&first), [ids[4].clone(), ids[3].clone()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = get(format!("limit=2&cursor={cursor}")).await;
    assert_eq!(ids_of(&second), [ids[2].clone(), ids[1].clone()]);
    let third = get(format!(
        "limit=2&cursor={}",
        second["next_cursor"].as_str().unwrap()
    ))
    .await;
    assert_eq!(ids_of(&third), [ids[0].clone()]);
    assert!(third.get("next_cursor").is_none());
    // Outcome filter.
    let answered = get("outcome=answered".into()).await;
    assert_eq!(
        ids_of(&answered),
        [ids[4].clone(), ids[2].clone(), ids[0].clone()]
    );
    // Date range: everything is from today; nothing from tomorrow on.
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let today = get(format!(
        "from={}&to={}",
        fmt(now - time::Duration::hours(1)),
        fmt(now + time::Duration::hours(1))
    ))
    .await;
    assert_eq!(ids_of(&today).len(), 5);
    let future = get(format!("from={}", fmt(now + time::Duration::hours(1)))).await;
    assert!(ids_of(&future).is_empty());
    // The other tenant sees none of them.
    let (_, theirs) = app.get(&app.other_tenant_agent, "/v1/calls").await;
    assert!(theirs["calls"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn me_names_the_token_holder_and_nobody_else() {
    let app = spawn_app().await;
    let (status, me) = app.get(&app.agent, "/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let me: disca_protocol::Me = serde_json::from_value(me).unwrap();
    assert_eq!((me.tenant.as_str(), me.role), ("acme", Role::Agent));
    assert_eq!((me.name.as_str(), me.extension.as_str()), ("Ana", "1001"));
    let (_, other) = app.get(&app.other_tenant_agent, "/v1/me").await;
    assert_eq!(other["tenant"], "globex");
    let (status, body) = app
        .get(&format!("disca_{}", "0".repeat(64)), "/v1/me")
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
}

/// `token`'s event stream at `base`, once it has started.
async fn open_events(http: &reqwest::Client, base: &str, token: &str) -> reqwest::Response {
    let mut stream = http
        .get(format!("{base}/v1/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let first = stream.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("stream.start"));
    stream
}

#[tokio::test]
async fn a_disabled_user_s_open_event_stream_is_closed() {
    let app = spawn_app().await;
    let user = app
        .store
        .user_by_token_hash(&hash_token(&app.agent))
        .await
        .unwrap();
    // A client without the test client's overall timeout: the stream is
    // meant to stay open.
    let http = reqwest::Client::new();
    let mut stream = open_events(&http, &app.base, &app.agent).await;
    // Another user's stream, open as long: it must stay open.
    let mut other = open_events(&http, &app.base, &app.other_tenant_agent).await;
    app.store
        .set_disabled(&user.tenant.slug.to_string(), &user.email, true)
        .await
        .unwrap();
    // Closed at the stream's next check of its user (every 30 s).
    let closed = tokio::time::timeout(std::time::Duration::from_secs(40), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(closed.is_ok(), "the disabled user's stream stays open");
    let still = tokio::time::timeout(std::time::Duration::from_millis(500), other.chunk()).await;
    assert!(
        !matches!(still, Ok(Ok(None)) | Ok(Err(_))),
        "an enabled user's stream was closed too: closed for another reason"
    );
}

/// Two backends on one PostgreSQL database: a change written through
/// either reaches the event streams open on both, in one order, with the
/// tenant's ids. (On SQLite each process streams its own changes: backends
/// share a SQLite file only for a rolling deploy.)
#[tokio::test]
async fn on_postgresql_a_change_through_one_backend_streams_from_both() {
    let app = spawn_app().await;
    if app.settings.database_url.is_none() {
        eprintln!("SQLite: one backend streams its own changes");
        return;
    }
    let second = TestApp::builder().shared_with(&app.app).start().await;
    let user = app
        .store
        .user_by_token_hash(&hash_token(&app.agent))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let mut streams = Vec::new();
    for base in [&app.base, &second.base] {
        streams.push(open_events(&http, base, &app.agent).await);
    }
    // One call created through the second backend, ended through the first.
    let mut call = new_call(
        &second.store,
        &user,
        "+5511987654321",
        &CallContext::default(),
    )
    .await;
    call.state = CallState::Ended;
    call.outcome = Some(Outcome::Answered);
    call.ended_at = Some(time::OffsetDateTime::now_utc());
    app.store
        .save_calls(std::slice::from_ref(&call))
        .await
        .unwrap();
    for stream in &mut streams {
        let mut seen = String::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while seen.matches("event: call.update").count() < 2 {
                let chunk = stream.chunk().await.unwrap().unwrap();
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await;
        assert!(read.is_ok(), "both changes within 5 s: {seen}");
        let ids: Vec<&str> = seen
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .collect();
        assert_eq!(ids, ["1", "2"], "{seen}");
        assert!(
            seen.contains(&call.id) && seen.contains("\"ended\""),
            "{seen}"
        );
    }
}
