//! The live board over HTTP (`/manager/api/live`, Server-Sent Events on the
//! manager's session): it starts with the tenant's calls in progress, then
//! follows their changes and ends; another tenant's calls never show; it
//! needs a manager's session, and logging out closes it. The board in
//! Chromium with a real call through Asterisk is in
//! `tests/tests/live_board.rs`.

use futures::StreamExt;

use super::*;

/// The board's messages as they arrive.
struct Board {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl Board {
    async fn open(app: &ManagerApp, cookie: &str) -> Board {
        // No overall timeout: the stream is meant to stay open.
        let response = reqwest::Client::new()
            .get(app.url("/manager/api/live"))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
        Board {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next message, or `None` when the stream ended.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .collect();
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some(serde_json::from_str(&data.join("\n")).unwrap());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.body.next())
                .await
                .expect("the board said nothing for 10 s")?
                .ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn save(app: &ManagerApp, call: &Call) {
    app.store
        .save_calls(std::slice::from_ref(call))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_board_starts_with_the_calls_in_progress_then_follows_them() {
    let app = spawn_app().await;
    let context = CallContext {
        contact_name: Some("Mariana Costa".into()),
        deal_id: Some("64b7f0c2a1e4d30000000d01".into()),
        ..CallContext::default()
    };
    let ana = app.user("acme-ana").await;
    let mut ana_call = new_call(&app.store, &ana, "(11) 98765-4321", &context).await;
    app.ended_call("acme-bruno", End::answered("(11) 98765-4322"))
        .await;
    let gustavo = app.user("globex-agent").await;
    let mut theirs = new_call(&app.store, &gustavo, "(21) 98765-4321", &context).await;

    let cookie = app.session("acme-manager").await;
    let mut board = Board::open(&app, &cookie).await;
    let first = board.next().await.unwrap();
    let rows = first["board"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "only the team's call in progress: {first}");
    assert_eq!(rows[0]["id"], ana_call.id.as_str());
    assert_eq!(rows[0]["salesperson"], "Ana Souza");
    assert_eq!(rows[0]["phase"], "Na fila");
    assert_eq!(rows[0]["number"], "(11) 98765-4321");
    assert_eq!(rows[0]["contact"], "Mariana Costa");
    assert_eq!(
        rows[0]["deal_url"],
        "https://crm.rdstation.com/app/deals/64b7f0c2a1e4d30000000d01"
    );

    // Another tenant's call moves on: nothing. Ana's is answered: a row.
    theirs.state = CallState::Connected;
    save(&app, &theirs).await;
    let now = time::OffsetDateTime::now_utc();
    ana_call.state = CallState::Connected;
    ana_call.agent_answered_at = Some(now);
    ana_call.lead_dialed_at = Some(now);
    ana_call.lead_answered_at = Some(now);
    save(&app, &ana_call).await;
    let moved = board.next().await.unwrap();
    assert_eq!(moved["row"]["id"], ana_call.id.as_str(), "{moved}");
    assert_eq!(moved["row"]["phase"], "Em conversa");
    assert_eq!(moved["row"]["talking"], true);
    assert!(moved["row"]["phase_seconds"].as_i64().unwrap() <= 1);

    // Bruno clicks: his call joins the board.
    let bruno = app.user("acme-bruno").await;
    let bruno_call = new_call(&app.store, &bruno, "(11) 98765-4323", &context).await;
    let joined = board.next().await.unwrap();
    assert_eq!(joined["row"]["id"], bruno_call.id.as_str(), "{joined}");
    assert_eq!(joined["row"]["salesperson"], "Bruno Lima");

    // Ana's call ends: it leaves.
    ana_call.state = CallState::Ended;
    ana_call.outcome = Some(Outcome::Answered);
    ana_call.ended_at = Some(time::OffsetDateTime::now_utc());
    save(&app, &ana_call).await;
    let ended = board.next().await.unwrap();
    assert_eq!(ended, json!({ "ended": ana_call.id }));

    // The other tenant's manager sees only their own call.
    let theirs_cookie = app.session("globex-manager").await;
    let mut their_board = Board::open(&app, &theirs_cookie).await;
    let first = their_board.next().await.unwrap();
    assert_eq!(ids(&first["board"]), [theirs.id.clone()]);
}

#[tokio::test]
async fn the_board_needs_a_manager_s_session_and_logging_out_closes_it() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/manager/api/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .get_json(
            &format!("disca_manager={}", "0".repeat(64)),
            "/manager/api/live",
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "session_required")
    );
    // An API token is not a session.
    let r = app
        .http
        .get(app.url("/manager/api/live"))
        .bearer_auth(app.token("acme-manager"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let cookie = app.session("acme-manager").await;
    let mut board = Board::open(&app, &cookie).await;
    assert_eq!(board.next().await.unwrap(), json!({ "board": [] }));
    let r = app
        .http
        .post(app.url("/manager/logout"))
        .header(COOKIE, &cookie)
        .header(CSRF.0, CSRF.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(board.next().await, None, "the board outlived its session");
}
