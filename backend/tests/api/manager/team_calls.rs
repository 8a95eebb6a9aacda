//! A manager's team's calls as rows: only their tenant's, in Portuguese,
//! filtered and paged.

use super::*;

#[tokio::test]
async fn managers_see_only_their_own_tenant() {
    let app = spawn_app().await;
    std::fs::write(app.recordings.join("globex-1.wav"), b"RIFF....WAVE").unwrap();
    let ours = app
        .ended_call("acme-ana", End::answered("(11) 98765-4321"))
        .await;
    let theirs = app
        .ended_call(
            "globex-agent",
            End {
                recording: Some("globex-1.wav"),
                ..End::answered("(21) 98765-4321")
            },
        )
        .await;
    app.settle(
        &theirs,
        Some(DeliveryUpdate::Failed {
            error: DEAL_404.into(),
        }),
    )
    .await;
    let acme = app.session("acme-manager").await;
    let globex = app.session("globex-manager").await;

    assert_eq!(app.listed(&acme, "").await, [ours.id.as_str()]);
    assert_eq!(app.listed(&globex, "").await, [theirs.id.as_str()]);
    let globex_user = app.user("globex-agent").await;
    assert!(
        app.listed(&acme, &format!("user={}", globex_user.id))
            .await
            .is_empty()
    );
    // Another tenant's call is not found, whatever the way in.
    for path in [
        format!("/manager/api/calls/{}", theirs.id),
        format!("/manager/calls/{}/recording", theirs.id),
    ] {
        let (status, body) = app.get_json(&acme, &path).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let (status, _) = app.retry_from_page(&acme, &theirs.id, true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .retry_with_token(app.token("acme-manager"), &theirs.id)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "like an unknown id");
    assert_eq!(
        app.store.call(&theirs.id).await.unwrap().crm.unwrap().state,
        CrmState::Failed,
        "nobody of acme queued globex's note"
    );
    let csv = app
        .get(&acme, "/manager/calls.csv")
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains(&ours.id) && !csv.contains(&theirs.id), "{csv}");
    // The page's recording of their call works for them.
    assert_eq!(
        app.get(&globex, &format!("/manager/calls/{}/recording", theirs.id))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn rows_read_in_portuguese_with_filters_and_pages() {
    let app = spawn_app().await;
    let busy = app
        .ended_call(
            "acme-bruno",
            End {
                outcome: Outcome::Busy,
                ..End::answered("(21) 3456-7890")
            },
        )
        .await;
    let failed = app
        .ended_call(
            "acme-ana",
            End {
                contact: Some("Mariana Costa"),
                deal: Some("64b7f0c2a1e4d30000000dff"),
                ..End::answered("(11) 97173-0783")
            },
        )
        .await;
    let open = app
        .ended_call("acme-ana", End::answered("(11) 98765-4321"))
        .await;
    app.settle(&busy, None).await;
    app.settle(
        &failed,
        Some(DeliveryUpdate::Failed {
            error: DEAL_404.into(),
        }),
    )
    .await;
    app.settle(&open, None).await;
    let cookie = app.session("acme-manager").await;

    let (_, page) = app.get_json(&cookie, "/manager/api/calls").await;
    assert_eq!(
        ids(&page["calls"]),
        [open.id.as_str(), failed.id.as_str(), busy.id.as_str()]
    );
    let row = &page["calls"][1];
    assert_eq!(row["salesperson"], "Ana Souza");
    assert_eq!(row["number"], "(11) 97173-0783");
    assert_eq!(row["contact"], "Mariana Costa");
    assert_eq!(
        row["deal_url"],
        "https://crm.rdstation.com/app/deals/64b7f0c2a1e4d30000000dff"
    );
    assert_eq!(row["outcome_label"], "Atendida");
    assert_eq!(
        (row["ring"].as_str(), row["talk"].as_str()),
        (Some("4 s"), Some("3:05"))
    );
    assert_eq!(row["crm"]["state"], "failed");
    assert_eq!(row["crm"]["label"], "Falhou");
    assert_eq!(row["crm"]["error"], DEAL_404);
    assert_eq!(row["crm"]["retryable"], true);
    assert!(row["when"].as_str().unwrap().contains('/'), "{row}");
    assert_eq!(page["calls"][2]["outcome_label"], "Ocupado");
    assert_eq!(page["calls"][2]["crm"]["label"], "CRM não configurado");

    // Filters.
    assert_eq!(
        app.listed(&cookie, "crm=failed").await,
        [failed.id.as_str()]
    );
    assert_eq!(
        app.listed(&cookie, "outcome=busy").await,
        [busy.id.as_str()]
    );
    let bruno = app.user("acme-bruno").await;
    assert_eq!(
        app.listed(&cookie, &format!("user={}", bruno.id)).await,
        [busy.id.as_str()]
    );
    assert_eq!(
        app.listed(&cookie, "user=&from=&to=&outcome=&crm=")
            .await
            .len(),
        3,
        "empty filters mean any"
    );
    let today =
        time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(-3, 0, 0).unwrap());
    let day = |d: time::OffsetDateTime| {
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    };
    let (today, tomorrow) = (day(today), day(today + time::Duration::days(1)));
    assert_eq!(
        app.listed(&cookie, &format!("from={today}&to={today}"))
            .await
            .len(),
        3
    );
    assert!(
        app.listed(&cookie, &format!("from={tomorrow}"))
            .await
            .is_empty()
    );
    // Pages of two.
    let (_, first) = app.get_json(&cookie, "/manager/api/calls?limit=2").await;
    assert_eq!(ids(&first["calls"]), [open.id.as_str(), failed.id.as_str()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get_json(
            &cookie,
            &format!("/manager/api/calls?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(ids(&second["calls"]), [busy.id.as_str()]);
    assert!(second.get("next_cursor").is_none());
    // Bad filters are named in Portuguese.
    for query in [
        "outcome=exploded",
        "crm=sent",
        "from=21/11/2026",
        "limit=0",
        "cursor=x",
    ] {
        let (status, body) = app
            .get_json(&cookie, &format!("/manager/api/calls?{query}"))
            .await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::BAD_REQUEST, "malformed_request"),
            "{query}"
        );
    }
    // The same filter on the API, for managers' scripts.
    let r = app
        .http
        .get(app.url("/v1/calls?crm=failed"))
        .bearer_auth(app.token("acme-manager"))
        .send()
        .await
        .unwrap();
    let listed: Value = r.json().await.unwrap();
    assert_eq!(ids(&listed["calls"]), [failed.id.as_str()]);
    assert_eq!(listed["calls"][0]["crm"]["error"], DEAL_404);
}
