//! CRM secrets at rest. The backend must send RD Station's tokens in clear,
//! so it cannot keep only their hashes; they are sealed with
//! XChaCha20-Poly1305 under a key kept outside the database (a file only the
//! backend's user can read), bound to their tenant and purpose, so a copy of
//! the database (a backup, a support dump) reveals none of them and a sealed
//! value cannot be moved to another tenant. They are never logged: [`Secret`]
//! prints as `***`.

use std::fmt;
use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;

use super::connections::{CLIENT_SECRET, V1_TOKEN};
use crate::storage::{SealedSecret, SealedWhat, Store, StoreError, TRUNK_PASSWORD};

const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
/// What the database's key check seals (see [`SecretKey::seals_secrets_of`]).
const CHECK: &str = "disca secrets key check";
const CHECK_PURPOSE: &str = "key-check";

/// A secret in memory; `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The key secrets are sealed with.
#[derive(Clone)]
pub struct SecretKey(XChaCha20Poly1305);

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read or create the secrets key {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the secrets key {0} is not {KEY_LEN} bytes of hex")]
    BadKey(String),
    #[error("a stored secret cannot be opened (another secrets key, or tampered with)")]
    Unreadable,
}

impl SecretKey {
    /// Reads the key file, creating it (mode 0600, 256 random bits in hex)
    /// the first time.
    pub fn load_or_create(path: &Path) -> Result<SecretKey, SecretError> {
        let io = |source| SecretError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; KEY_LEN];
                rand::rng().fill_bytes(&mut key);
                let text = hex::encode(key);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(path) {
                    Ok(mut file) => {
                        file.write_all(text.as_bytes()).map_err(io)?;
                        file.sync_all().map_err(io)?;
                        text
                    }
                    // Created meanwhile by another process: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        std::fs::read_to_string(path).map_err(io)?
                    }
                    Err(e) => return Err(io(e)),
                }
            }
            Err(e) => return Err(io(e)),
        };
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == KEY_LEN)
            .ok_or_else(|| SecretError::BadKey(path.display().to_string()))?;
        Ok(SecretKey(XChaCha20Poly1305::new(Key::from_slice(&bytes))))
    }

    /// Seals `secret` for `tenant`'s `purpose` (`v1-token`, `refresh-token`...).
    pub fn seal(&self, tenant: &str, purpose: &str, secret: &Secret) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = format!("disca-crm/{tenant}/{purpose}");
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message under 256 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`SecretKey::seal`] sealed for the same tenant and purpose.
    pub fn open(&self, tenant: &str, purpose: &str, sealed: &[u8]) -> Result<Secret, SecretError> {
        if sealed.len() < NONCE_LEN {
            return Err(SecretError::Unreadable);
        }
        let (nonce, message) = sealed.split_at(NONCE_LEN);
        let aad = format!("disca-crm/{tenant}/{purpose}");
        let plain = self
            .0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: message,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Unreadable)?;
        String::from_utf8(plain)
            .map(Secret)
            .map_err(|_| SecretError::Unreadable)
    }
}

impl SecretKey {
    /// Whether this is the key the secrets in `store` are sealed with. The
    /// first key to meet a database is recorded in it (a known value
    /// sealed with it); with another, a backend would fail to open every
    /// stored RD Station token and trunk password.
    ///
    /// A database that has no key check yet but holds secrets (sealed
    /// before the check existed) takes only a key that opens one of them.
    pub async fn seals_secrets_of(&self, store: &Store) -> Result<bool, StoreError> {
        if let Some(recorded) = store.recorded_secrets_key_check().await? {
            return Ok(self.opens_check(&recorded));
        }
        let sample = store.sealed_secrets_sample().await?;
        if !sample.is_empty() && !sample.iter().any(|s| self.opens(s)) {
            return Ok(false);
        }
        // Another backend may have recorded its key meanwhile.
        let recorded = store.secrets_key_check(&self.sealed_check()).await?;
        Ok(self.opens_check(&recorded))
    }

    /// Makes this the key the database's secrets are sealed with, whatever
    /// key was before (its secrets stay unreadable until entered again).
    pub async fn adopt_for(&self, store: &Store) -> Result<(), StoreError> {
        store.replace_secrets_key_check(&self.sealed_check()).await
    }

    /// The key check, sealed with this key.
    fn sealed_check(&self) -> Vec<u8> {
        self.seal("", CHECK_PURPOSE, &Secret::new(CHECK.into()))
    }

    fn opens_check(&self, sealed: &[u8]) -> bool {
        self.open("", CHECK_PURPOSE, sealed).is_ok()
    }

    fn opens(&self, secret: &SealedSecret) -> bool {
        let purpose = match secret.what {
            SealedWhat::CrmV1Token => V1_TOKEN,
            SealedWhat::CrmClientSecret => CLIENT_SECRET,
            SealedWhat::TrunkPassword => TRUNK_PASSWORD,
        };
        self.open(&secret.tenant, purpose, &secret.sealed).is_ok()
    }
}

