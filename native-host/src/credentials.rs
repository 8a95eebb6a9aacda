//! The salesperson's token in the operating system's credential store, and
//! nowhere else: never in a file, an argument, a log line or a message to the
//! extension.
//!
//! Stores, by platform: Linux, the Secret Service (GNOME Keyring, KWallet...;
//! persistent) when one answers on the session bus, otherwise the kernel
//! keyring (keyutils: survives logout for a few days, not a reboot); macOS,
//! the Keychain; Windows, the Credential Manager. `login` picks one and
//! records which in `host.toml`, so every later run reads the same store.
//!
//! Every call here blocks (D-Bus, system calls): from async code, run them
//! with `spawn_blocking`.

use keyring::Entry;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The `service` of every entry; the account is the backend's URL.
const SERVICE: &str = "disca";

/// A credential store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// The freedesktop Secret Service over D-Bus (Linux).
    SecretService,
    /// The Linux kernel's key retention service.
    KernelKeyring,
    /// The macOS Keychain.
    MacosKeychain,
    /// The Windows Credential Manager.
    WindowsCredentialManager,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::SecretService => "secret-service",
            StoreKind::KernelKeyring => "kernel-keyring",
            StoreKind::MacosKeychain => "macos-keychain",
            StoreKind::WindowsCredentialManager => "windows-credential-manager",
        }
    }

    /// How the store is named to a salesperson.
    pub fn label(self) -> &'static str {
        match self {
            StoreKind::SecretService => "Secret Service (chaveiro da sessão, persistente)",
            StoreKind::KernelKeyring => "chaveiro do kernel Linux (apagado ao reiniciar)",
            StoreKind::MacosKeychain => "Keychain do macOS",
            StoreKind::WindowsCredentialManager => "Gerenciador de Credenciais do Windows",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the {store} store is not available on this system")]
    Unsupported { store: &'static str },
    #[error("the {store} store failed: {source}")]
    Store {
        store: &'static str,
        source: keyring::Error,
    },
}

/// One store, holding at most one token per backend URL.
#[derive(Debug, Clone, Copy)]
pub struct CredentialStore {
    kind: StoreKind,
}

impl CredentialStore {
    pub fn new(kind: StoreKind) -> CredentialStore {
        CredentialStore { kind }
    }

    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// The platform's store. On Linux: the Secret Service if one answers
    /// (probing with `account`'s entry), else the kernel keyring.
    pub fn detect(account: &str) -> CredentialStore {
        if cfg!(target_os = "macos") {
            return CredentialStore::new(StoreKind::MacosKeychain);
        }
        if cfg!(windows) {
            return CredentialStore::new(StoreKind::WindowsCredentialManager);
        }
        let secret_service = CredentialStore::new(StoreKind::SecretService);
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some()
            && secret_service.load(account).is_ok()
        {
            secret_service
        } else {
            CredentialStore::new(StoreKind::KernelKeyring)
        }
    }

    pub fn save(&self, account: &str, token: &str) -> Result<(), CredentialError> {
        self.entry(account)?
            .set_password(token)
            .map_err(|source| self.failed(source))
    }

    /// The token, or `None` when the store has none for `account`.
    pub fn load(&self, account: &str) -> Result<Option<Zeroizing<String>>, CredentialError> {
        match self.entry(account)?.get_password() {
            Ok(token) => Ok(Some(Zeroizing::new(token))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(source) => Err(self.failed(source)),
        }
    }

    /// Removes the token; `false` when there was none.
    pub fn delete(&self, account: &str) -> Result<bool, CredentialError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(source) => Err(self.failed(source)),
        }
    }

    fn failed(&self, source: keyring::Error) -> CredentialError {
        CredentialError::Store {
            store: self.kind.as_str(),
            source,
        }
    }

    fn entry(&self, account: &str) -> Result<Entry, CredentialError> {
        let unsupported = || CredentialError::Unsupported {
            store: self.kind.as_str(),
        };
        let built = match self.kind {
            #[cfg(target_os = "linux")]
            StoreKind::SecretService => {
                keyring::secret_service::SsCredential::new_with_target(None, SERVICE, account)
                    .map(|c| Entry::new_with_credential(Box::new(c)))
            }
            #[cfg(target_os = "linux")]
            StoreKind::KernelKeyring => {
                keyring::keyutils::KeyutilsCredential::new_with_target(None, SERVICE, account)
                    .map(|c| Entry::new_with_credential(Box::new(c)))
            }
            #[cfg(target_os = "macos")]
            StoreKind::MacosKeychain => Entry::new(SERVICE, account),
            #[cfg(windows)]
            StoreKind::WindowsCredentialManager => Entry::new(SERVICE, account),
            #[allow(unreachable_patterns)]
            _ => return Err(unsupported()),
        };
        built.map_err(|source| self.failed(source))
    }
}
