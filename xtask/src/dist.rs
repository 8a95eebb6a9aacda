//! `cargo xtask dist`: what a company installs, in `target/dist/`.
//!
//! - `disca-host_<version>_amd64.deb` (dpkg-deb, Debian's own tool) and
//!   `disca-host-<version>-1.x86_64.rpm` (the `rpm` crate, pure Rust): the
//!   release `disca-host` in `/usr/bin`, its native messaging manifest in
//!   every browser's system-wide folder
//!   (`disca_host::install::LINUX_SYSTEM_MANIFEST_DIRS`), and the machine's
//!   settings (`/etc/disca/host.toml`) naming the extensions it serves, so
//!   nobody runs `disca-host install`.
//! - `disca-extension-<version>.zip`: the Chrome Web Store upload (the
//!   development `key` removed: the store assigns the id).
//! - `disca-extension-<version>.crx` (CRX3, packed and signed by Chromium
//!   with the company's key) and `update.xml`, for self-hosting and
//!   `ExtensionInstallForcelist`.
//! - `macos/` and `windows/`: the inputs of the `.pkg` and `.msi` that
//!   cannot be built on Linux (the same manifests and settings, the
//!   `pkgbuild` and WiX commands written out), from the paths and registry
//!   keys `disca_host::install` knows.
//!
//! The extension's id is its signing key's (`--extension-key`, a PEM RSA
//! key; without one a development key is made once in `target/dist/` and
//! said to be one).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail, ensure};
use disca_host::install::{
    LINUX_SYSTEM_MANIFEST_DIRS, MACOS_SYSTEM_MANIFEST_DIRS, WINDOWS_SYSTEM_REGISTRY_KEYS,
    manifest_json,
};
use disca_testkit::cargo::nested_cargo;
use disca_testkit::instance::repository_dir;
use sha2::{Digest, Sha256};

use crate::process::{output, run, step};

/// Where the installed host lives on Linux (the manifests' `path`).
const LINUX_HOST_PATH: &str = "/usr/bin/disca-host";
/// The machine's settings on Linux (`disca_host::config::machine_config_file`).
const LINUX_MACHINE_CONFIG: &str = "/etc/disca/host.toml";
const MACOS_HOST_PATH: &str = "/Library/Application Support/Disca/disca-host";
const MACOS_MACHINE_CONFIG: &str = "/Library/Application Support/Disca/host.toml";

/// What `dist` is asked for.
pub struct DistOptions {
    /// The extension's signing key (PEM, RSA); a development key otherwise.
    pub extension_key: Option<PathBuf>,
    /// Where the files will be downloaded from (the backend's `/downloads`,
    /// e.g. `https://disca.empresa.com.br/downloads`): `update.xml` names
    /// the CRX there.
    pub downloads_url: String,
    /// Other extension ids the host serves (the Web Store's, once published).
    pub extra_extension_ids: Vec<String>,
}