/// Loads the key at `path` (creating it the first time), refusing one that
/// is not the key `store`'s secrets are sealed with: a second backend set
/// up without copying the first one's key file, a database restored
/// without its key.
pub async fn load_for(path: &Path, store: &Store) -> anyhow::Result<SecretKey> {
    let key = SecretKey::load_or_create(path)?;
    if !key.seals_secrets_of(store).await? {
        anyhow::bail!(
            "the CRM secrets key {} is not the key this database's secrets are sealed with: \
             every backend sharing the database, and a restore of it, needs the same key file \
             (copy it from the first backend, or from the backup). If that key is lost for \
             good, `disca-backend crm forget-secrets-key` lets this one be used: then connect \
             each tenant to RD Station again and enter the trunk passwords again",
            path.display()
        );
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_tenant_and_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        let key = SecretKey::load_or_create(&path).unwrap();
        let token = Secret::new("a3f9c2e17b4d48e6a0c5d2f1".into());
        let sealed = key.seal("acme", "v1-token", &token);
        assert!(!sealed.windows(8).any(|w| w == b"a3f9c2e1"));
        assert_ne!(sealed, key.seal("acme", "v1-token", &token), "fresh nonce");
        let again = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(again.open("acme", "v1-token", &sealed).unwrap(), token);
        assert!(key.open("globex", "v1-token", &sealed).is_err());
        assert!(key.open("acme", "refresh-token", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open("acme", "v1-token", &tampered).is_err());
        assert!(key.open("acme", "v1-token", b"short").is_err());
        assert_eq!(format!("{token:?}"), "***");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn another_key_cannot_open() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretKey::load_or_create(&dir.path().join("a.key")).unwrap();
        let b = SecretKey::load_or_create(&dir.path().join("b.key")).unwrap();
        let sealed = a.seal("acme", "v1-token", &Secret::new("t".into()));
        assert!(b.open("acme", "v1-token", &sealed).is_err());
        std::fs::write(dir.path().join("bad.key"), "not hex").unwrap();
        assert!(SecretKey::load_or_create(&dir.path().join("bad.key")).is_err());
    }

    #[tokio::test]
    async fn a_database_refuses_a_key_other_than_its_first() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::testing::TestDatabase::new(dir.path())
            .await
            .unwrap();
        let store = db.open().await.unwrap();
        let first = dir.path().join("first.key");
        load_for(&first, &store).await.unwrap();
        // The same key again, as a second backend with a copy of it.
        let copy = dir.path().join("copy.key");
        std::fs::copy(&first, &copy).unwrap();
        load_for(&copy, &store).await.unwrap();
        let other = dir.path().join("other.key");
        let Err(refused) = load_for(&other, &store).await else {
            panic!("another key was taken");
        };
        let refused = refused.to_string();
        assert!(refused.contains("other.key"), "{refused}");
        assert!(refused.contains("same key file"), "{refused}");
    }

    /// A database with RD Station secrets sealed before the key check
    /// existed takes only a key that opens one of them; with the old key
    /// lost, `adopt_for` (`crm forget-secrets-key`) makes another the key.
    #[tokio::test]
    async fn secrets_sealed_before_the_check_choose_the_first_key() {
        use crate::domain::Tenant;
        use crate::storage::NewAccount;
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::testing::TestDatabase::new(dir.path())
            .await
            .unwrap();
        let store = db.open().await.unwrap();
        store
            .add_tenant(&Tenant::in_brazil("acme".parse().unwrap(), "Acme"))
            .await
            .unwrap();
        let right = dir.path().join("right.key");
        let sealed = SecretKey::load_or_create(&right).unwrap().seal(
            "acme",
            V1_TOKEN,
            &Secret::new("a3f9c2e17b4d48e6a0c5d2f1".into()),
        );
        store
            .set_crm_account(NewAccount {
                tenant: "acme",
                api: "v1",
                base_url: "https://crm.rdstation.com/api/v1",
                token_url: None,
                client_id: None,
                secret: &sealed,
                refresh_token: None,
            })
            .await
            .unwrap();
        let wrong = dir.path().join("wrong.key");
        assert!(
            load_for(&wrong, &store).await.is_err(),
            "a key opening nothing"
        );
        load_for(&right, &store).await.unwrap();
        assert!(load_for(&wrong, &store).await.is_err(), "after the check");
        // The right key lost for good: another one is adopted.
        let new = SecretKey::load_or_create(&wrong).unwrap();
        new.adopt_for(&store).await.unwrap();
        load_for(&wrong, &store).await.unwrap();
        assert!(load_for(&right, &store).await.is_err(), "the old key now");
    }
}
