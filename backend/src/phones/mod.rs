//! The salespeople's phones: the backend is the single source of truth for
//! each one's SIP endpoint, a browser phone (WebRTC) or a desk phone. It
//! generates the SIP password, writes the endpoint into the PJSIP realtime
//! [`directory`] its PBX reads ([`pbx_directories`]: one per PBX) (so a new salesperson's phone works without
//! restarting Asterisk, and rotating a password drops the old registration
//! at once), hands the softphone its credentials with the ICE servers
//! ([`turn`] makes short-lived TURN credentials), and gives an admin a desk
//! phone's credentials once ([`desk_credentials`]).

pub mod directory;
pub mod pbx_directories;
pub mod removals;
pub mod turn;

use disca_protocol::phone::{BrowserPhone, IceServer, PASSWORD_ALPHABET, PASSWORD_LEN};
use rand::Rng;
use serde::Serialize;

use crate::configuration::{DeskTransport, PhoneSettings};
use crate::crm::secrets::Secret;
use crate::domain::User;
pub use directory::{Directory, DirectoryError};
pub use pbx_directories::PbxPhones;

/// The password of `user`'s phone, writing the phone into the directory
/// first if it is not there on the line its kind asks for (a salesperson
/// added while the directory was not configured, a phone that changed
/// kind, or a directory file recreated).
pub async fn ensure(
    directory: &Directory,
    settings: &PhoneSettings,
    user: &User,
) -> Result<Secret, DirectoryError> {
    let endpoint = user.endpoint();
    let line = settings.line(user.phone);
    if let Some(password) = directory.password(&endpoint, line).await? {
        return Ok(password);
    }
    let password = Secret::new(generate_password());
    directory
        .put(
            user.tenant.slug.as_str(),
            &endpoint,
            line,
            &password,
            settings.rtp_timeout_secs,
        )
        .await?;
    tracing::info!(endpoint, ?line, "phone written into the directory");
    Ok(password)
}

/// Gives `user`'s phone a new password: its registrations are dropped at
/// once, and the phone must register again with the new one (the
/// softphone asks for it; a desk phone is set up by hand). Returns it.
pub async fn rotate(
    directory: &Directory,
    settings: &PhoneSettings,
    user: &User,
) -> Result<Secret, DirectoryError> {
    let endpoint = user.endpoint();
    let password = Secret::new(generate_password());
    directory
        .put(
            user.tenant.slug.as_str(),
            &endpoint,
            settings.line(user.phone),
            &password,
            settings.rtp_timeout_secs,
        )
        .await?;
    tracing::info!(endpoint, "phone password rotated");
    Ok(password)
}

/// Makes the directory follow a change of `user` (whose endpoint was
/// `before`): a phone that moved to another extension leaves its old
/// endpoint; a disabled person's phone gets a new password (its
/// registration is dropped at once); an enabled one is written if missing
/// or on another line (a browser phone that became a desk phone).
pub async fn follow(
    directory: &Directory,
    settings: &PhoneSettings,
    before: &str,
    user: &User,
    disabled: bool,
) -> Result<(), DirectoryError> {
    if before != user.endpoint() {
        directory.remove(before).await?;
        tracing::info!(endpoint = before, "phone removed from the directory");
    }
    if disabled {
        rotate(directory, settings, user).await.map(drop)
    } else {
        ensure(directory, settings, user).await.map(drop)
    }
}

/// What an admin types into a desk phone (or a SIP app) so it registers as
/// its salesperson's extension. Shown once, when the password is made; not
/// `Debug`, since it carries the password.
#[derive(Clone, Serialize)]
pub struct DeskCredentials {
    /// The registrar: host, or host:port.
    pub server: String,
    /// `udp` or `tls`.
    pub transport: &'static str,
    /// The SIP user name, which is also the authentication user.
    pub username: String,
    pub password: String,
    /// Whether the media must be encrypted (SRTP with SDES keys).
    pub srtp: bool,
}

/// Gives `user`'s desk phone a new password ([`rotate`]) and returns the
/// credentials to type into it.
pub async fn desk_credentials(
    directory: &Directory,
    settings: &PhoneSettings,
    user: &User,
) -> Result<DeskCredentials, DirectoryError> {
    let password = rotate(directory, settings, user).await?;
    Ok(DeskCredentials {
        server: settings
            .desk_server
            .clone()
            .unwrap_or_else(|| settings.sip_domain.clone()),
        transport: match settings.desk_transport {
            DeskTransport::Udp => "udp",
            DeskTransport::Tls => "tls",
        },
        username: user.endpoint(),
        password: password.expose().to_owned(),
        srtp: settings.desk_transport == DeskTransport::Tls,
    })
}

/// A new SIP password: [`PASSWORD_LEN`] characters of [`PASSWORD_ALPHABET`]
/// from the OS's random generator (about 185 bits).
pub fn generate_password() -> String {
    let mut rng = rand::rng();
    (0..PASSWORD_LEN)
        .map(|_| char::from(PASSWORD_ALPHABET[rng.random_range(0..PASSWORD_ALPHABET.len())]))
        .collect()
}

/// What the softphone of `endpoint` needs, with its `password`.
pub fn browser_phone(
    settings: &PhoneSettings,
    endpoint: &str,
    password: String,
    now: time::OffsetDateTime,
) -> BrowserPhone {
    let mut ice_servers = Vec::new();
    if !settings.stun_urls.is_empty() {
        ice_servers.push(IceServer {
            urls: settings.stun_urls.clone(),
            username: None,
            credential: None,
        });
    }
    if let Some(secret) = &settings.turn_secret
        && !settings.turn_urls.is_empty()
        && let Some(credential) =
            turn::credential(secret, endpoint, now + settings.turn_credential_ttl)
    {
        ice_servers.push(IceServer {
            urls: settings.turn_urls.clone(),
            username: Some(credential.username),
            credential: Some(credential.password),
        });
    }
    BrowserPhone {
        ws_url: settings.ws_url.clone(),
        aor: format!("sip:{endpoint}@{}", settings.sip_domain),
        username: endpoint.to_owned(),
        password,
        ice_servers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_random_and_from_the_safe_alphabet() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| PASSWORD_ALPHABET.contains(&c)));
    }

    #[test]
    fn turn_servers_get_credentials_only_with_a_secret() {
        let mut settings = PhoneSettings {
            stun_urls: vec!["stun:stun.example.com:3478".into()],
            turn_urls: vec!["turn:turn.example.com:3478?transport=udp".into()],
            turn_secret: None,
            ..PhoneSettings::default()
        };
        let now = time::OffsetDateTime::UNIX_EPOCH;
        let phone = browser_phone(&settings, "acme-1001", "pw".into(), now);
        assert_eq!(phone.ice_servers.len(), 1, "STUN only: no secret for TURN");
        assert_eq!(phone.aor, "sip:acme-1001@127.0.0.1");
        settings.turn_secret = Some("coturn-secret".into());
        let phone = browser_phone(&settings, "acme-1001", "pw".into(), now);
        let turn = &phone.ice_servers[1];
        assert_eq!(turn.username.as_deref(), Some("43200:acme-1001"));
        assert!(turn.credential.is_some());
    }
}
