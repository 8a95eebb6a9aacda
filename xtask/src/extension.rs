//! `cargo xtask extension`: the toolchain the extension needs (the wasm
//! target, `wasm-bindgen-cli` at the version in `Cargo.lock`) and the build
//! of `dist/extension/` (shared with the browser tests:
//! [`disca_tests::extension::build`]).

use std::process::Command;

use disca_tests::extension::{WASM_TARGET, build, wasm_bindgen_program, wasm_bindgen_version};

use crate::process::{run, step};

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
        run(
            Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())).args([
                "install",
                "wasm-bindgen-cli",
                "--version",
                &version,
            ]),
        )?;
    }
    Ok(())
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
