//! Storage: one SQLite file in the data directory (the default), or a
//! PostgreSQL database shared by several backends; migrations applied at
//! start. Both go through sqlx's `Any` driver, so every statement is one
//! text for both: portable SQL, `$N` placeholders ([`statement`]),
//! integers for times (milliseconds) and flags. Writers take turns
//! database-wide on both ([`write`]). Every change to a call goes through
//! [`Store`], which appends the change to `call_events` in the same
//! transaction and then publishes it, under one lock, so the live stream
//! sees changes in `seq` order.

mod accounts;
mod audit;
mod call_stats;
mod calls;
mod crm;
mod crm_connect;
mod dashboard;
mod dialing;
mod events;
mod flag;
mod people;
mod recording_rules;
mod reports;
mod secrets_key_check;
mod session_lock;
mod sessions;
mod statement;
mod tail;
mod tenants;
pub mod testing;
mod tokens;
mod users;
mod write;

use write::execute_one;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Executor};
use time::OffsetDateTime;
use tokio::sync::{Mutex, Notify, broadcast, mpsc};

pub use accounts::{
    AccountLink, CodeError, LinkError, LinkPurpose, NewOAuthCode, OAuthCode, PasswordAccount,
};
pub use audit::{Actor, AuditAction, AuditEntry, AuditRecord};
pub use calls::{CallFilter, CreateCall, Created};
pub use crm::{AccountRow, Delivery, DeliveryUpdate, NewAccount};
pub use crm_connect::{ConnectState, DeliveryError};
pub use dashboard::{
    DashboardFigures, DashboardFilter, DayFigures, HourFigures, SalespersonFigures,
};
pub use dialing::{CallerIdScope, TRUNK_PASSWORD, TenantDialing, TrunkAccount};
pub use events::CallEvent;
pub use people::{NewPerson, Person, PersonChange};
pub use recording_rules::{ExpiredRecording, RecordingRules};
pub use reports::{DEFAULT_DISPOSITIONS, Followup, FollowupKind, FollowupUpdate, StoredReport};
pub use secrets_key_check::{SealedSecret, SealedWhat};
pub use session_lock::{SESSION_LOCK_FENCE, SessionLock, SessionLocks};
pub use tokens::{TokenInfo, TokenKind};
pub use users::NewUser;

/// How long a write waits for another connection's (or process's) write
/// lock before giving up with [`StoreError::Busy`].
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections to the database.
const MAX_CONNECTIONS: u32 = 8;
/// Write transactions at once (each may wait the busy timeout for the
/// lock): the other connections stay free for reads.
const MAX_WRITERS: usize = 4;

/// Settings of each SQLite connection.
const SQLITE_SESSION: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;";
/// Settings of each PostgreSQL connection:
/// - a lock (the write lock, a row) is waited for as long as SQLite's busy
///   timeout;
/// - a transaction left open by a backend that stopped answering (its host
///   frozen or cut off) is ended after 15 s, releasing the write lock;
/// - TCP keepalives every few seconds, so PostgreSQL notices a dead
///   backend's connections within about 15 s (not the system's two hours)
///   and releases its session locks: another backend takes over the PBX
///   and the CRM delivery.
const POSTGRES_SESSION: &str = "SET lock_timeout = '5s'; \
     SET idle_in_transaction_session_timeout = '15s'; \
     SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; \
     SET tcp_keepalives_count = 3;";

/// Capacity of the live event channel; a subscriber that falls further behind
/// catches up from the database.
const EVENT_CHANNEL_CAPACITY: usize = 1024;
/// Capacity of the channel of hang-ups asked through other backends.
const HANG_UP_CHANNEL_CAPACITY: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("the agent already has a live call")]
    AgentBusy,
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyMismatch,
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The call has not ended yet.
    #[error("the call is still live")]
    CallLive,
    /// What was asked cannot be stored: why, in Portuguese.
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// The disk holding the database is full (`SQLITE_FULL`, `ENOSPC`):
    /// nothing was written.
    #[error("the database's disk is full")]
    DiskFull,
    /// Another connection or process held the database's write lock past
    /// the busy timeout: nothing was written.
    #[error("the database stayed locked past the busy timeout")]
    Busy,
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the store is shutting down")]
    Closed,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    writes: write::Writes,
    writer: Writer,
    creates: mpsc::UnboundedSender<calls::PendingCreate>,
    /// On PostgreSQL, the hang-ups other backends ask of the one following
    /// the call (`Store::ask_follower_to_hang_up`).
    hang_ups: broadcast::Sender<String>,
    /// On PostgreSQL, the task publishing every backend's changes.
    _tail: Option<Arc<tail::Tail>>,
}

