//! Storage: one SQLite file in the data directory, migrations applied at
//! start. Every change to a call goes through [`Store`], which appends the
//! change to `call_events` in the same transaction and then publishes it,
//! under one lock, so the live stream sees changes in `seq` order.

mod calls;
mod crm;
mod events;
mod sessions;
mod tenants;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use time::OffsetDateTime;
use tokio::sync::{Mutex, Notify, broadcast, mpsc};

pub use calls::{CallFilter, CreateCall, Created};
pub use crm::{AccountRow, Delivery, DeliveryUpdate, NewAccount};
pub use events::CallEvent;
pub use users::NewUser;

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
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the store is shutting down")]
    Closed,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: Writer,
    creates: mpsc::UnboundedSender<calls::PendingCreate>,
}

/// What every writer of call changes shares: the lock that orders commits
/// and publications, and the live channel.
#[derive(Clone)]
struct Writer {
    pool: SqlitePool,
    lock: Arc<Mutex<()>>,
    events: broadcast::Sender<Arc<CallEvent>>,
    /// Woken when notes join the CRM outbox.
    outbox: Arc<Notify>,
}

impl Store {
    /// Opens (creating if needed) `disca.sqlite3` in `data_dir` and migrates it.
    pub async fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(sqlx::Error::Io)?;
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("disca.sqlite3"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let (events, _) = broadcast::channel(EVENT_CHANNEL_CAPACITY);
        let writer = Writer {
            pool: pool.clone(),
            lock: Arc::new(Mutex::new(())),
            events,
            outbox: Arc::default(),
        };
        let (creates, requests) = mpsc::unbounded_channel();
        tokio::spawn(calls::run_creates(writer.clone(), requests));
        Ok(Store {
            pool,
            writer,
            creates,
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Live call changes, published after commit in `seq` order.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CallEvent>> {
        self.writer.events.subscribe()
    }
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

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}
