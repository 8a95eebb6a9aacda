//! The manager page in real headless Chromium, against the real backend
//! (in-process, random port) connected to the RD Station stand-in: calls
//! end as the PBX tracker ends them, the delivery worker writes their notes
//! (one delivered, one refused for good by the CRM with its 404 message,
//! one with no deal), and a manager logs in through the form, reads the
//! rows in Portuguese, filters, plays a recording, downloads the CSV,
//! queues the refused note again and logs out. A call in progress shows on
//! the live board ("Agora").
//!
//! With `DISCA_UPDATE_SCREENSHOTS=1` the page's screenshots are also
//! written to `docs/screenshots/manager.png` (the list) and
//! `manager-dashboard.png` for the README.

use std::path::PathBuf;
use std::time::Duration;

use disca_backend::auth::issue_token;
use disca_backend::crm::connect::connect_v1;
use disca_backend::crm::{Secret, SecretKey};
use disca_backend::domain::{
    Call, CallContext, CallState, CrmState, CrmUserId, Outcome, Role, User,
};
use disca_backend::startup::crm_http_client;
use disca_backend::storage::{NewUser, Store};
use disca_protocol::report::CallReport;
use disca_testkit::TestApp;
use disca_testkit::accounts::give_password;
use disca_testkit::chromium::{Chromium, ChromiumOptions, Page};
use disca_testkit::crm::new_call;
use disca_testkit::screenshots::ReadmeScreenshots;
use rdstation_standin::{Config, StandIn};
use serde_json::Value;

/// The demo seed's Paulista account: Ana's v1 token sees every deal.
const CRM_TOKEN: &str = "a3f9c2e17b4d48e6a0c5d2f1";
const ANA_AT_CRM: &str = "64b7f0c2a1e4d30000000a01";
const BRUNO_AT_CRM: &str = "64b7f0c2a1e4d30000000a02";
/// Construtora Aurora's deal, and one the CRM does not have.
const AURORA_DEAL: &str = "64b7f0c2a1e4d30000000d01";
const MISSING_DEAL: &str = "64b7f0c2a1e4d30000000dff";
const PATIENCE: Duration = Duration::from_secs(20);

struct Scene {
    base: String,
    store: Store,
    ana: User,
    bruno: User,
    _standin: rdstation_standin::Running,
    _app: TestApp,
    spool: tempfile::TempDir,
}

async fn scene() -> Scene {
    let standin = StandIn::start(Config::default()).await.unwrap();
    let spool = tempfile::tempdir().unwrap();
    let recordings = spool.path().to_path_buf();
    let app = TestApp::builder()
        .configure(move |s| {
            s.crm.recordings_dir = Some(recordings);
            // The test's store ends the calls; the worker also polls.
            s.crm.poll_interval = Duration::from_millis(50);
        })
        .start()
        .await;
    let store = app.store.clone();
    disca_testkit::crm::add_tenant(&store, "paulista", "Paulista Soluções Comerciais").await;
    let mut users = Vec::new();
    for (name, email, ext, role) in [
        (
            "Ana Souza",
            "ana.souza@paulista.example.com.br",
            "1001",
            Role::Agent,
        ),
        (
            "Bruno Oliveira",
            "bruno.oliveira@paulista.example.com.br",
            "1002",
            Role::Agent,
        ),
        (
            "Carla Ribeiro",
            "carla.ribeiro@paulista.example.com.br",
            "1009",
            Role::Manager,
        ),
    ] {
        let token = issue_token();
        users.push(
            store
                .add_user(NewUser {
                    tenant: "paulista",
                    name,
                    email,
                    extension: &ext.parse().unwrap(),
                    role,
                    token_hash: Some(&token.hash),
                    phone: disca_backend::domain::PhoneKind::Desk,
                })
                .await
                .unwrap(),
        );
    }
    for (email, crm_user) in [
        ("ana.souza@paulista.example.com.br", ANA_AT_CRM),
        ("bruno.oliveira@paulista.example.com.br", BRUNO_AT_CRM),
    ] {
        store
            .set_crm_user(
                "paulista",
                email,
                Some(&CrmUserId::parse(crm_user).unwrap()),
            )
            .await
            .unwrap();
    }
    let key = SecretKey::load_or_create(&app.settings.secrets_key_file()).unwrap();
    connect_v1(
        &store,
        &key,
        &crm_http_client(&app.settings.crm).unwrap(),
        "paulista",
        &standin.v1_base(),
        Secret::new(CRM_TOKEN.into()),
    )
    .await
    .unwrap();
    let mut users = users.into_iter();
    Scene {
        base: app.base.clone(),
        store,
        ana: users.next().unwrap(),
        bruno: users.next().unwrap(),
        _standin: standin,
        _app: app,
        spool,
    }
}

