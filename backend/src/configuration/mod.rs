//! Settings of every `disca-backend` command: one serde tree whose
//! `Default` impls are the built-in defaults (they run locally against
//! `cargo xtask asterisk up`), layered with figment: defaults < TOML file
//! (`--config`) < `DISCA_*` environment variables < command-line flags.
//!
//! - this module: the tree and its defaults, and [`Settings::load`];
//! - [`sources`]: the environment and the flags as figment providers
//!   (nested keys, `_FILE` secrets, the older flat variable names);
//! - `check`: the rules a loaded tree must follow, reported by key and
//!   by where the value came from.

mod check;
pub mod sources;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use serde::{Deserialize, Serialize};
use serde_with::{DurationMilliSeconds, DurationSeconds, serde_as};

pub use sources::Flags;

/// The development PBX that `cargo xtask asterisk up` starts: the AMI
/// defaults. Its secret is public, so `serve` takes it only for this PBX.
pub const DEVELOPMENT_AMI_ADDR: &str = "127.0.0.1:15038";
pub const DEVELOPMENT_AMI_USERNAME: &str = "disca";
pub const DEVELOPMENT_AMI_SECRET: &str = "disca-dev-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything the commands need. Keys in the file and the environment are
/// the serde names (`[crm] retry_base_ms`, `DISCA_CRM__RETRY_BASE_MS`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to serve the API on.
    pub listen: SocketAddr,
    /// Directory holding the database (and, unless configured elsewhere,
    /// the CRM secrets key).
    pub data_dir: PathBuf,
    /// `postgres://…`: keep the data in this PostgreSQL database, which
    /// several backends may share, instead of `disca.sqlite3` in
    /// `data_dir`. The password is best left to `~/.pgpass` or
    /// `PGPASSWORD`.
    pub database_url: Option<String>,
    pub log_format: LogFormat,
    /// The default PBX (named `default`): every tenant's until assigned
    /// another (`disca-backend tenant set-pbx`).
    pub ami: AmiSettings,
    /// Other PBXs, by name (`[pbxs.campinas]`, the keys of `[ami]`;
    /// `DISCA_PBXS__CAMPINAS__ADDR`): the backend keeps one AMI connection
    /// to each.
    pub pbxs: std::collections::BTreeMap<String, AmiSettings>,
    pub calls: CallSettings,
    pub crm: CrmSettings,
    pub http: HttpSettings,
    pub phones: PhoneSettings,
    pub mail: MailSettings,
    pub downloads: DownloadSettings,
    pub recordings: RecordingSettings,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            data_dir: PathBuf::from("disca-data"),
            database_url: None,
            log_format: LogFormat::Text,
            ami: AmiSettings::default(),
            pbxs: std::collections::BTreeMap::new(),
            calls: CallSettings::default(),
            crm: CrmSettings::default(),
            http: HttpSettings::default(),
            phones: PhoneSettings::default(),
            mail: MailSettings::default(),
            downloads: DownloadSettings::default(),
            recordings: RecordingSettings::default(),
        }
    }
}

impl Settings {
    /// Every PBX, the default one first.
    pub fn all_pbxs(&self) -> Vec<(crate::domain::PbxName, &AmiSettings)> {
        let mut all = vec![(crate::domain::PbxName::default(), &self.ami)];
        // The names were checked when the settings were loaded.
        all.extend(
            self.pbxs
                .iter()
                .filter_map(|(name, ami)| Some((name.parse().ok()?, ami))),
        );
        all
    }

    /// Where each PBX's recordings are found: its own `recordings_dir`,
    /// else, for the default PBX, `[crm] recordings_dir`. A call's
    /// recording is looked for only in the folder of the PBX it was placed
    /// on.
    pub fn recordings_dirs(&self) -> std::collections::BTreeMap<crate::domain::PbxName, PathBuf> {
        self.all_pbxs()
            .into_iter()
            .filter_map(|(pbx, ami)| {
                let dir = match &ami.recordings_dir {
                    Some(dir) => dir.clone(),
                    None if pbx.is_default() => self.crm.recordings_dir.clone()?,
                    None => return None,
                };
                Some((pbx, dir))
            })
            .collect()
    }

