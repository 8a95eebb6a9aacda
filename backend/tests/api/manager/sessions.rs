//! Logging in and out: the session cookie, who may log in, expiry, where
//! the login sends back.

use super::*;

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
    assert!(html.contains("E-mail") && html.contains("Senha"), "{html}");
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
    let db = sessions_table(&app).await;
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
    assert!(message(&body).contains("conta é de um vendedor"), "{body}");
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
    let db = sessions_table(&app).await;
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
async fn a_disabled_manager_loses_their_session_and_cannot_log_in() {
    let app = spawn_app().await;
    let cookie = app.session("acme-manager").await;
    let manager = app.user("acme-manager").await;
    app.store
        .set_disabled("acme", &manager.email, true)
        .await
        .unwrap();
    let (status, body) = app.get_json(&cookie, "/manager/api/session").await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "session_required")
    );
    let r = app.login_as(app.token("acme-manager"), None).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().get(SET_COOKIE).is_none());

    // Enabled again, the old session stays ended: a new login is needed.
    app.store
        .set_disabled("acme", &manager.email, false)
        .await
        .unwrap();
    let (status, _) = app.get_json(&cookie, "/manager/api/session").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.session("acme-manager").await;
}
