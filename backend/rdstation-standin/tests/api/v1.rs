//! API v1: instance tokens, deals, contacts by phone, notes ("activities"),
//! and each documented error body.

use rdstation_standin::Api;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;

#[tokio::test]
async fn the_token_tells_who_it_is_and_lists_the_companys_users() {
    let h = start().await;
    assert_eq!(h.standin.base_url(), format!("http://{}", h.standin.addr()));
    let seeded = &h.standin.seed().tenants[0];
    assert_eq!(seeded.users[0].token, ANA_TOKEN);
    let me = json_of(
        h.http
            .get(h.v1("/token/check", ANA_TOKEN))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        me,
        json!({
            "email": "ana.souza@paulista.example.com.br",
            "name": "Ana Souza",
            "organization": "Paulista Soluções Comerciais Ltda",
        })
    );

    let users = json_of(
        h.http
            .get(h.v1("/users", BRUNO_TOKEN))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let users = users["users"].as_array().unwrap();
    assert_eq!(users.len(), 3, "only Paulista's users");
    let carla = users.iter().find(|u| u["id"] == CARLA_ID).unwrap();
    assert_eq!(carla["_id"], CARLA_ID);
    assert_eq!(
        (carla["active"].clone(), carla["hidden"].clone()),
        (json!(false), json!(true))
    );
    for key in [
        "_id",
        "id",
        "name",
        "email",
        "active",
        "hidden",
        "last_login",
    ] {
        assert!(users[0].get(key).is_some(), "users[] has {key}");
    }
}

#[tokio::test]
async fn deals_carry_their_contacts_phones_and_are_paged() {
    let h = start().await;
    let deal = json_of(
        h.http
            .get(h.v1(&format!("/deals/{ANA_DEAL}"), ANA_TOKEN))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(deal["id"], ANA_DEAL);
    assert_eq!(deal["win"], Value::Null, "open");
    assert_eq!(deal["user"]["id"], ANA_ID);
    assert_eq!(deal["deal_stage"]["name"], "Proposta enviada");
    assert_eq!(
        deal["contacts"][0]["phones"],
        json!([{"phone": "+5511971730783", "type": "work"}])
    );

    let page = |n: u32| {
        h.http
            .get(h.v1(&format!("/deals?page={n}&limit=4"), ANA_TOKEN))
            .send()
    };
    let first = json_of(page(1).await.unwrap(), StatusCode::OK).await;
    assert_eq!(first["deals"].as_array().unwrap().len(), 4);
    assert_eq!(
        (first["has_more"].clone(), first["next_page"].clone()),
        (json!(true), json!(2))
    );
    assert_eq!(first["total"], 7);
    let second = json_of(page(2).await.unwrap(), StatusCode::OK).await;
    assert_eq!(second["deals"].as_array().unwrap().len(), 3);
    assert_eq!(
        (second["has_more"].clone(), second["next_page"].clone()),
        (json!(false), Value::Null)
    );
    let won_and_lost: Vec<Value> = first["deals"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["deals"].as_array().unwrap())
        .map(|d| d["win"].clone())
        .filter(|w| !w.is_null())
        .collect();
    assert_eq!(won_and_lost, [json!(true), json!(false)]);
}

#[tokio::test]
async fn contacts_are_found_by_phone_digits_email_and_name() {
    let h = start().await;
    let search = |query: &str| {
        let url = h.v1(&format!("/contacts?{query}"), ANA_TOKEN);
        let http = h.http.clone();
        async move {
            let body = json_of(http.get(url).send().await.unwrap(), StatusCode::OK).await;
            body["contacts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    for written in [
        "%2B5511971730783",
        "%2B55%2011%2097173-0783",
        "(11)%2097173-0783",
        "5511971730783",
    ] {
        assert_eq!(
            search(&format!("phone={written}")).await,
            ["Mariana Costa"],
            "{written}"
        );
    }
    // Stored as "(11) 3456-7890", searched in international form.
    assert_eq!(
        search("phone=%2B55%2011%203456-7890").await,
        ["Juliana Pereira"]
    );
    assert!(search("phone=%2B5521971730783").await.is_empty());
    assert_eq!(
        search("email=RAFAEL.LIMA@mercadoboavista.example.com.br").await,
        ["Rafael Lima"]
    );
    assert_eq!(search("q=beatriz").await, ["Beatriz Fernandes"]);
    assert!(
        search("q=Luana").await.is_empty(),
        "another company's contact"
    );

    let body = json_of(
        h.http
            .get(h.v1("/contacts?phone=%2B5511971730783", ANA_TOKEN))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let deals: Vec<&str> = body["contacts"][0]["deals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(deals, [ANA_DEAL, "64b7f0c2a1e4d30000000d06"]);
}

#[tokio::test]
async fn a_note_is_created_listed_and_stored() {
    let h = start().await;
    let created = json_of(
        h.v1_note(ANA_DEAL, "Ligação atendida, 3 min 12 s.").await,
        StatusCode::OK,
    )
    .await;
    let mut keys: Vec<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "_id",
            "contact_id",
            "created_at",
            "date",
            "deal_id",
            "deal_stage_id",
            "description",
            "preview",
            "responsible_description",
            "text",
            "type",
            "updated_at",
            "user_id"
        ]
    );
    let id = created["_id"].as_str().unwrap().to_owned();
    assert!(
        id.len() == 24
            && id
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(created["deal_id"], ANA_DEAL);
    assert_eq!(created["user_id"], ANA_ID);
    assert_eq!(created["contact_id"], MARIANA);
    assert_eq!(created["deal_stage_id"], "64b7f0c2a1e4d30000005105");
    assert_eq!(created["responsible_description"], "Ana Souza");
    assert_eq!(created["text"], "Ligação atendida, 3 min 12 s.");
    assert!(created["date"].as_str().unwrap().ends_with("-03:00"));

    // Bruno writes a note on his own deal.
    let by_bruno = h
        .http
        .post(h.v1("/activities", BRUNO_TOKEN))
        .json(&json!({"activity": {"deal_id": BRUNO_DEAL, "user_id": BRUNO_ID, "text": "Sem resposta"}}))
        .send()
        .await
        .unwrap();
    json_of(by_bruno, StatusCode::OK).await;
    json_of(h.v1_note(ANA_DEAL, "Retornar amanhã").await, StatusCode::OK).await;

    let list = |query: &str| {
        let url = h.v1(&format!("/activities?{query}"), ANA_TOKEN);
        let http = h.http.clone();
        async move {
            json_of(http.get(url).send().await.unwrap(), StatusCode::OK).await["activities"].clone()
        }
    };
    let on_deal = list(&format!("deal_id={ANA_DEAL}")).await;
    assert_eq!(on_deal.as_array().unwrap().len(), 2);
    assert_eq!(on_deal[0]["id"], id.as_str());
    assert_eq!(on_deal[0]["_id"], id.as_str());
    let mut keys: Vec<&str> = on_deal[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["_id", "date", "deal_id", "id", "text", "user_id"]);
    assert_eq!(on_deal[1]["text"], "Retornar amanhã");

    assert_eq!(
        list(&format!("user_id={BRUNO_ID}"))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(list("limit=1&page=3").await.as_array().unwrap().len(), 1);
    assert!(list("limit=1&page=4").await.as_array().unwrap().is_empty());
    assert!(
        list("end_date=2001-01-01")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        list("start_date=2001-01-01")
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // Bruno sees only his own deal's note.
    let bruno_sees = json_of(
        h.http
            .get(h.v1("/activities", BRUNO_TOKEN))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(bruno_sees["activities"].as_array().unwrap().len(), 1);

    let stored = h.standin.notes(ANA_DEAL);
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].id, id);
    assert_eq!(stored[0].user_id, ANA_ID);
    assert_eq!(stored[0].created_by, ANA_ID);
    assert_eq!(stored[0].contact_id.as_deref(), Some(MARIANA));
    assert_eq!(stored[0].via, Api::V1);
    assert_eq!(stored[1].text, "Retornar amanhã");
    assert_eq!(h.standin.all_notes().len(), 3);
}

#[tokio::test]
async fn v1_errors_have_the_documented_bodies() {
    let h = start().await;
    let get = |url: String| h.http.get(url).send();

    // 401: no token, an unknown one, a deactivated user's.
    let denied = json!({"error": "Permission denied."});
    let no_token = format!("{}/users", h.standin.v1_base());
    assert_eq!(
        json_of(get(no_token).await.unwrap(), StatusCode::UNAUTHORIZED).await,
        denied
    );
    assert_eq!(
        json_of(
            get(h.v1("/users", "wrong-token")).await.unwrap(),
            StatusCode::UNAUTHORIZED
        )
        .await,
        denied
    );
    assert_eq!(
        json_of(
            get(h.v1("/users", CARLA_TOKEN)).await.unwrap(),
            StatusCode::UNAUTHORIZED
        )
        .await,
        denied
    );

    // 403: a plan without API access.
    assert_eq!(
        json_of(
            get(h.v1("/token/check", FERNANDA_TOKEN)).await.unwrap(),
            StatusCode::FORBIDDEN
        )
        .await,
        json!({"error": "forbidden"})
    );

    // 404: unknown, another company's, hidden by visibility; unknown route.
    for (url, who) in [
        (
            h.v1("/deals/ffffffffffffffffffffffff", ANA_TOKEN),
            "unknown",
        ),
        (
            h.v1(&format!("/deals/{ANA_DEAL}"), EDUARDO_TOKEN),
            "another company",
        ),
        (
            h.v1(&format!("/deals/{ANA_DEAL}"), BRUNO_TOKEN),
            "visibility",
        ),
        (h.v1("/deals/not-an-id", ANA_TOKEN), "malformed"),
    ] {
        let body = json_of(get(url).await.unwrap(), StatusCode::NOT_FOUND).await;
        assert_eq!(body["errors"]["error_type"], "RESOURCE_NOT_FOUND", "{who}");
        assert!(body["errors"]["error_message"].is_string(), "{who}");
    }
    let body = json_of(
        get(h.v1("/pipelines/nope", ANA_TOKEN)).await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(body["errors"]["error_type"], "RESOURCE_NOT_FOUND");
    let hidden = h
        .http
        .post(h.v1("/activities", BRUNO_TOKEN))
        .json(&json!({"activity": {"deal_id": ANA_DEAL, "user_id": BRUNO_ID, "text": "x"}}))
        .send()
        .await
        .unwrap();
    json_of(hidden, StatusCode::NOT_FOUND).await;

    // 422: each missing or wrong field, as an array of messages.
    let post = |body: Value| {
        h.http
            .post(h.v1("/activities", ANA_TOKEN))
            .json(&body)
            .send()
    };
    let body = json_of(
        post(json!({"activity": {}})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let errors = body["errors"].as_object().unwrap();
    for field in ["deal_id", "user_id", "text"] {
        assert!(
            errors[field]
                .as_array()
                .is_some_and(|m| m.len() == 1 && m[0].is_string()),
            "{body}"
        );
    }
    let body = json_of(
        post(json!({"deal_id": ANA_DEAL})).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body["errors"]["activity"].is_array());
    let body = json_of(
        post(json!({"activity": {"deal_id": ANA_DEAL, "user_id": EDUARDO_ID, "text": "  "}}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        body["errors"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["text", "user_id"]
    );
    let body = json_of(
        get(h.v1("/deals?limit=201", ANA_TOKEN)).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body["errors"]["limit"].is_array());
    let body = json_of(
        get(h.v1("/activities?start_date=31/12/2024", ANA_TOKEN))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(body["errors"]["start_date"].is_array());

    // 400: a body that is not JSON at all.
    let malformed = h
        .http
        .post(h.v1("/activities", ANA_TOKEN))
        .header("content-type", "application/json")
        .body("{\"activity\": {")
        .send()
        .await
        .unwrap();
    let body = json_of(malformed, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["errors"]["error_type"], "BAD_REQUEST");

    assert!(h.standin.all_notes().is_empty(), "no error stored anything");
}