    /// What the phones of `pbx` are told: `[phones]` with the PBX's own
    /// WebSocket URL, SIP domain and desk server where it has them.
    pub fn phones_of(&self, ami: &AmiSettings) -> PhoneSettings {
        let mut phones = self.phones.clone();
        if let Some(ws_url) = &ami.ws_url {
            phones.ws_url.clone_from(ws_url);
        }
        if let Some(sip_domain) = &ami.sip_domain {
            phones.sip_domain.clone_from(sip_domain);
            phones.desk_server.clone_from(&ami.desk_server);
        }
        if ami.desk_server.is_some() {
            phones.desk_server.clone_from(&ami.desk_server);
        }
        phones
    }

    /// Where people reach this backend, for links (invitations, notes):
    /// `crm.public_url`, else `listening` over http.
    pub fn public_base_url(&self, listening: SocketAddr) -> String {
        match &self.crm.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{listening}"),
        }
    }
}

/// The AMI connection. Timings default to disca-ami's
/// (`disca_ami::Config::DEFAULT_*`).
#[serde_as]
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmiSettings {
    /// `host:port` of Asterisk's AMI.
    pub addr: String,
    pub username: String,
    /// Never logged; from the file or the environment (`DISCA_AMI__SECRET`,
    /// or a file named by `DISCA_AMI__SECRET_FILE`), never a flag.
    pub secret: String,
    /// How often the AMI link is checked with a `Ping`.
    #[serde(rename = "ping_interval_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub ping_interval: Duration,
    /// How long a `Ping` may go unanswered before the link is declared dead:
    /// a link that stalls without closing is detected within
    /// `ping_interval + ping_timeout`.
    #[serde(rename = "ping_timeout_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub ping_timeout: Duration,
    /// How long to wait for Asterisk's answer to an action.
    #[serde(rename = "response_timeout_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub response_timeout: Duration,
    /// This PBX's phone directory in PostgreSQL (`postgres://…`, the
    /// backend's own database or another), in the schema
    /// `disca_phones_<pbx>`: for a PBX on another machine, which reads it
    /// through `res_config_pgsql`. The default PBX may instead use
    /// `[phones] directory_db`; without either, a PBX's phones are in its
    /// site files.
    pub directory_url: Option<String>,
    /// The PostgreSQL role this PBX connects to its directory as; the
    /// backend grants it reading the directory and writing registrations,
    /// nothing more.
    pub directory_pbx_role: Option<String>,
    /// What this PBX's phones are told, when it differs from `[phones]`:
    /// the browsers' WebSocket URL, the phones' SIP domain, and the address
    /// desk phones register to.
    pub ws_url: Option<String>,
    pub sip_domain: Option<String>,
    pub desk_server: Option<String>,
    /// Where this backend finds this PBX's recordings: its monitor spool,
    /// or a mount of it when the PBX has a machine of its own (the default
    /// PBX's may also be `[crm] recordings_dir`).
    pub recordings_dir: Option<PathBuf>,
}

impl Default for AmiSettings {
    fn default() -> AmiSettings {
        AmiSettings {
            addr: DEVELOPMENT_AMI_ADDR.into(),
            username: DEVELOPMENT_AMI_USERNAME.into(),
            secret: DEVELOPMENT_AMI_SECRET.into(),
            ping_interval: disca_ami::Config::DEFAULT_PING_INTERVAL,
            ping_timeout: disca_ami::Config::DEFAULT_PING_TIMEOUT,
            response_timeout: disca_ami::Config::DEFAULT_RESPONSE_TIMEOUT,
            directory_url: None,
            directory_pbx_role: None,
            ws_url: None,
            sip_domain: None,
            desk_server: None,
            recordings_dir: None,
        }
    }
}

impl AmiSettings {
    /// The AMI client's configuration (its other timings: disca-ami's defaults).
    pub fn client_config(&self) -> disca_ami::Config {
        disca_ami::Config {
            ping_interval: self.ping_interval,
            ping_timeout: self.ping_timeout,
            response_timeout: self.response_timeout,
            ..disca_ami::Config::new(&self.addr, &self.username, &self.secret)
        }
    }
}

impl fmt::Debug for AmiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmiSettings")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("response_timeout", &self.response_timeout)
            .field(
                "directory_url",
                &self.directory_url.as_ref().map(|_| "<redacted>"),
            )
            .field("directory_pbx_role", &self.directory_pbx_role)
            .field("ws_url", &self.ws_url)
            .field("sip_domain", &self.sip_domain)
            .field("desk_server", &self.desk_server)
            .field("recordings_dir", &self.recordings_dir)
            .finish()
    }
}

