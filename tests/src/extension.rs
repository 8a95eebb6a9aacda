//! The extension as Chromium loads it: `dist/extension/`, built from the
//! root `manifest.json`, the content script's wasm (`extension/content`,
//! optimised profile `wasm`, bound by `wasm-bindgen --target no-modules`)
//! and the static files of `extension/static/`. `cargo xtask extension`
//! and the browser tests build it the same way, with [`build`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Context, bail};

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
    let status = Command::new(cargo)
        .current_dir(&repository)
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
