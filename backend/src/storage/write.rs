//! Write transactions. Every write to the database goes through
//! [`WriteTx`], so that a failed write never leaves a connection holding a
//! transaction or a lock:
//!
//! - it starts with `BEGIN IMMEDIATE`, which takes SQLite's write lock
//!   first and so waits the busy timeout when another connection or process
//!   holds it (a deferred transaction that has read before writing is
//!   refused at once, without waiting, when another writer got there first);
//! - unless `COMMIT` succeeded, the connection is closed instead of going
//!   back to the pool (on an error, and when the future is dropped half-way).
//!   Closing a SQLite connection ends its transaction and releases its locks
//!   whatever state the failure left it in. After `SQLITE_FULL`, SQLite may
//!   or may not have rolled the transaction back itself; a connection handed
//!   back in either state (sqlx counting a transaction SQLite no longer has,
//!   or the reverse) would hold the write lock for good, or turn the next
//!   "transaction" into a savepoint whose "commit" stores nothing.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{BUSY_TIMEOUT, StoreError};

/// Where writes start: the pool, and permits that keep writers waiting
/// for SQLite's lock from taking every connection (reads, such as a
/// request's authentication, always find one).
#[derive(Clone)]
pub(super) struct Writes {
    pool: SqlitePool,
    permits: Arc<Semaphore>,
}

impl Writes {
    /// At most `writers` write transactions at once on `pool`.
    pub(super) fn new(pool: SqlitePool, writers: usize) -> Writes {
        Writes {
            pool,
            permits: Arc::new(Semaphore::new(writers)),
        }
    }

    /// Takes a permit, a connection and SQLite's write lock (waiting up to
    /// the busy timeout for it).
    pub(super) async fn begin(&self) -> Result<WriteTx, StoreError> {
        let permit = tokio::time::timeout(BUSY_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Busy)?
            .map_err(|_| StoreError::Closed)?;
        let conn = self.pool.acquire().await?;
        let mut tx = WriteTx {
            conn,
            committed: false,
            _permit: permit,
        };
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *tx.conn)
            .await?;
        Ok(tx)
    }
}

/// A write transaction on a pooled connection; see the module docs.
pub(super) struct WriteTx {
    conn: PoolConnection<Sqlite>,
    committed: bool,
    _permit: OwnedSemaphorePermit,
}

impl WriteTx {
    /// Commits; on failure the connection is closed (see the module docs).
    pub(super) async fn commit(mut self) -> Result<(), StoreError> {
        sqlx::query("COMMIT").execute(&mut *self.conn).await?;
        self.committed = true;
        Ok(())
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if !self.committed {
            self.conn.close_on_drop();
        }
    }
}

/// Runs one writing statement in a [`WriteTx`] of its own.
pub(super) async fn execute_one<'q>(
    writes: &Writes,
    statement: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
) -> Result<sqlx::sqlite::SqliteQueryResult, StoreError> {
    let mut tx = writes.begin().await?;
    let done = statement.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(done)
}
