//! The PJSIP realtime directory that Asterisk reads the salespeople's
//! phones from — browser phones and desk phones alike — through
//! `res_sorcery_realtime`: tables `ps_endpoints`, `ps_auths`, `ps_aors`,
//! and `ps_contacts`, where Asterisk itself keeps the phones'
//! registrations. Either a SQLite file on the PBX's machine, separate from
//! the backend's database (`res_config_sqlite3`; [`Directory::open`]), or
//! a schema of its own in PostgreSQL, one per PBX, which a PBX on another
//! machine reads as a role that may read the directory and write
//! registrations only (`res_config_pgsql`; [`Directory::connect`]).
//!
//! Why a file or schema of its own: Asterisk needs read access to it and write access
//! to the registrations, and nothing else of the backend's (token hashes,
//! sealed CRM tokens, calls). It holds each phone's SIP password in
//! clear, as `pjsip.conf` does for the phones configured there: digest
//! authentication needs the password (or its HA1, which is just as good to
//! an attacker), so the file is as sensitive as the PBX's configuration.
//!
//! Realtime objects cannot use `pjsip.conf` templates, so each endpoint row
//! spells the options of the template of its [`Line`]: `disca-endpoint`
//! with `disca-agent-webrtc`, `disca-agent-phone-udp` or
//! `disca-agent-phone-tls`; a test checks they agree. An endpoint a site
//! file (`pjsip.d`) defines under the same name takes precedence
//! (`sorcery.conf` reads the configuration first).
//! Asterisk looks rows up on every REGISTER and call (no cache), so a row
//! written here takes effect at once.

use std::path::Path;
use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, AnyPool, ConnectOptions, Executor, Row};

use crate::crm::secrets::Secret;

/// The PJSIP options of every browser phone's endpoint: those of the
/// `disca-endpoint` and `disca-agent-webrtc` templates of
/// `asterisk-config/pjsip.conf` (the template's `disallow = all` is in
/// `allow`'s `!all`; `rtp_timeout` comes from the settings).
pub const ENDPOINT_OPTIONS: &[(&str, &str)] = &[
    ("context", "disca-refuse"),
    ("direct_media", "no"),
    ("rtp_symmetric", "yes"),
    ("force_rport", "yes"),
    ("rewrite_contact", "yes"),
    ("allow_transfer", "no"),
    ("allow_subscribe", "no"),
    ("dtmf_mode", "rfc4733"),
    ("send_pai", "no"),
    ("trust_id_inbound", "no"),
    ("trust_id_outbound", "no"),
    ("webrtc", "yes"),
    ("allow", "!all,opus,ulaw"),
    ("transport", "transport-wss"),
];

/// The PJSIP options of a desk phone on UDP: the `disca-endpoint` and
/// `disca-agent-phone-udp` templates.
pub const DESK_UDP_OPTIONS: &[(&str, &str)] = &[
    ("context", "disca-refuse"),
    ("direct_media", "no"),
    ("rtp_symmetric", "yes"),
    ("force_rport", "yes"),
    ("rewrite_contact", "yes"),
    ("allow_transfer", "no"),
    ("allow_subscribe", "no"),
    ("dtmf_mode", "rfc4733"),
    ("send_pai", "no"),
    ("trust_id_inbound", "no"),
    ("trust_id_outbound", "no"),
    ("allow", "!all,ulaw,alaw"),
    ("transport", "transport-udp"),
];

/// The PJSIP options of a desk phone on TLS with SRTP (SDES): the
/// `disca-endpoint` and `disca-agent-phone-tls` templates.
pub const DESK_TLS_OPTIONS: &[(&str, &str)] = &[
    ("context", "disca-refuse"),
    ("direct_media", "no"),
    ("rtp_symmetric", "yes"),
    ("force_rport", "yes"),
    ("rewrite_contact", "yes"),
    ("allow_transfer", "no"),
    ("allow_subscribe", "no"),
    ("dtmf_mode", "rfc4733"),
    ("send_pai", "no"),
    ("trust_id_inbound", "no"),
    ("trust_id_outbound", "no"),
    ("allow", "!all,ulaw,alaw"),
    ("transport", "transport-tls"),
    ("media_encryption", "sdes"),
];

/// How a salesperson's phone reaches the PBX, which decides the options of
/// its endpoint row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// The softphone in the browser: WebRTC over a secure WebSocket.
    Browser,
    /// A desk phone (or a SIP app) registering over UDP.
    DeskUdp,
    /// A desk phone registering over TLS, its media in SRTP.
    DeskTls,
}

impl Line {
    /// The endpoint options of this line (see [`ENDPOINT_OPTIONS`]).
    pub fn options(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Line::Browser => ENDPOINT_OPTIONS,
            Line::DeskUdp => DESK_UDP_OPTIONS,
            Line::DeskTls => DESK_TLS_OPTIONS,
        }
    }

    /// The row's `media_encryption`: the template's, or for a browser phone
    /// what `webrtc = yes` sets anyway (`dtls`). Never left empty:
    /// `res_config_sqlite3` hands Asterisk a NULL column as an empty value,
    /// and an empty `media_encryption` fails the whole endpoint (seen on
    /// Asterisk 22: `Error parsing media_encryption=`, and the contact's
    /// removal was never announced).
    pub fn media_encryption(self) -> &'static str {
        match self {
            Line::Browser => "dtls",
            Line::DeskUdp | Line::DeskTls => self
                .options()
                .iter()
                .find(|(option, _)| *option == "media_encryption")
                .map_or("no", |(_, value)| *value),
        }
    }

    /// The PJSIP transport of this line, as the endpoint row names it.
    pub fn transport(self) -> &'static str {
        self.options()
            .iter()
            .find(|(option, _)| *option == "transport")
            .map(|(_, value)| *value)
            .unwrap_or_default()
    }
}

/// The options of the template `disca-agent-aor`.
pub const AOR_OPTIONS: &[(&str, &str)] = &[
    ("max_contacts", "1"),
    ("remove_existing", "yes"),
    ("qualify_frequency", "30"),
];

/// The PJSIP options of a console-configured trunk's endpoint: those of
/// the `disca-endpoint` and `disca-trunk` templates (`rtp_timeout` comes
/// from the settings).
pub const TRUNK_OPTIONS: &[(&str, &str)] = &[
    ("context", "disca-refuse"),
    ("direct_media", "no"),
    ("rtp_symmetric", "yes"),
    ("force_rport", "yes"),
    ("rewrite_contact", "yes"),
    ("allow_transfer", "no"),
    ("allow_subscribe", "no"),
    ("dtmf_mode", "rfc4733"),
    ("send_pai", "yes"),
    ("trust_id_inbound", "no"),
    ("trust_id_outbound", "yes"),
    ("allow", "!all,ulaw,alaw"),
    ("transport", "transport-udp"),
];

