//! Storage: one SQLite file in the data directory, migrations applied at
//! start. Every change to a call goes through [`Store`], which appends the
//! change to `call_events` in the same transaction and then publishes it,
//! under one lock, so the live stream sees changes in `seq` order.

mod accounts;
mod audit;
mod call_stats;
mod calls;
mod crm;
mod crm_connect;
mod dashboard;
mod dialing;
mod events;
mod people;
mod recording_rules;
mod reports;
mod sessions;
mod tenants;
mod tokens;
mod users;
mod write;

use write::execute_one;

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
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

/// Capacity of the live event channel; a subscriber that falls further behind
/// catches up from the database.
const EVENT_CHANNEL_CAPACITY: usize = 1024;

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
    pool: SqlitePool,
    writes: write::Writes,
    writer: Writer,
    creates: mpsc::UnboundedSender<calls::PendingCreate>,
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

impl Store {
    /// Opens (creating if needed) `disca.sqlite3` in `data_dir` and migrates
    /// it. The folder is made private to the backend's user (0700) and the
    /// database files readable only by it (0600).
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        private_dir(data_dir).map_err(sqlx::Error::Io)?;
        let file = data_dir.join("disca.sqlite3");
        let options = SqliteConnectOptions::new()
            .filename(&file)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A commit is on disk before it is answered: a 201 means stored,
            // power cut included. Group commit keeps the fsyncs few.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(4)
            // Longer than the busy timeout: a connection is always free by
            // then, since every holder gives up on a lock after it.
            .acquire_timeout(BUSY_TIMEOUT * 2)
            .connect_with(options)
            .await?;
        // SQLite gives the WAL and shared-memory files the database's mode.
        for name in ["disca.sqlite3", "disca.sqlite3-wal", "disca.sqlite3-shm"] {
            let path = data_dir.join(name);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(sqlx::Error::Io)?;
            }
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let writes = write::Writes::new(pool.clone(), MAX_WRITERS);
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
            writes,
            writer,
            creates,
        })
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
    /// INTO`, one read transaction. (On PostgreSQL, `pg_dump` does this.)
    pub async fn backup_into(&self, file: &Path) -> Result<(), StoreError> {
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
}

impl From<sqlx::Error> for StoreError {
    /// Names the failures that only mean "try again later": a full disk, a
    /// lock held past the busy timeout, no connection free in time.
    fn from(e: sqlx::Error) -> StoreError {
        // SQLite's primary result codes (the low byte of an extended code).
        const SQLITE_BUSY: i64 = 5;
        const SQLITE_LOCKED: i64 = 6;
        const SQLITE_READONLY: i64 = 8;
        const SQLITE_IOERR: i64 = 10;
        const SQLITE_FULL: i64 = 13;
        const SQLITE_CANTOPEN: i64 = 14;
        let code = match &e {
            sqlx::Error::Database(db) => db.code().and_then(|c| c.parse::<i64>().ok()),
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
                return StoreError::DiskFull;
            }
            sqlx::Error::PoolTimedOut => return StoreError::Busy,
            _ => None,
        };
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
