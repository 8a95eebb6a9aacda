//! The extension as Chromium loads it: `dist/extension/`, built from the
//! root `manifest.json`, the content script's wasm (`extension/content`,
//! optimised profile `wasm`, bound by `wasm-bindgen --target no-modules`,
//! then binaryen's `wasm-opt -Oz`)
//! and the static files of `extension/static/`. `cargo xtask extension`
//! and the browser tests build it the same way, with [`build`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::chromium::{Chromium, ChromiumOptions, Page, Worker};
use crate::crm_pages::CrmPages;
use crate::host::HostHome;
use crate::instance::repository_dir;

/// The extension's fixed development id (from the manifest's `key`).
pub const EXTENSION_ID: &str = "keofekjiepbclilkdjjcaigdgbabkkpf";
/// The wasm target.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The content script's crate.
const CONTENT_CRATE: &str = "disca-content";

/// Where the built extension goes.
pub fn dist_dir() -> PathBuf {
    repository_dir().join("dist").join("extension")
}

/// The `wasm-bindgen` version in `Cargo.lock`: the CLI must be the same.
pub fn wasm_bindgen_version() -> anyhow::Result<String> {
    let lock = std::fs::read_to_string(repository_dir().join("Cargo.lock"))
        .context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\""
            && let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = \""))
        {
            return Ok(version.trim_end_matches('"').to_owned());
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}

/// The `wasm-bindgen` program (on PATH or in cargo's bin directory) when it
/// is the version `Cargo.lock` asks for.
pub fn wasm_bindgen_program(version: &str) -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("wasm-bindgen")];
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        candidates.push(Path::new(&home).join("bin/wasm-bindgen"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cargo/bin/wasm-bindgen"));
    }
    candidates.into_iter().find(|program| {
        Command::new(program)
            .arg("--version")
            .output()
            .is_ok_and(|out| {
                String::from_utf8_lossy(&out.stdout).trim() == format!("wasm-bindgen {version}")
            })
    })
}

/// Builds `dist/extension/` and returns its path.
pub fn build() -> anyhow::Result<PathBuf> {
    let repository = repository_dir();
    let version = wasm_bindgen_version()?;
    let Some(bindgen) = wasm_bindgen_program(&version) else {
        bail!(
            "wasm-bindgen {version} is not installed: `cargo install wasm-bindgen-cli --version {version}` \
             (or run `cargo xtask test`, which installs it)"
        );
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // MVP wasm (no reference types; the profile strips the target-features
    // section, so wasm-bindgen binds it without an externref table): binaryen's
    // wasm2js turns it into the JS fallback below.
    let status = Command::new(cargo)
        .current_dir(&repository)
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS",
            "-C target-cpu=mvp",
        )
        .args([
            "build",
            "--quiet",
            "-p",
            CONTENT_CRATE,
            "--target",
            WASM_TARGET,
            "--profile",
            "wasm",
        ])
        .status()
        .context("starting cargo")?;
    if !status.success() {
        bail!(
            "building {CONTENT_CRATE} for {WASM_TARGET} failed ({status}); is the target installed? `rustup target add {WASM_TARGET}`"
        );
    }
    let wasm = repository
        .join("target")
        .join(WASM_TARGET)
        .join("wasm")
        .join("disca_content.wasm");

    let dist = dist_dir();
    if dist.exists() {
        std::fs::remove_dir_all(&dist).with_context(|| format!("clearing {}", dist.display()))?;
    }
    copy_tree(&repository.join("extension").join("static"), &dist)?;
    std::fs::copy(repository.join("manifest.json"), dist.join("manifest.json"))
        .context("copying manifest.json")?;
    let status = Command::new(&bindgen)
        .arg("--target")
        .arg("no-modules")
        .arg("--no-typescript")
        .arg("--remove-name-section")
        .arg("--remove-producers-section")
        .arg("--out-name")
        .arg("disca_content")
        .arg("--out-dir")
        .arg(dist.join("content"))
        .arg(&wasm)
        .status()
        .with_context(|| format!("starting {}", bindgen.display()))?;
    if !status.success() {
        bail!("wasm-bindgen failed ({status})");
    }
    let content = dist.join("content");
    optimise_wasm(&content.join("disca_content_bg.wasm"))?;
    for script in ["disca_content.js", "load.js", "boot.js"] {
        let path = content.join(script);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {script}"))?;
        std::fs::write(&path, compact_js(&text)).with_context(|| format!("writing {script}"))?;
    }
    write_js_fallback(
        &content.join("disca_content_bg.wasm"),
        &content.join(JS_FALLBACK),
    )?;
    Ok(dist)
}

