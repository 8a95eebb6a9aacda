//! After the call, the salesperson's report through to the RD Station
//! stand-in: in time, it goes into the call's one note and its follow-up
//! becomes a `call` task on the deal; late, it becomes a second note that
//! names the call; and what the API refuses.

use std::time::Duration;

use disca_backend::configuration::CrmSettings;
use disca_backend::domain::{CrmState, Outcome};
use disca_testkit::crm::{AURORA, BRUNO, MARIANA_PHONE, record_call};
use rdstation_standin::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::crm_delivery::{Api, Harness, eventually, notes_of, quick_crm, settled, start};

/// Notes wait a long while for the report.
fn waiting_crm(crm: &mut CrmSettings) {
    quick_crm(crm);
    crm.report_wait = Duration::from_secs(120);
}

impl Harness {
    async fn report(&self, who: &str, call_id: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .put(format!("{}/v1/calls/{call_id}/report", self.base))
            .bearer_auth(&self.tokens[who])
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }
}

/// Tomorrow at 14:30 in São Paulo (UTC−3), to the minute.
fn tomorrow_afternoon() -> OffsetDateTime {
    let local = OffsetDateTime::now_utc().to_offset(time::macros::offset!(-3));
    (local + time::Duration::days(1))
        .replace_time(time::macros::time!(14:30))
        .to_offset(time::UtcOffset::UTC)
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn a_report_in_time_goes_into_the_one_note_and_its_follow_up_becomes_a_call_task() {
    let h = start(Api::V1, Config::default(), waiting_crm).await;
    let r = h
        .http
        .get(format!("{}/v1/dispositions", h.base))
        .bearer_auth(&h.tokens["Bruno"])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let list: Value = r.json().await.unwrap();
    let labels: Vec<&str> = list["dispositions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["Interessado", "Retornar", "Sem interesse", "Número errado"]
    );

    let call = h
        .end("Bruno", MARIANA_PHONE, Some(AURORA), Outcome::Answered)
        .await;
    // The note waits for the report.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = h.store.call(&call.id).await.unwrap().crm.unwrap();
    assert_eq!(waiting.state, CrmState::Pending);
    assert!(notes_of(&h.standin, &call.id).is_empty());

    let follow_up = tomorrow_afternoon();
    let (status, saved) = h
        .report(
            "Bruno",
            &call.id,
            json!({
                "disposition": "retornar",
                "note": "Pediu a proposta revisada.\nDecide com o sócio.",
                "follow_up_at": rfc3339(follow_up),
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["note"], "in_the_note");
    assert_eq!(saved["task"], "queued");

    let crm = settled(&h.store, &call.id).await;
    assert_eq!(crm.state, CrmState::Delivered, "{crm:?}");
    let notes = notes_of(&h.standin, &call.id);
    assert_eq!(notes.len(), 1, "one note: {notes:#?}");
    let lines: Vec<&str> = notes[0].text.lines().collect();
    assert_eq!(lines[0], "Ligação pelo Disca: atendida");
    assert_eq!(lines[1], "Resultado da conversa: Retornar");
    assert_eq!(lines[2], "Anotação do vendedor: Pediu a proposta revisada.");
    assert_eq!(lines[3], "Decide com o sócio.");
    assert!(
        lines[4].starts_with("Retorno agendado: ") && lines[4].contains(" 14:30 "),
        "{lines:?}"
    );

    let tasks = eventually("the follow-up task", async || {
        let tasks = h.standin.tasks(AURORA);
        (!tasks.is_empty()).then_some(tasks)
    })
    .await;
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    let task = &tasks[0];
    assert_eq!(task.kind, "call");
    assert_eq!(task.deal_id, AURORA);
    assert_eq!(task.due_at, follow_up);
    assert_eq!(task.owner_ids, [BRUNO]);
    assert_eq!(task.subject, "Retornar ligação: Mariana Costa");
    assert!(task.notes.contains("Decide com o sócio."), "{}", task.notes);
    assert_eq!(task.via, rdstation_standin::Api::V1);

    // Sent again, the follow-up cannot move: the task exists.
    let (status, again) = h
        .report(
            "Bruno",
            &call.id,
            json!({ "disposition": "retornar", "follow_up_at": rfc3339(follow_up + time::Duration::days(1)) }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["task"], "already_created");
    assert_eq!(again["note"], "complement");
}

#[tokio::test]
async fn a_report_after_the_note_is_a_second_note_naming_the_call() {
    let h = start(Api::V2, Config::default(), quick_crm).await;
    let call = h
        .end("Bruno", MARIANA_PHONE, Some(AURORA), Outcome::NoAnswer)
        .await;
    assert_eq!(settled(&h.store, &call.id).await.state, CrmState::Delivered);
    let (status, saved) = h
        .report(
            "Bruno",
            &call.id,
            json!({ "disposition": "sem_interesse", "note": "Já fechou com outro fornecedor." }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        (saved["note"].as_str(), saved["task"].as_str()),
        (Some("complement"), Some("none"))
    );
    // The same report again (a retried request) queues nothing more.
    let (status, again) = h
        .report(
            "Bruno",
            &call.id,
            json!({ "disposition": "sem_interesse", "note": "Já fechou com outro fornecedor." }),
        )
        .await;
    assert_eq!((status, &again), (StatusCode::OK, &saved));
    let notes = eventually("the complement", async || {
        let notes = notes_of(&h.standin, &call.id);
        (notes.len() >= 2).then_some(notes)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(notes_of(&h.standin, &call.id).len(), 2, "exactly two notes");
    let second = &notes[1].text;
    assert!(
        second.starts_with("Complemento da ligação pelo Disca de "),
        "{second}"
    );
    assert!(
        second.contains("Resultado da conversa: Sem interesse\n"),
        "{second}"
    );
    assert!(second.contains("Anotação do vendedor: Já fechou com outro fornecedor.\n"));
    assert!(
        second.contains(&format!("Complementa a nota da ligação {}", call.id)),
        "{second}"
    );
    assert!(h.standin.tasks(AURORA).is_empty());
}

#[tokio::test]
async fn a_report_is_the_salesperson_s_own_on_an_ended_call_and_checked() {
    let h = start(Api::V1, Config::default(), waiting_crm).await;
    let live = record_call(&h.store, &h.users["Ana"], MARIANA_PHONE, Some(AURORA)).await;
    let body = json!({ "disposition": "interessado" });
    let (status, answer) = h.report("Ana", &live.id, body.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "call_still_live");

    let call = h
        .end("Bruno", MARIANA_PHONE, Some(AURORA), Outcome::Answered)
        .await;
    let (status, answer) = h.report("Ana", &call.id, body.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another's call: {answer}");
    let (status, _) = h.report("Bruno", "no-such-call", body.clone()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for (bad, why) in [
        (json!({ "disposition": "promovido" }), "não está na lista"),
        (json!({ "note": "x".repeat(2001) }), "2.000"),
        (
            json!({ "follow_up_at": rfc3339(OffsetDateTime::now_utc() - time::Duration::hours(2)) }),
            "no futuro",
        ),
        (json!({ "note": "  " }), "Escolha um resultado"),
    ] {
        let (status, answer) = h.report("Bruno", &call.id, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_report");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(why),
            "{answer}"
        );
    }
    let (status, answer) = h
        .report(
            "Bruno",
            &call.id,
            json!({ "note": "ok", "deal_id": AURORA }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let r = h
        .http
        .put(format!("{}/v1/calls/{}/report", h.base, call.id))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Nothing refused reached the CRM: the note still waits, reportless.
    assert_eq!(
        h.store.call(&call.id).await.unwrap().crm.unwrap().state,
        CrmState::Pending
    );
    assert!(h.store.report(&call.id).await.unwrap().is_none());
}

/// What salespeople said shows on the manager page: on each call's row,
/// in the CSV, and counted in the dashboard.
#[tokio::test]
async fn the_manager_sees_what_the_salespeople_reported() {
    let h = start(Api::V1, Config::default(), quick_crm).await;
    let first = h
        .end("Bruno", MARIANA_PHONE, Some(AURORA), Outcome::Answered)
        .await;
    let second = h
        .end("Ana", MARIANA_PHONE, Some(AURORA), Outcome::Answered)
        .await;
    let third = h
        .end("Ana", MARIANA_PHONE, Some(AURORA), Outcome::NoAnswer)
        .await;
    for (who, call, body) in [
        (
            "Bruno",
            &first,
            json!({ "disposition": "interessado", "note": "Quer 50 licenças." }),
        ),
        ("Ana", &second, json!({ "disposition": "interessado" })),
        (
            "Ana",
            &third,
            json!({ "disposition": "retornar", "follow_up_at": rfc3339(tomorrow_afternoon()) }),
        ),
    ] {
        let (status, body) = h.report(who, &call.id, body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let login = h
        .http
        .post(format!("{}/manager/login", h.base))
        .header("x-disca-manager", "1")
        .json(&json!({ "token": h.tokens["Gerente"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let get = |path: &str| {
        h.http
            .get(format!("{}{path}", h.base))
            .header("cookie", cookie.clone())
            .send()
    };
    let rows: Value = get("/manager/api/calls")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let row = |id: &str| {
        rows["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        row(&first.id)["report"],
        json!({ "outcome": "Interessado", "note": "Quer 50 licenças.", "follow_up": null })
    );
    assert!(
        row(&third.id)["report"]["follow_up"]
            .as_str()
            .unwrap()
            .ends_with(" 14:30"),
    );

    let dashboard: Value = get("/manager/api/dashboard")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        dashboard["reported"],
        json!([{ "label": "Interessado", "calls": 2 }, { "label": "Retornar", "calls": 1 }])
    );
    let ana = &h.users["Ana"].id;
    let hers: Value = get(&format!("/manager/api/dashboard?user={ana}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        hers["reported"],
        json!([{ "label": "Interessado", "calls": 1 }, { "label": "Retornar", "calls": 1 }])
    );

    let csv = get("/manager/calls.csv")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(
            ";Resultado da conversa;Anotação do vendedor;Retorno agendado;ID da ligação"
        ),
        "{header}"
    );
    let line = csv.lines().find(|l| l.ends_with(&first.id)).unwrap();
    assert!(
        line.ends_with(&format!(";Interessado;Quer 50 licenças.;;{}", first.id)),
        "{line}"
    );
    let summary = get("/manager/dashboard.csv")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        summary.contains(
            "Resultado da conversa (informado pelo vendedor);Ligações\nInteressado;2\nRetornar;1"
        ),
        "{summary}"
    );
}

/// After a no-answer, the deal's other phones, read from RD Station: the
/// call's own number left out; another salesperson's call is refused.
#[tokio::test]
async fn the_deal_s_other_phones_are_offered_after_a_no_answer() {
    const HORIZONTE: &str = "5f1e7a9b2c3d4e5f6a7b8c9d";
    let h = start(Api::V1, Config::default(), quick_crm).await;
    let call = h
        .end(
            "Bruno",
            "+5511987654321",
            Some(HORIZONTE),
            Outcome::NoAnswer,
        )
        .await;
    let other_phones = |who: &'static str, id: String| {
        let request = h
            .http
            .get(format!("{}/v1/calls/{id}/other-phones", h.base))
            .bearer_auth(&h.tokens[who]);
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = other_phones("Bruno", call.id.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({
            "deal_id": HORIZONTE,
            "phones": [{ "number": "+5521998765432", "display": "(21) 99876-5432", "contact": "João Pereira" }],
        })
    );
    // Another salesperson's call: refused, as `GET /v1/calls/{id}` refuses it.
    let (status, _) = other_phones("Ana", call.id.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A call without a deal has none to offer.
    let lone = h.end("Bruno", MARIANA_PHONE, None, Outcome::NoAnswer).await;
    let (status, body) = other_phones("Bruno", lone.id.clone()).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "phones": [] })));
}
