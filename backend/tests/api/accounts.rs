//! Accounts over HTTP: an invitation link sets a password; a host signs in
//! with the OAuth 2.0 code flow and PKCE and gets a device token; wrong
//! passwords lock the account; links and codes work once; taking access
//! away (disable, sign-out, a replayed code) is immediate.

use disca_backend::accounts::{Accounts, links};
use disca_backend::auth::hash_token;
use disca_backend::domain::{PhoneKind, Role, Tenant, User};
use disca_backend::storage::{LinkPurpose, NewUser};
use disca_testkit::TestApp;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// RFC 7636 appendix B's verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:49152/callback";
const PASSWORD: &str = "cavalo-correto-bateria";

/// Tenant `acme` and an invited (passwordless) salesperson, Ana.
async fn spawn_app() -> (TestApp, User) {
    let app = TestApp::spawn().await;
    app.store
        .add_tenant(&Tenant::in_brazil("acme".parse().unwrap(), "Acme Ltda"))
        .await
        .unwrap();
    let ana = app
        .store
        .add_user(NewUser {
            tenant: "acme",
            name: "Ana",
            email: "ana@acme.com.br",
            extension: &"1001".parse().unwrap(),
            role: Role::Agent,
            phone: PhoneKind::Desk,
            token_hash: None,
        })
        .await
        .unwrap();
    (app, ana)
}

/// The secret of a fresh link of `purpose` for `user` (not mailed).
async fn link(app: &TestApp, user: &User, purpose: LinkPurpose) -> String {
    let accounts = Accounts::new(&app.base, None);
    let issued = links::issue(&accounts, &app.store, user, purpose)
        .await
        .unwrap();
    assert!(matches!(issued.mailed, Ok(false)));
    let (page, secret) = issued.url.split_once('#').unwrap();
    assert_eq!(page, app.url("/account/password"));
    secret.to_owned()
}

/// A request of the account pages (their header; same origin).
async fn page_post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let r = app
        .http
        .post(app.url(path))
        .header("x-disca-page", "1")
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// Signs in on the authorize page; the code from the redirect, or the error.
async fn authorize(
    app: &TestApp,
    email: &str,
    password: &str,
) -> Result<String, (StatusCode, Value)> {
    let (status, body) = page_post(
        app,
        "/oauth/authorize",
        json!({"email": email, "password": password, "response_type": "code",
               "client_id": "disca-host", "redirect_uri": REDIRECT, "state": "st4te",
               "code_challenge": CHALLENGE, "code_challenge_method": "S256"}),
    )
    .await;
    if status != StatusCode::OK {
        return Err((status, body));
    }
    let redirect = body["redirect"].as_str().unwrap();
    let rest = redirect.strip_prefix(&format!("{REDIRECT}?code=")).unwrap();
    let (code, state) = rest.split_once("&state=").unwrap();
    assert_eq!(state, "st4te");
    Ok(code.to_owned())
}

