//! Settings of `disca-backend serve`: built-in defaults that run locally
//! against `cargo xtask asterisk up`, overridden by a TOML file, then by
//! environment variables, then by flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Defaults matching the development PBX that `cargo xtask asterisk up` starts.
pub const DEFAULT_AMI_ADDR: &str = "127.0.0.1:15038";
pub const DEFAULT_AMI_USERNAME: &str = "disca";
pub const DEFAULT_AMI_SECRET: &str = "disca-dev-secret";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_AGENT_CHANNEL: &str = "PJSIP/{endpoint}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything `serve` needs.
#[derive(Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub log_format: LogFormat,
    pub ami: AmiSettings,
    pub calls: CallSettings,
    pub crm: CrmSettings,
    pub http: HttpSettings,
}

/// Connection limits and timeouts of the HTTP server (see
/// [`crate::server`]).
#[derive(Clone, Debug)]
pub struct HttpSettings {
    /// Connections served at once; `None`: derived at start from the open
    /// file limit ([`crate::server::default_max_connections`]).
    pub max_connections: Option<usize>,
    /// Connections accepted beyond `max_connections` to answer `/healthz`
    /// and `/metrics` only (others get 503 `server_busy`).
    pub reserve_connections: usize,
    /// How long a connection may take to send a whole request head, from
    /// when it opens or its previous response ended: bounds slow headers
    /// (slowloris) and idle keep-alive connections alike.
    pub header_read_timeout: Duration,
    /// How long a write to a connection may make no progress (the client
    /// reads nothing) before the connection is closed. Counted only while
    /// a write waits, so an idle event stream is not affected.
    pub write_timeout: Duration,
    /// Longest time to answer a request, its body included (408); an event
    /// stream counts only until its response starts.
    pub request_timeout: Duration,
    /// Event streams (`GET /v1/events`) open at once per user and per tenant.
    pub sse_streams_per_user: usize,
    pub sse_streams_per_tenant: usize,
    /// How often an idle event stream writes a keep-alive comment.
    pub sse_keep_alive: Duration,
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            max_connections: None,
            reserve_connections: 16,
            header_read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            sse_streams_per_user: 8,
            sse_streams_per_tenant: 500,
            sse_keep_alive: Duration::from_secs(15),
        }
    }
}

#[derive(Clone)]
pub struct AmiSettings {
    pub addr: String,
    pub username: String,
    /// Never logged; comes from the file or `DISCA_AMI_SECRET`, never a flag.
    pub secret: String,
    /// How often the AMI link is checked with a `Ping`.
    pub ping_interval: Duration,
    /// How long a `Ping` may go unanswered before the link is declared dead:
    /// a link that stalls without closing is detected within
    /// `ping_interval + ping_timeout` (4 s by default).
    pub ping_timeout: Duration,
    pub response_timeout: Duration,
}

#[derive(Clone)]
pub struct CallSettings {
    /// How long the salesperson's own phone rings before the call is given up.
    pub agent_ring_timeout: Duration,
    /// The channel Originate rings first, with `{endpoint}` standing for the
    /// agent's PJSIP endpoint: `PJSIP/{endpoint}` (the default) rings the
    /// phone; `Local/{endpoint}@ctx` lets the dialplan ring it (several
    /// devices at once, for example).
    pub agent_channel: String,
    /// How often live calls are checked against the PBX's channel list.
    pub reconcile_interval: Duration,
    /// Calls one user may start per minute.
    pub calls_per_minute: u32,
}

/// CRM write-back (see [`crate::crm`]).
#[derive(Clone, Debug)]
pub struct CrmSettings {
    /// The backend's address as managers reach it, for links in notes
    /// (`https://disca.example.com`).
    pub public_url: Option<String>,
    /// Where Asterisk writes recordings (its monitor spool), for playback
    /// on the manager page.
    pub recordings_dir: Option<PathBuf>,
    /// The key CRM secrets are sealed with (created on first use).
    pub secrets_key_file: PathBuf,
    /// Longest wait for one RD Station answer.
    pub request_timeout: Duration,
    /// First retry delay after a temporary error; doubles each time.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// RD Station's limit per token: this many requests per `rate_window`.
    pub requests_per_window: u32,
    pub rate_window: Duration,
    /// Notes being delivered at once.
    pub concurrency: usize,
    /// How often the outbox is read even when nothing woke the worker.
    pub poll_interval: Duration,
}

/// The CRM secrets key of a data directory, unless configured elsewhere.
pub fn default_secrets_key(data_dir: &Path) -> PathBuf {
    data_dir.join("crm-secrets.key")
}

