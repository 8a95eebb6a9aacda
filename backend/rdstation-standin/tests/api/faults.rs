//! Every fault mode, set in-process or over `/_standin`, for the next N
//! requests or until cleared; and what `/_standin` shows of the traffic.

use std::time::{Duration, Instant};

use rdstation_standin::{Api, Fault, FaultSpec, Scope};
use reqwest::StatusCode;
use serde_json::json;

use super::*;

#[tokio::test]
async fn down_resets_new_and_kept_alive_connections_for_the_next_n_requests() {
    let h = start().await;
    let check = || h.http.get(h.v1("/token/check", ANA_TOKEN)).send();
    // A kept-alive connection now sits in the client's pool.
    assert_eq!(check().await.unwrap().status(), StatusCode::OK);

    h.standin.faults().set_for_next(Fault::Down, 2);
    for attempt in 1..=2 {
        let error = check().await.expect_err("no answer while down");
        assert!(
            error.status().is_none() && !error.is_timeout(),
            "attempt {attempt}: {error:?}"
        );
    }
    let fresh = reqwest::Client::new();
    assert_eq!(
        fresh
            .get(h.v1("/token/check", ANA_TOKEN))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "back up after two requests"
    );
    assert_eq!(h.standin.faults().current().fault, Fault::Normal);
}