/// What every writer of call changes shares: the lock that orders commits
/// and publications, and the live channel.
#[derive(Clone)]
struct Writer {
    writes: write::Writes,
    lock: Arc<Mutex<()>>,
    events: broadcast::Sender<Arc<CallEvent>>,
    /// Woken when notes join the CRM outbox.
    outbox: Arc<Notify>,
    /// Woken when CRM follow-ups may have become due (a report saved, a
    /// note settled).
    followups: Arc<Notify>,
    /// How long an ended call's note waits for the salesperson's report, in
    /// milliseconds (`Store::set_report_wait`).
    report_wait_ms: Arc<std::sync::atomic::AtomicU64>,
}

/// Which database a [`Store`] keeps its data in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The migrations of each database: the same schema, spelt for each
/// (`tests/schemas.rs` compares what they make).
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating if needed) `disca.sqlite3` in `data_dir` and migrates
    /// it. The folder is made private to the backend's user (0700) and the
    /// database files readable only by it (0600).
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        private_dir(data_dir).map_err(sqlx::Error::Io)?;
        let file = data_dir.join("disca.sqlite3");
        let url = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .to_url_lossy();
        let pool = AnyPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(4)
            // Longer than the busy timeout: a connection is always free by
            // then, since every holder gives up on a lock after it.
            .acquire_timeout(BUSY_TIMEOUT * 2)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // A commit is on disk before it is answered: a 201 means
                    // stored, power cut included. Group commit keeps the
                    // fsyncs few.
                    conn.execute(sqlx::raw_sql(SQLITE_SESSION)).await?;
                    Ok(())
                })
            })
            .connect_with(AnyConnectOptions::from_url(&url)?)
            .await?;
        // SQLite gives the WAL and shared-memory files the database's mode.
        for name in ["disca.sqlite3", "disca.sqlite3-wal", "disca.sqlite3-shm"] {
            let path = data_dir.join(name);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(sqlx::Error::Io)?;
            }
        }
        Store::start(pool, Backend::Sqlite).await
    }

    /// The store `settings` name: PostgreSQL at `database_url` when set,
    /// otherwise SQLite in `data_dir`.
    pub async fn from_settings(
        settings: &crate::configuration::Settings,
    ) -> Result<Store, StoreError> {
        match &settings.database_url {
            Some(url) => Store::connect(url).await,
            None => Store::open(&settings.data_dir).await,
        }
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://…`; a
    /// password may also come from `~/.pgpass` or `PGPASSWORD`) and migrates
    /// it. Several backends may share it.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let options = AnyConnectOptions::from_str(url)?;
        if !matches!(options.database_url.scheme(), "postgres" | "postgresql") {
            return Err(StoreError::Unavailable(format!(
                "database_url must be postgres://…, not {}://…",
                options.database_url.scheme()
            )));
        }
        let pool = AnyPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(2)
            // Longer than the lock timeout, after which every statement
            // waiting for a lock gives its connection back: a request
            // waits this long for a connection only while the server
            // cannot be reached. sqlx tries again and again meanwhile, so
            // a restart shorter than this goes unnoticed; a longer outage
            // is a 503 `storage_unavailable` after it.
            .acquire_timeout(BUSY_TIMEOUT + Duration::from_secs(2))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(sqlx::raw_sql(POSTGRES_SESSION)).await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let mut store = Store::start(pool, Backend::Postgres).await?;
        let tail = tail::start(
            store.pool.clone(),
            url.to_owned(),
            store.writer.events.clone(),
            store.hang_ups.clone(),
        )
        .await?;
        store._tail = Some(Arc::new(tail));
        Ok(store)
    }

    async fn start(pool: AnyPool, backend: Backend) -> Result<Store, StoreError> {
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let writes = write::Writes::new(pool.clone(), backend, MAX_WRITERS);
        let writer = Writer {
            writes: writes.clone(),
            lock: Arc::new(Mutex::new(())),
            events,
            outbox: Arc::default(),
            followups: Arc::default(),
            report_wait_ms: Arc::default(),
        };
        call_stats::fill_once(&writes).await?;
        let (creates, requests) = mpsc::unbounded_channel();
        tokio::spawn(calls::run_creates(writer.clone(), requests));
        Ok(Store {
            pool,
            backend,
            writes,
            writer,
            creates,
            hang_ups: broadcast::channel(HANG_UP_CHANNEL_CAPACITY).0,
            _tail: None,
        })
    }

    /// The database this store keeps its data in.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database takes a write now: rewrites the one row of
    /// `write_probe` (which needs room on the disk and the write lock).
    pub async fn check_writable(&self) -> Result<(), StoreError> {
        execute_one(
            &self.writes,
            sqlx::query("UPDATE write_probe SET checked_at = $1 WHERE id = 1")
                .bind(to_millis(OffsetDateTime::now_utc())),
        )
        .await
        .map(|_| ())
    }

    /// Writes a consistent copy of the whole database to `file` (which
    /// must not exist), while the backend keeps serving: SQLite's `VACUUM
    /// INTO`, one read transaction. On PostgreSQL, `pg_dump` does this
    /// (README, "Backups"), and this refuses.
    pub async fn backup_into(&self, file: &Path) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            return Err(StoreError::Invalid(
                "o banco é PostgreSQL: faça a cópia com pg_dump",
            ));
        }
        let target = file
            .to_str()
            .ok_or_else(|| StoreError::Unavailable("the backup path is not UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Live call changes, published after commit in `seq` order.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CallEvent>> {
        self.writer.events.subscribe()
    }

    /// Refuses, with `why`, what exists only on PostgreSQL.
    fn postgres_only(&self, why: &'static str) -> Result<(), StoreError> {
        match self.backend {
            Backend::Postgres => Ok(()),
            Backend::Sqlite => Err(StoreError::Invalid(why)),
        }
    }

    /// Asks the backend following the call's PBX to hang it up (PostgreSQL:
    /// a notification every backend sharing the database hears; see
    /// [`Store::hang_up_requests`]). Whether one follows now, or heard it,
    /// is not known here.
    pub async fn ask_follower_to_hang_up(&self, call_id: &str) -> Result<(), StoreError> {
        self.postgres_only("só no PostgreSQL outro servidor acompanha as ligações")?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(tail::HANG_UPS)
            .bind(call_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The ids of calls whose hang-up a backend asked of the follower
    /// ([`Store::ask_follower_to_hang_up`]), from every backend, this one
    /// included. Never any on SQLite.
    pub fn hang_up_requests(&self) -> broadcast::Receiver<String> {
        self.hang_ups.subscribe()
    }
}

impl From<sqlx::Error> for StoreError {
    /// Names the failures that only mean "try again later": a full disk, a
    /// lock held past the busy timeout, no connection free in time, a
    /// database that cannot be reached.
    fn from(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::Database(db) => {
                match db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    Some(pg) => {
                        let sqlstate = pg.code().to_owned();
                        postgres_error(&sqlstate, e)
                    }
                    None => {
                        let code = db.code().and_then(|c| c.parse::<i64>().ok());
                        sqlite_error(code, e)
                    }
                }
            }
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
                StoreError::DiskFull
            }
            // The connection to PostgreSQL failed, or could not be made.
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) => StoreError::Unavailable(e.to_string()),
            // No connection free or made in time: the server is not
            // answering (a lock is `Busy` above, from the database itself).
            sqlx::Error::PoolTimedOut => StoreError::Unavailable(e.to_string()),
            sqlx::Error::PoolClosed => StoreError::Closed,
            _ => StoreError::Database(e),
        }
    }
}

