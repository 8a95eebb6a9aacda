//! Cargo run from a process cargo started (a test, `cargo xtask`), in the
//! repository. Cargo gives that process variables describing its package
//! (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`...); some build scripts (ring's)
//! watch them, so a nested cargo that inherits them rebuilds those crates
//! and everything above them, and the next plain `cargo` rebuilds them back.

use std::process::Command;

use crate::instance::repository_dir;

/// Variables cargo sets for what it runs, besides `CARGO_PKG_*`.
const PACKAGE_VARS: [&str; 5] = [
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    "CARGO_PRIMARY_PACKAGE",
];

/// `$CARGO` (the cargo running this process, so the same toolchain), in
/// the repository, without the package variables of this process.
pub fn nested_cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(repository_dir());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("CARGO_PKG_") || PACKAGE_VARS.contains(&name.as_ref()) {
            command.env_remove(name.as_ref());
        }
    }
    command
}
