//! Short-lived TURN credentials, the "TURN REST API" scheme coturn
//! implements with `use-auth-secret`/`static-auth-secret`: the user name is
//! `<expiry as Unix seconds>:<user>`, the password the base64 of
//! HMAC-SHA1(secret, user name). The TURN server checks both without
//! asking the backend, and refuses the credential after its expiry.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use time::OffsetDateTime;

pub struct TurnCredential {
    pub username: String,
    pub password: String,
}

/// A credential for `user`, valid until `expires` (`None` only if the HMAC
/// refused the key, which HMAC never does: it takes keys of any length).
pub fn credential(secret: &str, user: &str, expires: OffsetDateTime) -> Option<TurnCredential> {
    let username = format!("{}:{user}", expires.unix_timestamp());
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(username.as_bytes());
    let password = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    Some(TurnCredential { username, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_coturn_s_scheme() {
        // HMAC-SHA1("north", "1700000000:acme-1001"), computed with
        // `printf %s 1700000000:acme-1001 | openssl dgst -sha1 -hmac north -binary | base64`.
        let expires = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let c = credential("north", "acme-1001", expires).unwrap();
        assert_eq!(c.username, "1700000000:acme-1001");
        assert_eq!(c.password, "Q29ABAiNJS30JKySoDvLDfg1wO0=");
    }
}