/// The options of the template `disca-trunk-registration`: how the PBX
/// registers with a carrier that asks for it.
pub const REGISTRATION_OPTIONS: &[(&str, &str)] = &[
    ("transport", "transport-udp"),
    ("retry_interval", "60"),
    ("forbidden_retry_interval", "300"),
    ("fatal_retry_interval", "300"),
    ("expiration", "3600"),
    ("line", "yes"),
];

/// The option of the template `disca-agent-auth`.
pub const AUTH_TYPE: &str = "digest";

/// Tables as Asterisk's realtime driver reads them: a column per option
/// (absent columns are options left at Asterisk's defaults).
const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS ps_endpoints (
        id TEXT PRIMARY KEY, tenantid TEXT, aors TEXT, auth TEXT, rtp_timeout TEXT,
        context TEXT, direct_media TEXT, rtp_symmetric TEXT, force_rport TEXT,
        rewrite_contact TEXT, allow_transfer TEXT, allow_subscribe TEXT, dtmf_mode TEXT,
        send_pai TEXT, trust_id_inbound TEXT, trust_id_outbound TEXT, webrtc TEXT,
        allow TEXT, transport TEXT, media_encryption TEXT NOT NULL DEFAULT 'no',
        outbound_auth TEXT, from_user TEXT, from_domain TEXT)",
    "CREATE TABLE IF NOT EXISTS ps_auths (
        id TEXT PRIMARY KEY, auth_type TEXT, username TEXT, password TEXT)",
    // A registration trunk's registration, which
    // `res_pjsip_outbound_registration` applies when asked to list the
    // registrations (see `pbx::registrations`).
    "CREATE TABLE IF NOT EXISTS ps_registrations (
        id TEXT PRIMARY KEY, server_uri TEXT, client_uri TEXT, contact_user TEXT,
        outbound_auth TEXT, endpoint TEXT, transport TEXT, retry_interval TEXT,
        forbidden_retry_interval TEXT, fatal_retry_interval TEXT, expiration TEXT, line TEXT)",
    "CREATE TABLE IF NOT EXISTS ps_aors (
        id TEXT PRIMARY KEY, max_contacts TEXT, remove_existing TEXT, qualify_frequency TEXT,
        contact TEXT)",
    // What the dialplan's `disca-outbound` context reads (REALTIME_FIELD)
    // for a tenant its admin configured in the console: one row per tenant
    // (`id` is its slug), and caller IDs by `<tenant>-area-<DDD>` and
    // `<tenant>-user-<extension>`.
    "CREATE TABLE IF NOT EXISTS disca_tenants (
        id TEXT PRIMARY KEY, trunk TEXT, allow TEXT, number_format TEXT, country_code TEXT,
        national_prefix TEXT, caller_id TEXT, lead_ring_secs TEXT)",
    "CREATE TABLE IF NOT EXISTS disca_caller_ids (
        id TEXT PRIMARY KEY, tenant TEXT, number TEXT)",
    // What the dialplan's `disca-record` reads for a tenant with recording
    // rules of its own: `record` (`yes`/`no`) and the announcement played
    // to the lead before the bridge (a file path without extension, as
    // Asterisk sees it; empty: none). A tenant without a row is recorded,
    // with no announcement.
    "CREATE TABLE IF NOT EXISTS disca_recording (
        id TEXT PRIMARY KEY, record TEXT, announcement TEXT)",
    // Every field of a contact (`config show help res_pjsip contact` on
    // Asterisk 22): Asterisk inserts them all.
    "CREATE TABLE IF NOT EXISTS ps_contacts (
        id TEXT PRIMARY KEY, uri TEXT, expiration_time TEXT, qualify_frequency TEXT,
        qualify_timeout TEXT, qualify_2xx_only TEXT, authenticate_qualify TEXT,
        outbound_proxy TEXT, path TEXT, user_agent TEXT, endpoint TEXT, reg_server TEXT,
        via_addr TEXT, via_port TEXT, call_id TEXT, prune_on_boot TEXT)",
    "CREATE INDEX IF NOT EXISTS ps_contacts_endpoint ON ps_contacts (endpoint)",
];

// Asterisk 22's `res_config_sqlite3` deletes nothing when PJSIP removes
// a contact: its destroy builds the WHERE clause from the extra fields
// only and ignores the key, and sorcery deletes by key alone (seen with
// `realtime destroy ps_contacts id <id>`: "Removed 0 RealTime records").
// So `remove_existing`, un-REGISTER, prune-on-boot and expiry all leave
// the row, and a phone that reconnects after an Asterisk restart ends
// up with two contacts, the dead one dialled first half of the time.
// Every AOR of a Disca PBX holds one contact (`max_contacts = 1`,
// `remove_existing = yes`: the directory's rows and pjsip.conf's
// `disca-agent-aor`; a site AOR in pjsip.d must use that template,
// since sorcery.conf keeps every AOR's contacts here): this trigger
// does what Asterisk meant to, keeping an AOR's newest contact, and
// sweeps contacts past their expiry. Contacts are named `<aor>;@<hash>`.
// A PostgreSQL directory needs none of this: `res_config_pgsql` deletes
// by key, so Asterisk removes contacts itself.
const SQLITE_TRIGGER: &str = "CREATE TRIGGER IF NOT EXISTS ps_contacts_newest_per_aor
    AFTER INSERT ON ps_contacts
    BEGIN
        DELETE FROM ps_contacts
        WHERE id <> NEW.id
          AND ((instr(NEW.id, ';@') > 0
                AND substr(id, 1, instr(id, ';@')) = substr(NEW.id, 1, instr(NEW.id, ';@')))
               OR (CAST(expiration_time AS INTEGER) > 0
                   AND CAST(expiration_time AS INTEGER) < CAST(strftime('%s', 'now') AS INTEGER)));
    END";

/// The transaction lock every writer of a PostgreSQL directory takes.
const WRITERS_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('disca phone directory'))";

