//! Logs (tracing to stderr, text or JSON). Tokens and secrets are never
//! logged: a token shows only as its [`fingerprint`].

use sha2::{Digest, Sha256};
use tracing_subscriber::EnvFilter;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global log subscriber; `RUST_LOG` filters (default `info`).
pub fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// How a token appears in logs and in `/_standin/requests`: the first 12
/// hex digits of its SHA-256, enough to tell tokens apart, useless to call with.
pub fn fingerprint(token: &str) -> String {
    hex::encode(&Sha256::digest(token.as_bytes())[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_short_and_stable() {
        let f = fingerprint("a3f9c2e17b4d48e6a0c5d2f1");
        assert_eq!(f.len(), 12);
        assert_eq!(f, fingerprint("a3f9c2e17b4d48e6a0c5d2f1"));
        assert_ne!(f, fingerprint("a3f9c2e17b4d48e6a0c5d2f2"));
    }
}