pub fn dist(options: &DistOptions) -> anyhow::Result<()> {
    let repository = repository_dir();
    let out = repository.join("target").join("dist");
    std::fs::create_dir_all(&out)?;
    let version = env!("CARGO_PKG_VERSION");

    step("disca-host, release build");
    run(nested_cargo()
        .current_dir(&repository)
        .args(["build", "--release", "-p", "disca-host"]))?;
    // The release profile keeps line tables for backtraces; the packages
    // ship the program without them.
    let host = out.join("disca-host");
    std::fs::copy(repository.join("target/release/disca-host"), &host)?;
    run(Command::new("strip").arg("--strip-debug").arg(&host))?;

    step("The extension");
    let extension = crate::extension::build()?;

    let key = match &options.extension_key {
        Some(key) => key.clone(),
        None => development_key(&out)?,
    };
    let extension_id = extension_id(&key)?;
    println!("Extension id (from {}): {extension_id}", key.display());
    let mut ids = vec![extension_id.clone()];
    for id in &options.extra_extension_ids {
        disca_host::install::ExtensionId::parse(id).map_err(|e| anyhow::anyhow!("{e}"))?;
        ids.push(id.clone());
    }
    let origins: Vec<String> = ids
        .iter()
        .map(|id| format!("chrome-extension://{id}/"))
        .collect();

    step("Chrome Web Store zip and CRX3");
    let packed = out.join("extension-packed");
    if packed.exists() {
        std::fs::remove_dir_all(&packed)?;
    }
    copy_tree(&extension, &packed)?;
    strip_development_key(&packed.join("manifest.json"))?;
    let store_zip = out.join(format!("disca-extension-{version}.zip"));
    zip_tree(&packed, &store_zip)?;
    let crx = out.join(format!("disca-extension-{version}.crx"));
    pack_crx(&packed, &key, &crx)?;
    check_crx(&crx)?;
    let update_xml = out.join("update.xml");
    std::fs::write(
        &update_xml,
        format!(
            "<?xml version='1.0' encoding='UTF-8'?>\n\
             <gupdate xmlns='http://www.google.com/update2/response' protocol='2.0'>\n  \
             <app appid='{extension_id}'>\n    \
             <updatecheck codebase='{}/{}' version='{version}' />\n  </app>\n</gupdate>\n",
            options.downloads_url.trim_end_matches('/'),
            crx.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
        ),
    )?;

    let manifest = manifest_json(&origins, LINUX_HOST_PATH).map_err(|e| anyhow::anyhow!("{e}"))?;
    let machine = machine_config(&origins)?;

    step("disca-host .deb");
    let deb = out.join(format!("disca-host_{version}_amd64.deb"));
    build_deb(&out, &host, &manifest, &machine, version, &deb)?;
    print!(
        "{}",
        output(Command::new("dpkg-deb").arg("--contents").arg(&deb))?
    );

    step("disca-host .rpm");
    let rpm = out.join(format!("disca-host-{version}-1.x86_64.rpm"));
    build_rpm(&host, &manifest, &machine, version, &rpm)?;

    step("macOS .pkg and Windows .msi inputs");
    write_macos_recipe(&out.join("macos"), &origins)?;
    write_windows_recipe(&out.join("windows"), &origins, version)?;

    println!(
        "\nIn {}:\n  {}\n  {}\n  {}\n  {}\n  {}\n  macos/, windows/ (build on those systems: see their BUILD.md)",
        out.display(),
        deb.display(),
        rpm.display(),
        store_zip.display(),
        crx.display(),
        update_xml.display()
    );
    Ok(())
}

/// `target/dist/extension-key.pem`, made once with openssl: good for tests
/// and trials, never for a company's release (its id is this checkout's).
fn development_key(out: &Path) -> anyhow::Result<PathBuf> {
    let key = out.join("extension-key.pem");
    if !key.exists() {
        println!(
            "No --extension-key: making a development key {}",
            key.display()
        );
        run(Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key))?;
    }
    Ok(key)
}

/// A Chrome extension id: the first 128 bits of the SHA-256 of the public
/// key (DER, SubjectPublicKeyInfo), each hex digit `0`–`f` written `a`–`p`.
pub fn extension_id(key: &Path) -> anyhow::Result<String> {
    let der = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(key)
        .output()
        .context("running openssl")?;
    ensure!(
        der.status.success(),
        "openssl could not read the key {}: {}",
        key.display(),
        String::from_utf8_lossy(&der.stderr)
    );
    Ok(id_of_public_key(&der.stdout))
}

fn id_of_public_key(der: &[u8]) -> String {
    Sha256::digest(der)[..16]
        .iter()
        .flat_map(|byte| [byte >> 4, byte & 0x0f])
        .map(|nibble| char::from(b'a' + nibble))
        .collect()
}

/// The store and a CRX take the id from elsewhere (the store's, the
/// signing key's): the development `key` goes.
fn strip_development_key(manifest: &Path) -> anyhow::Result<()> {
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest)?)?;
    if let Some(object) = json.as_object_mut() {
        object.remove("key");
    }
    std::fs::write(manifest, serde_json::to_vec_pretty(&json)?)?;
    Ok(())
}

