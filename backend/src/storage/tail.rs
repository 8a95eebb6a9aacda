//! Changes committed by every backend sharing a PostgreSQL database,
//! published to this backend's subscribers in `seq` order.
//!
//! A write transaction that appends to `call_events` also calls
//! `pg_notify` on [`CHANNEL`] (PostgreSQL sends it at commit). Each backend
//! listens on a connection of its own and, when woken, and every [`POLL`]
//! in case a notification was lost (while that connection reconnects),
//! reads the events after the last one it published. Writers take turns
//! (`storage::write`), so `seq` grows in commit order and "after the last"
//! misses nothing. On PostgreSQL a backend publishes even its own changes
//! this way, so every subscriber sees one order whichever backend wrote.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{AnyPool, Row};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::{CallEvent, StoreError};

/// The notification channel of new events.
pub(super) const CHANNEL: &str = "disca_call_events";
/// The longest a change waits when its notification was lost.
const POLL: Duration = Duration::from_secs(1);
/// Events read at a time.
const PAGE: i64 = 500;

/// The task following the log; stopped when the last store is dropped.
pub(super) struct Tail(JoinHandle<()>);

impl Drop for Tail {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts following the log at `url` after the events already in it.
pub(super) async fn start(
    pool: AnyPool,
    url: String,
    events: broadcast::Sender<Arc<CallEvent>>,
) -> Result<Tail, StoreError> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM call_events")
        .fetch_one(&pool)
        .await?;
    let mut listener = listen(&url).await?;
    Ok(Tail(tokio::spawn(async move {
        let mut last = last.unwrap_or(0);
        loop {
            match read_after(&pool, last).await {
                Ok(page) => {
                    let full = page.len() == PAGE as usize;
                    for event in page {
                        last = event.seq;
                        let _ = events.send(Arc::new(event));
                    }
                    if full {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read new call events"),
            }
            match tokio::time::timeout(POLL, listener.recv()).await {
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(e)) => {
                    // PgListener reconnects on the next `recv`; the poll
                    // covers what was sent meanwhile.
                    tracing::warn!(error = %e, "call event notifications interrupted");
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    })))
}

async fn listen(url: &str) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect(url).await.map_err(StoreError::from)?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn read_after(pool: &AnyPool, after: i64) -> Result<Vec<CallEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT seq, tenant_seq, payload FROM call_events WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(PAGE)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let payload: String = r.try_get("payload")?;
            Ok(CallEvent {
                seq: r.try_get("seq")?,
                tenant_seq: r.try_get("tenant_seq")?,
                call: serde_json::from_str(&payload)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                payload: Arc::from(payload),
            })
        })
        .collect()
}
