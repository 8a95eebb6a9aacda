//! The first run without a terminal, in headless Chromium with the real
//! extension and `disca-host`: a manager's invitation link → Ana sets her
//! password on the backend's page → "Entrar" in the popup (the company's
//! address typed once) → the backend's sign-in page in a tab → the host
//! finishes the OAuth 2.0 + PKCE flow on its loopback listener → the popup
//! shows Ana and "Sair"; the device token is in the OS keyring only (never
//! in a file, never in the extension) → "Sair" revokes it at the backend.

use std::time::Duration;

use disca_backend::accounts::{Accounts, links};
use disca_backend::domain::{PhoneKind, Role, Tenant};
use disca_backend::storage::{LinkPurpose, NewUser, TokenKind};
use disca_host::credentials::{CredentialStore, StoreKind};
use disca_testkit::TestApp;
use disca_testkit::extension::{ExtensionBrowser, set_password_from_link, sign_in_from_popup};
use disca_testkit::host::{HostHome, host_binary};

const WAIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "cavalo-correto-bateria";

#[tokio::test]
async fn a_new_salesperson_signs_in_from_the_popup_with_no_terminal_and_no_token() {
    let app = TestApp::spawn().await;
    app.store
        .add_tenant(&Tenant::in_brazil("acme".parse().unwrap(), "Acme Ltda"))
        .await
        .unwrap();
    let ana = app
        .store
        .add_user(NewUser {
            tenant: "acme",
            name: "Ana",
            email: "ana@acme.com.br",
            extension: &"1001".parse().unwrap(),
            role: Role::Agent,
            phone: PhoneKind::Desk,
            token_hash: None,
        })
        .await
        .unwrap();
    // The manager's invitation (no SMTP here: the link is shown to send).
    let invitation = links::issue(
        &Accounts::new(&app.base, None),
        &app.store,
        &ana,
        LinkPurpose::Invite,
    )
    .await
    .unwrap();

    let home = HostHome::new(host_binary());
    home.install().await;
    let browser = ExtensionBrowser::launch(&home).await;

    // Ana opens the link and sets her password.
    let greeting = set_password_from_link(&browser.chromium, &invitation.url, PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        greeting,
        "Olá, Ana! Crie a sua senha do Disca na Acme Ltda."
    );

    // The popup: not signed in, asks the company's address once.
    let popup = browser.popup().await;
    let title = popup
        .wait_for(
            "document.getElementById('problem').dataset.kind === 'not_logged_in' && \
             !document.getElementById('backend-url').hidden && \
             document.getElementById('problem-title').textContent",
            WAIT,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\nhost log:\n{}", home.log()));
    assert_eq!(title, "Entre no Disca");

    // "Entrar": the backend's sign-in page in a tab; Ana signs in there;
    // the popup shows her and "Sair".
    let user = sign_in_from_popup(
        &browser.chromium,
        &popup,
        &app.base,
        "ana@acme.com.br",
        PASSWORD,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\nhost log:\n{}", home.log()));
    assert_eq!(user, "Ana");
    assert_eq!(
        popup
            .evaluate("document.getElementById('problem').hidden")
            .await
            .unwrap(),
        true
    );

    // The device token: at the backend as a hash, in the kernel keyring,
    // in no file of the home, and nowhere in the extension's state.
    let tokens = app.store.tokens(&ana.id).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].kind, TokenKind::Device);
    let token = CredentialStore::new(StoreKind::KernelKeyring)
        .load(&app.base)
        .unwrap()
        .expect("the token is in the keyring");
    assert!(token.starts_with("disca_"));
    for entry in walk(home.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(token.as_str()),
            "the token is in {}",
            entry.display()
        );
    }
    let worker = browser.worker().await;
    let state = worker
        .evaluate("JSON.stringify(globalThis.disca.state)")
        .await
        .unwrap();
    assert!(!state.as_str().unwrap().contains(token.as_str()));
    let me = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(token.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // "Sair": the token is revoked and forgotten; the address is kept.
    popup.click("#sign-out").await.unwrap();
    popup
        .wait_for(
            "document.getElementById('problem').dataset.kind === 'not_logged_in' && \
             document.getElementById('backend-url').hidden && \
             document.getElementById('sign-in-address').textContent",
            WAIT,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\nhost log:\n{}", home.log()));
    let me = app
        .http
        .get(app.url("/v1/me"))
        .bearer_auth(token.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    assert!(
        CredentialStore::new(StoreKind::KernelKeyring)
            .load(&app.base)
            .unwrap()
            .is_none()
    );
    assert!(app.store.tokens(&ana.id).await.unwrap().is_empty());
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
