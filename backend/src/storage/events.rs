//! The `call_events` table: the ordered log behind the SSE stream.
//!
//! `seq` orders the whole log; the id a tenant's clients see is `tenant_seq`,
//! which counts that tenant's events only (so no tenant learns how busy the
//! others are). Both are assigned in the writing transaction, under the
//! writer lock (and SQLite's write lock, for another process on the same
//! file); the unique index on `(tenant, tenant_seq)` refuses a duplicate
//! should that ever not hold.

use std::collections::HashMap;
use std::sync::Arc;

use super::statement::Statement;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::calls::{CALL_COLUMNS, CALL_ROWS, call_from_row};
use super::write::WriteTx;
use super::{Backend, Store, StoreError, Writer, to_millis};
use crate::domain::Call;

/// One state change of one call.
#[derive(Debug, Clone)]
pub struct CallEvent {
    /// The position in the whole log.
    pub seq: i64,
    /// The SSE event id: the position among the call's tenant's events.
    pub tenant_seq: i64,
    pub call: Call,
    /// The call as JSON, as stored: serialized once, however many streams
    /// carry it.
    pub payload: Arc<str>,
}

/// Appends the calls' current versions to the log in one statement, inside
/// the caller's transaction; returns the events in `seq` order. On
/// PostgreSQL, every backend is told at commit (`tail`).
pub(super) async fn append_events<'c>(
    tx: &mut WriteTx,
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
    // Each tenant's ids continue from its last one (or from the ids handed
    // out before they were per tenant: see the migration).
    if tx.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(super::tail::CHANNEL)
            .execute(&mut **tx)
            .await?;
    }
    let mut last = last_tenant_ids(tx, rows.iter().map(|&(c, _)| c.tenant.as_str())).await?;
    let mut with_ids = Vec::with_capacity(rows.len());
    for (call, payload) in rows {
        let id = last
            .get_mut(call.tenant.as_str())
            .expect("every tenant of the batch was looked up");
        *id += 1;
        with_ids.push((call, payload, *id));
    }
    let mut q: Statement = Statement::new(
        "INSERT INTO call_events (call_id, tenant, user_id, payload, created_at, tenant_seq) ",
    );
    q.push_values(&with_ids, |mut row, (call, payload, tenant_seq)| {
        row.push_bind(&call.id)
            .push_bind(&call.tenant)
            .push_bind(&call.user_id)
            .push_bind(payload)
            .push_bind(now)
            .push_bind(tenant_seq);
    });
    // RETURNING's order is not guaranteed: rows are matched back by their
    // (tenant, tenant_seq), which is unique.
    q.push(" RETURNING seq, tenant, tenant_seq");
    let mut seqs: HashMap<(String, i64), i64> = HashMap::with_capacity(with_ids.len());
    for r in q.query().fetch_all(&mut **tx).await? {
        seqs.insert(
            (r.try_get("tenant")?, r.try_get("tenant_seq")?),
            r.try_get("seq")?,
        );
    }
    let mut events = with_ids
        .into_iter()
        .map(|(call, payload, tenant_seq)| {
            let seq = seqs
                .get(&(call.tenant.clone(), tenant_seq))
                .copied()
                .ok_or_else(|| StoreError::Corrupt("an event row was not returned".into()))?;
            Ok(CallEvent {
                seq,
                tenant_seq,
                call: call.clone(),
                payload: Arc::from(payload),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    events.sort_unstable_by_key(|e| e.seq);
    Ok(events)
}

/// The last event id of each of `tenants`, inside the writing transaction.
async fn last_tenant_ids<'t>(
    tx: &mut AnyConnection,
    tenants: impl Iterator<Item = &'t str>,
) -> Result<HashMap<&'t str, i64>, StoreError> {
    let mut tenants: Vec<&str> = tenants.collect();
    tenants.sort_unstable();
    tenants.dedup();
    let base = legacy_max(&mut *tx).await?;
    let mut q: Statement =
        Statement::new("SELECT tenant, MAX(tenant_seq) AS last FROM call_events WHERE tenant IN (");
    let mut list = q.separated(", ");
    for tenant in &tenants {
        list.push_bind(*tenant);
    }
    q.push(") GROUP BY tenant");
    let mut last: HashMap<&str, i64> = tenants.iter().map(|t| (*t, base)).collect();
    for r in q.query().fetch_all(&mut *tx).await? {
        let tenant: String = r.try_get("tenant")?;
        let id: i64 = r.try_get("last")?;
        if let Some(slot) = tenants.iter().find(|t| **t == tenant) {
            last.insert(*slot, id.max(base));
        }
    }
    Ok(last)
}

/// The last global id handed out before ids were per tenant (0 for a
/// database created since).
async fn legacy_max<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT legacy_max FROM call_event_ids WHERE id = 1")
        .fetch_one(executor)
        .await?;
    Ok(row.try_get("legacy_max")?)
}

