//! The extension as Chromium loads it: `dist/extension/`, which only
//! `cargo xtask extension` builds (`xtask/src/extension.rs`); [`built`]
//! runs that command once per test process, so a browser test always runs
//! the extension as the source is now. Also a Chromium running it
//! ([`ExtensionBrowser`]) and what the tests read in it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::cargo::nested_cargo;
use crate::chromium::{Chromium, ChromiumOptions, Page, Worker};
use crate::crm_pages::CrmPages;
use crate::host::HostHome;
use crate::instance::repository_dir;

/// The extension's fixed development id (from the manifest's `key`).
pub const EXTENSION_ID: &str = "keofekjiepbclilkdjjcaigdgbabkkpf";

/// The content script's code compiled to JS, for pages whose
/// Content-Security-Policy makes Chromium refuse to compile wasm even in
/// content scripts. Injected by the service worker only on such pages.
pub const JS_FALLBACK: &str = "disca_content_asm.js";

/// Where `cargo xtask extension` puts the built extension.
pub fn dist_dir() -> PathBuf {
    repository_dir().join("dist").join("extension")
}

/// Runs `cargo xtask extension` (with the cargo running the tests) and
/// returns `dist/extension/`.
pub fn build() -> anyhow::Result<PathBuf> {
    let output = nested_cargo()
        .args(["xtask", "extension"])
        .output()
        .context("starting `cargo xtask extension`")?;
    if !output.status.success() {
        bail!(
            "`cargo xtask extension` failed ({}); the browser tests need the built extension:\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let dist = dist_dir();
    if !dist.join("manifest.json").is_file() {
        bail!(
            "`cargo xtask extension` succeeded but {} has no manifest.json",
            dist.display()
        );
    }
    Ok(dist)
}

/// `dist/extension/`, built once per test process (a failure fails the test).
pub fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| match build() {
        Ok(dist) => dist,
        Err(error) => panic!("building the extension: {error:#}"),
    })
}

/// Headless Chromium running the built extension, with the RD Station
/// pages served under RD Station's host name. The browser's user-data-dir
/// and environment are those of `home`: whether `disca-host` is installed
/// (and logged in) there decides what the extension finds.
pub struct ExtensionBrowser {
    pub chromium: Chromium,
    pub pages: CrmPages,
}

impl ExtensionBrowser {
    pub async fn launch(home: &HostHome) -> ExtensionBrowser {
        ExtensionBrowser::launch_with(home, &[]).await
    }

    /// [`ExtensionBrowser::launch`] with a microphone: Chromium's fake
    /// device plays the WAV file `microphone` (48 kHz mono, e.g. from
    /// [`crate::audio::write_tone`]) and media permissions are granted
    /// without a prompt.
    pub async fn launch_with_microphone(home: &HostHome, microphone: &Path) -> ExtensionBrowser {
        let capture = format!("--use-file-for-fake-audio-capture={}", microphone.display());
        ExtensionBrowser::launch_with(
            home,
            &[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                &capture,
            ],
        )
        .await
    }

    async fn launch_with(home: &HostHome, args: &[&str]) -> ExtensionBrowser {
        let pages = CrmPages::start(Vec::new()).await;
        let mut options = ChromiumOptions::new(home.browser_dir())
            .extension(built())
            .envs(home.environment());
        for arg in args {
            options = options.arg(*arg);
        }
        let options = pages.browser(options);
        let chromium = Chromium::launch(options).await.expect("chromium starts");
        ExtensionBrowser { chromium, pages }
    }

    /// A CRM page (`path` on RD Station's host) with its content script
    /// done with the first pass.
    pub async fn open(&self, path: &str) -> Page {
        let page = self
            .chromium
            .open(&self.pages.url(path))
            .await
            .expect("page opens");
        page.wait_for(
            "window.scans && window.scans.length > 0",
            Duration::from_secs(20),
        )
        .await
        .unwrap_or_else(|error| {
            panic!(
                "the content script never reported on {path}: {error}\n{:#?}",
                page.console()
            )
        });
        page
    }

