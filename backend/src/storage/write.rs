//! Write transactions. Every write to the database goes through
//! [`WriteTx`], so that writers take turns, database-wide, and a failed
//! write never leaves a connection holding a transaction or a lock:
//!
//! - on SQLite it starts with `BEGIN IMMEDIATE`, which takes SQLite's write
//!   lock first and so waits the busy timeout when another connection or
//!   process holds it (a deferred transaction that has read before writing
//!   is refused at once, without waiting, when another writer got there
//!   first);
//! - on PostgreSQL it starts with `BEGIN` and then takes one transaction
//!   advisory lock, [`WRITE_LOCK`], the same for every writer of every
//!   node (waiting at most `lock_timeout`, set to the busy timeout on each
//!   connection). Writers so take turns as they do on SQLite, and every
//!   rule the statements keep by reading before writing (one live call per
//!   agent, an Idempotency-Key used once, each tenant's event ids in order)
//!   holds across backends sharing the database, under PostgreSQL's default
//!   `READ COMMITTED`;
//! - unless `COMMIT` succeeded, the connection is closed instead of going
//!   back to the pool (on an error, and when the future is dropped half-way).
//!   Closing a connection ends its transaction and releases its locks
//!   whatever state the failure left it in. After `SQLITE_FULL`, SQLite may
//!   or may not have rolled the transaction back itself; a connection handed
//!   back in either state (sqlx counting a transaction SQLite no longer has,
//!   or the reverse) would hold the write lock for good, or turn the next
//!   "transaction" into a savepoint whose "commit" stores nothing.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{BUSY_TIMEOUT, Backend, StoreError};

/// The PostgreSQL advisory lock every write transaction holds (an arbitrary
/// key, "disca" in ASCII, used for nothing else).
pub(super) const WRITE_LOCK: i64 = 0x0064_6973_6361;

/// Where writes start: the pool, and permits that keep writers waiting
/// for SQLite's lock from taking every connection (reads, such as a
/// request's authentication, always find one).
#[derive(Clone)]
pub(super) struct Writes {
    pool: AnyPool,
    backend: Backend,
    permits: Arc<Semaphore>,
}

impl Writes {
    /// At most `writers` write transactions at once on `pool`.
    pub(super) fn new(pool: AnyPool, backend: Backend, writers: usize) -> Writes {
        Writes {
            pool,
            backend,
            permits: Arc::new(Semaphore::new(writers)),
        }
    }

    /// The database written to.
    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    /// Takes a permit, a connection and the database's write lock (waiting
    /// up to the busy timeout for it).
    pub(super) async fn begin(&self) -> Result<WriteTx, StoreError> {
        let permit = tokio::time::timeout(BUSY_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Busy)?
            .map_err(|_| StoreError::Closed)?;
        let conn = self.pool.acquire().await?;
        let mut tx = WriteTx {
            conn,
            backend: self.backend,
            committed: false,
            _permit: permit,
        };
        match self.backend {
            Backend::Sqlite => {
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut *tx.conn)
                    .await?;
            }
            Backend::Postgres => {
                sqlx::query("BEGIN").execute(&mut *tx.conn).await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK)
                    .execute(&mut *tx.conn)
                    .await?;
            }
        }
        Ok(tx)
    }
}

/// A write transaction on a pooled connection; see the module docs.
pub(super) struct WriteTx {
    conn: PoolConnection<Any>,
    backend: Backend,
    committed: bool,
    _permit: OwnedSemaphorePermit,
}

impl WriteTx {
    /// The database written to.
    pub(super) fn backend(&self) -> Backend {
        self.backend
    }

    /// Commits; on failure the connection is closed (see the module docs).
    pub(super) async fn commit(mut self) -> Result<(), StoreError> {
        sqlx::query("COMMIT").execute(&mut *self.conn).await?;
        self.committed = true;
        Ok(())
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
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
    statement: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
) -> Result<sqlx::any::AnyQueryResult, StoreError> {
    let mut tx = writes.begin().await?;
    let done = statement.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(done)
}
