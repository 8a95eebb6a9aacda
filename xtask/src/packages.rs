//! Debian packages the project needs on the host, installed with apt-get.

use std::process::Command;

use crate::process::{privileged, run, step};

/// Every host package the tests and the development PBX need: mmdebstrap
/// builds the Asterisk root, sip-tester provides SIPp; dbus (dbus-run-session),
/// gnome-keyring and libsecret-tools (secret-tool) give the native host's
/// tests a real Secret Service, keyutils (keyctl) checks the kernel keyring,
/// chromium runs the browser tests, binaryen (wasm-opt, wasm2js) builds the content
/// script's JS fallback, sqlite3 is the other process that holds the
/// backend's database lock in the storage fault tests, openssl makes the test
/// PBX's certificate and probes its TLS listeners (`s_client`), coturn is the
/// TURN server that takes a browser phone's short-lived credentials,
/// python3-aiosmtpd the SMTP server invitations and password resets are
/// mailed to, espeak-ng speaks the default recording announcement the
/// backend is built with, prometheus gives `promtool` for the alert rules,
/// caddy is the TLS proxy of the deployment test, postgresql the throwaway
/// server the backend's tests run on again (and `pg_dump`/`pg_restore` for
/// the backup test).
pub const REQUIRED_PACKAGES: &[&str] = &[
    "mmdebstrap",
    "sip-tester",
    "dbus",
    "gnome-keyring",
    "libsecret-tools",
    "keyutils",
    "chromium",
    "binaryen",
    "sqlite3",
    "openssl",
    "coturn",
    "python3-aiosmtpd",
    "espeak-ng",
    "prometheus",
    "caddy",
    "postgresql",
];

/// Installs whichever of `packages` are missing (apt-get update first).
pub fn ensure_installed(packages: &[&str]) -> anyhow::Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|package| !is_installed(package))
        .collect();
    if missing.is_empty() {
        println!("Already installed: {}", packages.join(", "));
        return Ok(());
    }
    step(&format!("Installing {}", missing.join(", ")));
    run(privileged("apt-get").arg("update"))?;
    run(privileged("env")
        .arg("DEBIAN_FRONTEND=noninteractive")
        .args(["apt-get", "install", "-y", "--no-install-recommends"])
        .args(&missing))
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", package])
        .output()
        .is_ok_and(|output| output.status.success() && output.stdout == b"installed")
}