#[serde_as]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallSettings {
    /// How long the salesperson's own phone rings before the call is given up.
    #[serde(rename = "agent_ring_timeout_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub agent_ring_timeout: Duration,
    /// The channel Originate rings first, with `{endpoint}` standing for the
    /// agent's PJSIP endpoint: `PJSIP/{endpoint}` (the default) rings the
    /// phone; `Local/{endpoint}@ctx` lets the dialplan ring it (several
    /// devices at once, for example).
    pub agent_channel: String,
    /// How often live calls are checked against the PBX's channel list.
    #[serde(rename = "reconcile_interval_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub reconcile_interval: Duration,
    /// Calls one user may start per minute.
    pub calls_per_minute: u32,
}

impl Default for CallSettings {
    fn default() -> CallSettings {
        CallSettings {
            agent_ring_timeout: Duration::from_secs(30),
            agent_channel: "PJSIP/{endpoint}".into(),
            reconcile_interval: Duration::from_secs(10),
            calls_per_minute: 30,
        }
    }
}

/// CRM write-back (see [`crate::crm`]).
#[serde_as]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrmSettings {
    /// The backend's address as managers reach it, for links in notes
    /// (`https://disca.example.com`; loaded without a trailing `/`).
    pub public_url: Option<String>,
    /// Where Asterisk writes recordings (its monitor spool), for playback
    /// on the manager page.
    pub recordings_dir: Option<PathBuf>,
    /// The key CRM secrets are sealed with (created on first use); `None`:
    /// in the data directory ([`Settings::secrets_key_file`]).
    pub secrets_key_file: Option<PathBuf>,
    /// Longest wait for one RD Station answer.
    #[serde(rename = "request_timeout_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub request_timeout: Duration,
    /// First retry delay after a temporary error; doubles each time.
    #[serde(rename = "retry_base_ms")]
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    pub retry_base: Duration,
    #[serde(rename = "retry_max_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub retry_max: Duration,
    /// RD Station's limit per token: this many requests per `rate_window`.
    #[serde(rename = "requests_per_minute")]
    pub requests_per_window: u32,
    /// Length of the rate window (60 s at RD Station; shorter only to test
    /// against the stand-in).
    #[serde(rename = "rate_window_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub rate_window: Duration,
    /// Notes being delivered at once.
    pub concurrency: usize,
    /// How often the outbox is read even when nothing woke the worker.
    #[serde(rename = "poll_interval_ms")]
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    pub poll_interval: Duration,
    /// How long an ended call's note waits for the salesperson's report
    /// (outcome, note, follow-up) so that both go in one note; a report
    /// sent sooner lets it go at once, one sent later becomes a second
    /// note linked to the first. 0: notes go at once.
    #[serde(rename = "report_wait_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub report_wait: Duration,
    /// RD Station's addresses the admin console connects to (the
    /// stand-in's in tests and demos): API v1, API v2, OAuth2's token
    /// endpoint and its authorization page.
    pub v1_url: String,
    pub v2_url: String,
    pub token_url: String,
    pub authorize_url: String,
}

/// How long a note waits for the salesperson's report, by default: the
/// popup's form takes well under this to fill in.
pub const DEFAULT_REPORT_WAIT: Duration = Duration::from_secs(90);

impl Default for CrmSettings {
    fn default() -> CrmSettings {
        CrmSettings {
            public_url: None,
            recordings_dir: None,
            secrets_key_file: None,
            request_timeout: Duration::from_secs(15),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            requests_per_window: 120,
            rate_window: Duration::from_secs(60),
            concurrency: 8,
            poll_interval: Duration::from_secs(5),
            report_wait: DEFAULT_REPORT_WAIT,
            v1_url: crate::crm::connect::DEFAULT_V1_URL.to_owned(),
            v2_url: crate::crm::connect::DEFAULT_V2_URL.to_owned(),
            token_url: crate::crm::connect::DEFAULT_TOKEN_URL.to_owned(),
            authorize_url: crate::crm::connect::DEFAULT_AUTHORIZE_URL.to_owned(),
        }
    }
}

