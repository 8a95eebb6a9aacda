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
//!
//! The same connection hears the hang-ups a backend asks of whichever
//! follows the call ([`HANG_UPS`], `Store::ask_follower_to_hang_up`).

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{AnyPool, Row};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use super::{CallEvent, StoreError};

/// The notification channel of new events.
pub(super) const CHANNEL: &str = "disca_call_events";
/// The notification channel of hang-ups asked of the PBX's follower (the
/// call's id).
pub(super) const HANG_UPS: &str = "disca_hang_ups";
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
    hang_ups: broadcast::Sender<String>,
) -> Result<Tail, StoreError> {
    let last: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM call_events")
        .fetch_one(&pool)
        .await?;
    let mut listener = listen(&url).await?;
    Ok(Tail(tokio::spawn(async move {
        let mut last = last.unwrap_or(0);
        loop {
            match read_after(&pool, last).await {
                Ok((last_read, page)) => {
                    for event in page {
                        let _ = events.send(Arc::new(event));
                    }
                    if let Some(seq) = last_read {
                        last = seq;
                        // Rows came: more may have meanwhile, read again
                        // before waiting.
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot read new call events"),
            }
            match tokio::time::timeout(POLL, listener.recv()).await {
                Ok(Ok(first)) => {
                    // Every notification already here, so that a hang-up
                    // never waits behind a queue of new-event ones (one
                    // read covers them all).
                    let mut next = Some(first);
                    while let Some(notification) = next {
                        if notification.channel() == HANG_UPS {
                            let _ = hang_ups.send(notification.payload().to_owned());
                        }
                        next = listener.next_buffered();
                    }
                }
                Err(_) => {}
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
    listener.listen_all([CHANNEL, HANG_UPS]).await?;
    Ok(listener)
}

/// The events after `after`, at most [`PAGE`] rows, and the last row's
/// `seq`.
async fn read_after(
    pool: &AnyPool,
    after: i64,
) -> Result<(Option<i64>, Vec<CallEvent>), StoreError> {
    let rows = sqlx::query(
        "SELECT seq, tenant_seq, payload FROM call_events WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after)
    .bind(PAGE)
    .fetch_all(pool)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    for r in &rows {
        let seq: i64 = r.try_get("seq")?;
        let payload: String = r.try_get("payload")?;
        match serde_json::from_str(&payload) {
            Ok(call) => events.push(CallEvent {
                seq,
                tenant_seq: r.try_get("tenant_seq")?,
                call,
                payload: Arc::from(payload),
            }),
            // Written by a newer backend (a rolling upgrade) or damaged:
            // passed over, so the events after it still flow; streams
            // replaying from the log still send it as stored.
            Err(e) => {
                tracing::error!(seq, error = %e, "an event this backend cannot read; skipped")
            }
        }
    }
    // The last row read, even when skipped, is where the next read starts.
    Ok((rows.last().map(|r| r.try_get("seq")).transpose()?, events))
}
