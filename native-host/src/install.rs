//! `install` / `uninstall`: the native messaging host manifest, where each
//! browser looks for it, allowing one extension only.
//!
//! Linux and macOS: `<browser config>/NativeMessagingHosts/com.disca.host.json`
//! per user (or `<user-data-dir>/NativeMessagingHosts/` for a browser run with
//! `--user-data-dir`). Windows: the manifest in `%LOCALAPPDATA%\Disca` and a
//! registry key `HKCU\Software\<browser>\NativeMessagingHosts\com.disca.host`
//! whose default value is its path.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{HOST_NAME, write_atomically};

/// A Chromium-based browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Browser {
    Chrome,
    Chromium,
    Edge,
    Brave,
    /// Every browser above.
    All,
}

impl Browser {
    const EACH: [Browser; 4] = [
        Browser::Chrome,
        Browser::Chromium,
        Browser::Edge,
        Browser::Brave,
    ];

    pub fn expand(self) -> Vec<Browser> {
        match self {
            Browser::All => Browser::EACH.to_vec(),
            one => vec![one],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Browser::Chrome => "Google Chrome",
            Browser::Chromium => "Chromium",
            Browser::Edge => "Microsoft Edge",
            Browser::Brave => "Brave",
            Browser::All => "all",
        }
    }

    /// The browser's per-user folder, relative to the platform's config
    /// folder (`~/.config` on Linux, `~/Library/Application Support` on macOS).
    #[cfg(not(windows))]
    fn config_folder(self) -> &'static str {
        if cfg!(target_os = "macos") {
            match self {
                Browser::Chrome | Browser::All => "Google/Chrome",
                Browser::Chromium => "Chromium",
                Browser::Edge => "Microsoft Edge",
                Browser::Brave => "BraveSoftware/Brave-Browser",
            }
        } else {
            match self {
                Browser::Chrome | Browser::All => "google-chrome",
                Browser::Chromium => "chromium",
                Browser::Edge => "microsoft-edge",
                Browser::Brave => "BraveSoftware/Brave-Browser",
            }
        }
    }

    /// The browser's folder under `%LOCALAPPDATA%\Disca`.
    #[cfg(windows)]
    fn folder_name(self) -> &'static str {
        match self {
            Browser::Chrome | Browser::All => "chrome",
            Browser::Chromium => "chromium",
            Browser::Edge => "edge",
            Browser::Brave => "brave",
        }
    }

    /// The registry key under HKCU holding the host's manifest path.
    #[cfg(windows)]
    fn registry_key(self) -> String {
        let vendor = match self {
            Browser::Chrome | Browser::All => r"Google\Chrome",
            Browser::Chromium => "Chromium",
            Browser::Edge => r"Microsoft\Edge",
            Browser::Brave => r"BraveSoftware\Brave-Browser",
        };
        format!(r"Software\{vendor}\NativeMessagingHosts\{HOST_NAME}")
    }
}

/// A Chrome extension id: 32 letters `a` to `p`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionId(String);

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("{0:?} não é um id de extensão: são 32 letras de a a p (veja em chrome://extensions)")]
    BadExtensionId(String),
    #[error("não foi possível localizar o disca-host: {0}")]
    NoExecutable(std::io::Error),
    #[error("não foi possível localizar a pasta de configuração do usuário")]
    NoConfigFolder,
    #[error("--user-data-dir só vale no Linux e no macOS; no Windows o navegador lê o registro")]
    UserDataDirOnWindows,
    #[error("não foi possível gravar {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("não foi possível remover {path}: {source}")]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ExtensionId {
    pub fn parse(raw: &str) -> Result<ExtensionId, InstallError> {
        let id = raw.trim();
        if id.len() == 32 && id.bytes().all(|b| (b'a'..=b'p').contains(&b)) {
            Ok(ExtensionId(id.to_owned()))
        } else {
            Err(InstallError::BadExtensionId(raw.chars().take(64).collect()))
        }
    }

    /// `chrome-extension://<id>/`, as in `allowed_origins` and as Chrome
    /// passes it to the host.
    pub fn origin(&self) -> String {
        format!("chrome-extension://{}/", self.0)
    }
}