/// What a backend opens a PostgreSQL directory with: the session reads and
/// writes the directory's schema only, and waits at most this long for a
/// lock (Asterisk writes registrations meanwhile).
const POSTGRES_SESSION: &str = "SET lock_timeout = '5s'";

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("the phone directory {path} cannot be opened: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("the phone directory failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// What the dialplan reads for one console-configured tenant, every value
/// already in the dialplan's alphabet ([`crate::domain::dialing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRules {
    pub tenant: String,
    /// The trunk's endpoint: `<tenant>-trunk`.
    pub trunk: String,
    /// `sip:<host>:<port>`.
    pub contact: String,
    pub allow: String,
    pub number_format: String,
    pub country_code: String,
    pub national_prefix: String,
    pub caller_id: String,
    pub lead_ring_secs: String,
    /// (`<tenant>-area-<DDD>` or `<tenant>-user-<extension>`, number).
    pub caller_ids: Vec<(String, String)>,
    /// The carrier's host (a registration trunk's URIs and From domain).
    pub host: String,
    /// The account the PBX registers with (user name, password); `None`:
    /// the carrier knows the PBX by its address.
    pub registration: Option<(String, Secret)>,
}

/// What writing a tenant's rules did to its trunk's registration, which
/// Asterisk only picks up when asked ([`crate::pbx::registrations`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistrationChange {
    /// None before, none now; or the same as before.
    Unchanged,
    /// A registration where there was none.
    Added,
    /// Another account, password or carrier address.
    Changed,
    /// The trunk no longer registers.
    Removed,
}

/// Handle to the directory; cheap to clone.
#[derive(Clone)]
pub struct Directory {
    pool: AnyPool,
    kind: Kind,
}

/// Where a directory lives, which decides what Asterisk's driver leaves to
/// the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A SQLite file on the PBX's machine (`res_config_sqlite3`).
    File,
    /// A schema of a PostgreSQL database (`res_config_pgsql`).
    Postgres,
}

/// A directory in PostgreSQL: the schema its tables are in, and the role
/// the PBX connects as.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresDirectory {
    /// `postgres://…` of the database (the backend's own, or another).
    pub url: String,
    /// The schema of the directory's tables, one per PBX.
    pub schema: String,
    /// The role Asterisk connects as (its `search_path` set to `schema`);
    /// the backend grants it what Asterisk needs and nothing more. `None`:
    /// grants are the database administrator's business.
    pub pbx_role: Option<String>,
}

impl std::fmt::Debug for PostgresDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PostgresDirectory")
            .field("url", &"<redacted>")
            .field("schema", &self.schema)
            .field("pbx_role", &self.pbx_role)
            .finish()
    }
}

