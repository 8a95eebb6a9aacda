//! API v2: notes on deals with bearer tokens, paging links, contact
//! filters, and each error as `{"errors": [...]}`.

use std::time::Duration;

use rdstation_standin::{Api, Config};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn a_note_is_created_and_listed_page_by_page() {
    let h = start().await;
    let bruno = h.tokens_for(BRUNO_ID).await;

    let created = json_of(
        h.v2_note(&bruno.access, BRUNO_DEAL, "Ligação realizada: 2 min 5 s")
            .await,
        StatusCode::CREATED,
    )
    .await;
    let note = created["data"].as_object().unwrap();
    let mut keys: Vec<&str> = note.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "description",
            "edited_at",
            "edited_by_id",
            "id",
            "pinned_at",
            "registered_at",
            "user_id"
        ]
    );
    assert_eq!(note["description"], "Ligação realizada: 2 min 5 s");
    assert_eq!(note["user_id"], BRUNO_ID, "the token's user");
    assert_eq!(
        (note["pinned_at"].clone(), note["edited_at"].clone()),
        (Value::Null, Value::Null)
    );
    let first_id = note["id"].as_str().unwrap().to_owned();

    for text in ["segunda", "terceira"] {
        json_of(
            h.v2_note(&bruno.access, BRUNO_DEAL, text).await,
            StatusCode::CREATED,
        )
        .await;
    }
    let list = |query: &str| {
        let url = h.v2(&format!("/deals/{BRUNO_DEAL}/notes{query}"));
        let request = h.http.get(url).bearer_auth(&bruno.access);
        async move { json_of(request.send().await.unwrap(), StatusCode::OK).await }
    };
    let all = list("").await;
    let texts: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["description"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        ["Ligação realizada: 2 min 5 s", "segunda", "terceira"]
    );
    assert_eq!(all["data"][0]["id"], first_id.as_str());
    assert_eq!(all["links"]["next"], Value::Null);

    let first = list("?page%5Bnumber%5D=1&page%5Bsize%5D=2").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["links"]["prev"], Value::Null);
    let next = first["links"]["next"].as_str().unwrap().to_owned();
    assert!(next.starts_with(&h.standin.v2_base()), "{next}");
    let second = json_of(
        h.http
            .get(&next)
            .bearer_auth(&bruno.access)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(second["data"][0]["description"], "terceira");
    assert_eq!(second["links"]["next"], Value::Null);
    assert!(second["links"]["prev"].is_string());

    let stored = h.standin.notes(BRUNO_DEAL);
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0].id, first_id);
    assert_eq!(
        (stored[0].via, stored[0].user_id.as_str()),
        (Api::V2, BRUNO_ID)
    );
}