/// The host manifest.
#[derive(Debug, Serialize)]
struct Manifest<'a> {
    name: &'a str,
    description: &'a str,
    path: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    allowed_origins: Vec<String>,
}

/// Where the manifest goes: a browser's folder, or a `--user-data-dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Browser(Browser),
    UserDataDir(PathBuf),
}

/// Installs the manifest allowing `origins` (the extensions recorded in
/// `host.toml`) at each target; returns where it was written (file paths,
/// and registry keys on Windows).
pub fn install(
    origins: &[String],
    targets: &[Target],
    executable: &Path,
) -> Result<Vec<String>, InstallError> {
    let json = manifest_json(origins, &executable.to_string_lossy())?;
    let mut written = Vec::new();
    for target in targets {
        written.extend(write_manifest(target, &json)?);
    }
    Ok(written)
}

/// The manifest's JSON: the host at `executable`, for `origins` only.
pub fn manifest_json(origins: &[String], executable: &str) -> Result<Vec<u8>, InstallError> {
    let manifest = Manifest {
        name: HOST_NAME,
        description: "Disca: click-to-call pelo PBX da empresa",
        path: executable,
        kind: "stdio",
        allowed_origins: origins.to_vec(),
    };
    serde_json::to_vec_pretty(&manifest).map_err(|e| InstallError::Write {
        path: PathBuf::from(HOST_NAME),
        source: std::io::Error::other(e),
    })
}

/// Where a system-wide install puts the manifest on Linux, for every
/// browser: what the `.deb` and `.rpm` of `cargo xtask dist` install.
/// (Chrome's and Chromium's are the documented ones; Edge and Brave keep
/// Chrome's layout under their own `/etc/opt` folder.)
pub const LINUX_SYSTEM_MANIFEST_DIRS: [&str; 4] = [
    "/etc/opt/chrome/native-messaging-hosts",
    "/etc/chromium/native-messaging-hosts",
    "/etc/opt/edge/native-messaging-hosts",
    "/etc/opt/brave.com/brave/native-messaging-hosts",
];

/// Where a system-wide install puts the manifest on macOS (the `.pkg`).
pub const MACOS_SYSTEM_MANIFEST_DIRS: [&str; 4] = [
    "/Library/Google/Chrome/NativeMessagingHosts",
    "/Library/Application Support/Chromium/NativeMessagingHosts",
    "/Library/Microsoft/Edge/NativeMessagingHosts",
    "/Library/Application Support/BraveSoftware/Brave-Browser/NativeMessagingHosts",
];

/// The registry keys a system-wide install writes on Windows (the `.msi`),
/// under `HKLM`, each pointing to the manifest.
pub const WINDOWS_SYSTEM_REGISTRY_KEYS: [&str; 4] = [
    r"SOFTWARE\Google\Chrome\NativeMessagingHosts\com.disca.host",
    r"SOFTWARE\Chromium\NativeMessagingHosts\com.disca.host",
    r"SOFTWARE\Microsoft\Edge\NativeMessagingHosts\com.disca.host",
    r"SOFTWARE\BraveSoftware\Brave-Browser\NativeMessagingHosts\com.disca.host",
];

/// Removes the manifest from each target; returns what was removed.
pub fn uninstall(targets: &[Target]) -> Result<Vec<String>, InstallError> {
    let mut removed = Vec::new();
    for target in targets {
        removed.extend(remove_manifest(target)?);
    }
    Ok(removed)
}

/// The path of the running `disca-host`, as the manifest must name it.
pub fn current_executable() -> Result<PathBuf, InstallError> {
    std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(InstallError::NoExecutable)
}

