//! `GET /v1/phone`: what rings for each salesperson, and a browser phone's
//! credentials, served only to their owner and never cached.

use disca_backend::auth::issue_token;
use disca_backend::domain::{PhoneKind, Role, Tenant};
use disca_backend::storage::NewUser;
use disca_testkit::{TestApp, TestAppBuilder};
use reqwest::StatusCode;
use serde_json::Value;

/// Tenant `acme` with Ana (browser phone, extension 1001) and Bia (desk
/// phone, 1002); their tokens.
async fn spawn_app(builder: TestAppBuilder) -> (TestApp, String, String) {
    let app = builder.start().await;
    app.store
        .add_tenant(&Tenant::in_brazil("acme".parse().unwrap(), "Acme"))
        .await
        .unwrap();
    let mut tokens = Vec::new();
    for (name, extension, phone) in [
        ("ana", "1001", PhoneKind::Browser),
        ("bia", "1002", PhoneKind::Desk),
    ] {
        let token = issue_token();
        app.store
            .add_user(NewUser {
                tenant: "acme",
                name,
                email: &format!("{name}@example.com"),
                extension: &extension.parse().unwrap(),
                role: Role::Agent,
                token_hash: Some(&token.hash),
                phone,
            })
            .await
            .unwrap();
        tokens.push(token.secret);
    }
    let bia = tokens.pop().unwrap();
    let ana = tokens.pop().unwrap();
    (app, ana, bia)
}

async fn phone(app: &TestApp, token: &str) -> (StatusCode, Option<String>, Value) {
    let response = app
        .http
        .get(app.url("/v1/phone"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status(), cache, response.json().await.unwrap())
}

#[tokio::test]
async fn a_browser_phone_gets_its_credentials_and_a_desk_phone_none() {
    let dir = tempfile::tempdir().unwrap();
    let directory = dir.path().join("phones.sqlite3");
    let builder = TestApp::builder()
        .phone_directory(&directory)
        .configure(|s| {
            s.phones.ws_url = "wss://pbx.acme.example:8089/ws".into();
            s.phones.sip_domain = "pbx.acme.example".into();
            s.phones.stun_urls = vec!["stun:stun.acme.example:3478".into()];
        });
    let (app, ana, bia) = spawn_app(builder).await;

    let (status, cache, body) = phone(&app, &ana).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert_eq!(body["kind"], "browser");
    assert_eq!(body["endpoint"], "acme-1001");
    let browser = &body["browser"];
    assert_eq!(browser["ws_url"], "wss://pbx.acme.example:8089/ws");
    assert_eq!(browser["aor"], "sip:acme-1001@pbx.acme.example");
    assert_eq!(browser["username"], "acme-1001");
    assert_eq!(
        browser["ice_servers"][0]["urls"][0],
        "stun:stun.acme.example:3478"
    );
    let password = browser["password"].as_str().unwrap();
    assert_eq!(password.len(), 32);
    assert_eq!(phone(&app, &ana).await.2["browser"]["password"], password);

    let (status, _, body) = phone(&app, &bia).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["kind"], "desk");
    assert_eq!(body["endpoint"], "acme-1002");
    assert!(body.get("browser").is_none(), "{body}");

    let (status, _, _) = phone(&app, "not-a-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn without_a_phone_directory_a_browser_phone_is_unavailable() {
    let (app, ana, bia) = spawn_app(TestApp::builder()).await;
    let (status, _, body) = phone(&app, &ana).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "browser_phone_unavailable", "{body}");
    assert_eq!(phone(&app, &bia).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_disabled_salesperson_gets_no_phone_credentials_until_enabled_again() {
    let (app, _ana, bia) = spawn_app(TestApp::builder()).await;
    // Her token is now in the authentication cache: the phone's
    // credentials are still refused at once once she is disabled.
    assert_eq!(phone(&app, &bia).await.0, StatusCode::OK);
    app.store
        .set_disabled("acme", "bia@example.com", true)
        .await
        .unwrap();
    let (status, _, body) = phone(&app, &bia).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    app.store
        .set_disabled("acme", "bia@example.com", false)
        .await
        .unwrap();
    let (status, _, body) = phone(&app, &bia).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