#[tokio::test]
async fn deals_and_contacts_by_phone() {
    let h = start().await;
    let ana = h.tokens_for(ANA_ID).await;
    let deal = json_of(
        h.http
            .get(h.v2("/deals/64b7f0c2a1e4d30000000d03"))
            .bearer_auth(&ana.access)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(deal["data"]["status"], "won");
    assert_eq!(
        deal["data"]["contact_ids"],
        json!(["64b7f0c2a1e4d30000000c03"])
    );

    let found = json_of(
        h.http
            .get(h.v2("/contacts"))
            .query(&[("filter", "phone:+55 11 97173-0783")])
            .bearer_auth(&ana.access)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["id"], MARIANA);
    assert_eq!(
        found["data"][0]["phones"],
        json!([{"phone": "+5511971730783", "type": "work"}])
    );
    assert_eq!(
        found["data"][0]["deal_ids"],
        json!([ANA_DEAL, "64b7f0c2a1e4d30000000d06"])
    );
    assert!(
        found["links"]["self"]
            .as_str()
            .unwrap()
            .contains("filter=phone%3A")
    );
}

#[tokio::test]
async fn v2_errors_are_lists_of_errors() {
    let h = start().await;
    let ana = h.tokens_for(ANA_ID).await;
    let first_error = |body: &Value| {
        body["errors"]
            .as_array()
            .map(|e| e[0].clone())
            .unwrap_or_default()
    };

    // 401 without a token and with an unknown one, with a challenge.
    let response = h
        .http
        .get(h.v2(&format!("/deals/{ANA_DEAL}/notes")))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let body = json_of(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(first_error(&body)["status"], "401");
    let response = h.v2_note("not-a-token", ANA_DEAL, "x").await;
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    json_of(response, StatusCode::UNAUTHORIZED).await;
    // A v1 instance token is not a v2 access token.
    json_of(
        h.v2_note(ANA_TOKEN, ANA_DEAL, "x").await,
        StatusCode::UNAUTHORIZED,
    )
    .await;

    // 403: the plan has no API access.
    let fernanda = h.tokens_for(FERNANDA_ID).await;
    let body = json_of(
        h.http
            .get(h.v2("/contacts"))
            .bearer_auth(&fernanda.access)
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(first_error(&body)["code"], "FORBIDDEN");

    // 400: a deal id that is not ^[0-9a-f]{24}$, a body that is not JSON,
    // paging and filter parameters out of range.
    for bad in ["64B7F0C2A1E4D30000000D01", "64b7f0c2a1e4d30000000d0", "x"] {
        let body = json_of(
            h.v2_note(&ana.access, bad, "x").await,
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(
            first_error(&body)["source"]["parameter"],
            "deal_id",
            "{bad}"
        );
    }
    let malformed = h
        .http
        .post(h.v2(&format!("/deals/{ANA_DEAL}/notes")))
        .bearer_auth(&ana.access)
        .header("content-type", "application/json")
        .body("{\"data\": ")
        .send()
        .await
        .unwrap();
    let body = json_of(malformed, StatusCode::BAD_REQUEST).await;
    assert_eq!(first_error(&body)["code"], "BAD_REQUEST");
    for (query, parameter) in [
        ("page%5Bsize%5D=101", "page[size]"),
        ("page%5Bnumber%5D=0", "page[number]"),
        ("filter=cpf:123", "filter"),
    ] {
        let url = h.v2(&format!("/contacts?{query}"));
        let body = json_of(
            h.http
                .get(url)
                .bearer_auth(&ana.access)
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert_eq!(first_error(&body)["source"]["parameter"], parameter);
    }

    // 404: unknown deal, another company's deal, an unknown route.
    let eduardo = h.tokens_for(EDUARDO_ID).await;
    for (token, deal) in [
        (&ana.access, "ffffffffffffffffffffffff"),
        (&eduardo.access, ANA_DEAL),
    ] {
        let body = json_of(h.v2_note(token, deal, "x").await, StatusCode::NOT_FOUND).await;
        assert_eq!(first_error(&body)["code"], "RESOURCE_NOT_FOUND");
    }
    let body = json_of(
        h.http
            .get(h.v2("/pipelines"))
            .bearer_auth(&ana.access)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(body["errors"].is_array());

    // 422: no data, no or blank description, one character too many.
    for body in [
        json!({}),
        json!({"data": {}}),
        json!({"data": {"description": " "}}),
        json!({"data": {"description": 5}}),
    ] {
        let response = h
            .http
            .post(h.v2(&format!("/deals/{ANA_DEAL}/notes")))
            .bearer_auth(&ana.access)
            .json(&body)
            .send()
            .await
            .unwrap();
        let answer = json_of(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert!(
            first_error(&answer)["source"]["pointer"]
                .as_str()
                .unwrap()
                .starts_with("/data"),
            "{body}"
        );
    }
    let too_long = "é".repeat(524_289);
    let body = json_of(
        h.v2_note(&ana.access, ANA_DEAL, &too_long).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(first_error(&body)["source"]["pointer"], "/data/description");
    assert!(h.standin.all_notes().is_empty(), "no error stored anything");

    let longest = "é".repeat(524_288);
    json_of(
        h.v2_note(&ana.access, ANA_DEAL, &longest).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(h.standin.notes(ANA_DEAL)[0].text.chars().count(), 524_288);
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    let h = start_with(Config {
        access_token_lifetime: Duration::from_secs(1),
        ..Config::default()
    })
    .await;
    let ana = h.tokens_for(ANA_ID).await;
    json_of(
        h.v2_note(&ana.access, ANA_DEAL, "a tempo").await,
        StatusCode::CREATED,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = h.v2_note(&ana.access, ANA_DEAL, "tarde demais").await;
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("expired_token")
    );
    json_of(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(h.standin.notes(ANA_DEAL).len(), 1);
}
