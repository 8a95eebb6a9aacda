//! The salesperson's token in the operating system's credential store, and
//! nowhere else: never in a file, an argument, a log line or a message to the
//! extension.
//!
//! Stores, by platform: Linux, the Secret Service (GNOME Keyring, KWallet...;
//! persistent) when one answers on the session bus, otherwise the kernel
//! keyring (the user's keyring: kept while the user has processes, cleared
//! at reboot); macOS,
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
            StoreKind::SecretService => "chaveiro do usuário via Secret Service (persistente)",
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
        source: Box<dyn std::error::Error + Send + Sync>,
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
        #[cfg(target_os = "linux")]
        if self.kind == StoreKind::KernelKeyring {
            return kernel_keyring::save(account, token).map_err(|e| self.failed(e));
        }
        self.entry(account)?
            .set_password(token)
            .map_err(|source| self.failed(source))
    }

    /// The token, or `None` when the store has none for `account`.
    pub fn load(&self, account: &str) -> Result<Option<Zeroizing<String>>, CredentialError> {
        #[cfg(target_os = "linux")]
        if self.kind == StoreKind::KernelKeyring {
            return kernel_keyring::load(account).map_err(|e| self.failed(e));
        }
        match self.entry(account)?.get_password() {
            Ok(token) => Ok(Some(Zeroizing::new(token))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(source) => Err(self.failed(source)),
        }
    }

    /// Removes the token; `false` when there was none.
    pub fn delete(&self, account: &str) -> Result<bool, CredentialError> {
        #[cfg(target_os = "linux")]
        if self.kind == StoreKind::KernelKeyring {
            return kernel_keyring::delete(account).map_err(|e| self.failed(e));
        }
        match self.entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(source) => Err(self.failed(source)),
        }
    }

    fn failed(&self, source: impl std::error::Error + Send + Sync + 'static) -> CredentialError {
        CredentialError::Store {
            store: self.kind.as_str(),
            source: Box::new(source),
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

/// The kernel's key retention service, on the user keyring (`@u`): shared by
/// every process of the user, so the host Chrome starts finds what `login`
/// stored. (keyring's own keyutils store also links each key into the
/// persistent keyring, which some systems refuse.) Keys are `user` keys that
/// only their possessor can read.
#[cfg(target_os = "linux")]
mod kernel_keyring {
    use linux_keyutils::{KeyError, KeyRing, KeyRingIdentifier};
    use zeroize::Zeroizing;

    fn description(account: &str) -> String {
        format!("{}:{account}", super::SERVICE)
    }

    fn user_keyring() -> Result<KeyRing, KeyError> {
        KeyRing::from_special_id(KeyRingIdentifier::User, true)
    }

    /// The kernel reports a missing key in several ways, depending on where
    /// an invalidation is.
    fn is_missing(e: &KeyError) -> bool {
        matches!(
            e,
            KeyError::KeyDoesNotExist | KeyError::KeyRevoked | KeyError::KeyExpired
        )
    }

    pub fn save(account: &str, token: &str) -> Result<(), KeyError> {
        // add_key replaces a key of the same description in that keyring.
        user_keyring()?.add_key(&description(account), token.as_bytes())?;
        Ok(())
    }

    pub fn load(account: &str) -> Result<Option<Zeroizing<String>>, KeyError> {
        let key = match user_keyring()?.search(&description(account)) {
            Ok(key) => key,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        let bytes = Zeroizing::new(key.read_to_vec()?);
        match std::str::from_utf8(&bytes) {
            Ok(text) => Ok(Some(Zeroizing::new(text.to_owned()))),
            Err(_) => Err(KeyError::InvalidArguments),
        }
    }

    pub fn delete(account: &str) -> Result<bool, KeyError> {
        match user_keyring()?.search(&description(account)) {
            Ok(key) => {
                key.invalidate()?;
                Ok(true)
            }
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
