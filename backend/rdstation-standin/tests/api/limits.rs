//! 120 requests per minute per token: the 121st within the window is
//! refused, in each API's shape; other tokens are not affected.

use std::time::Duration;

use rdstation_standin::{Config, RateLimit};
use reqwest::StatusCode;

use super::*;

#[tokio::test]
async fn the_121st_v1_request_within_a_minute_is_refused() {
    let h = start().await;
    for n in 1..=120 {
        let response = h
            .http
            .get(h.v1("/token/check", ANA_TOKEN))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "request {n}");
    }
    let refused = h
        .http
        .get(h.v1("/token/check", ANA_TOKEN))
        .send()
        .await
        .unwrap();
    let body = json_of(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        body["errors"]["error_type"], "RATE_LIMIT_EXCEDDED",
        "spelled as RD Station sends it"
    );
    assert!(body["errors"]["error_message"].is_string());

    let other = h
        .http
        .get(h.v1("/token/check", BRUNO_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK, "the limit is per token");
    assert_eq!(h.standin.requests().token(ANA_TOKEN), 121);
}

#[tokio::test]
async fn the_121st_v2_request_carries_retry_after() {
    let h = start().await;
    let ana = h.tokens_for(ANA_ID).await;
    let url = h.v2(&format!("/deals/{ANA_DEAL}/notes"));
    for n in 1..=120 {
        let response = h
            .http
            .get(&url)
            .bearer_auth(&ana.access)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "request {n}");
    }
    let refused = h
        .http
        .get(&url)
        .bearer_auth(&ana.access)
        .send()
        .await
        .unwrap();
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body = json_of(refused, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["errors"][0]["status"], "429");
}

#[tokio::test]
async fn the_window_slides() {
    let h = start_with(Config {
        rate_limit: RateLimit {
            requests: 2,
            window: Duration::from_secs(2),
        },
        ..Config::default()
    })
    .await;
    let check = || h.http.get(h.v1("/token/check", ANA_TOKEN)).send();
    assert_eq!(check().await.unwrap().status(), StatusCode::OK);
    assert_eq!(check().await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        check().await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(check().await.unwrap().status(), StatusCode::OK);
}
