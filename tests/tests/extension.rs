//! The real extension (`dist/extension/`, built from `manifest.json`, the
//! wasm content script and `extension/static/`) in real headless Chromium,
//! on pages shaped like RD Station's, served under RD Station's host name.

use std::time::Duration;

use disca_testkit::crm_pages::DEAL_ID;
use disca_testkit::extension::{ExtensionBrowser, badge_text};
use disca_testkit::host::{HostHome, host_binary};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// The numbers of the page's controls, in document order.
const CONTROL_NUMBERS: &str =
    "[...document.querySelectorAll('[data-disca-number]')].map((e) => e.dataset.discaNumber)";

#[tokio::test]
async fn a_deal_page_gets_its_numbers_and_nothing_else() {
    let home = HostHome::new(host_binary());
    let browser = ExtensionBrowser::launch(&home).await;
    let page = browser.open(&format!("/app/deals/{DEAL_ID}")).await;

    let expected = page.evaluate("window.expectedNumbers").await.unwrap();
    let found = page.evaluate(CONTROL_NUMBERS).await.unwrap();
    assert_eq!(found, expected, "console: {:#?}", page.console());
    // The wasm ran, after its rehearsal on a stage of its own (the
    // rehearsal's controls are not on the page: the list above is exact).
    let ready = page
        .wait_for("window.ready", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(ready["engine"], "wasm");
    assert!(ready["rehearsal_ms"].is_number(), "{ready}");

    // The split number is one control in two pieces; the tel: link is the
    // link itself; the text on the page reads as before.
    let split = page
        .evaluate(
            "[...document.querySelectorAll('#card-maria disca-call')].map((e) => [e.textContent, \
             e.dataset.discaNumber || null, e.dataset.discaContinues || null])",
        )
        .await
        .unwrap();
    assert_eq!(
        split,
        json!([
            ["(11)", "+5511987654321", null],
            ["98765-4321", null, "+5511987654321"]
        ])
    );
    let link = page
        .evaluate("document.querySelector('a[href^=\"tel:\"]').dataset.discaNumber")
        .await
        .unwrap();
    assert_eq!(link, "+551134567890");
    let text = page
        .evaluate(
            "document.querySelector('#card-maria').innerText.includes('Celular: (11) 98765-4321')",
        )
        .await
        .unwrap();
    assert_eq!(text, true);

    // Fields, editors, code, buttons, search and hidden text untouched.
    let untouched = page
        .evaluate(
            "({ textarea: document.getElementById('note-text').value === window.before.textarea, \
               editor: document.getElementById('rich-editor').innerHTML === window.before.editor, \
               field: document.getElementById('phone-field').value === window.before.field, \
               inside: document.querySelectorAll('textarea disca-call, [contenteditable] disca-call, \
                 [role=textbox] disca-call, [role=search] disca-call, button disca-call, pre disca-call, \
                 code disca-call, #hidden-note disca-call, #collapsed-note disca-call, \
                 .deal-header disca-call, #organization disca-call:not(:first-child)').length })",
        )
        .await
        .unwrap();
    assert_eq!(
        untouched,
        json!({"textarea": true, "editor": true, "field": true, "inside": 0})
    );

    // The layout is as it was before the content script ran.
    let layout = page
        .evaluate(
            "['card-maria', 'notes', 'deal-header'].map((id) => { \
               const r = document.getElementById(id).getBoundingClientRect(); return [r.width, r.height]; })",
        )
        .await
        .unwrap();
    let before = page
        .evaluate("[window.before.card, window.before.notes, window.before.header]")
        .await
        .unwrap();
    assert_eq!(layout, before);

    // Content added and changed later is read, and only it.
    let first = page.evaluate("window.scans.at(-1)").await.unwrap();
    page.evaluate("window.addLater()").await.unwrap();
    page.wait_for(
        "document.querySelector('[data-disca-number=\"+555133334444\"]') && \
         document.querySelector('[data-disca-number=\"+552125550101\"]')",
        WAIT,
    )
    .await
    .expect("later content annotated");
    let last = page.evaluate("window.scans.at(-1)").await.unwrap();
    let read_again = last["text_nodes"].as_u64().unwrap() - first["text_nodes"].as_u64().unwrap();
    assert!(
        read_again <= 3,
        "read {read_again} text nodes again: {first} → {last}"
    );

    // A control whose text the page rewrites (a recycled row) is undone and
    // its new number found: it never calls the old one.
    page.evaluate(
        "document.querySelector('[data-disca-number=\"+5540041234\"]').firstChild.data = '(21) 2555-0199'",
    )
    .await
    .unwrap();
    page.wait_for(
        "document.querySelector('[data-disca-number=\"+552125550199\"]') && \
         !document.querySelector('[data-disca-number=\"+5540041234\"]')",
        WAIT,
    )
    .await
    .expect("the rewritten number replaces the old control");

    // Hidden numbers are read when they are shown.
    page.evaluate("document.getElementById('collapsed-note').classList.remove('collapsed')")
        .await
        .unwrap();
    page.evaluate("document.getElementById('hidden-note').hidden = false")
        .await
        .unwrap();
    page.wait_for(
        "document.querySelector('#collapsed-note [data-disca-number=\"+554130132200\"]') && \
         document.querySelector('#hidden-note [data-disca-number=\"+553132221100\"]')",
        WAIT,
    )
    .await
    .expect("shown numbers annotated");

    let errors: Vec<_> = page
        .console()
        .into_iter()
        .filter(|m| m.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[tokio::test]
async fn without_the_host_a_click_says_how_to_install_it() {
    let home = HostHome::new(host_binary());
    let browser = ExtensionBrowser::launch(&home).await;
    let page = browser.open(&format!("/app/deals/{DEAL_ID}")).await;

    // A script's click places no call.
    page.evaluate("document.querySelector('[data-disca-number]').click()")
        .await
        .unwrap();
    let state = page
        .evaluate("document.querySelector('[data-disca-number]').dataset.discaState || null")
        .await
        .unwrap();
    assert_eq!(state, Value::Null);

    // Nor does a person's click on an element the page dressed up as a
    // control.
    page.evaluate(
        "const fake = document.createElement('span'); fake.id = 'fake'; \
         fake.dataset.discaNumber = '+559001234567'; fake.textContent = 'Ver proposta'; \
         document.getElementById('notes').prepend(fake)",
    )
    .await
    .unwrap();
    page.click("#fake").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let toast = page
        .evaluate("document.querySelector('disca-toast')")
        .await
        .unwrap();
    assert_eq!(toast, Value::Null, "a page-made control placed a call");

    // A person's click goes to the service worker, which has no host.
    let clicks_before = page.evaluate("window.clicks").await.unwrap();
    page.click("[data-disca-number=\"+5521998765432\"]")
        .await
        .unwrap();
    let toast = page
        .wait_for("document.querySelector('disca-toast')?.textContent", WAIT)
        .await
        .expect("a message on the page");
    assert!(
        toast
            .as_str()
            .unwrap()
            .contains("disca-host não está instalado"),
        "{toast}"
    );
    let state = page
        .evaluate(
            "document.querySelector('[data-disca-number=\"+5521998765432\"]').dataset.discaState",
        )
        .await
        .unwrap();
    assert_eq!(state, "error");
    // The page's own click handlers did not see the click.
    assert_eq!(page.evaluate("window.clicks").await.unwrap(), clicks_before);

    // The popup: three steps, and the installer from the company's server
    // (its address asked once), never a terminal command.
    let popup = browser.popup().await;
    let steps = popup
        .wait_for(
            "document.getElementById('problem').dataset.kind === 'host_not_installed' && \
             !document.getElementById('install-url').hidden && \
             [...document.querySelectorAll('#install-steps li')].map((li) => li.textContent)",
            WAIT,
        )
        .await
        .expect("the popup says how to install the host");
    assert_eq!(
        steps,
        json!([
            "Baixe o instalador para Linux.",
            "Abra o arquivo baixado e siga os passos.",
            "Volte aqui: o Disca se conecta sozinho."
        ])
    );
    assert_eq!(
        popup
            .evaluate("document.getElementById('problem-title').textContent")
            .await
            .unwrap(),
        "Instale o Disca neste computador"
    );
    assert_eq!(
        popup
            .evaluate("document.body.innerText.includes('disca-host install')")
            .await
            .unwrap(),
        false
    );
    popup
        .evaluate("document.getElementById('install-url').value = 'https://disca.acme.com.br'")
        .await
        .unwrap();
    popup.click("#install-button").await.unwrap();
    let tab = browser
        .chromium
        .page("https://disca.acme.com.br/downloads", WAIT)
        .await;
    assert!(tab.is_ok(), "the downloads page did not open");
    let worker = browser.worker().await;
    assert_eq!(badge_text(&worker).await, "!");
}

#[tokio::test]
async fn a_page_with_a_strict_content_security_policy_gets_its_controls() {
    let home = HostHome::new(host_binary());
    let browser = ExtensionBrowser::launch(&home).await;
    let page = browser
        .chromium
        .open(&browser.pages.url("/app/contacts/strict"))
        .await
        .unwrap();
    let found = page
        .wait_for(
            "document.querySelector('[data-disca-number]')?.dataset.discaNumber",
            WAIT,
        )
        .await
        .unwrap_or_else(|error| panic!("{error}: {:#?}", page.console()));
    assert_eq!(found, "+5548991112233");
}

/// Opens the popup, waits until it shows the problem `kind`, and returns the
/// text of its element `field`.
async fn problem_shown(
    browser: &ExtensionBrowser,
    home: &HostHome,
    kind: &str,
    field: &str,
) -> Value {
    browser
        .popup()
        .await
        .wait_for(
            &format!(
                "document.getElementById('problem').dataset.kind === '{kind}' && \
                 document.getElementById('{field}').textContent"
            ),
            WAIT,
        )
        .await
        .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}", home.log()))
}

#[tokio::test]
async fn the_popup_says_what_to_do_when_not_logged_in_or_the_backend_is_down() {
    // Installed, nobody logged in.
    let home = HostHome::new(host_binary());
    home.install().await;
    let browser = ExtensionBrowser::launch(&home).await;
    let title = problem_shown(&browser, &home, "not_logged_in", "problem-title").await;
    assert_eq!(title, "Entre no Disca");
    let form = browser
        .popup()
        .await
        .evaluate(
            "[document.getElementById('sign-in').hidden, document.getElementById('backend-url').hidden, \
             document.getElementById('sign-in-button').textContent, document.body.textContent.includes('disca-host ')]",
        )
        .await
        .unwrap();
    assert_eq!(
        form,
        json!([false, false, "Entrar", false]),
        "no terminal command, a form"
    );
    drop(browser);

    // Logged in to a backend that does not answer.
    let home = HostHome::new(host_binary());
    home.install().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    home.write_login(&dead, "dsk_0123456789abcdef0123456789abcdef");
    let browser = ExtensionBrowser::launch(&home).await;
    let title = problem_shown(&browser, &home, "backend_unreachable", "problem-title").await;
    assert_eq!(title, "Sem contato com o servidor do Disca");
    let text = problem_shown(&browser, &home, "backend_unreachable", "problem-text").await;
    assert!(
        text.as_str()
            .unwrap()
            .contains(&format!("Endereço tentado: {dead}.")),
        "{text}"
    );
    let worker = browser.worker().await;
    assert_eq!(badge_text(&worker).await, "!");

    // A click says so on the page too.
    let page = browser.open(&format!("/app/deals/{DEAL_ID}")).await;
    page.click("[data-disca-number=\"+5521998765432\"]")
        .await
        .unwrap();
    let toast = page
        .wait_for("document.querySelector('disca-toast')?.textContent", WAIT)
        .await
        .expect("a message on the page");
    assert!(!toast.as_str().unwrap().is_empty());
}

#[tokio::test]
async fn a_five_thousand_row_deal_list_is_annotated_in_slices() {
    let home = HostHome::new(host_binary());
    let browser = ExtensionBrowser::launch(&home).await;
    let page = browser.open("/app/deals?rows=5000").await;
    let report = page
        .wait_for(
            "window.scans.find((s) => s.numbers >= 5000)",
            Duration::from_secs(60),
        )
        .await
        .expect("every row annotated");
    // One control per row: CPFs, values and dates stay text.
    let controls = page
        .evaluate("document.querySelectorAll('[data-disca-number]').length")
        .await
        .unwrap();
    assert_eq!(controls, 5000, "{report}");
    let wrong = page
        .evaluate(
            "[...document.querySelectorAll('#rows tr')].filter((tr, i) => \
               tr.querySelector('[data-disca-number]')?.dataset.discaNumber !== window.phone(i).e164).length",
        )
        .await
        .unwrap();
    assert_eq!(wrong, 0);
    // How long slices take is measured by the benchmark, not asserted here:
    // tests share this machine's CPUs.
    assert!(
        report["slices"].as_u64().unwrap() > 1,
        "the work was sliced: {report}"
    );

    // Rows loaded later (infinite scroll) are read, and only they.
    let before = page
        .evaluate("window.scans.at(-1).text_nodes")
        .await
        .unwrap();
    page.evaluate("window.loadMore(500)").await.unwrap();
    let after = page
        .wait_for(
            "window.scans.find((s) => s.numbers >= 5500)",
            Duration::from_secs(30),
        )
        .await
        .expect("the new rows annotated");
    let read = after["text_nodes"].as_u64().unwrap() - before.as_u64().unwrap();
    // Each row has 6 text nodes.
    assert!(read <= 500 * 6, "read {read} text nodes for 500 new rows");
}

#[tokio::test]
async fn the_options_set_the_region_and_switch_disca_off() {
    let home = HostHome::new(host_binary());
    let browser = ExtensionBrowser::launch(&home).await;
    let options = browser
        .chromium
        .open(&format!(
            "chrome-extension://{}/options/options.html",
            disca_testkit::extension::EXTENSION_ID
        ))
        .await
        .unwrap();
    options
        .wait_for(
            "document.querySelector('input[name=region][value=none]')",
            WAIT,
        )
        .await
        .expect("the options page lists the regions");
    options
        .click("input[name=region][value=none]")
        .await
        .unwrap();
    options
        .wait_for(
            "chrome.storage.sync.get('region').then((s) => s.region === 'none')",
            WAIT,
        )
        .await
        .expect("the region is saved");

    // International only: numbers written with +, and tel: links whose
    // text shows their number (read with their own country's plan).
    let page = browser.open(&format!("/app/deals/{DEAL_ID}")).await;
    let found = page.evaluate(CONTROL_NUMBERS).await.unwrap();
    assert_eq!(found, json!(["+551134567890", "+5521998765432"]));

    options.click("#enabled").await.unwrap();
    options
        .wait_for(
            "chrome.storage.sync.get('enabled').then((s) => s.enabled === false)",
            WAIT,
        )
        .await
        .expect("switched off");
    let page = browser
        .chromium
        .open(&browser.pages.url(&format!("/app/deals/{DEAL_ID}")))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let controls = page
        .evaluate("document.querySelectorAll('[data-disca-number], disca-call').length")
        .await
        .unwrap();
    assert_eq!(controls, 0);
}

/// The pen test's disguises (`tests/fixtures/rdstation/disguised.html`):
/// whatever a page does, a person's click dials the number they see or
/// nothing. Honest numbers still dial.
#[tokio::test]
async fn the_number_dialled_is_the_number_shown() {
    let home = HostHome::new(host_binary());
    let browser = ExtensionBrowser::launch(&home).await;
    // Every call request that reaches the service worker, by number.
    let worker = browser.worker().await;
    // (Once the worker's script runs: right after install it may not yet.)
    worker
        .wait_for(
            "typeof chrome === 'object' && (globalThis.dialled || (globalThis.dialled = [], \
               chrome.runtime.onMessage.addListener((m) => { \
                 if (m && m.type === 'call.start') globalThis.dialled.push(m.number); }), \
               true))",
            WAIT,
        )
        .await
        .unwrap();
    let page = browser.open("/app/contacts/disguised").await;
    let dialled = async || worker.evaluate("globalThis.dialled").await.unwrap();
    let click = async |case: &str| {
        let spot = page
            .evaluate(&format!("window.spot('{case}')"))
            .await
            .unwrap();
        page.click_at(spot["x"].as_f64().unwrap(), spot["y"].as_f64().unwrap())
            .await
            .unwrap();
    };

    // Honest numbers are controls, and a click dials each.
    let honest = page.evaluate("window.honest").await.unwrap();
    for (case, number) in honest.as_object().unwrap() {
        let shown = page
            .evaluate(&format!(
                "document.querySelector('#{case} [data-disca-number]')?.dataset.discaNumber"
            ))
            .await
            .unwrap();
        assert_eq!(&shown, number, "{case}: {:#?}", page.console());
        click(case).await;
        worker
            .wait_for(
                &format!("globalThis.dialled.at(-1) === {number}"),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|error| panic!("{case} dialled nothing: {error}"));
    }

    // Numbers whose text or rendering is disguised get no control or
    // place no call; tel: links whose text is not their number are left
    // alone.
    page.evaluate("window.placePatch()").await.unwrap();
    let mut dialled_by = Vec::new();
    for case in [
        "tel-mismatch",
        "tel-wordy",
        "hidden-digit",
        "rlo",
        "bdo",
        "pseudo-face",
        "overlay",
        "restyled",
        "covered",
    ] {
        let before = dialled().await;
        click(case).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        let after = dialled().await;
        if after != before {
            dialled_by.push((case, after.as_array().unwrap().last().cloned()));
        }
    }
    assert!(
        dialled_by.is_empty(),
        "clicks on disguised numbers dialled: {dialled_by:?}"
    );
    let refused_at_scan = page
        .evaluate(
            "['tel-mismatch', 'tel-wordy', 'rlo'].filter((id) => \
               document.querySelector(`#${id} [data-disca-number]`))",
        )
        .await
        .unwrap();
    assert_eq!(
        refused_at_scan,
        json!([]),
        "controls made of disguised numbers"
    );
}