/// Connection limits and timeouts of the HTTP server (see
/// [`crate::server`]).
#[serde_as]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Connections served at once; `None`: derived at start from the open
    /// file limit ([`crate::server::default_max_connections`]).
    pub max_connections: Option<usize>,
    /// SHA-256 (hex) of the token `/metrics` asks for as `Authorization:
    /// Bearer <token>`; `None`: `/metrics` is open (only for a backend
    /// whose address Prometheus alone reaches).
    pub metrics_token_sha256: Option<String>,
    /// Connections accepted beyond `max_connections` to answer `/livez`,
    /// `/readyz`, `/healthz` and `/metrics` only (others get 503
    /// `server_busy`).
    pub reserve_connections: usize,
    /// How long a connection may take to send a whole request head, from
    /// when it opens or its previous response ended: bounds slow headers
    /// (slowloris) and idle keep-alive connections alike.
    #[serde(rename = "header_read_timeout_ms")]
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    pub header_read_timeout: Duration,
    /// How long a write to a connection may make no progress (the client
    /// reads nothing) before the connection is closed. Counted only while
    /// a write waits, so an idle event stream is not affected.
    #[serde(rename = "write_timeout_ms")]
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    pub write_timeout: Duration,
    /// Longest time to answer a request, its body included (408); an event
    /// stream counts only until its response starts.
    #[serde(rename = "request_timeout_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub request_timeout: Duration,
    /// Event streams (`GET /v1/events`) open at once per user and per tenant.
    pub sse_streams_per_user: usize,
    pub sse_streams_per_tenant: usize,
    /// How often an idle event stream writes a keep-alive comment.
    #[serde(rename = "sse_keep_alive_ms")]
    #[serde_as(as = "DurationMilliSeconds<u64>")]
    pub sse_keep_alive: Duration,
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            max_connections: None,
            metrics_token_sha256: None,
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

/// Phones: the PJSIP realtime directory the backend writes for Asterisk
/// (browser and desk phones), what the softphone needs to reach the PBX,
/// and what a desk phone is told. On a PBX without a directory (here
/// `directory_db`, or the PBX's `directory_url`), salespeople with a
/// browser phone get `browser_phone_unavailable`, and desk phones must be
/// configured in the PBX's site files.
#[serde_as]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PhoneSettings {
    /// The SQLite file Asterisk reads endpoints from (`res_config_sqlite3`,
    /// the site variable `PHONE_DIRECTORY_DB`), on the PBX's machine.
    pub directory_db: Option<PathBuf>,
    /// The SIP-over-WebSocket URL browsers connect to, e.g.
    /// `wss://pbx.example.com.br:8089/ws`.
    pub ws_url: String,
    /// The domain of the phones' addresses of record (`sip:<endpoint>@<domain>`).
    pub sip_domain: String,
    /// STUN servers given to the browser (`stun:host:port`).
    pub stun_urls: Vec<String>,
    /// TURN servers (`turn:host:port?transport=udp`); their credentials are
    /// made per request from `turn_secret` (coturn's `use-auth-secret`).
    pub turn_urls: Vec<String>,
    pub turn_secret: Option<String>,
    /// How long a TURN credential is valid.
    #[serde(rename = "turn_credential_ttl_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub turn_credential_ttl: Duration,
    /// Asterisk hangs up a browser phone's call whose media stopped this
    /// long (`rtp_timeout`; 0 = never), like the site's `RTP_TIMEOUT_SECS`.
    pub rtp_timeout_secs: u32,
    /// The address desk phones register to, as the admin types it into a
    /// phone (`pbx.example.com.br` or `pbx.example.com.br:5061`); `None`:
    /// `sip_domain`.
    pub desk_server: Option<String>,
    /// How desk phones reach the PBX: `udp`, or `tls` (SRTP media).
    pub desk_transport: DeskTransport,
}

/// The transport of the desk phones the backend writes into the directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeskTransport {
    #[default]
    Udp,
    Tls,
}

impl PhoneSettings {
    /// The line a phone of `kind` is written on.
    pub fn line(&self, kind: disca_protocol::phone::PhoneKind) -> crate::phones::directory::Line {
        use crate::phones::directory::Line;
        match (kind, self.desk_transport) {
            (disca_protocol::phone::PhoneKind::Browser, _) => Line::Browser,
            (disca_protocol::phone::PhoneKind::Desk, DeskTransport::Udp) => Line::DeskUdp,
            (disca_protocol::phone::PhoneKind::Desk, DeskTransport::Tls) => Line::DeskTls,
        }
    }
}

impl Default for PhoneSettings {
    fn default() -> PhoneSettings {
        PhoneSettings {
            directory_db: None,
            ws_url: "ws://127.0.0.1:8088/ws".into(),
            sip_domain: "127.0.0.1".into(),
            stun_urls: Vec::new(),
            turn_urls: Vec::new(),
            turn_secret: None,
            turn_credential_ttl: Duration::from_secs(12 * 3600),
            rtp_timeout_secs: 60,
            desk_server: None,
            desk_transport: DeskTransport::Udp,
        }
    }
}