    /// The popup, opened as a tab.
    pub async fn popup(&self) -> Page {
        let page = self
            .chromium
            .open(&format!(
                "chrome-extension://{EXTENSION_ID}/popup/popup.html"
            ))
            .await
            .expect("popup opens");
        page.wait_for("document.body.dataset.host", Duration::from_secs(10))
            .await
            .expect("popup gets the state");
        page
    }

    /// The extension's service worker.
    pub async fn worker(&self) -> Worker {
        self.chromium
            .worker(
                &format!("chrome-extension://{EXTENSION_ID}/"),
                Duration::from_secs(20),
            )
            .await
            .expect("the service worker runs")
    }
}

/// The popup's line for the call that just ended (e.g. `Atendida · 0:07`),
/// once it shows; the host's log in the failure.
pub async fn ended_outcome(popup: &Page, home: &HostHome) -> String {
    popup
        .wait_for(
            "!document.getElementById('ended').hidden && document.getElementById('ended-outcome').textContent",
            crate::system::PATIENCE,
        )
        .await
        .unwrap_or_else(|error| panic!("{error}\nhost log:\n{}", home.log()))
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The badge's text, read in the service worker.
pub async fn badge_text(worker: &Worker) -> String {
    worker
        .evaluate("chrome.action.getBadgeText({})")
        .await
        .ok()
        .and_then(|text| text.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A JavaScript string literal of `text`.
fn js_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// Opens an invitation or reset `link` (the backend's page) in a tab and
/// sets `password` there, as the person would; returns the page's greeting.
pub async fn set_password_from_link(
    chromium: &Chromium,
    link: &str,
    password: &str,
) -> anyhow::Result<String> {
    let page = chromium.open(link).await?;
    let greeting = page
        .wait_for(
            "!document.getElementById('senha').hidden && document.getElementById('saudacao').textContent",
            Duration::from_secs(20),
        )
        .await
        .with_context(|| format!("the password page never showed its form: {:?}", page.console()))?;
    let address = page.evaluate("location.href").await?;
    if address.as_str().is_none_or(|a| a.contains('#')) {
        bail!("the link's secret stayed in the address bar: {address}");
    }
    page.evaluate(&format!(
        "document.getElementById('nova').value = {pw}; document.getElementById('repetida').value = {pw}",
        pw = js_string(password)
    ))
    .await?;
    page.click("#senha button").await?;
    page.wait_for(
        "!document.getElementById('pronto').hidden",
        Duration::from_secs(20),
    )
    .await
    .context("the password was not taken")?;
    page.close().await?;
    Ok(greeting.as_str().unwrap_or_default().to_owned())
}

/// Signs in from the popup (an open `popup` page): types the company's
/// address `backend` if the popup asks for it, clicks "Entrar", signs in as
/// `email`/`password` on the backend's page that opens, and waits until
/// the popup shows the user. Returns the name it shows.
pub async fn sign_in_from_popup(
    chromium: &Chromium,
    popup: &Page,
    backend: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let wait = Duration::from_secs(20);
    popup
        .wait_for(
            "document.getElementById('problem').dataset.kind === 'not_logged_in' && \
             !document.getElementById('sign-in').hidden",
            wait,
        )
        .await
        .context("the popup never offered to sign in")?;
    popup
        .evaluate(&format!(
            "if (!document.getElementById('backend-url').hidden) \
               document.getElementById('backend-url').value = {}",
            js_string(backend)
        ))
        .await?;
    popup.click("#sign-in-button").await?;
    let page = chromium
        .page(&format!("{backend}/oauth/authorize"), wait)
        .await
        .context("the sign-in page never opened")?;
    page.wait_for(
        "document.readyState === 'complete' && !!document.getElementById('email')",
        wait,
    )
    .await?;
    page.evaluate(&format!(
        "document.getElementById('email').value = {}; document.getElementById('senha').value = {}",
        js_string(email),
        js_string(password)
    ))
    .await?;
    page.click("#entrar button").await?;
    let name = popup
        .wait_for(
            "!document.getElementById('sign-out').hidden && document.getElementById('user').textContent",
            wait,
        )
        .await
        .context("the popup never showed the user signed in")?;
    Ok(name.as_str().unwrap_or_default().to_owned())
}