/// The optional TOML file; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    #[serde(default)]
    pub ami: FileAmi,
    #[serde(default)]
    pub calls: FileCalls,
    #[serde(default)]
    pub crm: FileCrm,
    #[serde(default)]
    pub http: FileHttp,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHttp {
    pub max_connections: Option<usize>,
    pub reserve_connections: Option<usize>,
    pub header_read_timeout_ms: Option<u64>,
    pub write_timeout_ms: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub sse_streams_per_user: Option<usize>,
    pub sse_streams_per_tenant: Option<usize>,
    pub sse_keep_alive_ms: Option<u64>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCrm {
    pub public_url: Option<String>,
    pub recordings_dir: Option<PathBuf>,
    pub secrets_key_file: Option<PathBuf>,
    pub request_timeout_secs: Option<u64>,
    pub retry_base_ms: Option<u64>,
    pub retry_max_secs: Option<u64>,
    pub requests_per_minute: Option<u32>,
    /// Length of the rate window in seconds (60 at RD Station; shorter
    /// only to test against the stand-in).
    pub rate_window_secs: Option<u64>,
    pub concurrency: Option<usize>,
    pub poll_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAmi {
    pub addr: Option<String>,
    pub username: Option<String>,
    pub secret: Option<String>,
    pub ping_interval_secs: Option<u64>,
    pub ping_timeout_secs: Option<u64>,
    pub response_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileCalls {
    pub agent_ring_timeout_secs: Option<u64>,
    pub agent_channel: Option<String>,
    pub reconcile_interval_secs: Option<u64>,
    pub calls_per_minute: Option<u32>,
}

/// Values given as flags or environment variables (clap reads both).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, env = "DISCA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to serve the API on [default: 127.0.0.1:8080].
    #[arg(long, env = "DISCA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory holding the database [default: ./disca-data].
    #[arg(long, env = "DISCA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log format [default: text].
    #[arg(long, env = "DISCA_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Asterisk AMI address [default: 127.0.0.1:15038].
    #[arg(long, env = "DISCA_AMI_ADDR")]
    pub ami_addr: Option<String>,
    /// AMI user [default: disca].
    #[arg(long, env = "DISCA_AMI_USERNAME")]
    pub ami_username: Option<String>,
    /// AMI secret: environment or file only, so it never shows in `ps`.
    #[arg(skip)]
    pub ami_secret: Option<String>,
    /// Seconds the salesperson's phone rings [default: 30].
    #[arg(long, env = "DISCA_AGENT_RING_TIMEOUT_SECS")]
    pub agent_ring_timeout_secs: Option<u64>,
    /// Channel rung first; `{endpoint}` is the agent's endpoint [default: PJSIP/{endpoint}].
    #[arg(long, env = "DISCA_AGENT_CHANNEL")]
    pub agent_channel: Option<String>,
    /// The backend's address as managers reach it, for links in CRM notes.
    #[arg(long, env = "DISCA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Asterisk's recordings directory, for playback on the manager page.
    #[arg(long, env = "DISCA_RECORDINGS_DIR")]
    pub recordings_dir: Option<PathBuf>,
    /// Key file sealing CRM secrets [default: <data dir>/crm-secrets.key].
    #[arg(long, env = "DISCA_CRM_SECRETS_KEY")]
    pub crm_secrets_key: Option<PathBuf>,
    /// HTTP connections served at once [default: from the open file limit].
    #[arg(long, env = "DISCA_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Milliseconds a connection may take to send a request head, from
    /// when it opens or its last response ended [default: 10000].
    #[arg(long, env = "DISCA_HEADER_READ_TIMEOUT_MS")]
    pub header_read_timeout_ms: Option<u64>,
    /// Milliseconds a write to a connection may wait on a client that
    /// reads nothing before it is closed [default: 30000].
    #[arg(long, env = "DISCA_WRITE_TIMEOUT_MS")]
    pub write_timeout_ms: Option<u64>,
    /// Event streams one user may have open at once [default: 8].
    #[arg(long, env = "DISCA_SSE_STREAMS_PER_USER")]
    pub sse_streams_per_user: Option<usize>,
    /// Event streams one tenant may have open at once [default: 500].
    #[arg(long, env = "DISCA_SSE_STREAMS_PER_TENANT")]
    pub sse_streams_per_tenant: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{0}")]
    Invalid(&'static str),
}

impl Settings {
    /// Merges defaults < file < environment/flags.
    pub fn load(mut overrides: Overrides) -> Result<Settings, ConfigError> {
        if overrides.ami_secret.is_none() {
            overrides.ami_secret = std::env::var("DISCA_AMI_SECRET").ok();
        }
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        Settings::merge(overrides, file)
    }

    pub fn merge(o: Overrides, f: FileConfig) -> Result<Settings, ConfigError> {
        let secs = |v: Option<u64>, default: u64| Duration::from_secs(v.unwrap_or(default));
        let data_dir = o
            .data_dir
            .or(f.data_dir)
            .unwrap_or_else(|| PathBuf::from("disca-data"));
        let public_url = o.public_url.or(f.crm.public_url);
        if let Some(url) = &public_url {
            let ok = reqwest::Url::parse(url).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.query().is_none()
                    && u.fragment().is_none()
            });
            if !ok {
                return Err(ConfigError::Invalid(
                    "public_url must be an http(s) address without query or fragment",
                ));
            }
        }
        let crm = CrmSettings {
            public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
            recordings_dir: o.recordings_dir.or(f.crm.recordings_dir),
            secrets_key_file: o
                .crm_secrets_key
                .or(f.crm.secrets_key_file)
                .unwrap_or_else(|| default_secrets_key(&data_dir)),
            request_timeout: secs(f.crm.request_timeout_secs, 15),
            retry_base: Duration::from_millis(f.crm.retry_base_ms.unwrap_or(2000)),
            retry_max: secs(f.crm.retry_max_secs, 300),
            requests_per_window: f.crm.requests_per_minute.unwrap_or(120),
            rate_window: secs(f.crm.rate_window_secs, 60),
            concurrency: f.crm.concurrency.unwrap_or(8),
            poll_interval: Duration::from_millis(f.crm.poll_interval_ms.unwrap_or(5000)),
        };
        if crm.request_timeout.is_zero()
            || crm.retry_base.is_zero()
            || crm.retry_max < crm.retry_base
            || crm.requests_per_window == 0
            || crm.rate_window.is_zero()
            || crm.concurrency == 0
            || crm.poll_interval.is_zero()
        {
            return Err(ConfigError::Invalid(
                "crm: timeouts, delays, limits and concurrency must be positive, and retry_max at least retry_base",
            ));
        }
        let ms =
            |v: Option<u64>, default: Duration| v.map(Duration::from_millis).unwrap_or(default);
        let http_defaults = HttpSettings::default();
        let http = HttpSettings {
            max_connections: o.max_connections.or(f.http.max_connections),
            reserve_connections: f
                .http
                .reserve_connections
                .unwrap_or(http_defaults.reserve_connections),
            header_read_timeout: ms(
                o.header_read_timeout_ms.or(f.http.header_read_timeout_ms),
                http_defaults.header_read_timeout,
            ),
            write_timeout: ms(
                o.write_timeout_ms.or(f.http.write_timeout_ms),
                http_defaults.write_timeout,
            ),
            request_timeout: f
                .http
                .request_timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(http_defaults.request_timeout),
            sse_streams_per_user: o
                .sse_streams_per_user
                .or(f.http.sse_streams_per_user)
                .unwrap_or(http_defaults.sse_streams_per_user),
            sse_streams_per_tenant: o
                .sse_streams_per_tenant
                .or(f.http.sse_streams_per_tenant)
                .unwrap_or(http_defaults.sse_streams_per_tenant),
            sse_keep_alive: ms(f.http.sse_keep_alive_ms, http_defaults.sse_keep_alive),
        };
        if http.max_connections == Some(0)
            || http.reserve_connections == 0
            || http.header_read_timeout.is_zero()
            || http.write_timeout.is_zero()
            || http.request_timeout.is_zero()
            || http.sse_streams_per_user == 0
            || http.sse_streams_per_tenant < http.sse_streams_per_user
            || http.sse_keep_alive.is_zero()
        {
            return Err(ConfigError::Invalid(
                "http: connections, reserve, timeouts and stream caps must be positive, and sse_streams_per_tenant at least sse_streams_per_user",
            ));
        }
        let settings = Settings {
            listen: o
                .listen
                .or(f.listen)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default")),
            data_dir,
            log_format: o.log_format.or(f.log_format).unwrap_or(LogFormat::Text),
            ami: AmiSettings {
                addr: o
                    .ami_addr
                    .or(f.ami.addr)
                    .unwrap_or_else(|| DEFAULT_AMI_ADDR.into()),
                username: o
                    .ami_username
                    .or(f.ami.username)
                    .unwrap_or_else(|| DEFAULT_AMI_USERNAME.into()),
                secret: o
                    .ami_secret
                    .or(f.ami.secret)
                    .unwrap_or_else(|| DEFAULT_AMI_SECRET.into()),
                ping_interval: secs(f.ami.ping_interval_secs, 2),
                ping_timeout: secs(f.ami.ping_timeout_secs, 2),
                response_timeout: secs(f.ami.response_timeout_secs, 5),
            },
            calls: CallSettings {
                agent_ring_timeout: secs(
                    o.agent_ring_timeout_secs
                        .or(f.calls.agent_ring_timeout_secs),
                    30,
                ),
                agent_channel: o
                    .agent_channel
                    .or(f.calls.agent_channel)
                    .unwrap_or_else(|| DEFAULT_AGENT_CHANNEL.into()),
                reconcile_interval: secs(f.calls.reconcile_interval_secs, 10),
                calls_per_minute: f.calls.calls_per_minute.unwrap_or(30),
            },
            crm,
            http,
        };
        if settings.calls.agent_ring_timeout.is_zero()
            || settings.calls.reconcile_interval.is_zero()
        {
            return Err(ConfigError::Invalid(
                "timeouts and intervals must be at least one second",
            ));
        }
        let channel = &settings.calls.agent_channel;
        if channel.matches("{endpoint}").count() != 1
            || !channel.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(ConfigError::Invalid(
                "agent_channel must contain {endpoint} once and only printable ASCII without spaces",
            ));
        }
        if settings.calls.calls_per_minute == 0 {
            return Err(ConfigError::Invalid("calls_per_minute must be at least 1"));
        }
        Ok(settings)
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_locally() {
        let s = Settings::merge(Overrides::default(), FileConfig::default()).unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.ami.addr, DEFAULT_AMI_ADDR);
        assert_eq!(s.calls.agent_ring_timeout, Duration::from_secs(30));
    }

    #[test]
    fn flags_beat_file_beats_defaults() {
        let file: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:9000\"\n[ami]\naddr = \"127.0.0.1:5038\"\nsecret = \"s\"\n[calls]\ncalls_per_minute = 5\n",
        )
        .unwrap();
        let flags = Overrides {
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            ..Overrides::default()
        };
        let s = Settings::merge(flags, file).unwrap();
        assert_eq!(s.listen.port(), 9100);
        assert_eq!(s.ami.addr, "127.0.0.1:5038");
        assert_eq!(s.ami.secret, "s");
        assert_eq!(s.calls.calls_per_minute, 5);
    }

    #[test]
    fn the_agent_channel_is_a_checked_template() {
        let with = |channel: &str| {
            let o = Overrides {
                agent_channel: Some(channel.into()),
                ..Overrides::default()
            };
            Settings::merge(o, FileConfig::default()).map(|s| s.calls.agent_channel)
        };
        assert_eq!(
            with("Local/{endpoint}@agents").unwrap(),
            "Local/{endpoint}@agents"
        );
        assert!(with("PJSIP/1001").is_err());
        assert!(with("PJSIP/{endpoint}\r\nAction: Command").is_err());
        assert!(with("PJSIP/{endpoint}&PJSIP/{endpoint}-desk").is_err());
    }

    #[test]
    fn http_limits_come_from_the_file_and_flags() {
        let file: FileConfig = toml::from_str(
            "[http]\nmax_connections = 900\nheader_read_timeout_ms = 2500\nwrite_timeout_ms = 4000\nsse_streams_per_user = 4\nsse_streams_per_tenant = 40\n",
        )
        .unwrap();
        let s = Settings::merge(Overrides::default(), file).unwrap();
        assert_eq!(s.http.max_connections, Some(900));
        assert_eq!(s.http.header_read_timeout, Duration::from_millis(2500));
        assert_eq!(s.http.write_timeout, Duration::from_millis(4000));
        assert_eq!(
            (s.http.sse_streams_per_user, s.http.sse_streams_per_tenant),
            (4, 40)
        );
        let flags = Overrides {
            max_connections: Some(50),
            ..Overrides::default()
        };
        let s = Settings::merge(flags, FileConfig::default()).unwrap();
        assert_eq!(s.http.max_connections, Some(50));
        assert_eq!(s.http.sse_streams_per_user, 8);
        assert_eq!(s.http.write_timeout, Duration::from_secs(30));
        let bad: FileConfig = toml::from_str("[http]\nsse_streams_per_user = 0\n").unwrap();
        assert!(Settings::merge(Overrides::default(), bad).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = \"x\"").is_err());
    }
}