/// Recordings under each tenant's rules (the admin console): where the
/// backend writes the announcements played to leads, the same folder as
/// Asterisk sees it, and how often expired recordings are deleted.
#[serde_as]
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordingSettings {
    /// Folder the backend writes announcements into (Asterisk must be able
    /// to read it); without it, announcements cannot be set.
    pub prompts_dir: Option<PathBuf>,
    /// `prompts_dir` as Asterisk sees it (another path when Asterisk runs
    /// in a chroot or a container); `None`: the same.
    pub pbx_prompts_dir: Option<String>,
    /// How often recordings past their tenant's retention are deleted.
    #[serde(rename = "sweep_interval_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub sweep_interval: Duration,
}

impl Default for RecordingSettings {
    fn default() -> RecordingSettings {
        RecordingSettings {
            prompts_dir: None,
            pbx_prompts_dir: None,
            sweep_interval: Duration::from_secs(3600),
        }
    }
}

/// The installers the backend offers at `/downloads` (what `cargo xtask
/// dist` writes to `target/dist/`); without `dir`, none.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DownloadSettings {
    pub dir: Option<PathBuf>,
}

/// Outgoing e-mail (invitations, password resets). Without `smtp_host`,
/// nothing is mailed: the links are shown to whoever made them, to send.
#[serde_as]
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    /// The SMTP server (the company's relay or a provider's).
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    /// `starttls` (port 587), `tls` (implicit TLS, port 465) or `none`
    /// (a relay on the same machine or network only).
    pub security: MailSecurity,
    pub username: Option<String>,
    /// Never logged; also from a file named by `DISCA_MAIL__PASSWORD_FILE`.
    pub password: Option<String>,
    /// The sender, e.g. `Disca <disca@empresa.com.br>`.
    pub from: String,
    /// Longest wait for the server, per message.
    #[serde(rename = "timeout_secs")]
    #[serde_as(as = "DurationSeconds<u64>")]
    pub timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    Starttls,
    Tls,
    None,
}

