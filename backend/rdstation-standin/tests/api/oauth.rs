//! OAuth2: the consent page, the code grant, refresh-token rotation and
//! the token endpoint's errors.

use std::time::Duration;

use rdstation_standin::Config;
use reqwest::StatusCode;

use super::*;

#[tokio::test]
async fn the_consent_page_sends_the_user_back_with_a_code_and_the_state() {
    let h = start().await;
    let authorize = h.standin.oauth_authorize_url();
    let base = [
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("state", "xyz 1"),
    ];
    let page = h.http.get(&authorize).query(&base).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Ana Souza") && html.contains("Eduardo Santos"));
    assert!(
        !html.contains("Carla Mendes"),
        "deactivated users cannot log in"
    );

    let chosen = h
        .http
        .get(&authorize)
        .query(&base)
        .query(&[("user_id", ANA_ID)])
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.status(), StatusCode::FOUND);
    let location = chosen.headers()["location"].to_str().unwrap().to_owned();
    let query = location
        .strip_prefix(&format!("{REDIRECT_URI}?"))
        .unwrap_or_else(|| panic!("{location}"));
    let (code_pair, state_pair) = query.split_once('&').unwrap();
    let code = code_pair.strip_prefix("code=").unwrap();
    assert_eq!(state_pair, "state=xyz%201");

    let exchange = [
        ("grant_type", "authorization_code"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
    ];
    let tokens = json_of(h.token_request(&exchange).await, StatusCode::OK).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 7200);
    assert!(tokens["refresh_token"].is_string());
    let reused = json_of(h.token_request(&exchange).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(reused["error"], "invalid_grant", "a code is single use");

    let unknown_client = h
        .http
        .get(&authorize)
        .query(&[
            ("response_type", "code"),
            ("client_id", "other"),
            ("redirect_uri", REDIRECT_URI),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        unknown_client.status(),
        StatusCode::BAD_REQUEST,
        "no redirect to an unchecked URI"
    );
}

#[tokio::test]
async fn every_refresh_returns_a_new_refresh_token_and_kills_the_old_one() {
    let h = start().await;
    let first = h.tokens_for(ANA_ID).await;
    let refresh = |token: &str| {
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", token),
        ];
        let request = h.http.post(h.standin.oauth_token_url()).form(&form);
        async move { request.send().await.unwrap() }
    };

    let second = json_of(refresh(&first.refresh).await, StatusCode::OK).await;
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    let second_access = second["access_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first.refresh);
    assert_ne!(second_access, first.access);

    let reused = json_of(refresh(&first.refresh).await, StatusCode::BAD_REQUEST).await;
    assert_eq!(reused["error"], "invalid_grant");
    assert!(reused["error_description"].is_string());

    let third = json_of(refresh(&second_refresh).await, StatusCode::OK).await;
    assert_ne!(third["refresh_token"], second_refresh.as_str());
    json_of(refresh(&second_refresh).await, StatusCode::BAD_REQUEST).await;

    // Access tokens live out their own lifetime.
    for access in [&first.access, &second_access] {
        json_of(
            h.v2_note(access, ANA_DEAL, "ainda vale").await,
            StatusCode::CREATED,
        )
        .await;
    }
}

#[tokio::test]
async fn an_unused_refresh_token_dies() {
    let h = start_with(Config {
        refresh_token_lifetime: Duration::from_millis(300),
        ..Config::default()
    })
    .await;
    let tokens = h.tokens_for(ANA_ID).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let refreshed = h
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("refresh_token", &tokens.refresh),
        ])
        .await;
    assert_eq!(
        json_of(refreshed, StatusCode::BAD_REQUEST).await["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn the_token_endpoint_answers_rfc_6749_errors() {
    let h = start().await;
    let tokens = h.tokens_for(ANA_ID).await;
    let error_of = |form: &[(&str, &str)], status: StatusCode| {
        let request = h.http.post(h.standin.oauth_token_url()).form(form);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.headers()["cache-control"], "no-store");
            json_of(response, status).await["error"].clone()
        }
    };
    let refresh_with = |secret: &'static str| {
        [
            ("grant_type", "refresh_token"),
            ("client_id", CLIENT_ID),
            ("client_secret", secret),
            ("refresh_token", tokens.refresh.as_str()),
        ]
    };
    assert_eq!(
        error_of(&refresh_with("wrong"), StatusCode::UNAUTHORIZED).await,
        "invalid_client"
    );
    let client = [("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)];
    let password = [client.as_slice(), &[("grant_type", "password")]].concat();
    assert_eq!(
        error_of(&password, StatusCode::BAD_REQUEST).await,
        "unsupported_grant_type"
    );
    let no_token = [client.as_slice(), &[("grant_type", "refresh_token")]].concat();
    assert_eq!(
        error_of(&no_token, StatusCode::BAD_REQUEST).await,
        "invalid_request"
    );
    let code = h
        .standin
        .authorization_code(CLIENT_ID, ANA_ID, REDIRECT_URI)
        .unwrap();
    let wrong_redirect = [
        client.as_slice(),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/elsewhere"),
        ],
    ]
    .concat();
    assert_eq!(
        error_of(&wrong_redirect, StatusCode::BAD_REQUEST).await,
        "invalid_grant"
    );

    let as_json = h
        .http
        .post(h.standin.oauth_token_url())
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(as_json, StatusCode::BAD_REQUEST).await["error"],
        "invalid_request"
    );

    // The failed attempts did not burn the refresh token.
    let fresh = json_of(
        h.token_request(&refresh_with(CLIENT_SECRET)).await,
        StatusCode::OK,
    )
    .await;
    assert!(fresh["access_token"].is_string());
}