/// Chromium packs and signs: `--pack-extension` writes `<dir>.crx`.
fn pack_crx(dir: &Path, key: &Path, crx: &Path) -> anyhow::Result<()> {
    let packed = dir.with_extension("crx");
    if packed.exists() {
        std::fs::remove_file(&packed)?;
    }
    let profile = tempfile::tempdir()?;
    run(Command::new("chromium")
        .arg(format!("--pack-extension={}", dir.display()))
        .arg(format!("--pack-extension-key={}", key.display()))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--headless", "--no-sandbox", "--disable-gpu"]))?;
    ensure!(packed.exists(), "Chromium made no {}", packed.display());
    std::fs::rename(&packed, crx)?;
    Ok(())
}

/// A CRX3: magic `Cr24`, format version 3, then a header of the length
/// the next four bytes say, then a zip.
pub fn check_crx(crx: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(crx)?;
    ensure!(bytes.len() > 12, "{} is too short for a CRX", crx.display());
    ensure!(&bytes[..4] == b"Cr24", "{} has no CRX magic", crx.display());
    let version = u32::from_le_bytes(bytes[4..8].try_into()?);
    ensure!(
        version == 3,
        "{} is CRX version {version}, not 3",
        crx.display()
    );
    let header = u32::from_le_bytes(bytes[8..12].try_into()?) as usize;
    let zip = bytes
        .get(12 + header..12 + header + 4)
        .context("the CRX ends inside its header")?;
    ensure!(zip == b"PK\x03\x04", "no zip after the CRX header");
    Ok(())
}

/// The machine's settings the packages install.
fn machine_config(origins: &[String]) -> anyhow::Result<String> {
    Ok(toml::to_string(&disca_host::config::MachineConfig {
        allowed_origins: origins.to_vec(),
        backend_url: None,
    })?)
}

fn build_deb(
    out: &Path,
    host: &Path,
    manifest: &[u8],
    machine: &str,
    version: &str,
    deb: &Path,
) -> anyhow::Result<()> {
    let root = out.join("deb-root");
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
    file(LINUX_HOST_PATH, &std::fs::read(host)?, 0o755)?;
    for dir in LINUX_SYSTEM_MANIFEST_DIRS {
        file(&format!("{dir}/com.disca.host.json"), manifest, 0o644)?;
    }
    file(LINUX_MACHINE_CONFIG, machine.as_bytes(), 0o644)?;
    let conffiles: String = LINUX_SYSTEM_MANIFEST_DIRS
        .iter()
        .map(|dir| format!("{dir}/com.disca.host.json\n"))
        .chain([format!("{LINUX_MACHINE_CONFIG}\n")])
        .collect();
    file("DEBIAN/conffiles", conffiles.as_bytes(), 0o644)?;
    let installed_kib = std::fs::metadata(host)?.len() / 1024 + 8;
    file(
        "DEBIAN/control",
        format!(
            "Package: disca-host\n\
             Version: {version}\n\
             Architecture: amd64\n\
             Maintainer: Disca <suporte@disca.com.br>\n\
             Installed-Size: {installed_kib}\n\
             Depends: libc6 (>= 2.36)\n\
             Recommends: gnome-keyring | kwalletmanager\n\
             Section: net\n\
             Priority: optional\n\
             Homepage: https://disca.com.br\n\
             Description: Disca native messaging host for Chrome, Chromium, Edge and Brave\n \
             Click-to-call from RD Station CRM through the company's own PBX: the\n \
             browser extension reaches the company's Disca server through this\n \
             program, which keeps the user's token in the system keyring.\n"
        )
        .as_bytes(),
        0o644,
    )?;
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "--build"])
        .arg(&root)
        .arg(deb))?;
    let info = output(
        Command::new("dpkg-deb")
            .arg("--field")
            .arg(deb)
            .arg("Package"),
    )?;
    ensure!(info.trim() == "disca-host", "dpkg-deb reads {info:?}");
    Ok(())
}