/// The manifest file for a target (on Windows, the file the browser's
/// registry key points to: one per browser, so removing one leaves the
/// others working).
pub fn manifest_path(target: &Target) -> Result<PathBuf, InstallError> {
    let file = format!("{HOST_NAME}.json");
    match target {
        #[cfg(not(windows))]
        Target::UserDataDir(dir) => Ok(dir.join("NativeMessagingHosts").join(file)),
        #[cfg(not(windows))]
        Target::Browser(browser) => Ok(dirs::config_dir()
            .ok_or(InstallError::NoConfigFolder)?
            .join(browser.config_folder())
            .join("NativeMessagingHosts")
            .join(file)),
        #[cfg(windows)]
        Target::UserDataDir(_) => Err(InstallError::UserDataDirOnWindows),
        #[cfg(windows)]
        Target::Browser(browser) => Ok(dirs::data_local_dir()
            .ok_or(InstallError::NoConfigFolder)?
            .join("Disca")
            .join(browser.folder_name())
            .join(file)),
    }
}

fn write_manifest(target: &Target, json: &[u8]) -> Result<Vec<String>, InstallError> {
    let path = manifest_path(target)?;
    write_atomically(&path, json).map_err(|source| InstallError::Write {
        path: path.clone(),
        source,
    })?;
    #[cfg(windows)]
    if let Target::Browser(browser) = target {
        let key = browser.registry_key();
        let hkcu = winreg::RegKey::predef(winreg::enums::HKEY_CURRENT_USER);
        let (entry, _) = hkcu
            .create_subkey(&key)
            .map_err(|source| InstallError::Write {
                path: PathBuf::from(format!(r"HKCU\{key}")),
                source,
            })?;
        entry
            .set_value("", &path.to_string_lossy().as_ref())
            .map_err(|source| InstallError::Write {
                path: PathBuf::from(format!(r"HKCU\{key}")),
                source,
            })?;
        return Ok(vec![path.display().to_string(), format!(r"HKCU\{key}")]);
    }
    Ok(vec![path.display().to_string()])
}

fn remove_manifest(target: &Target) -> Result<Vec<String>, InstallError> {
    let mut removed = Vec::new();
    #[cfg(windows)]
    if let Target::Browser(browser) = target {
        let key = browser.registry_key();
        let hkcu = winreg::RegKey::predef(winreg::enums::HKEY_CURRENT_USER);
        match hkcu.delete_subkey(&key) {
            Ok(()) => removed.push(format!(r"HKCU\{key}")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(InstallError::Remove {
                    path: PathBuf::from(format!(r"HKCU\{key}")),
                    source,
                });
            }
        }
    }
    let path = manifest_path(target)?;
    match std::fs::remove_file(&path) {
        Ok(()) => removed.push(path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(InstallError::Remove { path, source }),
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_ids_are_32_letters_a_to_p() {
        let id = ExtensionId::parse("abcdefghijklmnopabcdefghijklmnop").unwrap();
        assert_eq!(
            id.origin(),
            "chrome-extension://abcdefghijklmnopabcdefghijklmnop/"
        );
        for bad in [
            "",
            "abcdefghijklmnopabcdefghijklmnoz",
            "abcdefghijklmnopabcdefghijklmno",
            "ABCDEFGHIJKLMNOPABCDEFGHIJKLMNOP",
            "*",
        ] {
            assert!(ExtensionId::parse(bad).is_err(), "{bad}");
        }
    }

    #[cfg(not(windows))]
    #[test]
    fn install_writes_a_manifest_for_that_extension_only_and_uninstall_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let target = Target::UserDataDir(dir.path().to_path_buf());
        let id = ExtensionId::parse("abcdefghijklmnopabcdefghijklmnop").unwrap();
        let written = install(
            &[id.origin()],
            std::slice::from_ref(&target),
            Path::new("/opt/disca/disca-host"),
        )
        .unwrap();
        let file = dir.path().join("NativeMessagingHosts/com.disca.host.json");
        assert_eq!(written, vec![file.display().to_string()]);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(
            manifest,
            serde_json::json!({
                "name": "com.disca.host",
                "description": "Disca: click-to-call pelo PBX da empresa",
                "path": "/opt/disca/disca-host",
                "type": "stdio",
                "allowed_origins": ["chrome-extension://abcdefghijklmnopabcdefghijklmnop/"],
            })
        );
        assert_eq!(uninstall(std::slice::from_ref(&target)).unwrap().len(), 1);
        assert!(!file.exists());
        assert!(uninstall(&[target]).unwrap().is_empty());
    }
}