/// How a call ended.
struct End<'a> {
    who: &'a User,
    to: &'a str,
    contact: Option<&'a str>,
    deal: Option<&'a str>,
    outcome: Outcome,
    ring: i64,
    talk: Option<i64>,
    recorded: bool,
}

impl Scene {
    fn spool(&self) -> PathBuf {
        self.spool.path().to_path_buf()
    }

    /// Creates a call and ends it, as the PBX tracker does; a recorded one
    /// gets a one-second WAV in the spool, named as Asterisk names it.
    async fn end(&self, end: End<'_>) -> Call {
        let context = CallContext {
            deal_id: end.deal.map(Into::into),
            contact_name: end.contact.map(Into::into),
            ..CallContext::default()
        };
        let mut call = new_call(&self.store, end.who, end.to, &context).await;
        let now = time::OffsetDateTime::now_utc();
        call.state = CallState::Ended;
        call.outcome = Some(end.outcome);
        call.ring_seconds = Some(end.ring);
        call.talk_seconds = end.talk;
        call.ended_at = Some(now);
        if end.recorded {
            let name = format!("paulista-{}.wav", call.id);
            std::fs::write(self.spool().join(&name), wav_tone(1)).unwrap();
            call.recording_file = Some(name);
        }
        self.store
            .save_calls(std::slice::from_ref(&call))
            .await
            .unwrap();
        call
    }

    /// A call in progress: `who` and the lead have been talking a minute.
    async fn talking(&self, who: &User, to: &str, contact: &str) -> Call {
        let context = CallContext {
            deal_id: Some(AURORA_DEAL.into()),
            contact_name: Some(contact.into()),
            ..CallContext::default()
        };
        let mut call = new_call(&self.store, who, to, &context).await;
        let answered = time::OffsetDateTime::now_utc() - time::Duration::seconds(62);
        call.state = CallState::Connected;
        call.agent_answered_at = Some(answered - time::Duration::seconds(9));
        call.lead_dialed_at = Some(answered - time::Duration::seconds(8));
        call.lead_answered_at = Some(answered);
        self.store
            .save_calls(std::slice::from_ref(&call))
            .await
            .unwrap();
        call
    }

    async fn wait_crm(&self, id: &str, state: CrmState) -> Call {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let call = self.store.call(id).await.unwrap();
            if call.crm.as_ref().map(|c| c.state) == Some(state) {
                return call;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the note of {id} never became {state:?}: {:?}",
                call.crm
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `seconds` of a 440 Hz tone: 8 kHz, 16-bit mono PCM, as Asterisk records.
fn wav_tone(seconds: u32) -> Vec<u8> {
    let rate = 8000u32;
    let samples: Vec<i16> = (0..rate * seconds)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            (f64::sin(2.0 * std::f64::consts::PI * 440.0 * t) * 8000.0) as i16
        })
        .collect();
    let data_len = (samples.len() * 2) as u32;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * 2).to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        wav.extend_from_slice(&s.to_le_bytes());
    }
    wav
}