impl Writer {
    /// Publishes a committed change. No subscriber is not an error: the
    /// event is in the database. On PostgreSQL the change is published by
    /// `tail`, with every other backend's, in one order.
    pub(super) fn publish(&self, event: CallEvent) {
        if self.writes.backend() == Backend::Sqlite {
            let _ = self.events.send(Arc::new(event));
        }
    }
}

impl Store {
    /// Events of `tenant` (and of `user_id` when given) whose id is above
    /// `after` (an id from [`Store::resume_point`]), in order, at most
    /// `limit`: their ids and payloads as stored JSON.
    pub async fn events_after(
        &self,
        tenant: &str,
        user_id: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_seq, payload FROM call_events
             WHERE tenant = $1 AND ($2 IS NULL OR user_id = $2) AND tenant_seq > $3
             ORDER BY tenant_seq LIMIT $4",
        )
        .bind(tenant)
        .bind(user_id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("tenant_seq")?, r.try_get("payload")?)))
            .collect()
    }

    /// What a live board of `tenant` starts from: the tenant's calls not
    /// yet ended, oldest first, and the id of the last event they reflect,
    /// read together (one snapshot), so the board follows on from that id
    /// without missing or repeating a change.
    pub async fn live_board(&self, tenant: &str) -> Result<(i64, Vec<Call>), StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == super::Backend::Postgres {
            // One snapshot for both reads (PostgreSQL's default, READ
            // COMMITTED, takes one per statement; SQLite's read
            // transaction is one snapshot already).
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
        }
        let base = legacy_max(&mut *tx).await?;
        let last: Option<i64> =
            sqlx::query("SELECT MAX(tenant_seq) AS id FROM call_events WHERE tenant = $1")
                .bind(tenant)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM {CALL_ROWS} \
             WHERE calls.state <> 'ended' AND calls.tenant = $1 ORDER BY calls.id"
        );
        let calls = sqlx::query(&sql)
            .bind(tenant)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(call_from_row)
            .collect::<Result<Vec<Call>, StoreError>>()?;
        tx.commit().await?;
        Ok((last.unwrap_or(base).max(base), calls))
    }

    /// Where `tenant`'s stream starts: after `last_event_id` when the client
    /// sent one, else after the tenant's newest event. An id at or below the
    /// legacy maximum is a global id from before ids were per tenant: it
    /// becomes the tenant's last id among the events it had seen. An id
    /// above the tenant's newest (made up, or from another database) is
    /// taken as the newest: the stream would otherwise skip every event
    /// until the tenant's ids caught up with it.
    pub async fn resume_point(
        &self,
        tenant: &str,
        last_event_id: Option<i64>,
    ) -> Result<i64, StoreError> {
        let base = legacy_max(&self.pool).await?;
        let row =
            match last_event_id {
                Some(legacy) if legacy <= base => sqlx::query(
                    "SELECT MAX(tenant_seq) AS id FROM call_events WHERE tenant = $1 AND seq <= $2",
                )
                .bind(tenant)
                .bind(legacy)
                .fetch_one(&self.pool)
                .await?,
                _ => {
                    sqlx::query("SELECT MAX(tenant_seq) AS id FROM call_events WHERE tenant = $1")
                        .bind(tenant)
                        .fetch_one(&self.pool)
                        .await?
                }
            };
        let id: Option<i64> = row.try_get("id")?;
        let found = id.unwrap_or(base).max(base);
        Ok(match last_event_id {
            // `found` is the tenant's newest id here.
            Some(id) if id > base => id.min(found),
            _ => found,
        })
    }
}