impl Default for MailSettings {
    fn default() -> MailSettings {
        MailSettings {
            smtp_host: None,
            smtp_port: 587,
            security: MailSecurity::Starttls,
            username: None,
            password: None,
            from: "Disca <disca@localhost>".into(),
            timeout: Duration::from_secs(20),
        }
    }
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The CRM secrets key of a data directory, unless configured elsewhere.
pub fn default_secrets_key(data_dir: &Path) -> PathBuf {
    data_dir.join("crm-secrets.key")
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value of the wrong type, an unknown key in the file: figment's
    /// message names the key and where it came from.
    #[error("invalid configuration: {0}")]
    Layered(Box<figment::Error>),
    #[error("configuration file {path}: {problem}")]
    File { path: PathBuf, problem: String },
    #[error("environment variable {variable}: {problem}")]
    Environment { variable: String, problem: String },
    #[error("command-line flag {flag}: {problem}")]
    Flag { flag: &'static str, problem: String },
    #[error("invalid setting {key} (from {origin}): {problem}")]
    Invalid {
        key: &'static str,
        origin: String,
        problem: &'static str,
    },
}

impl Settings {
    /// Loads defaults < the TOML `file` < the process's `DISCA_*`
    /// environment < `flags`, then checks the result.
    pub fn load(file: Option<&Path>, flags: Flags) -> Result<Settings, ConfigError> {
        Settings::load_from(file, std::env::vars_os(), flags)
    }

    /// [`Settings::load`] with the environment given.
    pub fn load_from(
        file: Option<&Path>,
        environment: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
        flags: Flags,
    ) -> Result<Settings, ConfigError> {
        let defaults = sources::Layer::defaults(&Settings::default())?;
        let environment = sources::Layer::environment(environment, &defaults)?;
        let mut figment = Figment::from(defaults);
        if let Some(path) = file {
            figment = figment.merge(sources::Layer::file(path)?);
        }
        let figment = figment.merge(environment).merge(flags.into_layer()?);
        let mut settings: Settings = figment
            .extract_lossy()
            .map_err(|e| ConfigError::Layered(Box::new(e)))?;
        settings.check().map_err(|invalid| ConfigError::Invalid {
            key: invalid.key,
            origin: sources::origin(&figment, invalid.key),
            problem: invalid.problem,
        })?;
        settings.crm.public_url = settings
            .crm
            .public_url
            .map(|url| url.trim_end_matches('/').to_owned());
        Ok(settings)
    }

    /// The key CRM secrets are sealed with.
    pub fn secrets_key_file(&self) -> PathBuf {
        self.crm
            .secrets_key_file
            .clone()
            .unwrap_or_else(|| default_secrets_key(&self.data_dir))
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    fn load(
        file: Option<&str>,
        environment: &[(&str, &str)],
        flags: Flags,
    ) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disca.toml");
        if let Some(text) = file {
            std::fs::write(&path, text).unwrap();
        }
        Settings::load_from(file.map(|_| path.as_path()), env(environment), flags)
    }

    #[test]
    fn defaults_run_locally() {
        let s = load(None, &[], Flags::default()).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.ami.addr, DEVELOPMENT_AMI_ADDR);
        assert_eq!(
            s.ami.ping_interval,
            disca_ami::Config::DEFAULT_PING_INTERVAL
        );
        assert_eq!(s.calls.agent_ring_timeout, Duration::from_secs(30));
        assert_eq!(
            s.secrets_key_file(),
            Path::new("disca-data/crm-secrets.key")
        );
    }

    #[test]
    fn flags_beat_environment_beats_file_beats_defaults() {
        let file = "listen = \"127.0.0.1:9000\"\ndata_dir = \"/srv/disca\"\n\
                    [ami]\naddr = \"127.0.0.1:5038\"\nsecret = \"s\"\n\
                    [calls]\ncalls_per_minute = 5\n[crm]\nretry_base_ms = 250\n";
        let environment = [
            ("DISCA_LISTEN", "127.0.0.1:9100"),
            ("DISCA_CALLS__CALLS_PER_MINUTE", "7"),
        ];
        let flags = Flags::default().set("listen", "--listen", Some("127.0.0.1:9200"));
        let s = load(Some(file), &environment, flags).unwrap();
        assert_eq!(s.listen.port(), 9200);
        assert_eq!(s.calls.calls_per_minute, 7);
        assert_eq!(s.data_dir, Path::new("/srv/disca"));
        assert_eq!(s.ami.addr, "127.0.0.1:5038");
        assert_eq!(s.ami.secret, "s");
        assert_eq!(s.crm.retry_base, Duration::from_millis(250));
        assert_eq!(
            s.secrets_key_file(),
            Path::new("/srv/disca/crm-secrets.key")
        );
        let s = load(Some(file), &[], Flags::default()).unwrap();
        assert_eq!(s.listen.port(), 9000);
    }

    #[test]
    fn nested_and_earlier_flat_variables_both_work_but_not_together() {
        let s = load(
            None,
            &[
                ("DISCA_AMI__ADDR", "10.0.0.5:5038"),
                ("DISCA_SSE_STREAMS_PER_USER", "4"),
                ("DISCA_HTTP__SSE_STREAMS_PER_TENANT", "40"),
                ("DISCA_MAX_CONNECTIONS", "900"),
                ("DISCA_CRM_SECRETS_KEY", "/keys/crm"),
            ],
            Flags::default(),
        )
        .unwrap();
        assert_eq!(s.ami.addr, "10.0.0.5:5038");
        assert_eq!(
            (s.http.sse_streams_per_user, s.http.sse_streams_per_tenant),
            (4, 40)
        );
        assert_eq!(s.http.max_connections, Some(900));
        assert_eq!(s.secrets_key_file(), Path::new("/keys/crm"));
        let both = [("DISCA_AMI_ADDR", "a:1"), ("DISCA_AMI__ADDR", "b:2")];
        let err = load(None, &both, Flags::default()).unwrap_err().to_string();
        assert!(
            err.contains("DISCA_AMI__ADDR") && err.contains("DISCA_AMI_ADDR"),
            "{err}"
        );
    }

    #[test]
    fn a_secret_stays_text_and_may_come_from_a_file() {
        let s = load(None, &[("DISCA_AMI__SECRET", "0123")], Flags::default()).unwrap();
        assert_eq!(s.ami.secret, "0123");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ami");
        std::fs::write(&file, "from-a-file\n").unwrap();
        let file = file.to_str().unwrap();
        let s = load(None, &[("DISCA_AMI__SECRET_FILE", file)], Flags::default()).unwrap();
        assert_eq!(s.ami.secret, "from-a-file");
        let missing = [("DISCA_AMI__SECRET_FILE", "/nonexistent/ami")];
        let err = load(None, &missing, Flags::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DISCA_AMI__SECRET_FILE") && err.contains("/nonexistent/ami"),
            "{err}"
        );
        assert!(format!("{s:?}").contains("<redacted>"));
        assert!(!format!("{s:?}").contains("from-a-file"));
    }

    #[test]
    fn other_pbxs_come_from_the_file_and_their_secrets_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("campinas");
        std::fs::write(&secret, "campinas-secret\n").unwrap();
        let file = "[ami]\naddr = \"10.0.0.5:5038\"\n\
                    [pbxs.campinas]\naddr = \"10.0.1.5:5038\"\nusername = \"disca-cps\"\n";
        let environment = [
            (
                "DISCA_PBXS__CAMPINAS__SECRET_FILE",
                secret.to_str().unwrap(),
            ),
            ("DISCA_PBXS__CAMPINAS__PING_INTERVAL_SECS", "7"),
        ];
        let s = load(Some(file), &environment, Flags::default()).unwrap();
        let all = s.all_pbxs();
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].0.as_str(), all[0].1.addr.as_str()),
            ("default", "10.0.0.5:5038")
        );
        let (name, campinas) = &all[1];
        assert_eq!(name.as_str(), "campinas");
        assert_eq!(campinas.addr, "10.0.1.5:5038");
        assert_eq!(campinas.username, "disca-cps");
        assert_eq!(campinas.secret, "campinas-secret");
        assert_eq!(campinas.ping_interval, Duration::from_secs(7));
        assert!(!format!("{s:?}").contains("campinas-secret"));

        let mistyped = [("DISCA_PBXS__CAMPINAS__ADRR", "x")];
        assert!(load(Some(file), &mistyped, Flags::default()).is_err());
        // A mistyped name makes a PBX with no address of its own: refused,
        // so its secret never goes to the development PBX's address.
        let mistyped = [("DISCA_PBXS__CAMPINSA__SECRET", "campinas-secret")];
        let err = load(Some(file), &mistyped, Flags::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("secret of its own"), "{err}");
        for (bad, problem) in [
            ("[pbxs.Campinas]\naddr = \"10.0.1.5:5038\"\n", "lowercase"),
            ("[pbxs.default]\naddr = \"10.0.1.5:5038\"\n", "lowercase"),
            (
                "[pbxs.campinas]\nusername = \"x\"\nsecret = \"s\"\n",
                "addr and a secret",
            ),
            (
                "[pbxs.campinas]\naddr = \"10.0.1.5:5038\"\n",
                "addr and a secret",
            ),
            (
                "[pbxs.campinas]\naddr = \"127.0.0.1:15038\"\nsecret = \"s\"\n",
                "addr and a secret",
            ),
            (
                "[pbxs.campinas]\naddr = \"10.0.1.5:5038\"\nsecret = \"s\"\n\
                 [pbxs.sp2]\naddr = \"10.0.1.5:5038\"\nsecret = \"t\"\n",
                "addr of its own",
            ),
            (
                "[pbxs.campinas]\naddr = \"10.0.1.5:5038\"\nsecret = \"s\"\n\
                 directory_url = \"sqlite:///var/lib/x.sqlite3\"\n",
                "postgres://",
            ),
            (
                "[pbxs.campinas]\naddr = \"10.0.1.5:5038\"\nsecret = \"s\"\n\
                 directory_url = \"postgres://db/disca\"\n",
                "needs its ws_url and sip_domain",
            ),
            (
                "[pbxs.campinas]\naddr = \"10.0.1.5:5038\"\nsecret = \"s\"\n\
                 directory_pbx_role = \"asterisk\"\n",
                "needs its directory_url",
            ),
            (
                "[pbxs.campinas]\naddr = \"10.0.1.5:5038\"\nsecret = \"s\"\n\
                 directory_url = \"postgres://db/disca\"\ndirectory_pbx_role = \"Asterisk; DROP\"\n",
                "PostgreSQL role",
            ),
            (
                "[pbxs.campinas]\naddr = \"10.0.1.5:5038\"\nsecret = \"s\"\n\
                 ws_url = \"https://pbx/ws\"\n",
                "ws_url",
            ),
        ] {
            let err = load(Some(bad), &[], Flags::default())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("pbxs") && err.contains(problem),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_pbx_s_phones_are_told_its_own_addresses() {
        let file = "[phones]\nws_url = \"wss://pbx.example.com.br:8089/ws\"\n\
                    sip_domain = \"pbx.example.com.br\"\n\
                    [pbxs.campinas]\naddr = \"10.0.1.5:5038\"\nsecret = \"s\"\n\
                    directory_url = \"postgres://disca@db.example.com.br/disca\"\n\
                    directory_pbx_role = \"asterisk_campinas\"\n\
                    ws_url = \"wss://cps.example.com.br:8089/ws\"\n\
                    sip_domain = \"cps.example.com.br\"\n";
        let s = load(Some(file), &[], Flags::default()).unwrap();
        let all = s.all_pbxs();
        let default = s.phones_of(all[0].1);
        assert_eq!(default.ws_url, "wss://pbx.example.com.br:8089/ws");
        assert_eq!(default.sip_domain, "pbx.example.com.br");
        let campinas = s.phones_of(all[1].1);
        assert_eq!(campinas.ws_url, "wss://cps.example.com.br:8089/ws");
        assert_eq!(campinas.sip_domain, "cps.example.com.br");
        assert_eq!(campinas.desk_server, None, "desk phones: the PBX's domain");
        assert!(!format!("{s:?}").contains("db.example.com.br"), "{s:?}");

        let with_recordings = format!(
            "{file}recordings_dir = \"/mnt/cps/monitor\"\n\
             [crm]\nrecordings_dir = \"/var/spool/asterisk/monitor\"\n"
        );
        let s = load(Some(&with_recordings), &[], Flags::default()).unwrap();
        let dirs: Vec<(String, PathBuf)> = s
            .recordings_dirs()
            .into_iter()
            .map(|(pbx, dir)| (pbx.to_string(), dir))
            .collect();
        assert_eq!(
            dirs,
            [
                ("campinas".into(), PathBuf::from("/mnt/cps/monitor")),
                (
                    "default".into(),
                    PathBuf::from("/var/spool/asterisk/monitor")
                ),
            ]
        );

        let both = "[ami]\ndirectory_url = \"postgres://db/disca\"\n\
                    [phones]\ndirectory_db = \"/var/lib/disca/phones/directory.sqlite3\"\n";
        let err = load(Some(both), &[], Flags::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("ami.directory_url"), "{err}");
    }

    #[test]
    fn other_disca_variables_are_left_alone_but_a_mistyped_key_is_an_error() {
        let others = [
            ("DISCA_CONFIG", "x.toml"),
            ("DISCA_CRM_TOKEN", "t"),
            ("DISCA_ASTERISK_ROOT", "/r"),
            ("DISCA_LOG_FORMAT", ""),
        ];
        assert!(load(None, &others, Flags::default()).is_ok());
        let err = load(None, &[("DISCA_AMI__ADRR", "x")], Flags::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DISCA_AMI__ADRR") && err.contains("ami.addr"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_key_and_where_it_came_from() {
        let env_error = load(
            None,
            &[("DISCA_HTTP__MAX_CONNECTIONS", "many")],
            Flags::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            env_error.contains("DISCA_HTTP__MAX_CONNECTIONS"),
            "{env_error}"
        );
        assert!(env_error.contains("environment variable"), "{env_error}");
        let file_error = load(
            Some("[http]\nwrite_timeout_ms = \"soon\"\n"),
            &[],
            Flags::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(file_error.contains("write_timeout_ms"), "{file_error}");
        assert!(file_error.contains("disca.toml"), "{file_error}");
        let typo = load(Some("lisen = \"x\"\n"), &[], Flags::default())
            .unwrap_err()
            .to_string();
        assert!(typo.contains("lisen"), "{typo}");
        let invalid = load(
            None,
            &[("DISCA_CRM__PUBLIC_URL", "ftp://disca.example.com")],
            Flags::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(invalid.contains("crm.public_url"), "{invalid}");
        assert!(invalid.contains("DISCA_CRM__PUBLIC_URL"), "{invalid}");
        let flag = load(
            None,
            &[],
            Flags::default().set("calls.agent_channel", "--agent-channel", Some("PJSIP/1001")),
        )
        .unwrap_err()
        .to_string();
        assert!(flag.contains("--agent-channel"), "{flag}");
        let missing = Settings::load_from(
            Some(Path::new("/nonexistent/disca.toml")),
            env(&[]),
            Flags::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(missing.contains("/nonexistent/disca.toml"), "{missing}");
    }

    #[test]
    fn the_public_url_loses_its_trailing_slash() {
        let s = load(
            Some("[crm]\npublic_url = \"https://disca.example.com/\"\n"),
            &[],
            Flags::default(),
        )
        .unwrap();
        assert_eq!(
            s.crm.public_url.as_deref(),
            Some("https://disca.example.com")
        );
    }
}