/// The wasm features the bound module uses (rustc's MVP plus bulk memory
/// and sign extension, which its `std` brings): binaryen must be told.
const WASM_FEATURES: [&str; 4] = [
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-nontrapping-float-to-int",
    "--enable-mutable-globals",
];

/// Runs binaryen's `wasm-opt -Oz` on the bound wasm, in place: about 8 %
/// smaller (the content script loads on every CRM page), as fast.
fn optimise_wasm(wasm: &Path) -> anyhow::Result<()> {
    let status = Command::new("wasm-opt")
        .arg("-Oz")
        .args(WASM_FEATURES)
        .arg(wasm)
        .arg("-o")
        .arg(wasm)
        .status()
        .context("starting wasm-opt (Debian package binaryen)")?;
    if !status.success() {
        bail!("wasm-opt failed ({status})");
    }
    Ok(())
}

/// The content script's code compiled to JS, for pages whose
/// Content-Security-Policy makes Chromium refuse to compile wasm even in
/// content scripts. Injected by the service worker only on such pages.
pub const JS_FALLBACK: &str = "disca_content_asm.js";

/// Runs binaryen's `wasm2js` on the bound wasm and wraps its ES module as
/// a script that defines `discaWasm2js(imports)` in the content script's
/// world (its `import` lines and exports are dropped: the imports come from
/// the wasm-bindgen glue at instantiation).
fn write_js_fallback(wasm: &Path, out: &Path) -> anyhow::Result<()> {
    let raw = out.with_extension("module.js");
    let status = Command::new("wasm2js")
        .arg(wasm)
        .arg("-O2")
        .args(WASM_FEATURES)
        .arg("-o")
        .arg(&raw)
        .status()
        .context("starting wasm2js (Debian package binaryen)")?;
    if !status.success() {
        bail!("wasm2js failed ({status})");
    }
    let module = std::fs::read_to_string(&raw).context("reading wasm2js output")?;
    std::fs::remove_file(&raw)?;
    let body = module
        .split("\nvar retasmFunc = asmFunc(")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.starts_with("import "))
        .collect::<Vec<_>>()
        .join("\n");
    if !body.contains("function asmFunc(") {
        bail!("wasm2js output has no asmFunc: its format changed");
    }
    let script = format!(
        "// Generated by wasm2js from disca_content_bg.wasm.\n(() => {{\n{body}\nglobalThis.discaWasm2js = asmFunc;\n}})();\n"
    );
    std::fs::write(out, script).with_context(|| format!("writing {}", out.display()))
}

/// A content script without its whole-line comments and indentation (a
/// third of the wasm-bindgen glue's size, half of `boot.js`'s; the content
/// script loads on every CRM page). Line-based: the glue and the content
/// scripts have no multi-line strings or template literals.
fn compact_js(glue: &str) -> String {
    let mut compact = String::with_capacity(glue.len());
    let mut in_doc_comment = false;
    for line in glue.lines() {
        let line = line.trim();
        if in_doc_comment {
            in_doc_comment = !line.contains("*/");
            continue;
        }
        if line.starts_with("/**") || line.starts_with("/*") {
            in_doc_comment = !line.contains("*/");
            continue;
        }
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        compact.push_str(line);
        compact.push('\n');
    }
    compact
}

/// `dist/extension/`, built once per test process (a failure fails the test).
pub fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| match build() {
        Ok(dist) => dist,
        Err(error) => panic!("building the extension: {error:#}"),
    })
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
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
        let pages = CrmPages::start(Vec::new()).await;
        let options = pages.browser(
            ChromiumOptions::new(home.browser_dir())
                .extension(built())
                .envs(home.environment()),
        );
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

#[cfg(test)]
mod tests {
    use super::compact_js;

    #[test]
    fn glue_loses_comments_and_indentation_only() {
        let glue = "let a = (function() {\n    /**\n     * Doc.\n     */\n    // note\n    const s = 'x // y';\n\n    return s;\n})();\n";
        assert_eq!(
            compact_js(glue),
            "let a = (function() {\nconst s = 'x // y';\nreturn s;\n})();\n"
        );
    }
}