/// What SQLite's result code (extended; its low byte is the primary one)
/// means for the request.
fn sqlite_error(code: Option<i64>, e: sqlx::Error) -> StoreError {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    const SQLITE_READONLY: i64 = 8;
    const SQLITE_IOERR: i64 = 10;
    const SQLITE_FULL: i64 = 13;
    const SQLITE_CANTOPEN: i64 = 14;
    match code.map(|c| c & 0xff) {
        Some(SQLITE_FULL) => StoreError::DiskFull,
        Some(SQLITE_BUSY | SQLITE_LOCKED) => StoreError::Busy,
        // The file system failed under SQLite (an I/O error, a file it
        // cannot open or write): the database is unavailable, not the
        // request wrong.
        Some(SQLITE_READONLY | SQLITE_IOERR | SQLITE_CANTOPEN) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Database(e),
    }
}

/// What PostgreSQL's SQLSTATE means for the request.
fn postgres_error(sqlstate: &str, e: sqlx::Error) -> StoreError {
    match sqlstate {
        // disk_full
        "53100" => StoreError::DiskFull,
        // lock_not_available (the write lock past `lock_timeout`),
        // serialization_failure, deadlock_detected, query_canceled
        "55P03" | "40001" | "40P01" | "57014" => StoreError::Busy,
        // too_many_connections, admin/crash shutdown, cannot_connect_now,
        // read_only_sql_transaction (a standby), connection exceptions
        "53300" | "57P01" | "57P02" | "57P03" | "25006" => StoreError::Unavailable(e.to_string()),
        s if s.starts_with("08") => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Database(e),
    }
}

impl StoreError {
    /// The same error for another request of a group that failed together.
    fn for_another_request(&self) -> StoreError {
        match self {
            StoreError::DiskFull => StoreError::DiskFull,
            StoreError::Busy => StoreError::Busy,
            StoreError::Closed => StoreError::Closed,
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// Creates `dir` (and its parents) if needed and makes it 0700.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

fn to_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_millis(ms: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn parse_column<T: FromStr>(value: &str, column: &str) -> Result<T, StoreError> {
    value
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("{column} = {value:?}")))
}

fn is_unique_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
}

fn is_foreign_key_violation(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(db)) if db.is_foreign_key_violation())
}