/// A JavaScript string literal.
fn js(text: &str) -> String {
    Value::from(text).to_string()
}

/// The table as the manager sees it: per row, its id and each cell's text.
async fn table(page: &Page) -> Vec<Value> {
    page.evaluate(
        r#"[...document.querySelectorAll('#ligacoes tbody tr')].map((tr) => ({
            id: tr.dataset.callId,
            cells: [...tr.cells].map((td) => td.textContent.trim()),
        }))"#,
    )
    .await
    .unwrap()
    .as_array()
    .unwrap()
    .clone()
}

fn row<'a>(rows: &'a [Value], id: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no row for {id} in {rows:#?}"))
}

/// Waits for the table to list exactly `ids`, in order, after a load.
async fn wait_rows(page: &Page, ids: &[&str]) {
    let expected = js(&ids.join(","));
    page.wait_for(
        &format!(
            r#"[...document.querySelectorAll('#ligacoes tbody tr')].map((tr) => tr.dataset.callId).join(",") === {expected}"#
        ),
        PATIENCE,
    )
    .await
    .unwrap();
}

/// Sets the filter form (empty values: any) and presses "Filtrar".
async fn filter(page: &Page, values: &[(&str, &str)]) {
    let mut script = String::from(
        r#"for (const name of ["user", "from", "to", "outcome", "crm"]) document.forms.filtros.elements[name].value = "";"#,
    );
    for (name, value) in values {
        script.push_str(&format!(
            "document.forms.filtros.elements[{}].value = {};",
            js(name),
            js(value)
        ));
    }
    page.evaluate(&script).await.unwrap();
    page.click("#filtros button[type=submit]").await.unwrap();
}

