//! Where the host keeps its files, and its settings file (`host.toml`): the
//! extension origins it serves and who is logged in. No secret is ever in it:
//! the token lives in the credential store named here.

use std::io::Write;
use std::path::{Path, PathBuf};

use disca_protocol::Me;
use serde::{Deserialize, Serialize};

use crate::credentials::StoreKind;

/// The native messaging host name, as in `chrome.runtime.connectNative`.
pub use disca_protocol::native::HOST_NAME;

/// The host's folders, from the platform's conventions (XDG on Linux).
#[derive(Debug, Clone)]
pub struct Paths {
    /// Settings: `~/.config/disca` on Linux.
    pub config_dir: PathBuf,
    /// Logs: `~/.local/state/disca` on Linux.
    pub state_dir: PathBuf,
}

/// The machine-wide settings an installer writes ([`MachineConfig`]):
/// `/etc/disca/host.toml` on Linux, `/Library/Application
/// Support/Disca/host.toml` on macOS, `%ProgramData%\Disca\host.toml` on
/// Windows; `DISCA_HOST_MACHINE_CONFIG` names another file (tests; it can
/// only widen what this user's own `host.toml` could allow).
pub fn machine_config_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DISCA_HOST_MACHINE_CONFIG") {
        return Some(PathBuf::from(path));
    }
    if cfg!(windows) {
        std::env::var_os("ProgramData").map(|d| Path::new(&d).join("Disca").join("host.toml"))
    } else if cfg!(target_os = "macos") {
        Some(PathBuf::from(
            "/Library/Application Support/Disca/host.toml",
        ))
    } else {
        Some(PathBuf::from("/etc/disca/host.toml"))
    }
}

/// What a system-wide install says for every user of the machine: the
/// extensions the host serves (those its system-wide browser manifests
/// name) and, if IT set it, the company's Disca address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineConfig {
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_url: Option<String>,
}

impl MachineConfig {
    /// The machine's settings, or none when no installer wrote them (or
    /// they cannot be read: logged, and the user's own settings still work).
    pub fn load() -> MachineConfig {
        let Some(path) = machine_config_file() else {
            return MachineConfig::default();
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).unwrap_or_else(|e| {
                tracing::error!(path = %path.display(), error = %e, "ignoring the machine's host settings");
                MachineConfig::default()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => MachineConfig::default(),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot read the machine's host settings");
                MachineConfig::default()
            }
        }
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no home folder: cannot place the host's files")]
    NoHome,
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid host settings file: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Paths {
    pub fn from_platform() -> Result<Paths, ConfigError> {
        let config = dirs::config_dir().ok_or(ConfigError::NoHome)?;
        let state = dirs::state_dir()
            .or_else(dirs::data_local_dir)
            .ok_or(ConfigError::NoHome)?;
        Ok(Paths {
            config_dir: config.join("disca"),
            state_dir: state.join("disca"),
        })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("host.toml")
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_dir.join("host.log")
    }
}

/// `host.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostConfig {
    /// `chrome-extension://<id>/` origins written by `install`: the only
    /// callers the host serves.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Set by a sign-in (or `login`), cleared by a sign-out (or `logout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<Login>,
    /// The company's Disca address used last: a sign-in after a sign-out
    /// does not ask for it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_url: Option<String>,
}

/// Who is logged in, where, and which store holds their token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Login {
    pub backend_url: String,
    pub credential_store: StoreKind,
    pub user: Me,
}

impl HostConfig {
    /// The settings, or the defaults when the file does not exist yet.
    pub fn load(paths: &Paths) -> Result<HostConfig, ConfigError> {
        let path = paths.config_file();
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|source| ConfigError::Parse { path, source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HostConfig::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// Writes the file atomically (a temporary file renamed over it), readable
    /// by the user only.
    pub fn save(&self, paths: &Paths) -> Result<(), ConfigError> {
        let path = paths.config_file();
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Write {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        write_atomically(&path, text.as_bytes())
            .map_err(|source| ConfigError::Write { path, source })
    }

    pub fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder, so a
/// reader sees the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use disca_protocol::Role;

    fn paths(dir: &Path) -> Paths {
        Paths {
            config_dir: dir.join("config"),
            state_dir: dir.join("state"),
        }
    }

    #[test]
    fn missing_file_means_defaults_and_saving_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        assert_eq!(HostConfig::load(&paths).unwrap(), HostConfig::default());
        let config = HostConfig {
            allowed_origins: vec!["chrome-extension://abcdefghijklmnopabcdefghijklmnop/".into()],
            login: Some(Login {
                backend_url: "https://disca.example.com".into(),
                credential_store: StoreKind::KernelKeyring,
                user: Me {
                    id: "u1".into(),
                    name: "Ana".into(),
                    email: "ana@example.com".into(),
                    tenant: "acme".into(),
                    role: Role::Agent,
                    extension: "1001".into(),
                },
            }),
            backend_url: Some("https://disca.example.com".into()),
        };
        config.save(&paths).unwrap();
        assert_eq!(HostConfig::load(&paths).unwrap(), config);
        assert!(config.allows("chrome-extension://abcdefghijklmnopabcdefghijklmnop/"));
        assert!(!config.allows("chrome-extension://pppppppppppppppppppppppppppppppp/"));
    }

    #[test]
    fn the_machine_settings_widen_what_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("machine.toml");
        std::fs::write(
            &file,
            "allowed_origins = [\"chrome-extension://abcdefghijklmnopabcdefghijklmnop/\"]\n\
             backend_url = \"https://disca.acme.com.br\"\n",
        )
        .unwrap();
        let machine: MachineConfig =
            toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert!(machine.allows("chrome-extension://abcdefghijklmnopabcdefghijklmnop/"));
        assert!(!machine.allows("chrome-extension://pppppppppppppppppppppppppppppppp/"));
        assert_eq!(
            machine.backend_url.as_deref(),
            Some("https://disca.acme.com.br")
        );
        assert!(toml::from_str::<MachineConfig>("token = \"x\"").is_err());
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let paths = paths(dir.path());
        std::fs::create_dir_all(&paths.config_dir).unwrap();
        std::fs::write(paths.config_file(), "allowed_origins = 3").unwrap();
        let e = HostConfig::load(&paths).unwrap_err();
        assert!(e.to_string().contains("host.toml"), "{e}");
    }
}