impl Directory {
    /// Writes a consistent copy of the directory to `file` (which must not
    /// exist): its phones' passwords live only here. A directory in
    /// PostgreSQL is backed up with its database (`pg_dump`).
    pub async fn backup_into(&self, file: &Path) -> Result<(), sqlx::Error> {
        if self.kind == Kind::Postgres {
            return Err(sqlx::Error::Configuration(
                "a phone directory in PostgreSQL is backed up with its database (pg_dump)".into(),
            ));
        }
        let target = file
            .to_str()
            .ok_or_else(|| sqlx::Error::Configuration("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether the backend must delete the registrations Asterisk removes
    /// ([`Directory::forget`]): a file directory's driver cannot.
    pub fn completes_deletes(&self) -> bool {
        self.kind == Kind::File
    }

    /// A write transaction. On PostgreSQL, writers take turns through an
    /// advisory lock: a row is rewritten as a delete and an insert, which
    /// two writers racing on one row (two backends starting, two requests
    /// for one phone) would turn into a duplicate key; SQLite has one
    /// writer at a time anyway.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if self.kind == Kind::Postgres {
            sqlx::query(WRITERS_LOCK).execute(&mut *tx).await?;
        }
        Ok(tx)
    }

    /// Opens (creating it and its tables if needed) the directory file. A
    /// rollback journal, not WAL: Asterisk opens the same file from another
    /// process (in production as another user, in the test bed from a
    /// chroot), and a rollback journal needs no shared-memory file both must
    /// be able to write.
    pub async fn open(path: &Path) -> Result<Directory, DirectoryError> {
        let open_error = |source| DirectoryError::Open {
            path: path.display().to_string(),
            source,
        };
        sqlx::any::install_default_drivers();
        let url = SqliteConnectOptions::from_str("sqlite://")
            .map_err(open_error)?
            .filename(path)
            .create_if_missing(true)
            .to_url_lossy();
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(sqlx::raw_sql(
                        "PRAGMA journal_mode = DELETE; PRAGMA busy_timeout = 5000",
                    ))
                    .await?;
                    Ok(())
                })
            })
            .connect_with(AnyConnectOptions::from_url(&url).map_err(open_error)?)
            .await
            .map_err(open_error)?;
        for statement in SCHEMA.iter().chain([&SQLITE_TRIGGER]) {
            sqlx::query(statement)
                .execute(&pool)
                .await
                .map_err(open_error)?;
        }
        // A directory made before trunks (an AOR's contact) or desk phones
        // (an endpoint's media encryption, never NULL: see
        // [`Line::media_encryption`]) were written here.
        for (table, column, definition, fill) in [
            ("ps_aors", "contact", "TEXT", None),
            ("ps_endpoints", "outbound_auth", "TEXT", None),
            ("ps_endpoints", "from_user", "TEXT", None),
            ("ps_endpoints", "from_domain", "TEXT", None),
            (
                "ps_endpoints",
                "media_encryption",
                "TEXT NOT NULL DEFAULT 'no'",
                Some("UPDATE ps_endpoints SET media_encryption = 'dtls' WHERE webrtc = 'yes'"),
            ),
        ] {
            let columns: Vec<String> =
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(&pool)
                    .await
                    .map_err(open_error)?;
            if !columns.iter().any(|c| c == column) {
                let mut tx = pool.begin().await.map_err(open_error)?;
                sqlx::query(&format!(
                    "ALTER TABLE {table} ADD COLUMN {column} {definition}"
                ))
                .execute(&mut *tx)
                .await
                .map_err(open_error)?;
                if let Some(fill) = fill {
                    sqlx::query(fill)
                        .execute(&mut *tx)
                        .await
                        .map_err(open_error)?;
                }
                tx.commit().await.map_err(open_error)?;
            }
        }
        Ok(Directory {
            pool,
            kind: Kind::File,
        })
    }

    /// Connects to a directory in PostgreSQL, creating its schema and tables
    /// if needed, and grants the PBX's role what Asterisk needs: read every
    /// table, and write registrations (`ps_contacts`). Several backends may
    /// do this at once.
    pub async fn connect(postgres: &PostgresDirectory) -> Result<Directory, DirectoryError> {
        let open_error = |source| DirectoryError::Open {
            path: format!("schema {}", postgres.schema),
            source,
        };
        for name in std::iter::once(&postgres.schema).chain(&postgres.pbx_role) {
            if !is_identifier(name) {
                return Err(open_error(sqlx::Error::Configuration(
                    format!("{name:?} is not a PostgreSQL name Disca uses: [a-z_][a-z0-9_]*")
                        .into(),
                )));
            }
        }
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(&postgres.url).map_err(open_error)?;
        if !matches!(options.database_url.scheme(), "postgres" | "postgresql") {
            return Err(open_error(sqlx::Error::Configuration(
                "a phone directory's URL is postgres://…".into(),
            )));
        }
        let session = format!(
            "{POSTGRES_SESSION}; SET search_path TO \"{}\"",
            postgres.schema
        );
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(7))
            .after_connect(move |conn, _| {
                let session = session.clone();
                Box::pin(async move {
                    conn.execute(sqlx::raw_sql(&session)).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(open_error)?;
        let mut tx = pool.begin().await.map_err(open_error)?;
        // One backend at a time creates the tables: `IF NOT EXISTS` races.
        sqlx::query(WRITERS_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(open_error)?;
        let schema = &postgres.schema;
        let mut statements = vec![format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"")];
        statements.extend(SCHEMA.iter().map(|s| (*s).to_owned()));
        if let Some(role) = &postgres.pbx_role {
            statements.extend([
                format!("GRANT USAGE ON SCHEMA \"{schema}\" TO \"{role}\""),
                format!("GRANT SELECT ON ALL TABLES IN SCHEMA \"{schema}\" TO \"{role}\""),
                format!("GRANT INSERT, UPDATE, DELETE ON \"{schema}\".ps_contacts TO \"{role}\""),
            ]);
        }
        for statement in statements {
            sqlx::query(&statement)
                .execute(&mut *tx)
                .await
                .map_err(open_error)?;
        }
        tx.commit().await.map_err(open_error)?;
        Ok(Directory {
            pool,
            kind: Kind::Postgres,
        })
    }

    /// Writes (or rewrites) the phone `endpoint` of `tenant` on `line` with
    /// `password`, in one transaction. Registrations made with another
    /// password are dropped.
    pub async fn put(
        &self,
        tenant: &str,
        endpoint: &str,
        line: Line,
        password: &Secret,
        rtp_timeout_secs: u32,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.begin().await?;
        let previous: Option<String> =
            sqlx::query_scalar("SELECT password FROM ps_auths WHERE id = $1")
                .bind(endpoint)
                .fetch_optional(&mut *tx)
                .await?;
        let mut columns = vec!["id", "tenantid", "aors", "auth", "rtp_timeout"];
        let rtp_timeout = rtp_timeout_secs.to_string();
        let mut values = vec![endpoint, tenant, endpoint, endpoint, rtp_timeout.as_str()];
        for (option, value) in line.options() {
            columns.push(option);
            values.push(value);
        }
        if !columns.contains(&"media_encryption") {
            columns.push("media_encryption");
            values.push(line.media_encryption());
        }
        replace(&mut tx, "ps_endpoints", &columns, &values).await?;
        replace(
            &mut tx,
            "ps_auths",
            &["id", "auth_type", "username", "password"],
            &[endpoint, AUTH_TYPE, endpoint, password.expose()],
        )
        .await?;
        let mut columns = vec!["id"];
        let mut values = vec![endpoint];
        for (option, value) in AOR_OPTIONS {
            columns.push(option);
            values.push(value);
        }
        replace(&mut tx, "ps_aors", &columns, &values).await?;
        if previous.is_some_and(|p| p != password.expose()) {
            drop_registrations(&mut tx, endpoint).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes (or rewrites) what the dialplan reads for a console-configured
    /// tenant, all in one transaction: its trunk's endpoint, AOR and (for a
    /// carrier that asks the PBX to register) its authentication and
    /// registration, its row of `disca_tenants` and its caller IDs.
    pub async fn put_tenant(
        &self,
        rules: &TenantRules,
        rtp_timeout_secs: u32,
    ) -> Result<RegistrationChange, DirectoryError> {
        let mut tx = self.begin().await?;
        let trunk = rules.trunk.as_str();
        let rtp_timeout = rtp_timeout_secs.to_string();
        let mut columns = vec!["id", "tenantid", "aors", "rtp_timeout"];
        let mut values = vec![trunk, rules.tenant.as_str(), trunk, rtp_timeout.as_str()];
        for (option, value) in TRUNK_OPTIONS {
            columns.push(option);
            values.push(value);
        }
        let registration = rules
            .registration
            .as_ref()
            .map(|(user, password)| Registration::of(rules, user, password));
        if let Some((user, _)) = &rules.registration {
            // The carrier challenges the INVITEs too; From carries the
            // account, as in the REGISTER.
            columns.extend(["outbound_auth", "from_user", "from_domain"]);
            values.extend([trunk, user.as_str(), rules.host.as_str()]);
        }
        replace(&mut tx, "ps_endpoints", &columns, &values).await?;
        // No qualify: many carriers ignore OPTIONS, and a trunk marked
        // unreachable would refuse every call; a dead trunk shows as failed
        // calls instead.
        replace(
            &mut tx,
            "ps_aors",
            &["id", "contact", "qualify_frequency"],
            &[trunk, rules.contact.as_str(), "0"],
        )
        .await?;
        let before = Registration::read(&mut tx, trunk).await?;
        match &registration {
            Some(r) => {
                replace(
                    &mut tx,
                    "ps_auths",
                    &["id", "auth_type", "username", "password"],
                    &[trunk, AUTH_TYPE, &r.user, r.password.expose()],
                )
                .await?;
                let mut columns = vec![
                    "id",
                    "server_uri",
                    "client_uri",
                    "contact_user",
                    "outbound_auth",
                    "endpoint",
                ];
                let mut values = vec![
                    trunk,
                    r.server_uri.as_str(),
                    r.client_uri.as_str(),
                    r.user.as_str(),
                    trunk,
                    trunk,
                ];
                for (option, value) in REGISTRATION_OPTIONS {
                    columns.push(option);
                    values.push(value);
                }
                replace(&mut tx, "ps_registrations", &columns, &values).await?;
            }
            None => delete_rows(&mut tx, &["ps_auths", "ps_registrations"], trunk).await?,
        }
        replace(
            &mut tx,
            "disca_tenants",
            &[
                "id",
                "trunk",
                "allow",
                "number_format",
                "country_code",
                "national_prefix",
                "caller_id",
                "lead_ring_secs",
            ],
            &[
                rules.tenant.as_str(),
                trunk,
                rules.allow.as_str(),
                rules.number_format.as_str(),
                rules.country_code.as_str(),
                rules.national_prefix.as_str(),
                rules.caller_id.as_str(),
                rules.lead_ring_secs.as_str(),
            ],
        )
        .await?;
        sqlx::query("DELETE FROM disca_caller_ids WHERE tenant = $1")
            .bind(&rules.tenant)
            .execute(&mut *tx)
            .await?;
        for (id, number) in &rules.caller_ids {
            sqlx::query("INSERT INTO disca_caller_ids (id, tenant, number) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(&rules.tenant)
                .bind(number)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(match (before, registration) {
            (None, None) => RegistrationChange::Unchanged,
            (None, Some(_)) => RegistrationChange::Added,
            (Some(_), None) => RegistrationChange::Removed,
            (Some(a), Some(b)) if a == b => RegistrationChange::Unchanged,
            (Some(_), Some(_)) => RegistrationChange::Changed,
        })
    }

    /// Writes the tenant's recording rules for `disca-record`.
    pub async fn put_recording(
        &self,
        tenant: &str,
        record: bool,
        announcement: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let mut tx = self.begin().await?;
        replace(
            &mut tx,
            "disca_recording",
            &["id", "record", "announcement"],
            &[
                tenant,
                if record { "yes" } else { "no" },
                announcement.unwrap_or(""),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tenant's row for `disca-record`: (record, announcement).
    pub async fn recording_row(
        &self,
        tenant: &str,
    ) -> Result<Option<(String, String)>, DirectoryError> {
        let row = sqlx::query("SELECT record, announcement FROM disca_recording WHERE id = $1")
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// The dialplan's row for `tenant`: (trunk, allow, caller ID).
    pub async fn tenant_row(
        &self,
        tenant: &str,
    ) -> Result<Option<(String, String, String)>, DirectoryError> {
        let row = sqlx::query("SELECT trunk, allow, caller_id FROM disca_tenants WHERE id = $1")
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
    }

    /// The caller ID the dialplan finds under `id` (`<tenant>-area-<DDD>`,
    /// `<tenant>-user-<extension>`).
    pub async fn caller_id(&self, id: &str) -> Result<Option<String>, DirectoryError> {
        Ok(
            sqlx::query_scalar("SELECT number FROM disca_caller_ids WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Removes the phone `endpoint` and its registrations (its salesperson
    /// moved to another extension).
    pub async fn remove(&self, endpoint: &str) -> Result<(), DirectoryError> {
        let mut tx = self.begin().await?;
        delete_rows(&mut tx, &["ps_endpoints", "ps_auths", "ps_aors"], endpoint).await?;
        drop_registrations(&mut tx, endpoint).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes what the dialplan reads for `tenant` (its trunk with its
    /// registration, its rules, caller IDs and recording rules), in one
    /// transaction: the tenant moved to another PBX.
    pub async fn remove_tenant(&self, tenant: &str) -> Result<(), DirectoryError> {
        let trunk = format!("{tenant}-trunk");
        let mut tx = self.begin().await?;
        let trunk_tables = ["ps_endpoints", "ps_aors", "ps_auths", "ps_registrations"];
        delete_rows(&mut tx, &trunk_tables, &trunk).await?;
        delete_rows(&mut tx, &["disca_tenants", "disca_recording"], tenant).await?;
        sqlx::query("DELETE FROM disca_caller_ids WHERE tenant = $1")
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The password of the phone `endpoint`, if it is in the directory on
    /// `line` (a phone on another line is not the phone asked for).
    pub async fn password(
        &self,
        endpoint: &str,
        line: Line,
    ) -> Result<Option<Secret>, DirectoryError> {
        let row = sqlx::query(
            "SELECT a.password FROM ps_auths a JOIN ps_endpoints e ON e.id = a.id
             WHERE a.id = $1 AND e.transport = $2",
        )
        .bind(endpoint)
        .bind(line.transport())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| Secret::new(r.get::<String, _>(0))))
    }

    /// The password of the phone `endpoint`, whatever its line (a tenant
    /// moving to another PBX takes it along).
    pub async fn any_password(&self, endpoint: &str) -> Result<Option<Secret>, DirectoryError> {
        let row = sqlx::query("SELECT password FROM ps_auths WHERE id = $1")
            .bind(endpoint)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| Secret::new(r.get::<String, _>(0))))
    }

    /// Deletes the registration of the browser phone AOR `aor` at `uri`,
    /// which Asterisk has removed but could not delete here; returns how
    /// many rows went. Only browser phones' AORs of this directory: their
    /// contact URI carries the WebSocket's source port, new for every
    /// connection, so a late removal cannot name a registration made since.
    /// A desk phone on UDP keeps its URI across an un-REGISTER and a new
    /// REGISTER (what phones do as they boot), and a late removal would
    /// delete the new registration: desk phones' rows are left to the
    /// trigger and to expiry.
    pub async fn forget(&self, aor: &str, uri: &str) -> Result<u64, DirectoryError> {
        let done = sqlx::query(
            "DELETE FROM ps_contacts WHERE substr(id, 1, length($1) + 2) = $1 || ';@' AND uri = $2
               AND EXISTS (SELECT 1 FROM ps_endpoints WHERE id = $1 AND webrtc = 'yes')",
        )
        .bind(aor)
        .bind(uri)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Whether the trunk `trunk` registers with its carrier.
    #[cfg(test)]
    pub async fn registers(&self, trunk: &str) -> Result<bool, DirectoryError> {
        let mut conn = self.pool.acquire().await?;
        Ok(Registration::read(&mut conn, trunk).await?.is_some())
    }

    /// How many registrations `endpoint` has right now.
    pub async fn registrations(&self, endpoint: &str) -> Result<u64, DirectoryError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ps_contacts WHERE endpoint = $1")
            .bind(endpoint)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}

/// What a registration trunk's rows say, to tell whether a write changed
/// them.
#[derive(Debug, PartialEq, Eq)]
struct Registration {
    server_uri: String,
    client_uri: String,
    user: String,
    password: Secret,
}

impl Registration {
    fn of(rules: &TenantRules, user: &str, password: &Secret) -> Registration {
        // The contact is `sip:<host>:<port>`.
        let server_uri = rules.contact.clone();
        Registration {
            client_uri: format!("sip:{user}@{}", rules.host),
            server_uri,
            user: user.to_owned(),
            password: password.clone(),
        }
    }

    async fn read(
        tx: &mut AnyConnection,
        trunk: &str,
    ) -> Result<Option<Registration>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT r.server_uri, r.client_uri, a.username, a.password
             FROM ps_registrations r LEFT JOIN ps_auths a ON a.id = r.outbound_auth
             WHERE r.id = $1",
        )
        .bind(trunk)
        .fetch_optional(&mut *tx)
        .await?;
        // Without its auth row (written by hand?) it differs from any.
        Ok(row.map(|r| Registration {
            server_uri: r.get(0),
            client_uri: r.get(1),
            user: r.get::<Option<String>, _>(2).unwrap_or_default(),
            password: Secret::new(r.get::<Option<String>, _>(3).unwrap_or_default()),
        }))
    }
}

/// Deletes the row `id` of each of `tables`.
async fn delete_rows(tx: &mut AnyConnection, tables: &[&str], id: &str) -> Result<(), sqlx::Error> {
    for table in tables {
        sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// `INSERT OR REPLACE`, spelled portably as delete + insert.
async fn replace(
    tx: &mut AnyConnection,
    table: &str,
    columns: &[&str],
    values: &[&str],
) -> Result<(), sqlx::Error> {
    delete_rows(tx, &[table], values[0]).await?;
    let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for value in values {
        query = query.bind(*value);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

/// Drops the registrations of `endpoint`: Asterisk reads contacts from this
/// table for every call and qualify, so the phone is unreachable at once
/// and must register again, with the current password.
async fn drop_registrations(tx: &mut AnyConnection, endpoint: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM ps_contacts WHERE endpoint = $1 OR id LIKE $2")
        .bind(endpoint)
        .bind(format!("{}%", contact_prefix(endpoint)))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// A PostgreSQL name Disca writes into SQL (double-quoted): lowercase
/// letters, digits and `_`, and never a name with a meaning of its own to
/// `GRANT` (`public`, the built-in `pg_*` roles, `current_user`...), which
/// would give the directory's passwords to more than one role.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63;
    plain
        && !name.starts_with("pg_")
        && !["public", "current_user", "current_role", "session_user"].contains(&name)
}

/// Contacts of an AOR are named `<aor>;@<hash>`; the prefix has no LIKE
/// wildcard because endpoints are `[a-z0-9-]`.
fn contact_prefix(endpoint: &str) -> String {
    format!("{endpoint};@")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    /// `pjsip.conf`'s templates, section by section (later sections of the
    /// same name add to earlier ones; a template's parents come first).
    fn templates() -> HashMap<String, Vec<(String, String)>> {
        let text = include_str!("../../../asterisk-config/pjsip.conf");
        let mut sections: HashMap<String, Vec<(String, String)>> = HashMap::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            let line = line.split(';').next().unwrap_or_default().trim();
            if let Some(header) = line.strip_prefix('[') {
                let (name, rest) = header.split_once(']').unwrap();
                let parents: Vec<String> = rest
                    .trim_matches(|c| c == '(' || c == ')')
                    .split(',')
                    .filter(|p| !p.is_empty() && *p != "!")
                    .map(str::to_owned)
                    .collect();
                let mut options = Vec::new();
                for parent in parents {
                    options.extend(sections.get(&parent).cloned().unwrap_or_default());
                }
                sections.insert(name.to_owned(), options);
                current = Some(name.to_owned());
            } else if let (Some((key, value)), Some(section)) = (line.split_once('='), &current) {
                sections
                    .get_mut(section)
                    .unwrap()
                    .push((key.trim().to_owned(), value.trim().to_owned()));
            }
        }
        sections
    }

    fn effective(options: &[(String, String)]) -> HashMap<&str, &str> {
        options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn rows_spell_the_options_of_the_pjsip_templates() {
        let templates = templates();
        for (template, line) in [
            ("disca-agent-webrtc", Line::Browser),
            ("disca-agent-phone-udp", Line::DeskUdp),
            ("disca-agent-phone-tls", Line::DeskTls),
        ] {
            let spelled: std::collections::HashSet<(&str, &str)> = effective(&templates[template])
                .into_iter()
                .filter(|(k, _)| !matches!(*k, "type" | "disallow" | "rtp_timeout"))
                .collect();
            let written: std::collections::HashSet<(&str, &str)> =
                line.options().iter().copied().collect();
            assert_eq!(spelled, written, "{template} and the {line:?} rows differ");
        }
        let aor = effective(&templates["disca-agent-aor"]);
        for (option, value) in AOR_OPTIONS {
            assert_eq!(aor.get(option), Some(value), "disca-agent-aor's {option}");
        }
        assert_eq!(aor.len() - 1, AOR_OPTIONS.len(), "type aside");
        let auth = effective(&templates["disca-agent-auth"]);
        assert_eq!(auth.get("auth_type"), Some(&AUTH_TYPE));
        let auth = effective(&templates["disca-trunk-auth"]);
        assert_eq!(auth.get("auth_type"), Some(&AUTH_TYPE));
        let registration = effective(&templates["disca-trunk-registration"]);
        for (option, value) in REGISTRATION_OPTIONS {
            assert_eq!(
                registration.get(option),
                Some(value),
                "disca-trunk-registration's {option}"
            );
        }
        assert_eq!(registration.len() - 1, REGISTRATION_OPTIONS.len());
    }

    fn trunk_rules(registration: Option<(&str, &str)>) -> TenantRules {
        TenantRules {
            tenant: "acme".into(),
            trunk: "acme-trunk".into(),
            contact: "sip:sip.operadora.com.br:5060".into(),
            allow: "x".into(),
            number_format: "e164".into(),
            country_code: "55".into(),
            national_prefix: String::new(),
            caller_id: "+551130000000".into(),
            lead_ring_secs: "30".into(),
            caller_ids: Vec::new(),
            host: "sip.operadora.com.br".into(),
            registration: registration.map(|(u, p)| (u.to_owned(), Secret::new(p.to_owned()))),
        }
    }

    #[tokio::test]
    async fn a_registration_trunk_is_written_and_its_changes_told_apart() {
        for (_dir, directory) in directories().await {
            let put = |rules: TenantRules| {
                let directory = directory.clone();
                async move { directory.put_tenant(&rules, 60).await.unwrap() }
            };
            assert_eq!(put(trunk_rules(None)).await, RegistrationChange::Unchanged);
            assert_eq!(
                put(trunk_rules(Some(("1130001000", "s3nha")))).await,
                RegistrationChange::Added
            );
            let row = sqlx::query(
                "SELECT r.server_uri, r.client_uri, r.contact_user, r.outbound_auth, r.endpoint, r.line,
                        a.username, a.password, e.outbound_auth, e.from_user, e.from_domain
                 FROM ps_registrations r JOIN ps_auths a ON a.id = r.id JOIN ps_endpoints e ON e.id = r.id
                 WHERE r.id = 'acme-trunk'",
            )
            .fetch_one(&directory.pool)
            .await
            .unwrap();
            let got: Vec<String> = (0..11).map(|i| row.get(i)).collect();
            assert_eq!(
                got,
                [
                    "sip:sip.operadora.com.br:5060",
                    "sip:1130001000@sip.operadora.com.br",
                    "1130001000",
                    "acme-trunk",
                    "acme-trunk",
                    "yes",
                    "1130001000",
                    "s3nha",
                    "acme-trunk",
                    "1130001000",
                    "sip.operadora.com.br",
                ]
            );
            assert_eq!(
                put(trunk_rules(Some(("1130001000", "s3nha")))).await,
                RegistrationChange::Unchanged
            );
            assert_eq!(
                put(trunk_rules(Some(("1130001000", "outra")))).await,
                RegistrationChange::Changed
            );
            assert_eq!(put(trunk_rules(None)).await, RegistrationChange::Removed);
            for table in ["ps_registrations", "ps_auths"] {
                let left: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
                    .fetch_one(&directory.pool)
                    .await
                    .unwrap();
                assert_eq!(left, 0, "{table}");
            }
            let from_user: Option<String> =
                sqlx::query_scalar("SELECT from_user FROM ps_endpoints WHERE id = 'acme-trunk'")
                    .fetch_one(&directory.pool)
                    .await
                    .unwrap();
            assert_eq!(from_user, None, "an IP trunk's From is the caller ID's");
        }
    }

    /// A directory file, and a directory in PostgreSQL too when
    /// [`crate::storage::testing::TEST_POSTGRES`] names a server.
    async fn directories() -> Vec<(tempfile::TempDir, Directory)> {
        let mut all = vec![directory().await];
        if let Some(url) = crate::storage::testing::fresh_database().await.unwrap() {
            let postgres = PostgresDirectory {
                url,
                schema: "disca_phones_test".into(),
                pbx_role: None,
            };
            all.push((
                tempfile::tempdir().unwrap(),
                Directory::connect(&postgres).await.unwrap(),
            ));
        }
        all
    }

    async fn directory() -> (tempfile::TempDir, Directory) {
        let dir = tempfile::tempdir().unwrap();
        let directory = Directory::open(&dir.path().join("phones.sqlite3"))
            .await
            .unwrap();
        (dir, directory)
    }

    async fn register(directory: &Directory, endpoint: &str) {
        register_contact(directory, endpoint, "0123abcd", i64::MAX).await;
    }

    /// Inserts a contact as Asterisk's registrar does.
    async fn register_contact(directory: &Directory, aor: &str, hash: &str, expires_at: i64) {
        sqlx::query(
            "INSERT INTO ps_contacts (id, uri, expiration_time, endpoint)
             VALUES ($1, 'sip:x@192.0.2.1', $2, $3)",
        )
        .bind(format!("{aor};@{hash}"))
        .bind(expires_at.to_string())
        .bind(aor)
        .execute(&directory.pool)
        .await
        .unwrap();
    }

    async fn contacts(directory: &Directory) -> Vec<String> {
        sqlx::query_scalar("SELECT id FROM ps_contacts ORDER BY id")
            .fetch_all(&directory.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_registration_asterisk_removed_is_forgotten() {
        let (_dir, directory) = directory().await;
        let password = Secret::new("a-password".into());
        directory
            .put("acme", "acme-10", Line::Browser, &password, 60)
            .await
            .unwrap();
        directory
            .put("acme", "acme-1001", Line::DeskUdp, &password, 60)
            .await
            .unwrap();
        register_contact(&directory, "acme-1001", "aaaa", i64::MAX).await;
        register_contact(&directory, "acme-10", "bbbb", i64::MAX).await;
        assert_eq!(
            directory
                .forget("acme-1001", "sip:x@192.0.2.1")
                .await
                .unwrap(),
            0,
            "a desk phone's registration is left to expiry"
        );
        assert_eq!(
            directory
                .forget("acme-10", "sip:other@192.0.2.1")
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            directory
                .forget("acme-10", "sip:x@192.0.2.1")
                .await
                .unwrap(),
            1
        );
        assert_eq!(contacts(&directory).await, ["acme-1001;@aaaa"]);
    }

    #[tokio::test]
    async fn a_new_registration_replaces_the_aors_previous_one_and_expired_ones_go() {
        let (_dir, directory) = directory().await;
        let later = i64::from(u32::MAX);
        register_contact(&directory, "acme-1001", "aaaa", later).await;
        register_contact(&directory, "acme-1002", "bbbb", later).await;
        register_contact(&directory, "acme-10", "cccc", later).await;
        register_contact(&directory, "acme-1001", "dddd", later).await;
        assert_eq!(
            contacts(&directory).await,
            ["acme-1001;@dddd", "acme-1002;@bbbb", "acme-10;@cccc"],
            "only acme-1001's older contact goes; a name that is a prefix of another is another AOR"
        );
        register_contact(&directory, "globex-2001", "eeee", 1_000).await;
        register_contact(&directory, "globex-2002", "ffff", later).await;
        assert!(
            !contacts(&directory)
                .await
                .contains(&"globex-2001;@eeee".to_owned()),
            "an expired contact is swept by the next registration"
        );
        assert_eq!(contacts(&directory).await.len(), 4);
    }

    #[tokio::test]
    async fn a_phone_is_written_read_and_removed() {
        for (_dir, directory) in directories().await {
            let password = Secret::new("first-password".into());
            directory
                .put("acme", "acme-1001", Line::Browser, &password, 60)
                .await
                .unwrap();
            assert_eq!(
                directory
                    .password("acme-1001", Line::Browser)
                    .await
                    .unwrap(),
                Some(password.clone())
            );
            assert_eq!(
                directory
                    .password("acme-1001", Line::DeskUdp)
                    .await
                    .unwrap(),
                None,
                "a browser phone is not the desk phone asked for"
            );
            let row = sqlx::query(
                "SELECT tenantid, webrtc, rtp_timeout, aors FROM ps_endpoints WHERE id = 'acme-1001'",
            )
            .fetch_one(&directory.pool)
            .await
            .unwrap();
            assert_eq!(row.get::<String, _>(0), "acme");
            assert_eq!(row.get::<String, _>(1), "yes");
            assert_eq!(row.get::<String, _>(2), "60");
            assert_eq!(row.get::<String, _>(3), "acme-1001");
            directory
                .put("acme", "acme-1001", Line::DeskTls, &password, 60)
                .await
                .unwrap();
            let row = sqlx::query(
                "SELECT webrtc, transport, media_encryption, allow FROM ps_endpoints WHERE id = 'acme-1001'",
            )
            .fetch_one(&directory.pool)
            .await
            .unwrap();
            assert_eq!(row.get::<Option<String>, _>(0), None, "no WebRTC left over");
            assert_eq!(row.get::<String, _>(1), "transport-tls");
            assert_eq!(row.get::<String, _>(2), "sdes");
            assert_eq!(row.get::<String, _>(3), "!all,ulaw,alaw");
            directory.remove("acme-1001").await.unwrap();
            assert_eq!(
                directory
                    .password("acme-1001", Line::DeskTls)
                    .await
                    .unwrap(),
                None
            );
        }
    }

    /// Every endpoint row names its media encryption (an empty one fails
    /// the endpoint in Asterisk), a directory from before desk phones too.
    #[tokio::test]
    async fn no_endpoint_row_leaves_its_media_encryption_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phones.sqlite3");
        {
            let old = SqlitePoolOptions::new()
                .connect_with(
                    SqliteConnectOptions::from_str("sqlite://")
                        .unwrap()
                        .filename(&path)
                        .create_if_missing(true),
                )
                .await
                .unwrap();
            sqlx::query(
                "CREATE TABLE ps_endpoints (
                 id TEXT PRIMARY KEY, tenantid TEXT, aors TEXT, auth TEXT, rtp_timeout TEXT,
                 context TEXT, direct_media TEXT, rtp_symmetric TEXT, force_rport TEXT,
                 rewrite_contact TEXT, allow_transfer TEXT, allow_subscribe TEXT, dtmf_mode TEXT,
                 send_pai TEXT, trust_id_inbound TEXT, trust_id_outbound TEXT, webrtc TEXT,
                 allow TEXT, transport TEXT)",
            )
            .execute(&old)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO ps_endpoints (id, tenantid, webrtc, transport)
                 VALUES ('acme-1001', 'acme', 'yes', 'transport-wss'),
                        ('acme-1002', 'acme', NULL, 'transport-udp')",
            )
            .execute(&old)
            .await
            .unwrap();
        }
        let directory = Directory::open(&path).await.unwrap();
        let password = Secret::new("p".into());
        for (endpoint, line) in [
            ("acme-1003", Line::Browser),
            ("acme-1004", Line::DeskUdp),
            ("acme-1005", Line::DeskTls),
        ] {
            directory
                .put("acme", endpoint, line, &password, 60)
                .await
                .unwrap();
        }
        directory.put_tenant(&trunk_rules(None), 60).await.unwrap();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, media_encryption FROM ps_endpoints ORDER BY id")
                .fetch_all(&directory.pool)
                .await
                .unwrap();
        let rows: Vec<(&str, &str)> = rows
            .iter()
            .map(|(id, m)| (id.as_str(), m.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("acme-1001", "dtls"),
                ("acme-1002", "no"),
                ("acme-1003", "dtls"),
                ("acme-1004", "no"),
                ("acme-1005", "sdes"),
                ("acme-trunk", "no"),
            ]
        );
    }

    #[tokio::test]
    async fn a_new_password_drops_the_registrations_and_the_same_one_keeps_them() {
        for (_dir, directory) in directories().await {
            let first = Secret::new("first-password".into());
            directory
                .put("acme", "acme-1001", Line::Browser, &first, 60)
                .await
                .unwrap();
            register(&directory, "acme-1001").await;
            register(&directory, "acme-1002").await;
            directory
                .put("acme", "acme-1001", Line::Browser, &first, 60)
                .await
                .unwrap();
            assert_eq!(directory.registrations("acme-1001").await.unwrap(), 1);
            let second = Secret::new("second-password".into());
            directory
                .put("acme", "acme-1001", Line::Browser, &second, 60)
                .await
                .unwrap();
            assert_eq!(directory.registrations("acme-1001").await.unwrap(), 0);
            assert_eq!(
                directory.registrations("acme-1002").await.unwrap(),
                1,
                "another phone's registration stays"
            );
        }
    }

    #[test]
    fn names_that_grant_to_more_than_one_role_are_refused() {
        assert!(is_identifier("asterisk_campinas"));
        assert!(is_identifier("disca_phones_sp2"));
        for name in [
            "public",
            "pg_read_all_data",
            "current_user",
            "Asterisk",
            "a-b",
            "a\"b",
            "",
        ] {
            assert!(!is_identifier(name), "{name}");
        }
    }

    /// The PBX's role reads the directory and writes registrations, and
    /// nothing else: not the phones, not another schema.
    #[tokio::test]
    async fn a_postgres_directory_grants_the_pbx_role_only_what_asterisk_needs() {
        let Some(url) = crate::storage::testing::fresh_database().await.unwrap() else {
            eprintln!(
                "skipped: {} is not set",
                crate::storage::testing::TEST_POSTGRES
            );
            return;
        };
        let role = format!("pbx_{}", hex::encode(rand::random::<[u8; 4]>()));
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        admin
            .execute(format!("CREATE ROLE {role} NOLOGIN").as_str())
            .await
            .unwrap();
        admin
            .execute("CREATE SCHEMA other; CREATE TABLE other.secrets (x TEXT)")
            .await
            .unwrap();
        let postgres = PostgresDirectory {
            url,
            schema: "disca_phones_campinas".into(),
            pbx_role: Some(role.clone()),
        };
        // Twice, as a second backend does: nothing is created twice.
        let (first, second) =
            tokio::join!(Directory::connect(&postgres), Directory::connect(&postgres));
        let (directory, _) = (first.unwrap(), second.unwrap());
        let password = Secret::new("p".into());
        directory
            .put("globex", "globex-2050", Line::DeskUdp, &password, 60)
            .await
            .unwrap();
        admin
            .execute(format!("SET ROLE {role}; SET search_path TO disca_phones_campinas").as_str())
            .await
            .unwrap();
        let read: String = sqlx::query_scalar("SELECT password FROM ps_auths")
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert_eq!(read, "p");
        admin
            .execute(
                "INSERT INTO ps_contacts (id, uri, endpoint) VALUES ('globex-2050;@1', 'sip:x', 'globex-2050');
                 UPDATE ps_contacts SET expiration_time = '1';
                 DELETE FROM ps_contacts",
            )
            .await
            .unwrap();
        for denied in [
            "INSERT INTO ps_endpoints (id) VALUES ('globex-9999')",
            "UPDATE ps_auths SET password = 'x'",
            "DELETE FROM disca_tenants",
            "SELECT * FROM other.secrets",
        ] {
            let error = admin.execute(denied).await.unwrap_err();
            assert!(
                error.to_string().contains("permission denied"),
                "{denied}: {error}"
            );
        }
        assert!(!directory.completes_deletes());
    }
}
