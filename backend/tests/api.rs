//! The HTTP API on a random port, with a real SQLite file and no PBX behind
//! it (the AMI address is a closed port): everything decided before a call
//! reaches Asterisk. Calls through a real Asterisk are tested in /tests.

use std::time::Duration;

use disca_backend::auth::issue_token;
use disca_backend::configuration::{FileConfig, Overrides, Settings};
use disca_backend::domain::{DestinationPolicy, Region, Role, Tenant};
use disca_backend::startup::Application;
use disca_backend::storage::{NewUser, Store};
use reqwest::StatusCode;
use serde_json::{Value, json};

struct TestApp {
    base: String,
    http: reqwest::Client,
    agent: String,
    other_tenant_agent: String,
    _dir: tempfile::TempDir,
}

async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let overrides = Overrides {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        data_dir: Some(dir.path().to_path_buf()),
        ami_addr: Some(closed_port.to_string()),
        ..Overrides::default()
    };
    let settings = Settings::merge(overrides, FileConfig::default()).unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let mut tokens = Vec::new();
    for slug in ["acme", "globex"] {
        let tenant = Tenant {
            slug: slug.parse().unwrap(),
            name: slug.into(),
            region: Region::BRAZIL,
            policy: DestinationPolicy::default(),
        };
        store.add_tenant(&tenant).await.unwrap();
        let token = issue_token();
        store
            .add_user(NewUser {
                tenant: slug,
                name: "Ana",
                email: "ana@example.com",
                extension: &"1001".parse().unwrap(),
                role: Role::Agent,
                token_hash: &token.hash,
            })
            .await
            .unwrap();
        tokens.push(token.secret);
    }
    let app = Application::build(&settings).await.unwrap();
    let base = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        agent: tokens.remove(0),
        other_tenant_agent: tokens.remove(0),
        _dir: dir,
    }
}

impl TestApp {
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
    let list: Value = app
        .http
        .get(format!("{}/v1/calls", app.base))
        .bearer_auth(&app.agent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["calls"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn unknown_and_foreign_calls() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/v1/calls/not-a-uuid", app.base))
        .bearer_auth(&app.agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .http
        .get(format!(
            "{}/v1/calls/0190a000-0000-7000-8000-000000000000",
            app.base
        ))
        .bearer_auth(&app.other_tenant_agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .http
        .get(format!("{}/v1/calls?limit=0", app.base))
        .bearer_auth(&app.agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .http
        .get(format!("{}/v1/calls?outcome=exploded", app.base))
        .bearer_auth(&app.agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let health: Value = r.json().await.unwrap();
    assert_eq!(health["ami_connected"], false);
    assert_eq!(health["database_ok"], true);
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("disca_ami_connected 0"), "{metrics}");
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
        "/healthz",
        "/metrics",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
}
