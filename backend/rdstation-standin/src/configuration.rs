//! Settings of a stand-in: where it listens, what it holds, and the
//! lifetimes and limits RD Station documents (shortened by tests).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::seed::Seed;

/// Where the binary listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// Everything [`crate::StandIn::start`] needs; [`Config::default`] has the
/// demo seed, RD Station's lifetimes and limit, and a random loopback port.
#[derive(Debug, Clone)]
pub struct Config {
    /// Port 0 picks a free port: see [`crate::Running::addr`].
    pub listen: SocketAddr,
    pub seed: Seed,
    /// OAuth2 access tokens: 2 hours.
    pub access_token_lifetime: Duration,
    /// OAuth2 refresh tokens not used within this die: 14 days.
    pub refresh_token_lifetime: Duration,
    /// Authorization codes: 5 minutes.
    pub authorization_code_lifetime: Duration,
    pub rate_limit: RateLimit,
}

/// Requests allowed per token within a sliding window: 120 per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: u32,
    pub window: Duration,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            requests: 120,
            window: Duration::from_secs(60),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: Seed::demo(),
            access_token_lifetime: Duration::from_secs(2 * 60 * 60),
            refresh_token_lifetime: Duration::from_secs(14 * 24 * 60 * 60),
            authorization_code_lifetime: Duration::from_secs(5 * 60),
            rate_limit: RateLimit::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid seed file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("seed file {0} must end in .json or .toml")]
    UnknownFormat(PathBuf),
}

/// Reads a seed file, JSON or TOML by its extension (the shape of [`Seed`]).
pub fn read_seed(path: &Path) -> Result<Seed, ConfigError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    let parsed = match extension.as_deref() {
        Some("json") => serde_json::from_str(&text).map_err(|e| e.to_string()),
        Some("toml") => toml::from_str(&text).map_err(|e| e.to_string()),
        _ => return Err(ConfigError::UnknownFormat(path.into())),
    };
    parsed.map_err(|message| ConfigError::Parse {
        path: path.into(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_files_are_read_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("seed.json");
        std::fs::write(&json, serde_json::to_string(&Seed::demo()).unwrap()).unwrap();
        assert_eq!(read_seed(&json).unwrap(), Seed::demo());

        let toml_path = dir.path().join("seed.TOML");
        std::fs::write(&toml_path, toml::to_string(&Seed::demo()).unwrap()).unwrap();
        assert_eq!(read_seed(&toml_path).unwrap(), Seed::demo());

        let yaml = dir.path().join("seed.yaml");
        std::fs::write(&yaml, "tenants: []").unwrap();
        assert!(matches!(
            read_seed(&yaml),
            Err(ConfigError::UnknownFormat(_))
        ));

        std::fs::write(&json, "{\"tenants\": 3}").unwrap();
        assert!(matches!(read_seed(&json), Err(ConfigError::Parse { .. })));
        assert!(matches!(
            read_seed(&dir.path().join("missing.json")),
            Err(ConfigError::Read { .. })
        ));
    }
}
