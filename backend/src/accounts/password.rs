//! Passwords: argon2id (the crate's defaults, OWASP's minimum: 19 MiB,
//! 2 passes), hashed and checked off the async threads, a few at a time so
//! a burst of sign-ins cannot take every core or much memory.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

/// Shortest password accepted.
pub const MIN_LEN: usize = 10;
/// Longest password accepted (in characters): hashing cost grows with it.
pub const MAX_LEN: usize = 128;
/// Hashes computed at once.
const CONCURRENT_HASHES: usize = 4;

/// Hashes and checks passwords; cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// A hash of nothing anyone knows: checked when the e-mail has no
    /// account, so that answer takes as long as a wrong password.
    decoy: Arc<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task stopped")]
    Stopped,
}

impl Default for Passwords {
    fn default() -> Passwords {
        let decoy = Argon2::default()
            .hash_password(uuid::Uuid::new_v4().as_bytes())
            .map(|h| h.to_string())
            .unwrap_or_default();
        Passwords {
            permits: Arc::new(Semaphore::new(CONCURRENT_HASHES)),
            decoy: Arc::new(decoy),
        }
    }
}

impl Passwords {
    /// The PHC string (`$argon2id$v=19$...`) of `password`.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Stopped)?;
        tokio::task::spawn_blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| PasswordError::Hash(e.to_string()))
        })
        .await
        .map_err(|_| PasswordError::Stopped)?
    }

    /// Whether `password` matches `hash` (`None`: no account; checked
    /// against the decoy, and never matches).
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::Stopped)?;
        let real = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.decoy.to_string());
        let matched = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .map_err(|_| PasswordError::Stopped)?;
        Ok(real && matched)
    }
}

/// Why a new password is refused (Portuguese, shown on the page), if it is.
pub fn weakness(password: &str, email: &str) -> Option<String> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Some(format!(
            "A senha precisa ter pelo menos {MIN_LEN} caracteres."
        ));
    }
    if len > MAX_LEN {
        return Some(format!("A senha pode ter no máximo {MAX_LEN} caracteres."));
    }
    if password.chars().any(char::is_control) {
        return Some("A senha não pode ter caracteres de controle.".into());
    }
    let lower = password.to_lowercase();
    let local = email.split('@').next().unwrap_or_default();
    if lower == email || (local.len() >= 4 && lower.contains(local)) {
        return Some("A senha não pode conter o seu e-mail.".into());
    }
    if password
        .chars()
        .collect::<std::collections::HashSet<_>>()
        .len()
        < 4
    {
        return Some("A senha repete poucos caracteres: escolha uma mais variada.".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_checks_its_password_only() {
        let passwords = Passwords::default();
        let hash = passwords
            .hash(Zeroizing::new("cavalo-correto-bateria".into()))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            passwords
                .verify(
                    Zeroizing::new("cavalo-correto-bateria".into()),
                    Some(hash.clone())
                )
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify(Zeroizing::new("cavalo-correto-bateriA".into()), Some(hash))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify(Zeroizing::new(String::new()), None)
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify(Zeroizing::new("x".into()), Some("not a hash".into()))
                .await
                .unwrap()
        );
    }

    #[test]
    fn weak_passwords_are_named() {
        let email = "ana@acme.com.br";
        assert!(weakness("curta", email).unwrap().contains("10"));
        assert!(weakness("aaaaaaaaaaaaaaa", email).is_some());
        assert!(weakness("ana@acme.com.br", email).is_some());
        assert!(weakness(&"x1".repeat(100), email).is_some());
        assert!(weakness("linha\nnova123", email).is_some());
        assert_eq!(weakness("cavalo-correto-bateria", email), None);
    }
}
