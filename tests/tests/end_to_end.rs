//! The whole product, end to end, with every part real except RD Station
//! itself: a click on a number of an RD Station CRM deal page (served under
//! `crm.rdstation.com` through Chromium's `--host-resolver-rules`, so the
//! shipped manifest's match patterns are the ones tested), in headless
//! Chromium with the built extension, goes through `disca-host` (installed
//! into a fresh user-data-dir by its own `install` command) to the backend
//! on its SQLite file, which has a real Asterisk 22 ring the salesperson's
//! SIPp phone, then the lead's SIPp trunk; the popup and the badge follow
//! each stage live; when the lead hangs up, the popup offers the
//! after-call form, and once it is sent the RD Station stand-in holds
//! exactly one note on that deal, with the call and the salesperson's
//! outcome and note in it, and one `call` task at the follow-up time.
//!
//! The test also makes the README's screenshots: the annotated deal page
//! the popup during the call and its after-call form, taken (and checked to be PNGs) on every
//! run, written to `docs/screenshots/` with `DISCA_UPDATE_SCREENSHOTS=1`.
//!
//! The failures a salesperson can meet on the same path (no host
//! installed, not logged in, backend down) and the look-alikes that must
//! never become buttons are in `extension.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use disca_testkit::crm::{ANA, ANA_TOKEN};
use disca_testkit::crm_pages::DEAL_ID;
use disca_testkit::extension::{ExtensionBrowser, badge_text, ended_outcome};
use disca_testkit::host::{HostHome, host_binary};
use disca_testkit::screenshots::ReadmeScreenshots;
use disca_testkit::system::{Backend, LEAD_E164, Lab, PATIENCE};
use disca_testkit::{AmiMessage, AmiSession, PeerBehavior};
use rdstation_standin::{Config, StandIn};
use serde_json::Value;

/// How long the lead talks before hanging up.
const TALK: Duration = Duration::from_secs(4);
/// The contact card of the number clicked on the deal page.
const MARIA: &str = "64a1b2c3d4e5f6a7b8c9d0e1";

