//! `cargo xtask backend-deb`: `target/dist/disca-backend_<version>_amd64.deb`,
//! what an operator installs the backend from (dpkg-deb, Debian's own
//! tool): the program in `/usr/bin`, its hardened systemd unit, the
//! default settings in `/etc/disca/backend.toml` (a conffile), and a
//! `postinst` that makes the `disca` system user and `/var/lib/disca`.
//! The unit and the files are `packaging/backend/`'s; the test
//! `tests/tests/operations.rs` checks the package and verifies the unit
//! with `systemd-analyze`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, ensure};
use disca_testkit::cargo::nested_cargo;
use disca_testkit::instance::repository_dir;

use crate::process::{output, run, step};

/// Builds the package from `binary` (default: a release build, stripped of
/// its debug lines); returns its path.
pub fn backend_deb(binary: Option<&Path>) -> anyhow::Result<PathBuf> {
    let repository = repository_dir();
    let out = repository.join("target").join("dist");
    std::fs::create_dir_all(&out)?;
    let version = env!("CARGO_PKG_VERSION");
    let program = out.join("disca-backend");
    match binary {
        Some(binary) => {
            std::fs::copy(binary, &program)
                .with_context(|| format!("cannot copy {}", binary.display()))?;
        }
        None => {
            step("disca-backend, release build");
            run(nested_cargo().current_dir(&repository).args([
                "build",
                "--release",
                "-p",
                "disca-backend",
                "--bin",
                "disca-backend",
            ]))?;
            std::fs::copy(repository.join("target/release/disca-backend"), &program)?;
            run(Command::new("strip").arg("--strip-debug").arg(&program))?;
        }
    }
    step("disca-backend .deb");
    let packaging = repository.join("packaging/backend");
    let root = out.join("backend-deb-root");
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    let file = |path: &str, bytes: &[u8], mode: u32| -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let target = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().context("a parent folder")?)?;
        std::fs::write(&target, bytes)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))?;
        Ok(())
    };
    let read = |name: &str| std::fs::read(packaging.join(name));
    file("/usr/bin/disca-backend", &std::fs::read(&program)?, 0o755)?;
    file(
        "/lib/systemd/system/disca-backend.service",
        &read("disca-backend.service")?,
        0o644,
    )?;
    file("/etc/disca/backend.toml", &read("backend.toml")?, 0o644)?;
    file("DEBIAN/conffiles", b"/etc/disca/backend.toml\n", 0o644)?;
    file("DEBIAN/postinst", &read("postinst")?, 0o755)?;
    let installed_kib = std::fs::metadata(&program)?.len() / 1024 + 8;
    file(
        "DEBIAN/control",
        format!(
            "Package: disca-backend\n\
             Version: {version}\n\
             Architecture: amd64\n\
             Maintainer: Disca <suporte@disca.com.br>\n\
             Installed-Size: {installed_kib}\n\
             Depends: libc6 (>= 2.36), adduser\n\
             Section: net\n\
             Priority: optional\n\
             Homepage: https://disca.com.br\n\
             Description: Disca backend: click-to-call for RD Station CRM\n \
             The server of Disca: the API the browser extension calls, the link\n \
             to the company's Asterisk PBX, the manager page and admin console,\n \
             and the notes written to RD Station CRM. Runs as a systemd service.\n"
        )
        .as_bytes(),
        0o644,
    )?;
    let deb = out.join(format!("disca-backend_{version}_amd64.deb"));
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(&deb))?;
    let name = output(
        Command::new("dpkg-deb")
            .arg("--field")
            .arg(&deb)
            .arg("Package"),
    )?;
    ensure!(name.trim() == "disca-backend", "dpkg-deb reads {name:?}");
    println!("{}", deb.display());
    Ok(deb)
}
