//! Settings of a stand-in: where it listens, what it holds, and the
//! lifetimes and limits RD Station documents (shortened by tests).
//!
//! [`Config`] is what [`crate::StandIn::start`] takes; the binary builds it
//! from [`Settings`], one serde tree layered with figment as the backend's:
//! defaults < TOML file (`--config`) < `RDSTATION_STANDIN_*` environment
//! (a section's key after `__`: `RDSTATION_STANDIN_RATE_LIMIT__REQUESTS`)
//! < flags.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use serde_with::{DurationSeconds, serde_as};

use crate::seed::Seed;
use crate::telemetry::LogFormat;

/// Prefix of the environment variables the binary reads.
pub const ENV_PREFIX: &str = "RDSTATION_STANDIN_";

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
#[serde_as]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    pub requests: u32,
    #[serde(rename = "window_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
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

/// The binary's settings (see the module's documentation).
#[serde_as]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Seed file, JSON or TOML by extension; `None`: the built-in demo.
    pub seed: Option<PathBuf>,
    pub log_format: LogFormat,
    #[serde(rename = "access_token_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub access_token_lifetime: Duration,
    #[serde(rename = "refresh_token_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub refresh_token_lifetime: Duration,
    #[serde(rename = "authorization_code_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub authorization_code_lifetime: Duration,
    pub rate_limit: RateLimit,
}

/// [`Config::default`]'s lifetimes and limit, on the binary's usual port.
impl Default for Settings {
    fn default() -> Settings {
        let config = Config::default();
        Settings {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8787)),
            seed: None,
            log_format: LogFormat::Text,
            access_token_lifetime: config.access_token_lifetime,
            refresh_token_lifetime: config.refresh_token_lifetime,
            authorization_code_lifetime: config.authorization_code_lifetime,
            rate_limit: config.rate_limit,
        }
    }
}

impl Settings {
    /// Defaults < the TOML `file` < `RDSTATION_STANDIN_*` variables <
    /// `flags` (`(key, value)`, `rate_limit.requests` for a section's key).
    pub fn load(
        file: Option<&Path>,
        flags: Vec<(&'static str, figment::value::Value)>,
    ) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).ignore(&["config"]).split("__"));
        for (key, value) in flags {
            figment = figment.merge(Serialized::default(key, value));
        }
        let settings: Settings = figment.extract().map_err(Box::new)?;
        if settings.rate_limit.requests == 0 || settings.rate_limit.window.is_zero() {
            return Err(ConfigError::Invalid(
                "rate_limit.requests and rate_limit.window_secs must be positive",
            ));
        }
        Ok(settings)
    }

    /// The stand-in these settings describe, its seed read from its file.
    pub fn into_config(self) -> Result<Config, ConfigError> {
        Ok(Config {
            listen: self.listen,
            seed: match &self.seed {
                Some(path) => read_seed(path)?,
                None => Seed::demo(),
            },
            access_token_lifetime: self.access_token_lifetime,
            refresh_token_lifetime: self.refresh_token_lifetime,
            authorization_code_lifetime: self.authorization_code_lifetime,
            rate_limit: self.rate_limit,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Layered(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Invalid(&'static str),
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
    fn flags_beat_the_file_which_beats_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("standin.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\naccess_token_secs = 60\n[rate_limit]\nrequests = 5\n",
        )
        .unwrap();
        let flags = vec![("rate_limit.window_secs", 2.into())];
        let s = Settings::load(Some(&file), flags).unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.access_token_lifetime, Duration::from_secs(60));
        assert_eq!(
            s.rate_limit,
            RateLimit {
                requests: 5,
                window: Duration::from_secs(2)
            }
        );
        assert_eq!(
            s.refresh_token_lifetime,
            Config::default().refresh_token_lifetime
        );
        let zero = vec![("rate_limit.requests", 0.into())];
        assert!(Settings::load(None, zero).is_err());
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let typo = Settings::load(Some(&file), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(typo.contains("lisen"), "{typo}");
    }

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
