//! The popup's hang-up button and a call from a deal list, in a real
//! browser: a click on a row's number of an RD Station-shaped deal list, in
//! headless Chromium with the built extension, goes through the installed
//! `disca-host` to the real backend and a real Asterisk 22 with SIPp phones,
//! carrying the row's deal and contact; the popup's hang-up ends the call.
//! (The whole path from a deal page to the note in the CRM, with each
//! stage in the popup and the badge, is `end_to_end.rs`.)

use std::time::Duration;

use disca_testkit::PeerBehavior;
use disca_testkit::extension::{ExtensionBrowser, ended_outcome};
use disca_testkit::host::{HostHome, host_binary};
use disca_testkit::system::{Backend, Lab, PATIENCE};

#[tokio::test]
async fn a_call_from_a_deal_list_carries_its_row_and_the_popup_hangs_it_up() {
    let lab = Lab::start(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerAndWait).await;
    let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
    let home = HostHome::logged_in(host_binary(), &backend.base, backend.token("acme-1001")).await;
    let browser = ExtensionBrowser::launch(&home).await;
    let popup = browser.popup().await;
    popup
        .wait_for("document.body.dataset.host === 'ready'", PATIENCE)
        .await
        .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}", home.log()));

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
    popup
        .wait_for(
            "document.getElementById('live').dataset.state === 'connected'",
            PATIENCE,
        )
        .await
        .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}", home.log()));
    let (_, calls) = backend.get("acme-1001", "/v1/calls").await;
    let call = &calls["calls"][0];
    assert_eq!(call["to"], row["number"], "{call}");
    assert_eq!(call["context"]["deal_id"], row["deal"], "{call}");
    assert_eq!(call["context"]["contact_id"], row["contact"], "{call}");
    assert_eq!(
        call["context"]["contact_name"], "Contato Número 7",
        "{call}"
    );
    // The page's address without its query (it may hold search terms).
    assert_eq!(
        call["context"]["page_url"],
        format!("https://{}/app/deals", disca_testkit::crm_pages::CRM_HOST)
    );

    // The popup's hang-up ends it: the popup says how, the badge clears.
    popup.click("#hangup").await.unwrap();
    let outcome = ended_outcome(&popup, &home).await;
    assert!(outcome.starts_with("Atendida · "), "{outcome}");
    let id = call["id"].as_str().unwrap();
    backend.wait_for_state("acme-1001", id, "ended").await;
    let worker = browser.worker().await;
    worker
        .wait_for(
            "chrome.action.getBadgeText({}).then((t) => t === '')",
            Duration::from_secs(10),
        )
        .await
        .expect("the badge clears when the call ends");
    assert_eq!(lab.agents.calls_received(), 1);
    assert_eq!(lab.trunk.calls_received(), 1);
}
