//! The dashboard over HTTP: its figures for the team or one salesperson,
//! only of the manager's tenant, its period rules, and its charts as SVG
//! images. Aggregation on known data (São Paulo days, past summer time) is
//! tested next to the SQL, in `storage::dashboard`.

use super::*;

#[tokio::test]
async fn the_dashboard_counts_only_the_managers_team() {
    let app = spawn_app().await;
    app.ended_call("acme-ana", End::answered("(11) 98765-4321"))
        .await;
    app.ended_call(
        "acme-ana",
        End {
            outcome: Outcome::NoAnswer,
            ..End::answered("(11) 98765-4322")
        },
    )
    .await;
    app.ended_call(
        "acme-bruno",
        End {
            outcome: Outcome::Busy,
            ..End::answered("(11) 98765-4323")
        },
    )
    .await;
    app.ended_call("globex-agent", End::answered("(21) 98765-4321"))
        .await;
    let acme = app.session("acme-manager").await;
    let globex = app.session("globex-manager").await;

    let (status, d) = app.get_json(&acme, "/manager/api/dashboard").await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["totals"]["calls"], 3);
    assert_eq!(d["totals"]["answered"], 1);
    assert_eq!(d["totals"]["talk_seconds"], 185);
    assert_eq!(d["totals"]["average_talk_seconds"], 185);
    let ranking: Vec<(&str, u64)> = d["ranking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["calls"].as_u64().unwrap()))
        .collect();
    assert_eq!(ranking.len(), 2);
    assert_eq!(ranking[0].1, 2, "{ranking:?}");
    assert_eq!(
        d["days"].as_array().unwrap().len(),
        7,
        "the last seven days"
    );
    let today = &d["days"][6];
    assert_eq!(today["calls"], 3);
    assert_eq!(d["hours"].as_array().unwrap().len(), 7);
    assert_eq!(d["hours"][0]["hours"].as_array().unwrap().len(), 24);
    let in_grid: u64 = d["hours"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| w["hours"].as_array().unwrap().iter())
        .map(|c| c["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(in_grid, 3);

    // One salesperson; another tenant's is nobody here.
    let bruno = app.user("acme-bruno").await;
    let (_, d) = app
        .get_json(&acme, &format!("/manager/api/dashboard?user={}", bruno.id))
        .await;
    assert_eq!(d["totals"]["calls"], 1);
    let theirs = app.user("globex-agent").await;
    let (_, d) = app
        .get_json(&acme, &format!("/manager/api/dashboard?user={}", theirs.id))
        .await;
    assert_eq!(d["totals"]["calls"], 0);
    let (_, d) = app.get_json(&globex, "/manager/api/dashboard").await;
    assert_eq!(d["totals"]["calls"], 1);

    // The charts: images drawn from the same figures.
    for chart in ["ranking", "days", "hours"] {
        let r = app
            .get(&acme, &format!("/manager/api/dashboard/{chart}.svg"))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], "image/svg+xml; charset=utf-8");
        let svg = r.text().await.unwrap();
        assert!(
            svg.starts_with("<svg ") && !svg.contains("<script"),
            "{svg}"
        );
    }
    let r = app.get(&acme, "/manager/api/dashboard/other.svg").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The tables, for a spreadsheet.
    let r = app.get(&acme, "/manager/dashboard.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'));
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines.contains(&"Vendedor;Ligações;Atendidas;Taxa de atendimento (%);Conversa (s)"));
    assert!(
        lines.iter().any(|l| l.ends_with(";2;1;50.0;185")),
        "Ana's row: {csv}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("dom;")).count(),
        24,
        "every hour of Sunday"
    );
}

#[tokio::test]
async fn the_dashboard_needs_a_manager_and_a_sensible_period() {
    let app = spawn_app().await;
    let r = app
        .http
        .get(app.url("/manager/api/dashboard"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let acme = app.session("acme-manager").await;
    for query in [
        "from=2025-01-01&to=2026-06-01",
        "from=2026-12-01&to=2026-11-01",
        "from=ontem",
    ] {
        let (status, body) = app
            .get_json(&acme, &format!("/manager/api/dashboard?{query}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
    // 366 days at most (2024 was a leap year).
    let (status, _) = app
        .get_json(
            &acme,
            "/manager/api/dashboard?from=2024-01-01&to=2024-12-31",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .get_json(
            &acme,
            "/manager/api/dashboard?from=2024-01-01&to=2025-01-01",
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, d) = app
        .get_json(
            &acme,
            "/manager/api/dashboard?from=2018-11-01&to=2018-11-30",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["days"].as_array().unwrap().len(), 30);
    assert_eq!(d["days"][0]["label"], "01/11");
}
