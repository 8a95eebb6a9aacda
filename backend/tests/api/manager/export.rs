//! The CSV export: what the filters select, ready for Excel, inert in a
//! spreadsheet.

use super::*;

#[tokio::test]
async fn the_csv_export_is_excel_ready_quoted_and_inert() {
    let app = spawn_app().await;
    let tricky = app
        .ended_call(
            "acme-ana",
            End {
                contact: Some("=HYPERLINK(\"http://evil.example\";\"clique\")"),
                ..End::answered("(11) 98765-4321")
            },
        )
        .await;
    let quoted = app
        .ended_call(
            "acme-bruno",
            End {
                contact: Some("Silva; \"Zé\" & filhos"),
                outcome: Outcome::NoAnswer,
                ..End::answered("(21) 3456-7890")
            },
        )
        .await;
    let at = app
        .ended_call(
            "acme-bruno",
            End {
                contact: Some("@SUM(1+1)"),
                ..End::answered("(21) 3456-7891")
            },
        )
        .await;
    app.settle(
        &tricky,
        Some(DeliveryUpdate::Failed {
            error: "-1+1 recusado".into(),
        }),
    )
    .await;
    app.settle(&quoted, None).await;
    app.settle(&at, None).await;
    let cookie = app.session("acme-manager").await;

    let r = app.get(&cookie, "/manager/calls.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
    let disposition = r.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"ligacoes-acme-"),
        "{disposition}"
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 byte order mark");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .from_reader(&bytes[3..]);
    let header: Vec<String> = reader.headers().unwrap().iter().map(Into::into).collect();
    assert_eq!(header[0], "Data e hora");
    assert_eq!(header[1], "Vendedor");
    assert_eq!(header[8], "Duração confirmada");
    assert_eq!(header[11], "Erro do CRM");
    assert_eq!(
        header[13..16],
        [
            "Resultado da conversa",
            "Anotação do vendedor",
            "Retorno agendado"
        ]
    );
    assert_eq!(header[16], "ID da ligação");
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 3);
    let by_id = |id: &str| {
        records
            .iter()
            .find(|r| r.get(16) == Some(id))
            .unwrap_or_else(|| panic!("no row for {id}"))
            .clone()
    };
    let row = by_id(&tricky.id);
    assert_eq!(
        &row[3], "'=HYPERLINK(\"http://evil.example\";\"clique\")",
        "a formula is kept as text"
    );
    assert_eq!(&row[11], "'-1+1 recusado");
    assert_eq!(&row[10], "Falhou");
    assert_eq!(&row[8], "sim", "measured durations");
    assert_eq!(
        (&row[1], &row[2], &row[5]),
        ("Ana Souza", "(11) 98765-4321", "Atendida")
    );
    assert_eq!((&row[6], &row[7]), ("4", "185"));
    assert_eq!(&by_id(&at.id)[3], "'@SUM(1+1)");
    let row = by_id(&quoted.id);
    assert_eq!(&row[3], "Silva; \"Zé\" & filhos", "quoting round-trips");
    assert_eq!((&row[5], &row[10]), ("Não atendida", "CRM não configurado"));
    // São Paulo time, sortable.
    let when = &row[0];
    assert_eq!(when.len(), "2026-11-21 09:03:12".len(), "{when}");
    // The text as Excel reads it: the quoted cell is quoted.
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(text.contains("\"Silva; \"\"Zé\"\" & filhos\""), "{text}");

    // Filters apply to the export.
    let failed_only = app
        .get(&cookie, "/manager/calls.csv?crm=failed")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(failed_only.lines().count(), 2, "{failed_only}");
    assert!(failed_only.contains(&tricky.id));
    let r = app.get(&cookie, "/manager/calls.csv?outcome=nope").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}
