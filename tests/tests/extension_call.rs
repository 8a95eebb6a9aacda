//! The whole click path in a real browser: a click on a number of an RD
//! Station-shaped deal page, in headless Chromium with the built extension,
//! goes through the installed `disca-host` to the real backend and a real
//! Asterisk 22 with SIPp phones; the popup and the badge follow the call
//! live, and the popup's hang-up ends it.

use std::time::Duration;

use disca_tests::PeerBehavior;
use disca_tests::crm_pages::{CRM_HOST, DEAL_ID};
use disca_tests::extension::{ExtensionBrowser, badge_text};
use disca_tests::host::{HostHome, host_binary};
use disca_tests::system::{Backend, LEAD_E164, Lab, PATIENCE};
use serde_json::Value;

#[tokio::test]
async fn a_click_on_a_deal_page_places_the_call_and_the_popup_follows_it() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let home = HostHome::logged_in(host_binary(), &backend.base, backend.token("acme-1001")).await;
    let browser = ExtensionBrowser::launch(&home).await;

    let popup = browser.popup().await;
    popup
        .wait_for("document.body.dataset.host === 'ready'", PATIENCE)
        .await
        .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}", home.log()));
    // Every stage the popup shows, in order.
    popup
        .evaluate(
            "window.stages = []; new MutationObserver(() => { const s = document.getElementById('live').dataset.state; \
             if (s && window.stages.at(-1) !== s) window.stages.push(s); }) \
             .observe(document.getElementById('live'), { attributes: true })",
        )
        .await
        .unwrap();

    let page = browser.open(&format!("/app/deals/{DEAL_ID}")).await;
    page.click(&format!("[data-disca-number=\"{LEAD_E164}\"]"))
        .await
        .unwrap();
    page.wait_for(
        "document.querySelector('disca-toast')?.textContent.includes('Atenda o seu telefone')",
        PATIENCE,
    )
    .await
    .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}\n{:#?}", home.log(), page.console()));

    let timer = popup
        .wait_for(
            "document.getElementById('live').dataset.state === 'connected' && \
             /^\\d+:\\d\\d$/.test(document.getElementById('live-timer').textContent) && \
             document.getElementById('live-number').textContent",
            PATIENCE,
        )
        .await
        .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}", home.log()));
    assert_eq!(timer, "(11) 98765-4321");
    let worker = browser.worker().await;
    let badge = badge_text(&worker).await;
    assert!(
        badge.len() >= 4 && badge.contains(':'),
        "badge shows the running time: {badge:?}"
    );

    // The call carries the deal and contact the number was found with.
    let (_, calls) = backend.get("acme-1001", "/v1/calls").await;
    let call = &calls["calls"][0];
    assert_eq!(call["to"], LEAD_E164, "{calls}");
    assert_eq!(call["context"]["deal_id"], DEAL_ID, "{call}");
    assert_eq!(
        call["context"]["contact_id"], "64a1b2c3d4e5f6a7b8c9d0e1",
        "{call}"
    );
    assert_eq!(call["context"]["contact_name"], "Maria da Silva", "{call}");
    assert_eq!(
        call["context"]["page_url"],
        format!("http://{CRM_HOST}/app/deals/{DEAL_ID}")
    );

    popup.click("#hangup").await.unwrap();
    let outcome = popup
        .wait_for(
            "!document.getElementById('ended').hidden && document.getElementById('ended-outcome').textContent",
            PATIENCE,
        )
        .await
        .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}", home.log()));
    assert!(
        outcome.as_str().unwrap().starts_with("Atendida · "),
        "{outcome}"
    );
    let stages = popup.evaluate("window.stages").await.unwrap();
    let stages: Vec<&str> = stages
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let order = [
        "queued",
        "ringing_agent",
        "dialing_lead",
        "ringing_lead",
        "connected",
    ];
    let positions: Vec<usize> = stages
        .iter()
        .map(|s| order.iter().position(|o| o == s).expect("a known stage"))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]) && stages.last() == Some(&"connected"),
        "stages shown in order, ending connected: {stages:?}"
    );
    worker
        .wait_for(
            "chrome.action.getBadgeText({}).then((t) => t === '')",
            Duration::from_secs(10),
        )
        .await
        .expect("the badge clears when the call ends");
    let notifications = worker
        .wait_for(
            "new Promise((resolve) => chrome.notifications.getAll(resolve)).then((all) => Object.keys(all).length && Object.keys(all))",
            Duration::from_secs(10),
        )
        .await
        .expect("a notification when the call ends");
    assert_eq!(
        notifications,
        serde_json::json!([format!("call-{}", call["id"].as_str().unwrap())])
    );
    assert_eq!(lab.agents.calls_received(), 1);
    assert_eq!(lab.trunk.calls_received(), 1);

    // In a deal list, a number's call belongs to its row's deal and contact.
    let list = browser.open("/app/deals?rows=50").await;
    let row = list
        .evaluate("({ deal: window.dealId(7), contact: window.contactId(7), number: window.phone(7).e164 })")
        .await
        .unwrap();
    list.click(&format!(
        "[data-disca-number=\"{}\"]",
        row["number"].as_str().unwrap()
    ))
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let second = loop {
        let (_, calls) = backend.get("acme-1001", "/v1/calls").await;
        if calls["calls"].as_array().is_some_and(|c| c.len() == 2) {
            break calls["calls"][0].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no second call: {calls}\nhost log:\n{}",
            home.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(second["to"], row["number"], "{second}");
    assert_eq!(second["context"]["deal_id"], row["deal"], "{second}");
    assert_eq!(second["context"]["contact_id"], row["contact"], "{second}");
    assert_eq!(
        second["context"]["contact_name"], "Contato Número 7",
        "{second}"
    );
    let id = second["id"].as_str().unwrap();
    backend.wait_for_state("acme-1001", id, "connected").await;
    backend
        .post("acme-1001", &format!("/v1/calls/{id}/hangup"))
        .await;
    backend.wait_for_state("acme-1001", id, "ended").await;
}