/// `POST /oauth/token`.
async fn exchange(app: &TestApp, code: &str, verifier: &str) -> (StatusCode, Value) {
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", "disca-host"),
            ("code_verifier", verifier),
            ("device_name", "note-da-ana"),
        ])
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.http
        .get(app.url("/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Ana with a password, and a device token for her.
async fn signed_in() -> (TestApp, User, String) {
    let (app, ana) = spawn_app().await;
    let secret = link(&app, &ana, LinkPurpose::Invite).await;
    let (status, _) = page_post(
        &app,
        "/account/api/password",
        json!({"token": secret, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let code = authorize(&app, "ana@acme.com.br", PASSWORD).await.unwrap();
    let (status, body) = exchange(&app, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    (app, ana, token)
}

#[tokio::test]
async fn an_invited_salesperson_sets_a_password_and_a_host_signs_in() {
    let (app, ana) = spawn_app().await;
    let secret = link(&app, &ana, LinkPurpose::Invite).await;

    // The page greets her, then refuses a weak password, then takes hers.
    let (status, info) = page_post(&app, "/account/api/link", json!({"token": secret})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        info,
        json!({"name": "Ana", "email": "ana@acme.com.br", "company": "Acme Ltda", "purpose": "invite"})
    );
    let (status, body) = page_post(
        &app,
        "/account/api/password",
        json!({"token": secret, "password": "curta"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "weak_password");
    let (status, _) = page_post(
        &app,
        "/account/api/password",
        json!({"token": secret, "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The invitation worked once.
    let (status, body) = page_post(
        &app,
        "/account/api/password",
        json!({"token": secret, "password": "outra-senha-qualquer"}),
    )
    .await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(body["error"]["code"], "link_used");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("já foi usado")
    );

    // The sign-in page is served for a valid request only.
    let page = app
        .http
        .get(app.url(&format!(
            "/oauth/authorize?response_type=code&client_id=disca-host&redirect_uri={REDIRECT}\
             &state=st4te&code_challenge={CHALLENGE}&code_challenge_method=S256"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Entrar"));
    let evil = app
        .http
        .get(app.url(&format!(
            "/oauth/authorize?response_type=code&client_id=disca-host\
             &redirect_uri=https://evil.example/callback&state=st4te\
             &code_challenge={CHALLENGE}&code_challenge_method=S256"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), StatusCode::BAD_REQUEST);
    assert!(
        evil.text()
            .await
            .unwrap()
            .contains("endereço de retorno não permitido")
    );

    // A wrong password, and an unknown e-mail, read the same.
    let (status, wrong) = authorize(&app, "ana@acme.com.br", "senha-errada-123")
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, unknown) = authorize(&app, "ninguem@acme.com.br", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"]["code"], "invalid_credentials");

    // A code whose verifier does not match is burnt.
    let code = authorize(&app, "ANA@acme.com.br ", PASSWORD).await.unwrap();
    let (status, body) = exchange(&app, &code, &VERIFIER.replace('d', "e")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = exchange(&app, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The right one gives a device token for Ana.
    let code = authorize(&app, "ana@acme.com.br", PASSWORD).await.unwrap();
    let (status, body) = exchange(&app, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["email"], "ana@acme.com.br");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(me(&app, token).await, StatusCode::OK);
    let tokens = app.store.tokens(&ana.id).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].label, "disca-host em note-da-ana");

    // A second host presenting the same code gets nothing; a replay with
    // the verifier (the code leaked with it) revokes the token at once.
    let (status, _) = exchange(&app, &code, &VERIFIER.replace('d', "e")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(me(&app, token).await, StatusCode::OK);
    let (status, _) = exchange(&app, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(me(&app, token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_passwords_lock_the_account_with_a_clear_message() {
    let (app, _ana, _) = signed_in().await;
    for _ in 0..4 {
        let (status, body) = authorize(&app, "ana@acme.com.br", "senha-errada-123")
            .await
            .unwrap_err();
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
        );
    }
    let (status, body) = authorize(&app, "ana@acme.com.br", "senha-errada-123")
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["code"], "account_locked");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bloqueada por 15 minutos"),
        "{body}"
    );
    // Locked: the right password too, until the lock ends.
    let (status, body) = authorize(&app, "ana@acme.com.br", PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("account_locked"))
    );
}

#[tokio::test]
async fn an_expired_or_unknown_link_sets_nothing() {
    let (app, ana) = spawn_app().await;
    let secret = "ab".repeat(32);
    app.store
        .add_account_link(
            &ana.id,
            LinkPurpose::Invite,
            &hash_token(&secret),
            time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
        )
        .await
        .unwrap();
    let (status, body) = page_post(&app, "/account/api/link", json!({"token": secret})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::GONE, Some("link_expired"))
    );
    let (status, body) = page_post(
        &app,
        "/account/api/password",
        json!({"token": secret, "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::GONE, Some("link_expired"))
    );
    let (status, body) =
        page_post(&app, "/account/api/link", json!({"token": "cd".repeat(32)})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("link_invalid"))
    );
    // A newer link replaces an older unused one.
    let first = link(&app, &ana, LinkPurpose::Invite).await;
    let second = link(&app, &ana, LinkPurpose::Invite).await;
    let (status, _) = page_post(&app, "/account/api/link", json!({"token": first})).await;
    assert_eq!(status, StatusCode::GONE);
    let (status, _) = page_post(&app, "/account/api/link", json!({"token": second})).await;
    assert_eq!(status, StatusCode::OK);
    // And no page request without the page's header.
    let r = app
        .http
        .post(app.url("/account/api/link"))
        .json(&json!({"token": second}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn disabling_closes_the_event_stream_and_refuses_the_next_click_at_once() {
    let (app, _ana, token) = signed_in().await;
    let stream = app
        .http
        .get(app.url("/v1/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut body = stream.bytes_stream();
    // The stream is open and the token cached by a request.
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("stream.start"));
    assert_eq!(me(&app, &token).await, StatusCode::OK);

    // Disabled as the CLI does it: straight in the database.
    app.store
        .set_disabled("acme", "ana@acme.com.br", true)
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = body.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the stream stayed open after the user was disabled"
    );
    let click = app
        .http
        .post(app.url("/v1/calls"))
        .bearer_auth(&token)
        .json(&json!({"to": "+5511987654321"}))
        .send()
        .await
        .unwrap();
    assert_eq!(click.status(), StatusCode::UNAUTHORIZED);
    // The device token is gone for good: enabling her again does not bring it back.
    app.store
        .set_disabled("acme", "ana@acme.com.br", false)
        .await
        .unwrap();
    assert_eq!(me(&app, &token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_out_revokes_the_device_token() {
    let (app, _ana, token) = signed_in().await;
    let r = app
        .http
        .post(app.url("/v1/auth/sign-out"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_reset_signs_out_every_host() {
    let (app, ana, token) = signed_in().await;
    let secret = link(&app, &ana, LinkPurpose::Reset).await;
    let (status, _) = page_post(
        &app,
        "/account/api/password",
        json!({"token": secret, "password": "uma-senha-nova-de-verdade"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me(&app, &token).await, StatusCode::UNAUTHORIZED);
    assert!(authorize(&app, "ana@acme.com.br", PASSWORD).await.is_err());
    assert!(
        authorize(&app, "ana@acme.com.br", "uma-senha-nova-de-verdade")
            .await
            .is_ok()
    );
    // Without SMTP, "Esqueci minha senha" says to ask the manager.
    let (status, body) = page_post(
        &app,
        "/account/api/forgot",
        json!({"email": "ana@acme.com.br"}),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"mails": false}))
    );
}

#[tokio::test]
async fn the_manager_page_signs_in_managers_by_password_only() {
    let (app, ana) = spawn_app().await;
    let marcos = app
        .store
        .add_user(NewUser {
            tenant: "acme",
            name: "Marcos",
            email: "marcos@acme.com.br",
            extension: &"1009".parse().unwrap(),
            role: Role::Manager,
            phone: PhoneKind::Desk,
            token_hash: None,
        })
        .await
        .unwrap();
    disca_testkit::accounts::give_password(&app.base, &app.store, &ana, PASSWORD).await;
    disca_testkit::accounts::give_password(&app.base, &app.store, &marcos, "uma-senha-do-gestor")
        .await;
    let login = |email: &str, password: &str| {
        let request = app
            .http
            .post(app.url("/manager/login"))
            .header("x-disca-manager", "1")
            .json(&json!({"email": email, "password": password}));
        async move { request.send().await.unwrap() }
    };
    let r = login("ana@acme.com.br", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_a_manager");
    let r = login("marcos@acme.com.br", "errada-errada").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = login("marcos@acme.com.br", "uma-senha-do-gestor").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("disca_manager=")
    );
}

#[tokio::test]
async fn a_manager_session_opened_with_a_token_ends_when_the_token_is_revoked() {
    let (app, _ana) = spawn_app().await;
    let token = disca_backend::auth::issue_token();
    let marcos = app
        .store
        .add_user(NewUser {
            tenant: "acme",
            name: "Marcos",
            email: "marcos@acme.com.br",
            extension: &"1009".parse().unwrap(),
            role: Role::Manager,
            phone: PhoneKind::Desk,
            token_hash: Some(&token.hash),
        })
        .await
        .unwrap();
    let login = app
        .http
        .post(app.url("/manager/login"))
        .header("x-disca-manager", "1")
        .json(&json!({"token": token.secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let session = |cookie: String| {
        let request = app
            .http
            .get(app.url("/manager/api/session"))
            .header("cookie", cookie);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(session(cookie.clone()).await, StatusCode::OK);
    let id = app.store.tokens(&marcos.id).await.unwrap()[0].id.clone();
    app.store.revoke_token(&marcos.id, &id).await.unwrap();
    assert_eq!(session(cookie).await, StatusCode::UNAUTHORIZED);
}
