//! Queuing a stopped CRM note again, from the page and with a bearer token.

use super::*;

#[tokio::test]
async fn a_stopped_note_is_queued_again_from_the_page_or_the_api() {
    let app = spawn_app().await;
    let failed = app
        .ended_call("acme-ana", End::answered("(11) 98765-4321"))
        .await;
    app.settle(
        &failed,
        Some(DeliveryUpdate::Failed {
            error: DEAL_404.into(),
        }),
    )
    .await;
    let cookie = app.session("acme-manager").await;

    // Without the page's header (a form of another site), nothing happens.
    let (status, body) = app.retry_from_page(&cookie, &failed.id, false).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "cross_site_request")
    );
    assert_eq!(
        app.store.call(&failed.id).await.unwrap().crm.unwrap().state,
        CrmState::Failed
    );
    let (status, row) = app.retry_from_page(&cookie, &failed.id, true).await;
    assert_eq!(status, StatusCode::OK, "{row}");
    assert_eq!(row["id"], failed.id.as_str());
    assert!(
        ["pending", "not_configured"].contains(&row["crm"]["state"].as_str().unwrap()),
        "{row}"
    );
    // The worker tried it again: no CRM is connected here.
    let again = app.wait_crm(&failed.id, CrmState::NotConfigured).await;
    assert_eq!(again.crm.unwrap().error, None);

    // With a bearer token: managers only.
    let (status, body) = app
        .retry_with_token(app.token("acme-ana"), &failed.id)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::FORBIDDEN, "managers_only")
    );
    let (status, call) = app
        .retry_with_token(app.token("acme-manager"), &failed.id)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{call}");
    assert_eq!(call["id"], failed.id.as_str());
    app.wait_crm(&failed.id, CrmState::NotConfigured).await;

    // A delivered note, and a live call, have nothing to queue.
    app.store
        .update_delivery(
            &failed.id,
            DeliveryUpdate::Delivered {
                note_id: "n1".into(),
            },
        )
        .await
        .unwrap();
    let (status, body) = app
        .retry_with_token(app.token("acme-manager"), &failed.id)
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "crm_not_stopped")
    );
    let (status, body) = app.retry_from_page(&cookie, &failed.id, true).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "crm_not_stopped")
    );
    let bruno = app.user("acme-bruno").await;
    let live = new_call(
        &app.store,
        &bruno,
        "(11) 98765-4321",
        &CallContext::default(),
    )
    .await;
    let (status, _) = app
        .retry_with_token(app.token("acme-manager"), &live.id)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, row) = app
        .get_json(&cookie, &format!("/manager/api/calls/{}", live.id))
        .await;
    assert_eq!(row["crm"]["label"], "Aguardando o fim da ligação");
    assert_eq!(row["outcome_label"], "Na fila");
    for path in [
        "/manager/api/calls/not-a-uuid/crm/retry",
        "/v1/calls/not-a-uuid/crm/retry",
    ] {
        let r = app
            .http
            .post(app.url(path))
            .header(COOKIE, &cookie)
            .header(CSRF.0, CSRF.1)
            .bearer_auth(app.token("acme-manager"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }

    // Documented.
    let doc: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/v1/calls/{id}/crm/retry"]["post"].is_object());
    let params = doc["paths"]["/v1/calls"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(params.iter().any(|p| p["name"] == "crm"), "{params:?}");
}
