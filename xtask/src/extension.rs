//! `cargo xtask extension`: the toolchain the extension needs (the wasm
//! target, `wasm-bindgen-cli` at the version in `Cargo.lock`, Node.js and
//! npm) and the build of `dist/extension/` from the root `manifest.json`,
//! the content script's wasm (`extension/content`, optimised profile `wasm`,
//! bound by `wasm-bindgen --target no-modules`, then binaryen's `wasm-opt
//! -Oz`), the static files of `extension/static/`, and the softphone bundled
//! with SIP.js by esbuild (both pinned in `extension/package-lock.json`,
//! installed by `npm ci` when stale; same sources, same bytes). The only
//! place the extension is
//! built: the browser tests run this command once per test process
//! (`disca_testkit::extension::built`).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use disca_testkit::cargo::nested_cargo;
use disca_testkit::extension::{JS_FALLBACK, dist_dir};
use disca_testkit::instance::repository_dir;

use crate::javascript;
use crate::process::{run, step};

/// The wasm target.
const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The content script's crate.
const CONTENT_CRATE: &str = "disca-content";
/// The softphone's entry module, in `extension/`; the bundle replaces it
/// at the same path in `dist/extension/`.
const SOFTPHONE_ENTRY: &str = "static/offscreen/softphone.js";

/// Installs what building the extension needs, when missing.
pub fn ensure_toolchain() -> anyhow::Result<()> {
    let targets =
        crate::process::output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !targets.lines().any(|line| line.trim() == WASM_TARGET) {
        run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    let version = wasm_bindgen_version()?;
    if wasm_bindgen_program(&version).is_none() {
        // Not `--locked`: the CLI's own lock file pins a webpki-roots release
        // the registry no longer serves.
        run(nested_cargo().args(["install", "wasm-bindgen-cli", "--version", &version]))?;
    }
    javascript::ensure_node()
}

/// Builds `dist/extension/`.
pub fn build_extension() -> anyhow::Result<()> {
    ensure_toolchain()?;
    step("Extension: dist/extension");
    let dist = build()?;
    println!(
        "Built {} (load it unpacked from chrome://extensions)",
        dist.display()
    );
    Ok(())
}

/// The `wasm-bindgen` version in `Cargo.lock`: the CLI must be the same.
fn wasm_bindgen_version() -> anyhow::Result<String> {
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
fn wasm_bindgen_program(version: &str) -> Option<PathBuf> {
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
    // MVP wasm (no reference types; the profile strips the target-features
    // section, so wasm-bindgen binds it without an externref table): binaryen's
    // wasm2js turns it into the JS fallback below.
    let status = nested_cargo()
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
    for script in ["disca_content.js", "load.js", "messages.js", "boot.js"] {
        let path = content.join(script);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {script}"))?;
        std::fs::write(&path, compact_js(&text)).with_context(|| format!("writing {script}"))?;
    }
    write_js_fallback(
        &content.join("disca_content_bg.wasm"),
        &content.join(JS_FALLBACK),
    )?;
    bundle_softphone(&dist)?;
    Ok(dist)
}

/// Bundles the softphone with SIP.js into one ES module (esbuild from
/// `node_modules/`, installed by `npm ci` when stale). Deterministic: no
/// source map, no timestamps, paths relative to `extension/`.
fn bundle_softphone(dist: &Path) -> anyhow::Result<()> {
    javascript::ensure_dependencies()?;
    let dir = javascript::extension_dir();
    let outfile = dist.join(SOFTPHONE_ENTRY.trim_start_matches("static/"));
    let status = Command::new(dir.join("node_modules/.bin/esbuild"))
        .arg(SOFTPHONE_ENTRY)
        .args([
            "--bundle",
            "--format=esm",
            "--target=chrome121",
            "--charset=utf8",
            "--legal-comments=eof",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", outfile.display()))
        .current_dir(&dir)
        .status()
        .context("starting esbuild (extension/node_modules; `npm ci` in extension/)")?;
    if !status.success() {
        bail!("esbuild failed to bundle the softphone ({status})");
    }
    Ok(())
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