fn build_rpm(
    host: &Path,
    manifest: &[u8],
    machine: &str,
    version: &str,
    out: &Path,
) -> anyhow::Result<()> {
    let mut builder = rpm::PackageBuilder::new(
        "disca-host",
        version,
        "Proprietary",
        "x86_64",
        "Disca native messaging host for Chrome, Chromium, Edge and Brave",
    );
    builder
        .release("1")
        .description(
            "Click-to-call from RD Station CRM through the company's own PBX: the browser \
             extension reaches the company's Disca server through this program, which keeps \
             the user's token in the system keyring.",
        )
        .with_file(
            host,
            rpm::FileOptions::new(LINUX_HOST_PATH).permissions(0o755),
        )?;
    for dir in LINUX_SYSTEM_MANIFEST_DIRS {
        builder.with_file_contents(
            manifest.to_vec(),
            rpm::FileOptions::new(format!("{dir}/com.disca.host.json"))
                .permissions(0o644)
                .config()
                .noreplace(),
        )?;
    }
    builder.with_file_contents(
        machine.as_bytes().to_vec(),
        rpm::FileOptions::new(LINUX_MACHINE_CONFIG)
            .permissions(0o644)
            .config()
            .noreplace(),
    )?;
    builder.build()?.write_file(out)?;
    // Read back: the format and the file list.
    let package = rpm::Package::open(out)?;
    let files: Vec<PathBuf> = package
        .metadata
        .get_file_entries()?
        .iter()
        .map(|entry| entry.path().to_path_buf())
        .collect();
    ensure!(
        files.contains(&PathBuf::from(LINUX_HOST_PATH)),
        "the rpm lacks the host: {files:?}"
    );
    for file in &files {
        println!("{}", file.display());
    }
    Ok(())
}

/// `macos/`: the payload root and the commands for `pkgbuild`.
fn write_macos_recipe(dir: &Path, origins: &[String]) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let root = dir.join("root");
    let manifest = manifest_json(origins, MACOS_HOST_PATH).map_err(|e| anyhow::anyhow!("{e}"))?;
    for folder in MACOS_SYSTEM_MANIFEST_DIRS {
        let target = root.join(folder.trim_start_matches('/'));
        std::fs::create_dir_all(&target)?;
        std::fs::write(target.join("com.disca.host.json"), &manifest)?;
    }
    let config = root.join(MACOS_MACHINE_CONFIG.trim_start_matches('/'));
    std::fs::create_dir_all(config.parent().context("a parent folder")?)?;
    std::fs::write(&config, machine_config(origins)?)?;
    std::fs::write(
        dir.join("BUILD.md"),
        format!(
            "# disca-host for macOS (.pkg)\n\n\
             Built on a Mac (Xcode command line tools), from the repository root:\n\n\
             ```sh\n\
             cargo build --release -p disca-host --target aarch64-apple-darwin\n\
             cargo build --release -p disca-host --target x86_64-apple-darwin\n\
             lipo -create -output 'target/dist/macos/root{MACOS_HOST_PATH}' \\\n  \
             target/aarch64-apple-darwin/release/disca-host target/x86_64-apple-darwin/release/disca-host\n\
             codesign --force --options runtime --timestamp --sign 'Developer ID Application: <company>' \\\n  \
             'target/dist/macos/root{MACOS_HOST_PATH}'\n\
             pkgbuild --root target/dist/macos/root --identifier com.disca.host \\\n  \
             --version {version} --install-location / target/dist/disca-host-{version}.pkg\n\
             productsign --sign 'Developer ID Installer: <company>' target/dist/disca-host-{version}.pkg \\\n  \
             target/dist/disca-host-{version}-signed.pkg\n\
             xcrun notarytool submit target/dist/disca-host-{version}-signed.pkg --keychain-profile <profile> --wait\n\
             ```\n\n\
             `root/` holds what the package installs: the manifest in each browser's \
             system-wide folder and the machine's settings (`{MACOS_MACHINE_CONFIG}`).\n",
            version = env!("CARGO_PKG_VERSION"),
        ),
    )?;
    Ok(())
}

