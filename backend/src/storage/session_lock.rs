//! Jobs only one backend may do at a time (delivering CRM notes), among
//! backends sharing a PostgreSQL database: a session advisory lock, held
//! on a connection of its own for as long as the job runs. PostgreSQL
//! releases it when that connection ends, however the process ends, and
//! another backend takes the job over. (On SQLite the backends share one
//! machine, and a lock file does this: `crm::worker`.)

use std::time::Duration;

use sqlx::Connection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::flag::Flag;
use super::{Store, StoreError};

/// How often the lock's connection is checked, and how long a check may
/// take: a holder learns it lost the lock within twice this.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a backend that took a lock waits before it acts: by then a
/// former holder whose session ended has learnt it and stopped, so the
/// two never act at once.
const FENCE: Duration = Duration::from_secs(3);

/// A session advisory lock this process holds; released when dropped.
pub struct SessionLock {
    lost: watch::Receiver<bool>,
    keeper: JoinHandle<()>,
}

impl SessionLock {
    /// Completes when the lock's connection failed a check: PostgreSQL may
    /// have released the lock, and the job must stop.
    pub async fn lost(&self) {
        let mut lost = self.lost.clone();
        // An error means the keeper is gone, and the lock with it.
        let _ = lost.wait_for(|lost| *lost).await;
    }
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        // The keeper owns the connection: ending it ends the session.
        self.keeper.abort();
    }
}

/// Why a session lock is refused on SQLite.
const SESSION_LOCKS_ONLY_ON_POSTGRES: &str = "bloqueios de sessão existem só no PostgreSQL";

impl Store {
    /// Whether a session (of any backend, this one's included) holds the
    /// session advisory lock `key` in this database now. PostgreSQL only.
    pub async fn session_lock_held(&self, key: i64) -> Result<bool, StoreError> {
        self.postgres_only(SESSION_LOCKS_ONLY_ON_POSTGRES)?;
        // A bigint key shows in `pg_locks` as its high and low 32 bits.
        let bits = key as u64;
        let Flag(held) = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1 \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
        )
        .bind((bits >> 32) as i64)
        .bind((bits & 0xffff_ffff) as i64)
        .fetch_one(&self.pool)
        .await?;
        Ok(held)
    }

    /// Takes the session advisory lock `key` without waiting for another
    /// holder (`None` while another session holds it), then waits the
    /// fence (3 s) so that a former holder has stopped. PostgreSQL only.
    pub async fn try_session_lock(&self, key: i64) -> Result<Option<SessionLock>, StoreError> {
        self.postgres_only(SESSION_LOCKS_ONLY_ON_POSTGRES)?;
        let mut pooled = self.pool.acquire().await?;
        let Flag(taken) = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *pooled)
            .await?;
        if !taken {
            // Holding nothing: the connection goes back to the pool.
            return Ok(None);
        }
        // The lock lives as long as this connection, now the keeper's.
        let mut conn = pooled.detach();
        let (lose, lost) = watch::channel(false);
        let keeper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(CHECK_EVERY).await;
                let check = tokio::time::timeout(CHECK_EVERY, conn.ping()).await;
                if !matches!(check, Ok(Ok(()))) {
                    tracing::error!(key, "the connection holding a session lock failed");
                    let _ = lose.send(true);
                    return;
                }
            }
        });
        // Made before the fence: should this future be dropped while it
        // waits, the lock's connection is closed with it.
        let lock = SessionLock { lost, keeper };
        tokio::time::sleep(FENCE).await;
        Ok(Some(lock))
    }
}

/// Session advisory locks this process holds on one connection of its
/// own, taken and let go one by one (the CRM outbox's tenants, shared out
/// among backends: `crm::partition`). They all go when that connection
/// fails or this value is dropped.
pub struct SessionLocks {
    conn: std::sync::Arc<tokio::sync::Mutex<sqlx::AnyConnection>>,
    lost: watch::Receiver<bool>,
    keeper: JoinHandle<()>,
}

impl SessionLocks {
    /// Takes `key` if no other session holds it; `true` when held now.
    /// The holder waits [`FENCE`] before it acts on it.
    pub async fn try_take(&self, key: i64) -> Result<bool, StoreError> {
        let mut conn = self.conn.lock().await;
        let Flag(taken) = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
        Ok(taken)
    }

    /// Takes `key` shared, unless a session holds it alone: every session
    /// may hold it shared at once, and [`Store::shared_holders`] counts
    /// them. `true` when held now.
    pub async fn try_take_shared(&self, key: i64) -> Result<bool, StoreError> {
        let mut conn = self.conn.lock().await;
        let Flag(taken) = sqlx::query_scalar("SELECT pg_try_advisory_lock_shared($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
        Ok(taken)
    }

    /// Lets `key` go.
    pub async fn release(&self, key: i64) -> Result<(), StoreError> {
        let mut conn = self.conn.lock().await;
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(key)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Completes when the connection failed a check: PostgreSQL may have
    /// released every lock, and the jobs they guard must stop.
    pub async fn lost(&self) {
        let mut lost = self.lost.clone();
        let _ = lost.wait_for(|lost| *lost).await;
    }
}

impl Drop for SessionLocks {
    fn drop(&mut self) {
        // The keeper and this value own the connection: ending both ends
        // the session.
        self.keeper.abort();
    }
}

/// How long a backend that took a lock waits before it acts on it.
pub const SESSION_LOCK_FENCE: Duration = FENCE;

impl Store {
    /// A connection of its own for [`SessionLocks`], checked every second.
    /// PostgreSQL only.
    pub async fn session_locks(&self) -> Result<SessionLocks, StoreError> {
        self.postgres_only(SESSION_LOCKS_ONLY_ON_POSTGRES)?;
        let conn =
            std::sync::Arc::new(tokio::sync::Mutex::new(self.pool.acquire().await?.detach()));
        let (lose, lost) = watch::channel(false);
        let checked = conn.clone();
        let keeper = tokio::spawn(async move {
            loop {
                tokio::time::sleep(CHECK_EVERY).await;
                let check =
                    tokio::time::timeout(CHECK_EVERY, async { checked.lock().await.ping().await })
                        .await;
                if !matches!(check, Ok(Ok(()))) {
                    tracing::error!("the connection holding session locks failed");
                    let _ = lose.send(true);
                    return;
                }
            }
        });
        Ok(SessionLocks { conn, lost, keeper })
    }

    /// How many sessions hold the advisory lock `key` shared, in this
    /// database (advisory locks are per database; `pg_locks` shows all).
    pub async fn shared_holders(&self, key: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND mode = 'ShareLock' AND ((classid::bigint << 32) | objid::bigint) = $1 \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(key)
        .fetch_one(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::testing::TestDatabase;

    /// Whether a session lock is held is seen through any connection, for
    /// keys whose high bit is set or not; SQLite has no such locks.
    #[tokio::test]
    async fn a_held_session_lock_is_seen_from_any_connection() {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::new(dir.path()).await.unwrap();
        let store = db.open().await.unwrap();
        if store.backend() == crate::storage::Backend::Sqlite {
            assert!(store.session_lock_held(1).await.is_err());
            return;
        }
        for key in [crate::pbx::leadership::TRACKER_LOCK, -0x0123_4567_89ab_cdef] {
            assert!(!store.session_lock_held(key).await.unwrap());
            let lock = store.try_session_lock(key).await.unwrap().unwrap();
            assert!(store.session_lock_held(key).await.unwrap(), "{key:#x}");
            drop(lock);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while store.session_lock_held(key).await.unwrap() {
                assert!(tokio::time::Instant::now() < deadline, "never let go");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