#[tokio::test]
async fn down_until_cleared_spares_the_admin_api() {
    let h = start().await;
    let set = |body: serde_json::Value| h.http.post(h.admin("/fault")).json(&body).send();
    let state = json_of(set(json!({"mode": "down"})).await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        state,
        json!({"mode": "down", "remaining": null, "scope": "all"})
    );
    for _ in 0..3 {
        assert!(h.http.get(h.v2("/contacts")).send().await.is_err());
        assert!(
            h.http
                .post(h.standin.oauth_token_url())
                .send()
                .await
                .is_err()
        );
    }
    let current = json_of(
        h.http.get(h.admin("/fault")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(current["mode"], "down");
    json_of(
        set(json!({"mode": "normal"})).await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        h.http
            .get(h.v1("/token/check", ANA_TOKEN))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn slow_delays_every_answer() {
    let h = start().await;
    h.standin.faults().set(Fault::Slow { ms: 1000 });
    let started = Instant::now();
    let response = h
        .http
        .get(h.v1("/token/check", ANA_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(1000));

    let impatient = h
        .http
        .get(h.v1("/token/check", ANA_TOKEN))
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .expect_err("slower than the client waits");
    assert!(impatient.is_timeout());

    h.standin.faults().clear();
    let started = Instant::now();
    h.http
        .get(h.v1("/token/check", ANA_TOKEN))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(1000));
}

#[tokio::test]
async fn status_429_for_the_next_n_requests_in_each_apis_shape() {
    let h = start().await;
    let ana = h.tokens_for(ANA_ID).await;
    h.standin.faults().set_for_next(
        Fault::Status429 {
            retry_after_secs: 7,
        },
        3,
    );

    let v2 = h.v2_note(&ana.access, ANA_DEAL, "x").await;
    assert_eq!(v2.headers()["retry-after"], "7");
    let body = json_of(v2, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["errors"][0]["code"], "RATE_LIMIT_EXCEEDED");

    let v1 = h.v1_note(ANA_DEAL, "x").await;
    assert!(v1.headers().get("retry-after").is_none());
    let body = json_of(v1, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(body["errors"]["error_type"], "RATE_LIMIT_EXCEDDED");

    let token = h.token_request(&[("grant_type", "refresh_token")]).await;
    assert_eq!(token.headers()["retry-after"], "7");
    assert_eq!(token.status(), StatusCode::TOO_MANY_REQUESTS);

    assert!(h.standin.all_notes().is_empty(), "refused before storing");
    json_of(h.v1_note(ANA_DEAL, "agora vai").await, StatusCode::OK).await;
}

#[tokio::test]
async fn status_500_html_until_cleared() {
    let h = start().await;
    let ana = h.tokens_for(ANA_ID).await;
    h.standin.faults().set(Fault::Status500Html);
    for _ in 0..3 {
        let response = h.v2_note(&ana.access, ANA_DEAL, "x").await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let page = response.text().await.unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(serde_json::from_str::<serde_json::Value>(&page).is_err());
    }
    let v1 = h.http.get(h.v1("/users", ANA_TOKEN)).send().await.unwrap();
    assert_eq!(v1.status(), StatusCode::INTERNAL_SERVER_ERROR);
    h.standin.faults().clear();
    json_of(
        h.v2_note(&ana.access, ANA_DEAL, "x").await,
        StatusCode::CREATED,
    )
    .await;
}

#[tokio::test]
async fn timeout_after_store_keeps_the_note_although_the_client_gave_up() {
    let h = start().await;
    let ana = h.tokens_for(ANA_ID).await;
    h.standin.faults().set_for_next(Fault::TimeoutAfterStore, 2);

    // Reads are not note creations: they answer.
    let listed = h
        .http
        .get(h.v1("/activities", ANA_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);

    let v1 = h
        .http
        .post(h.v1("/activities", ANA_TOKEN))
        .timeout(Duration::from_millis(500))
        .json(&json!({"activity": {"deal_id": ANA_DEAL, "user_id": ANA_ID, "text": "pela v1"}}))
        .send()
        .await
        .expect_err("no answer");
    assert!(v1.is_timeout(), "{v1:?}");
    let v2 = h
        .http
        .post(h.v2(&format!("/deals/{ANA_DEAL}/notes")))
        .bearer_auth(&ana.access)
        .timeout(Duration::from_millis(500))
        .json(&json!({"data": {"description": "pela v2"}}))
        .send()
        .await
        .expect_err("no answer");
    assert!(v2.is_timeout(), "{v2:?}");

    // Stored at once, normally; a loaded machine may have been slower than the client.
    let waited = Instant::now();
    while h.standin.notes(ANA_DEAL).len() < 2 && waited.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = h.standin.notes(ANA_DEAL);
    let texts: Vec<(&str, Api)> = stored.iter().map(|n| (n.text.as_str(), n.via)).collect();
    assert_eq!(texts, [("pela v1", Api::V1), ("pela v2", Api::V2)]);

    // Two used: the third answers, and a retry would show up as a duplicate.
    json_of(h.v1_note(ANA_DEAL, "pela v1").await, StatusCode::OK).await;
    assert_eq!(h.standin.notes(ANA_DEAL).len(), 3);
}

#[tokio::test]
async fn faults_set_over_http_can_target_one_api() {
    let h = start().await;
    let ana = h.tokens_for(ANA_ID).await;
    let set = |body: serde_json::Value| h.http.post(h.admin("/fault")).json(&body).send();
    let state = json_of(
        set(json!({"mode": "status_500_html", "count": 1, "scope": "v2"}))
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        state,
        json!({"mode": "status_500_html", "remaining": 1, "scope": "v2"})
    );
    json_of(h.v1_note(ANA_DEAL, "v1 passa").await, StatusCode::OK).await;
    assert_eq!(
        h.v2_note(&ana.access, ANA_DEAL, "x").await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    json_of(
        h.v2_note(&ana.access, ANA_DEAL, "v2 volta").await,
        StatusCode::CREATED,
    )
    .await;

    let refused = h
        .http
        .post(h.admin("/fault"))
        .body("{\"mode\": \"flaky\"}")
        .send()
        .await
        .unwrap();
    assert!(json_of(refused, StatusCode::BAD_REQUEST).await["error"].is_string());

    let in_process = h.standin.faults().apply(FaultSpec {
        fault: Fault::Slow { ms: 1 },
        count: Some(1),
        scope: Scope::OAuth,
    });
    let over_http = json_of(
        h.http.get(h.admin("/fault")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        over_http,
        json!({"mode": "slow", "ms": 1, "remaining": 1, "scope": "oauth"})
    );
    assert_eq!(in_process, h.standin.faults().current());
}

#[tokio::test]
async fn the_admin_api_shows_stored_notes_and_request_counts() {
    let h = start().await;
    json_of(h.v1_note(ANA_DEAL, "primeira").await, StatusCode::OK).await;
    json_of(h.v1_note(BRUNO_DEAL, "segunda").await, StatusCode::OK).await;
    h.http
        .get(h.v1("/deals/ffffffffffffffffffffffff", "no-such-token"))
        .send()
        .await
        .unwrap();

    let all = json_of(
        h.http.get(h.admin("/notes")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let notes = all["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0]["text"], "primeira");
    for key in [
        "id",
        "deal_id",
        "user_id",
        "created_by",
        "text",
        "contact_id",
        "deal_stage_id",
        "created_at",
        "via",
    ] {
        assert!(notes[0].get(key).is_some(), "{key}");
    }
    assert_eq!(notes[0]["via"], "v1");
    let one = json_of(
        h.http
            .get(h.admin(&format!("/notes?deal_id={BRUNO_DEAL}")))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(one["notes"].as_array().unwrap().len(), 1);

    let counts = h.standin.requests();
    assert_eq!(counts.by_endpoint().len(), 2);
    assert_eq!(counts.endpoint("POST /api/v1/activities"), 2);
    assert_eq!(counts.endpoint("GET /api/v1/deals/{id}"), 1);
    assert_eq!(counts.token(ANA_TOKEN), 2);
    assert_eq!(counts.token("no-such-token"), 1);
    assert_eq!(counts.total(), 3, "/_standin is not counted");

    let published = json_of(
        h.http.get(h.admin("/requests")).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(published["by_endpoint"]["POST /api/v1/activities"], 2);
    let by_token = published["by_token"].as_object().unwrap();
    assert_eq!(by_token.len(), 2);
    assert!(
        by_token.keys().all(|k| k.len() == 12 && k != ANA_TOKEN),
        "fingerprints only"
    );
}