#[tokio::test]
async fn a_manager_follows_the_team_s_calls_and_crm_notes_in_chromium() {
    let scene = scene().await;
    let delivered = scene
        .end(End {
            who: &scene.ana,
            to: "(11) 97173-0783",
            contact: Some("Mariana Costa"),
            deal: Some(AURORA_DEAL),
            outcome: Outcome::Answered,
            ring: 6,
            talk: Some(185),
            recorded: true,
        })
        .await;
    let refused = scene
        .end(End {
            who: &scene.bruno,
            to: "(21) 98765-4321",
            contact: Some("Rafael Lima"),
            deal: Some(MISSING_DEAL),
            outcome: Outcome::Answered,
            ring: 9,
            talk: Some(72),
            recorded: false,
        })
        .await;
    let no_deal = scene
        .end(End {
            who: &scene.ana,
            to: "(11) 95555-4444",
            contact: None,
            deal: None,
            outcome: Outcome::NoAnswer,
            ring: 30,
            talk: None,
            recorded: false,
        })
        .await;
    // Ana is on a call right now: the live board shows it.
    let talking = scene
        .talking(&scene.ana, "(11) 94444-3333", "João Pereira")
        .await;
    scene.wait_crm(&delivered.id, CrmState::Delivered).await;
    let refused_stored = scene.wait_crm(&refused.id, CrmState::Failed).await;
    let crm_message = refused_stored.crm.unwrap().error.unwrap();
    assert_eq!(
        crm_message,
        "RD Station recusou (HTTP 404): Deal not found."
    );
    scene.wait_crm(&no_deal.id, CrmState::NoDeal).await;
    // Ana said how the delivered call went, afterwards (a second note).
    scene
        .store
        .save_report(
            &scene.ana,
            &delivered.id,
            &CallReport {
                disposition: Some("interessado".into()),
                note: "Quer 50 licenças; envia o contrato amanhã.".into(),
                follow_up_at: None,
            },
        )
        .await
        .unwrap();

    let profile = tempfile::tempdir().unwrap();
    let chromium = Chromium::launch(ChromiumOptions::new(profile.path().join("profile")))
        .await
        .unwrap();
    // Not logged in: the page sends the browser to the login form.
    let page = chromium
        .open(&format!("{}/manager?crm=", scene.base))
        .await
        .unwrap();
    page.set_viewport(1440, 720).await.unwrap();
    page.wait_for(
        r#"location.pathname === "/manager/login" && document.getElementById("senha") !== null"#,
        PATIENCE,
    )
    .await
    .unwrap();

    // An agent's account is refused, in Portuguese, on the form.
    let agent = issue_token();
    let diego = scene
        .store
        .add_user(NewUser {
            tenant: "paulista",
            name: "Diego Agente",
            email: "diego@paulista.example.com.br",
            extension: &"1003".parse().unwrap(),
            role: Role::Agent,
            token_hash: Some(&agent.hash),
            phone: disca_backend::domain::PhoneKind::Desk,
        })
        .await
        .unwrap();
    give_password(&scene.base, &scene.store, &diego, "vendas-boas-123").await;
    page.evaluate(
        "document.getElementById('email').value = 'diego@paulista.example.com.br'; \
         document.getElementById('senha').value = 'vendas-boas-123'",
    )
    .await
    .unwrap();
    page.click("#entrar button[type=submit]").await.unwrap();
    let refusal = page
        .wait_for(
            r#"!document.getElementById("erro").hidden && document.getElementById("erro").textContent"#,
            PATIENCE,
        )
        .await
        .unwrap();
    assert!(
        refusal.as_str().unwrap().contains("conta é de um vendedor"),
        "{refusal}"
    );

    // The manager's e-mail and password open the page.
    let carla = scene
        .store
        .user_by_email("paulista", "carla.ribeiro@paulista.example.com.br")
        .await
        .unwrap();
    give_password(&scene.base, &scene.store, &carla, "senha-da-carla-123").await;
    page.evaluate(
        "document.getElementById('email').value = 'carla.ribeiro@paulista.example.com.br'; \
         document.getElementById('senha').value = 'senha-da-carla-123'",
    )
    .await
    .unwrap();
    page.click("#entrar button[type=submit]").await.unwrap();
    wait_rows(
        &page,
        &[&talking.id, &no_deal.id, &refused.id, &delivered.id],
    )
    .await;
    assert_eq!(
        page.evaluate("document.cookie").await.unwrap(),
        "",
        "the session cookie is HttpOnly"
    );
    assert_eq!(
        page.evaluate("document.getElementById('gestor').textContent")
            .await
            .unwrap(),
        "Carla Ribeiro"
    );

    // The live board: Ana talking for a minute, to João.
    let live = page
        .wait_for(
            &format!(
                r#"(() => {{
                    const tr = document.querySelector('#ao-vivo tr[data-call-id={}]');
                    return tr && [...tr.cells].map((td) => td.textContent);
                }})()"#,
                js(&talking.id)
            ),
            PATIENCE,
        )
        .await
        .unwrap();
    assert_eq!(live[0], "Ana Souza", "{live}");
    assert_eq!(live[1], "Em conversa", "{live}");
    assert!(live[2].as_str().unwrap().starts_with("1:0"), "{live}");
    assert_eq!(live[3], "(11) 94444-3333", "{live}");
    assert_eq!(live[4], "João Pereira", "{live}");
    assert_eq!(
        page.evaluate("document.getElementById('agora-resumo').textContent")
            .await
            .unwrap(),
        "1 em conversa · 0 chamando"
    );

    let rows = table(&page).await;
    // Columns: date, salesperson, number, contact, deal, outcome, ring,
    // talk, recording, CRM.
    let cells = |id: &str| -> Vec<String> {
        row(&rows, id)["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    let ok = cells(&delivered.id);
    assert_eq!(
        ok[1..5],
        [
            "Ana Souza",
            "(11) 97173-0783",
            "Mariana Costa",
            "Abrir negócio",
        ]
    );
    assert_eq!(
        ok[5], "AtendidaInteressadoQuer 50 licenças; envia o contrato amanhã.",
        "the outcome, then what Ana said"
    );
    assert_eq!(ok[6..8], ["6 s", "3:05"]);
    assert!(ok[0].contains('/') && ok[0].contains(':'), "{ok:?}");
    assert!(ok[9].starts_with("Entregue"), "{ok:?}");
    let failed = cells(&refused.id);
    assert_eq!(failed[1], "Bruno Oliveira");
    assert!(
        failed[9].starts_with(&format!("Falhou: {crm_message}")),
        "the CRM's own message is on the page: {failed:?}"
    );
    assert!(failed[9].contains("Tentar de novo"), "{failed:?}");
    assert!(!ok[9].contains("Tentar de novo"), "{ok:?}");
    let none = cells(&no_deal.id);
    assert_eq!((none[3].as_str(), none[5].as_str()), ("—", "Não atendida"));
    assert!(none[9].starts_with("Sem negócio"), "{none:?}");
    assert!(none[9].contains("(11) 95555-4444"), "{none:?}");
    let deal_link = page
        .evaluate(&format!(
            r#"document.querySelector('tr[data-call-id={}] td.negocio a').href"#,
            js(&delivered.id)
        ))
        .await
        .unwrap();
    assert_eq!(
        deal_link,
        format!("https://crm.rdstation.com/app/deals/{AURORA_DEAL}").as_str()
    );

    // The recording plays: Chromium loads the WAV and reads its length.
    let duration = page
        .wait_for(
            &format!(
                r#"(() => {{
                    const audio = document.querySelector('tr[data-call-id={}] audio');
                    return audio && audio.readyState >= 1 && audio.duration;
                }})()"#,
                js(&delivered.id)
            ),
            PATIENCE,
        )
        .await
        .unwrap();
    let seconds = duration.as_f64().unwrap();
    assert!((0.9..1.1).contains(&seconds), "{duration}");
    let audios = page
        .evaluate("document.querySelectorAll('#ligacoes audio').length")
        .await
        .unwrap();
    assert_eq!(audios, 1, "only the recorded call has a player");

    // The dashboard above the list: its figures, and its three charts
    // loaded as images, each with the table of its numbers.
    let calls = page
        .wait_for(
            r#"Number(document.body.dataset.dashboard || 0) > 0 &&
               [...document.querySelectorAll('#painel img')].every((img) => img.complete && img.naturalWidth > 0) &&
               document.getElementById('kpi-ligacoes').textContent"#,
            PATIENCE,
        )
        .await
        .unwrap();
    assert!(
        calls.as_str().unwrap().parse::<u32>().unwrap() > 0,
        "{calls}"
    );
    let reported = page
        .evaluate(
            "[...document.querySelectorAll('#tabela-relatos tbody tr')].map((tr) => tr.textContent)",
        )
        .await
        .unwrap();
    assert_eq!(reported, serde_json::json!(["Interessado1"]));
    let ranked = page
        .evaluate("document.querySelectorAll('#tabela-ranking tbody tr').length")
        .await
        .unwrap();
    assert!(ranked.as_u64().unwrap() >= 1);
    assert_eq!(
        page.evaluate("document.querySelectorAll('#tabela-horas tbody tr').length")
            .await
            .unwrap(),
        7
    );
    let screenshots = ReadmeScreenshots::new();
    screenshots.take(&page, "manager-dashboard.png").await;
    page.evaluate("document.getElementById('ligacoes').scrollIntoView()")
        .await
        .unwrap();
    screenshots.take(&page, "manager.png").await;

    // Filters: by salesperson, by CRM state, by outcome, by dates.
    filter(&page, &[("user", &scene.bruno.id)]).await;
    wait_rows(&page, &[&refused.id]).await;
    assert!(
        page.evaluate("location.search")
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .contains(&scene.bruno.id),
        "the address keeps the filters"
    );
    filter(&page, &[("crm", "no_deal")]).await;
    wait_rows(&page, &[&no_deal.id]).await;
    filter(&page, &[("outcome", "answered")]).await;
    wait_rows(&page, &[&refused.id, &delivered.id]).await;
    let today = page
        .evaluate(
            "new Intl.DateTimeFormat('en-CA', {timeZone: 'America/Sao_Paulo'}).format(new Date())",
        )
        .await
        .unwrap();
    let today = today.as_str().unwrap();
    filter(&page, &[("from", "2020-01-01"), ("to", "2020-12-31")]).await;
    page.wait_for(
        r#"!document.getElementById("vazio").hidden && document.querySelectorAll('#ligacoes tbody tr').length === 0"#,
        PATIENCE,
    )
    .await
    .unwrap();
    filter(&page, &[("from", today), ("to", today)]).await;
    wait_rows(
        &page,
        &[&talking.id, &no_deal.id, &refused.id, &delivered.id],
    )
    .await;

    // The CSV of what the filters select, downloaded from the page.
    filter(&page, &[("crm", "failed")]).await;
    wait_rows(&page, &[&refused.id]).await;
    let csv = page
        .evaluate(
            r#"fetch(document.getElementById("exportar").href).then(async (r) => {
                const bytes = new Uint8Array(await r.clone().arrayBuffer());
                return {
                    status: r.status,
                    type: r.headers.get("content-type"),
                    disposition: r.headers.get("content-disposition"),
                    bom: [...bytes.slice(0, 3)],
                    text: new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes.slice(3)),
                };
            })"#,
        )
        .await
        .unwrap();
    assert_eq!(csv["status"], 200, "{csv}");
    assert_eq!(csv["type"], "text/csv; charset=utf-8");
    assert!(
        csv["disposition"]
            .as_str()
            .unwrap()
            .starts_with("attachment; filename=\"ligacoes-paulista-")
    );
    assert_eq!(csv["bom"], serde_json::json!([0xEF, 0xBB, 0xBF]));
    let text = csv["text"].as_str().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("Data e hora;Vendedor;Número;Contato;Negócio;Resultado"));
    assert!(
        lines[1].contains("Bruno Oliveira;(21) 98765-4321;Rafael Lima;"),
        "{text}"
    );
    assert!(
        lines[1].contains(&format!(";Falhou;{crm_message};")),
        "{text}"
    );
    assert!(lines[1].ends_with(&refused.id), "{text}");

    // "Tentar de novo": the note is queued, tried again, and refused again.
    page.click(&format!(
        "tr[data-call-id=\"{}\"] button.tentar",
        refused.id
    ))
    .await
    .unwrap();
    let after = page
        .wait_for(
            &format!(
                r#"(() => {{
                    const cell = document.querySelector('tr[data-call-id={}] td.crm');
                    return cell && cell.textContent.includes("depois de 2 tentativas") && cell.textContent;
                }})()"#,
                js(&refused.id)
            ),
            PATIENCE,
        )
        .await
        .unwrap();
    assert!(after.as_str().unwrap().starts_with("Falhou: "), "{after}");
    let again = scene.store.call(&refused.id).await.unwrap().crm.unwrap();
    assert_eq!((again.state, again.attempts), (CrmState::Failed, 2));

    // Nothing the page did broke its policy or threw.
    let problems: Vec<String> = page
        .console()
        .into_iter()
        .filter(|m| m.is_error())
        // Expected refusals: the login form's "is there a session?" (401
        // before logging in) and the agent's token (403).
        .filter(|m| !m.text.contains("status of 401") && !m.text.contains("status of 403"))
        .map(|m| format!("{m:?}"))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}");

    // Logging out ends the session.
    page.click("#sair").await.unwrap();
    page.wait_for(r#"location.pathname === "/manager/login""#, PATIENCE)
        .await
        .unwrap();
    let status = page
        .evaluate(r#"fetch("/manager/api/calls").then((r) => r.status)"#)
        .await
        .unwrap();
    assert_eq!(status, 401);
}
