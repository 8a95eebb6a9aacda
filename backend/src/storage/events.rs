//! The `call_events` table: the ordered log behind the SSE stream.

use std::sync::Arc;

use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use time::OffsetDateTime;

use super::{Store, StoreError, Writer, to_millis};
use crate::domain::Call;

/// One state change of one call; `seq` is the SSE event id.
#[derive(Debug, Clone)]
pub struct CallEvent {
    pub seq: i64,
    pub call: Call,
}

/// Appends the calls' current versions to the log in one statement, inside
/// the caller's transaction; returns the events in `seq` order.
pub(super) async fn append_events<'c>(
    tx: &mut SqliteConnection,
    calls: impl ExactSizeIterator<Item = &'c Call>,
) -> Result<Vec<CallEvent>, StoreError> {
    if calls.len() == 0 {
        return Ok(Vec::new());
    }
    let now = to_millis(OffsetDateTime::now_utc());
    let mut rows = Vec::with_capacity(calls.len());
    for call in calls {
        let payload =
            serde_json::to_string(call).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        rows.push((call, payload));
    }
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO call_events (call_id, tenant, user_id, payload, created_at) ",
    );
    q.push_values(&rows, |mut row, (call, payload)| {
        row.push_bind(&call.id)
            .push_bind(&call.tenant)
            .push_bind(&call.user_id)
            .push_bind(payload)
            .push_bind(now);
    });
    // Rows are numbered in VALUES order; RETURNING's own order is not
    // guaranteed, so the sequence numbers are sorted and matched back.
    q.push(" RETURNING seq");
    let mut seqs: Vec<i64> = q
        .build()
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get("seq"))
        .collect::<Result<_, _>>()?;
    seqs.sort_unstable();
    Ok(seqs
        .into_iter()
        .zip(rows)
        .map(|(seq, (call, _))| CallEvent {
            seq,
            call: call.clone(),
        })
        .collect())
}

impl Writer {
    /// Publishes a committed change. No subscriber is not an error: the
    /// event is in the database.
    pub(super) fn publish(&self, event: CallEvent) {
        let _ = self.events.send(Arc::new(event));
    }
}

impl Store {
    /// Events after `after_seq` of `tenant` (and of `user_id` when given), in
    /// order, at most `limit`. The payloads are returned as stored JSON.
    pub async fn events_after(
        &self,
        tenant: &str,
        user_id: Option<&str>,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, payload FROM call_events
             WHERE tenant = $1 AND ($2 IS NULL OR user_id = $2) AND seq > $3
             ORDER BY seq LIMIT $4",
        )
        .bind(tenant)
        .bind(user_id)
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("seq")?, r.try_get("payload")?)))
            .collect()
    }
}

impl Store {
    /// The newest event id (0 when there is none).
    pub async fn latest_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM call_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("seq")?)
    }
}