#[tokio::test]
async fn a_click_on_a_deal_page_rings_the_agent_then_the_lead_and_leaves_one_note() {
    let lab = Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup { talk: TALK },
    )
    .await;
    let events = AmiEvents::follow(&lab).await;
    let standin = StandIn::start(Config::default()).await.unwrap();
    // The call's note waits for the salesperson's report (as in production).
    let backend = Backend::start_configured(&lab.pbx, |s| {
        s.crm.report_wait = Duration::from_secs(120);
    })
    .await;
    backend
        .connect_crm("acme", &standin.v1_base(), ANA_TOKEN, &[("acme-1001", ANA)])
        .await;
    let home = HostHome::logged_in(host_binary(), &backend.base, backend.token("acme-1001")).await;
    let browser = ExtensionBrowser::launch(&home).await;
    let shots = ReadmeScreenshots::new();

    // The popup and the badge, each recording every state it shows.
    let popup = browser.popup().await;
    popup
        .wait_for("document.body.dataset.host === 'ready'", PATIENCE)
        .await
        .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}", home.log()));
    popup
        .evaluate(
            "window.stages = []; new MutationObserver(() => { const s = document.getElementById('live').dataset.state; \
             if (s && window.stages.at(-1) !== s) window.stages.push(s); }) \
             .observe(document.getElementById('live'), { attributes: true })",
        )
        .await
        .unwrap();
    let worker = browser.worker().await;
    // Every text the worker gives the badge, in order (polling could miss
    // a stage the robots pass through in a few milliseconds).
    worker
        .evaluate(
            "globalThis.badges = ['']; const setBadgeText = chrome.action.setBadgeText.bind(chrome.action); \
             chrome.action.setBadgeText = (details, ...rest) => { \
               if (globalThis.badges.at(-1) !== details.text) globalThis.badges.push(details.text); \
               return setBadgeText(details, ...rest); }; 0",
        )
        .await
        .unwrap();

    // The deal page: its numbers are controls, its look-alikes are not.
    let page = browser.open(&format!("/app/deals/{DEAL_ID}")).await;
    page.set_viewport(1100, 760).await.unwrap();
    let expected = page.evaluate("window.expectedNumbers").await.unwrap();
    let found = page
        .evaluate(
            "[...new Set([...document.querySelectorAll('[data-disca-number]')].map((e) => e.dataset.discaNumber))]",
        )
        .await
        .unwrap();
    assert_eq!(found, expected, "only the real numbers are buttons");

    page.click(&format!("[data-disca-number=\"{LEAD_E164}\"]"))
        .await
        .unwrap();
    page.wait_for(
        "document.querySelector('disca-toast')?.textContent.includes('Atenda o seu telefone')",
        PATIENCE,
    )
    .await
    .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}\n{:#?}", home.log(), page.console()));
    shots.take(&page, "deal-page.png").await;

    // Connected: the popup runs a timer, the badge shows the time.
    popup
        .wait_for(
            "document.getElementById('live').dataset.state === 'connected' && \
             /^\\d+:\\d\\d$/.test(document.getElementById('live-timer').textContent)",
            PATIENCE,
        )
        .await
        .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}", home.log()));
    let shown = popup
        .evaluate(
            "({ number: document.getElementById('live-number').textContent, \
                text: document.getElementById('live').innerText })",
        )
        .await
        .unwrap();
    assert_eq!(shown["number"], "(11) 98765-4321", "{shown}");
    let badge = badge_text(&worker).await;
    assert!(
        badge.contains(':'),
        "the badge shows the running time: {badge:?}"
    );
    popup.set_viewport(320, 300).await.unwrap();
    shots.take(&popup, "popup-call.png").await;

    // The call as the backend holds it: the deal and contact of the card.
    let (_, calls) = backend.get("acme-1001", "/v1/calls").await;
    let call = calls["calls"][0].clone();
    let id = call["id"].as_str().unwrap().to_owned();
    assert_eq!(call["to"], LEAD_E164, "{calls}");
    assert_eq!(call["context"]["deal_id"], DEAL_ID, "{call}");
    assert_eq!(call["context"]["contact_id"], MARIA, "{call}");
    assert_eq!(call["context"]["contact_name"], "Maria da Silva", "{call}");

    // The lead hangs up; the popup says how the call ended.
    let outcome = ended_outcome(&popup, &home).await;
    assert!(outcome.starts_with("Atendida · "), "{outcome}");

    // After the call, the form: the company's outcomes, a note, and a
    // follow-up tomorrow at 14:30 (this browser's clock).
    popup
        .wait_for(
            "!document.getElementById('report').hidden && \
             document.getElementById('report-outcome').options.length === 5",
            PATIENCE,
        )
        .await
        .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}", home.log()));
    let follow_up = popup
        .evaluate(
            "(() => { const $ = (id) => document.getElementById(id); \
               $('report-outcome').value = 'retornar'; \
               $('report-note').value = 'Pediu a proposta revisada.'; \
               $('report-follow-up').checked = true; \
               $('report-follow-up').dispatchEvent(new Event('change')); \
               $('report-time').value = '14:30'; \
               return new Date(`${$('report-date').value}T14:30`).toISOString(); })()",
        )
        .await
        .unwrap();
    popup.set_viewport(320, 560).await.unwrap();
    shots.take(&popup, "popup-report.png").await;
    popup.click("#report-save").await.unwrap();
    let saved = popup
        .wait_for(
            "document.getElementById('report').dataset.saved === 'true' && \
             document.getElementById('report-saved').textContent",
            PATIENCE,
        )
        .await
        .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}", home.log()));
    assert_eq!(
        saved,
        "Salvo: vai na nota desta ligação no RD Station. \
         A tarefa de retorno vai ser criada no negócio."
    );
    assert_stages(
        &popup.evaluate("window.stages").await.unwrap(),
        &[
            "queued",
            "ringing_agent",
            "dialing_lead",
            "ringing_lead",
            "connected",
        ],
    );
    worker
        .wait_for(
            "chrome.action.getBadgeText({}).then((t) => t === '')",
            Duration::from_secs(10),
        )
        .await
        .expect("the badge clears when the call ends");
    let badges = worker.evaluate("globalThis.badges").await.unwrap();
    assert_badges(&badges);
    let notifications = worker
        .wait_for(
            "new Promise((resolve) => chrome.notifications.getAll(resolve)).then((all) => Object.keys(all).length && Object.keys(all))",
            Duration::from_secs(10),
        )
        .await
        .expect("a notification when the call ends");
    assert_eq!(notifications, serde_json::json!([format!("call-{id}")]));

    // Asterisk placed it: the agent's channel (the call's id), then the
    // lead's over the trunk, answered, then hung up by the lead (cause 16).
    let agent_hangup = events
        .wait_for(|e| e.is_event("Hangup") && e.get("Uniqueid") == Some(id.as_str()))
        .await;
    assert_eq!(agent_hangup.get("Cause"), Some("16"), "{agent_hangup}");
    let seen = events.all();
    let agent_channel = seen
        .iter()
        .find(|e| e.is_event("Newchannel") && e.get("Uniqueid") == Some(id.as_str()))
        .expect("the agent's channel was created");
    assert!(
        agent_channel
            .get("Channel")
            .is_some_and(|c| c.starts_with("PJSIP/acme-1001-")),
        "{agent_channel}"
    );
    let lead_answered = seen.iter().any(|e| {
        e.is_event("DialEnd")
            && e.get("DestChannel")
                .is_some_and(|c| c.starts_with("PJSIP/acme-trunk-"))
            && e.get("DialStatus") == Some("ANSWER")
            && e.get("DestLinkedid") == Some(id.as_str())
    });
    assert!(lead_answered, "no answered dial of the lead for {id}");
    // And the SIPp phones saw it: one INVITE each, the lead's for the number.
    assert_eq!(lab.agents.calls_received(), 1);
    assert_eq!(lab.trunk.calls_received(), 1);
    let invite = &lab.trunk.invites()[0];
    assert!(
        invite.request_uri.contains(LEAD_E164),
        "{}",
        invite.request_uri
    );

    // Exactly one note on the deal, with the call in it.
    let call = backend
        .wait_for("acme-1001", &id, "written to the CRM", |c| {
            c["crm"]["state"] == "delivered"
        })
        .await;
    let notes = standin.notes(DEAL_ID);
    assert_eq!(notes.len(), 1, "exactly one note on the deal: {notes:#?}");
    let note = &notes[0];
    assert_eq!(call["crm"]["note_id"], note.id.as_str());
    assert_eq!(note.user_id, ANA, "written as the salesperson");
    let talk = call["talk_seconds"].as_i64().unwrap();
    assert!(
        (TALK.as_secs() as i64 - 1..=TALK.as_secs() as i64 + 1).contains(&talk),
        "talk {talk} s"
    );
    for line in [
        "Ligação pelo Disca: atendida\n".to_owned(),
        "Resultado da conversa: Retornar\n".to_owned(),
        "Anotação do vendedor: Pediu a proposta revisada.\n".to_owned(),
        "Vendedor: acme-1001\n".to_owned(),
        "Número: (11) 98765-4321\n".to_owned(),
        "Contato: Maria da Silva\n".to_owned(),
        format!("Duração da conversa: {talk} s\n"),
        "Motivo do encerramento: desligamento normal (causa 16)\n".to_owned(),
    ] {
        assert!(
            note.text.contains(&line),
            "{line:?} missing from\n{}",
            note.text
        );
    }
    assert!(
        note.text
            .ends_with(&format!("ID da ligação no Disca: {id}"))
    );
    // Still one a while later (no retry wrote it twice).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(standin.notes(DEAL_ID).len(), 1);
    assert_eq!(standin.all_notes().len(), 1, "no note anywhere else");

    // And one task on the deal: call it back at the time chosen.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while standin.tasks(DEAL_ID).is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tasks = standin.tasks(DEAL_ID);
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    let task = &tasks[0];
    assert_eq!(task.kind, "call");
    assert_eq!(task.owner_ids, [ANA]);
    assert_eq!(task.subject, "Retornar ligação: Maria da Silva");
    let due = time::OffsetDateTime::parse(
        follow_up.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(task.due_at, due, "{task:#?}");
    assert_eq!(standin.all_tasks().len(), 1, "no task anywhere else");
}