/// `windows/`: a WiX source for the `.msi` (HKLM registry keys pointing at
/// the manifest, the host and the machine's settings in Program Files /
/// ProgramData) and the commands.
fn write_windows_recipe(dir: &Path, origins: &[String], version: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let manifest = manifest_json(origins, r"C:\Program Files\Disca\disca-host.exe")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(dir.join("com.disca.host.json"), manifest)?;
    std::fs::write(dir.join("host.toml"), machine_config(origins)?)?;
    let keys: String = WINDOWS_SYSTEM_REGISTRY_KEYS
        .iter()
        .map(|key| {
            format!(
                "        <RegistryValue Root=\"HKLM\" Key=\"{key}\" Type=\"string\" Value=\"[INSTALLFOLDER]com.disca.host.json\" />\n"
            )
        })
        .collect();
    let mut wxs = std::fs::File::create(dir.join("disca-host.wxs"))?;
    write!(
        wxs,
        "<Wix xmlns=\"http://wixtoolset.org/schemas/v4/wxs\">\n  \
         <Package Name=\"Disca host\" Manufacturer=\"Disca\" Version=\"{version}\" \
         UpgradeCode=\"6f1c2b7e-3d41-4c55-9a7e-2f0d8c1b5e90\" Scope=\"perMachine\">\n    \
         <MajorUpgrade DowngradeErrorMessage=\"Uma versão mais nova do Disca já está instalada.\" />\n    \
         <StandardDirectory Id=\"ProgramFiles64Folder\">\n      \
         <Directory Id=\"INSTALLFOLDER\" Name=\"Disca\">\n        \
         <Component>\n          <File Source=\"disca-host.exe\" />\n          \
         <File Source=\"com.disca.host.json\" />\n{keys}        </Component>\n      \
         </Directory>\n    </StandardDirectory>\n    \
         <StandardDirectory Id=\"CommonAppDataFolder\">\n      \
         <Directory Id=\"DATAFOLDER\" Name=\"Disca\">\n        \
         <Component>\n          <File Source=\"host.toml\" />\n        </Component>\n      \
         </Directory>\n    </StandardDirectory>\n  </Package>\n</Wix>\n"
    )?;
    std::fs::write(
        dir.join("BUILD.md"),
        format!(
            "# disca-host for Windows (.msi)\n\n\
             Built on Windows with the WiX Toolset v4 (`dotnet tool install --global wix`), \
             from the repository root:\n\n\
             ```powershell\n\
             cargo build --release -p disca-host --target x86_64-pc-windows-msvc\n\
             copy target\\x86_64-pc-windows-msvc\\release\\disca-host.exe target\\dist\\windows\\\n\
             signtool sign /fd SHA256 /tr http://timestamp.digicert.com /td SHA256 /a target\\dist\\windows\\disca-host.exe\n\
             wix build target\\dist\\windows\\disca-host.wxs -arch x64 -o target\\dist\\disca-host-{version}.msi\n\
             signtool sign /fd SHA256 /tr http://timestamp.digicert.com /td SHA256 /a target\\dist\\disca-host-{version}.msi\n\
             ```\n\n\
             The package installs `disca-host.exe` and its manifest in `C:\\Program Files\\Disca`, \
             the machine's settings in `%ProgramData%\\Disca\\host.toml`, and under `HKLM` the keys \
             each browser reads ({}).\n",
            WINDOWS_SYSTEM_REGISTRY_KEYS.join(", ")
        ),
    )?;
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A zip of `dir`'s files at its root (what the Web Store takes).
fn zip_tree(dir: &Path, zip_path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(zip_path)?;
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut pending = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in files {
        let name = path
            .strip_prefix(dir)?
            .to_str()
            .context("a file name that is not UTF-8")?
            .to_owned();
        zip.start_file(name, options)?;
        zip.write_all(&std::fs::read(&path)?)?;
    }
    zip.finish()?;
    if !zip_path.exists() {
        bail!("no zip written at {}", zip_path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_development_key_gives_the_manifest_s_id() {
        use base64::Engine;
        // The manifest's `key` is the DER public key of the development id.
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(repository_dir().join("manifest.json")).unwrap())
                .unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(manifest["key"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            id_of_public_key(&der),
            disca_testkit::extension::EXTENSION_ID
        );
    }
}
