//! Bearer tokens: generated once, shown once, stored only as a SHA-256 hash.
//! Tokens carry 256 bits of randomness, so a plain (unsalted) hash is enough
//! to make a stolen database useless for logging in, and lets the request
//! path find the user with one indexed lookup.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix that makes a Disca token recognizable (e.g. by secret scanners).
const TOKEN_PREFIX: &str = "disca_";

/// A freshly generated token: `secret` goes to the user, `hash` to the database.
pub struct IssuedToken {
    pub secret: String,
    pub hash: String,
}

pub fn issue_token() -> IssuedToken {
    let secret = format!("{TOKEN_PREFIX}{}", random_secret());
    let hash = hash_token(&secret);
    IssuedToken { secret, hash }
}

/// 256 random bits as 64 hex digits: the secret of a one-time link, an
/// authorization code, a session. Stored only as [`hash_token`].
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The hash stored for `token` (lowercase hex SHA-256).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` has the shape of a Disca token (checked before hashing so
/// garbage never reaches the database).
pub fn looks_like_token(token: &str) -> bool {
    token
        .strip_prefix(TOKEN_PREFIX)
        .is_some_and(|rest| rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_are_unique_and_hash_consistently() {
        let a = issue_token();
        let b = issue_token();
        assert_ne!(a.secret, b.secret);
        assert!(looks_like_token(&a.secret));
        assert_eq!(hash_token(&a.secret), a.hash);
        assert_ne!(a.hash, a.secret);
        assert!(!looks_like_token("disca_xyz"));
        assert!(!looks_like_token(&a.hash));
    }
}