/// The popup showed `expected`'s stages in order (a short one may pass
/// between two looks), ending with the last (an ended call leaves the live
/// panel for the "just ended" one).
fn assert_stages(stages: &Value, expected: &[&str]) {
    let stages: Vec<&str> = stages
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let positions: Vec<usize> = stages
        .iter()
        .map(|s| {
            expected
                .iter()
                .position(|o| o == s)
                .unwrap_or_else(|| panic!("unknown stage {s:?} in {stages:?}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]) && stages.last() == expected.last(),
        "stages shown in order: {stages:?}"
    );
}

/// The badge went from nothing to the call's stages and running time, and
/// back to nothing.
fn assert_badges(badges: &Value) {
    let badges: Vec<&str> = badges
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        badges.len() >= 3
            && badges.first() == Some(&"")
            && badges.last() == Some(&"")
            && badges.iter().any(|b| b.contains(':')),
        "badge texts: {badges:?}"
    );
    let during = &badges[1..badges.len() - 1];
    assert!(
        during.iter().any(|b| !b.contains(':') && !b.is_empty()),
        "a stage before the timer: {badges:?}"
    );
}

/// Every AMI event of the test's Asterisk, read as they come by a session
/// of its own.
struct AmiEvents {
    seen: Arc<Mutex<Vec<AmiMessage>>>,
    _reader: tokio::task::JoinHandle<()>,
}

impl AmiEvents {
    async fn follow(lab: &Lab) -> AmiEvents {
        let mut ami = AmiSession::connect(lab.pbx.ami_addr).await.unwrap();
        ami.login(&lab.pbx.ami_username, &lab.pbx.ami_secret)
            .await
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&seen);
        let reader = tokio::spawn(async move {
            while let Ok(event) = ami.next_event(Duration::from_secs(3600)).await {
                into.lock().unwrap().push(event);
            }
        });
        AmiEvents {
            seen,
            _reader: reader,
        }
    }

    fn all(&self) -> Vec<AmiMessage> {
        self.seen.lock().unwrap().clone()
    }

    async fn wait_for(&self, wanted: impl Fn(&AmiMessage) -> bool) -> AmiMessage {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(event) = self.all().into_iter().find(&wanted) {
                return event;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "AMI events seen: {:?}",
                self.all()
                    .iter()
                    .filter_map(|e| e.event().map(str::to_owned))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
