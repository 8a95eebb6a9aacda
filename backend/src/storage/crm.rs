//! The CRM tables: each tenant's RD Station connection (`crm_accounts`,
//! secrets sealed by the caller) and the outbox of notes (`crm_deliveries`),
//! which only the delivery worker advances.

use super::flag::Flag;
use super::statement::Statement;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::calls::{CALL_COLUMNS, CALL_ROWS, call_from_row};
use super::reports::{REPORT_COLUMNS, StoredReport, report_from_row};
use super::write::execute_one;
use super::{Store, StoreError, from_millis, to_millis};
use crate::domain::{Call, CrmState, DealId};

/// A tenant's CRM connection to store; secrets already sealed.
pub struct NewAccount<'a> {
    pub tenant: &'a str,
    /// `v1` or `v2`.
    pub api: &'a str,
    pub base_url: &'a str,
    pub token_url: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub secret: &'a [u8],
    pub refresh_token: Option<&'a [u8]>,
}

/// A tenant's CRM connection as stored (secrets sealed).
#[derive(Clone)]
pub struct AccountRow {
    pub tenant: String,
    pub api: String,
    pub base_url: String,
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub secret: Vec<u8>,
    pub refresh_token: Option<Vec<u8>>,
    /// Bumped by every change; a refresh-token rotation is a
    /// compare-and-swap on it.
    pub generation: i64,
}

/// A note waiting for delivery, with what writing it needs.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub call: Call,
    /// The salesperson's name, as the note shows it.
    pub user_name: String,
    /// The salesperson's user at the CRM (author of v1 notes).
    pub crm_user_id: Option<String>,
    /// The deal chosen so far (the page's, or one found by phone).
    pub deal_id: Option<String>,
    /// The note as first rendered.
    pub note_text: Option<String>,
    pub attempts: u32,
    /// Temporary failures so far.
    pub failures: u32,
    /// A creation request was sent before: the note may already exist.
    pub maybe_sent: bool,
    /// What the salesperson said about the call, if they did yet.
    pub report: Option<StoredReport>,
    /// Counts the reports saved while the note waited: a step written
    /// with an older count is refused ([`StoreError::Conflict`]).
    pub report_rev: i64,
}

/// One step of a delivery, written by the worker.
#[derive(Debug)]
pub enum DeliveryUpdate {
    /// The deal and the note text are settled; every later attempt reuses them.
    Prepared {
        deal_id: String,
        note_text: String,
        /// [`Delivery::report_rev`] as read.
        report_rev: i64,
    },
    /// A creation request is about to leave: counted, and remembered as
    /// possibly stored.
    Sending {
        /// [`Delivery::report_rev`] as read.
        report_rev: i64,
    },
    Delivered {
        note_id: String,
    },
    /// A temporary failure: try again at `at`.
    Retry {
        at: OffsetDateTime,
        error: String,
    },
    /// Not tried: the tenant's connection is at its request limit until `at`.
    Defer {
        at: OffsetDateTime,
    },
    /// A permanent failure; kept until a manager queues it again.
    Failed {
        error: String,
    },
    /// No deal for this call.
    NoDeal {
        error: String,
    },
    /// The tenant has no CRM connection.
    NotConfigured,
}

/// Adds the notes of calls that just ended to the outbox, in the caller's
/// transaction. A deal id from the page is kept only when it has the shape
/// of an RD Station deal id; otherwise the deal is looked up by phone.
pub(super) async fn queue_notes(
    tx: &mut AnyConnection,
    ended: &[&Call],
    report_wait: std::time::Duration,
) -> Result<(), StoreError> {
    // A call that never reached the PBX leaves no note: nothing happened.
    let ended: Vec<&Call> = ended.iter().copied().filter(|c| !c.not_placed).collect();
    if ended.is_empty() {
        return Ok(());
    }
    let now = OffsetDateTime::now_utc();
    // The salesperson has this long to say how the call went, in the note.
    let due = to_millis(
        time::Duration::try_from(report_wait)
            .ok()
            .and_then(|wait| now.checked_add(wait))
            .unwrap_or(now),
    );
    let now = to_millis(now);
    let mut q: Statement = Statement::new(
        "INSERT INTO crm_deliveries (call_id, tenant, state, deal_id, next_attempt_at, created_at, updated_at) ",
    );
    q.push_values(&ended, |mut row, call| {
        let deal = call
            .context
            .deal_id
            .as_deref()
            .and_then(|d| DealId::parse(d).ok())
            .map(|d| d.as_str().to_owned());
        row.push_bind(&call.id)
            .push_bind(&call.tenant)
            .push_bind(CrmState::Pending.as_str())
            .push_bind(deal)
            .push_bind(due)
            .push_bind(now)
            .push_bind(now);
    });
    q.push(" ON CONFLICT (call_id) DO NOTHING");
    q.query().execute(&mut *tx).await?;
    Ok(())
}

impl Store {
    /// Sets (or replaces) a tenant's CRM connection. Notes that waited for
    /// one are queued again.
    pub async fn set_crm_account(&self, new: NewAccount<'_>) -> Result<(), StoreError> {
        let now = to_millis(OffsetDateTime::now_utc());
        let mut tx = self.writes.begin().await?;
        sqlx::query(
            "INSERT INTO crm_accounts (tenant, api, base_url, token_url, client_id, secret, refresh_token, generation, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8)
             ON CONFLICT (tenant) DO UPDATE SET api = excluded.api, base_url = excluded.base_url,
                 token_url = excluded.token_url, client_id = excluded.client_id, secret = excluded.secret,
                 refresh_token = excluded.refresh_token, generation = crm_accounts.generation + 1,
                 updated_at = excluded.updated_at",
        )
        .bind(new.tenant)
        .bind(new.api)
        .bind(new.base_url)
        .bind(new.token_url)
        .bind(new.client_id)
        .bind(new.secret)
        .bind(new.refresh_token)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
            _ => e.into(),
        })?;
        sqlx::query(
            "UPDATE crm_deliveries SET state = 'pending', next_attempt_at = $2, updated_at = $2
             WHERE tenant = $1 AND state = 'not_configured'",
        )
        .bind(new.tenant)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.writer.outbox.notify_one();
        Ok(())
    }

    pub async fn crm_account(&self, tenant: &str) -> Result<Option<AccountRow>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant, api, base_url, token_url, client_id, secret, refresh_token, generation
             FROM crm_accounts WHERE tenant = $1",
        )
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| -> Result<AccountRow, StoreError> {
            Ok(AccountRow {
                tenant: row.try_get("tenant")?,
                api: row.try_get("api")?,
                base_url: row.try_get("base_url")?,
                token_url: row.try_get("token_url")?,
                client_id: row.try_get("client_id")?,
                secret: row.try_get("secret")?,
                refresh_token: row.try_get("refresh_token")?,
                generation: row.try_get("generation")?,
            })
        })
        .transpose()
    }

    /// Replaces the refresh token of generation `generation` with `sealed`,
    /// in one statement: the new token is durable before the old one is
    /// gone, and a concurrent rotation cannot be overwritten. Returns the new
    /// generation, or `None` when the stored generation moved on.
    pub async fn rotate_refresh_token(
        &self,
        tenant: &str,
        generation: i64,
        sealed: &[u8],
    ) -> Result<Option<i64>, StoreError> {
        let done = execute_one(&self.writes, sqlx::query(
            "UPDATE crm_accounts SET refresh_token = $3, generation = generation + 1, updated_at = $4
             WHERE tenant = $1 AND generation = $2",
        )
        .bind(tenant)
        .bind(generation)
        .bind(sealed)
        .bind(to_millis(OffsetDateTime::now_utc()))
        )
        .await?;
        Ok((done.rows_affected() == 1).then_some(generation + 1))
    }

    /// Pending notes due at `now`, oldest first, skipping `busy` (the ones
    /// already being delivered); only `tenants`' when given.
    pub async fn due_deliveries(
        &self,
        now: OffsetDateTime,
        limit: u32,
        busy: &[String],
        tenants: Option<&[String]>,
    ) -> Result<Vec<Delivery>, StoreError> {
        if tenants.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        let mut q: Statement = Statement::new(format!(
            "SELECT {CALL_COLUMNS}, u.name AS user_name, u.crm_user_id, d.note_text AS crm_note_text,
                    d.maybe_sent AS crm_maybe_sent, d.failures AS crm_failures, d.report_rev,
                    {REPORT_COLUMNS}
             FROM {CALL_ROWS} JOIN users u ON u.id = calls.user_id
             LEFT JOIN call_reports r ON r.call_id = calls.id
             WHERE d.state = 'pending' AND d.next_attempt_at <= "
        ));
        q.push_bind(to_millis(now));
        if !busy.is_empty() {
            q.push(" AND d.call_id NOT IN (");
            let mut ids = q.separated(", ");
            for id in busy {
                ids.push_bind(id);
            }
            q.push(")");
        }
        push_tenants(&mut q, "d.tenant", tenants);
        q.push(" ORDER BY d.next_attempt_at, d.call_id LIMIT ")
            .push_bind(i64::from(limit));
        let mut due = Vec::new();
        for row in q.query().fetch_all(&self.pool).await? {
            match delivery_from_row(&row) {
                Ok(delivery) => due.push(delivery),
                // One unreadable row must not hold up the whole outbox.
                Err(e) => {
                    let call_id: String = row.try_get("id")?;
                    tracing::error!(%call_id, error = %e, "unreadable CRM delivery set aside");
                    let error = format!("registro da ligação ilegível: {e}");
                    self.update_delivery(&call_id, DeliveryUpdate::Failed { error })
                        .await?;
                }
            }
        }
        Ok(due)
    }

    /// Tenants with CRM work waiting: notes not yet settled, and follow-ups
    /// that will go once their note has (not those behind a stopped note).
    pub async fn tenants_with_crm_work(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT tenant FROM crm_deliveries WHERE state = 'pending' \
             UNION SELECT d.tenant FROM crm_followups f JOIN crm_deliveries d ON d.call_id = f.call_id \
             WHERE f.state = 'pending' AND d.state IN ('pending', 'delivered', 'no_deal') ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Tenants connected through API v2 whose connection has not changed
    /// (no refresh, no reconnection) since `since`.
    pub async fn idle_v2_accounts(&self, since: OffsetDateTime) -> Result<Vec<String>, StoreError> {
        let tenants = sqlx::query_scalar(
            "SELECT tenant FROM crm_accounts WHERE api = 'v2' AND updated_at < $1 ORDER BY tenant",
        )
        .bind(to_millis(since))
        .fetch_all(&self.pool)
        .await?;
        Ok(tenants)
    }

    /// When the earliest pending note not in `busy` (of `tenants`, when
    /// given) is due, if any is.
    pub async fn next_delivery_due(
        &self,
        busy: &[String],
        tenants: Option<&[String]>,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        if tenants.is_some_and(<[String]>::is_empty) {
            return Ok(None);
        }
        let mut q: Statement = Statement::new(
            "SELECT MIN(next_attempt_at) FROM crm_deliveries WHERE state = 'pending'",
        );
        if !busy.is_empty() {
            q.push(" AND call_id NOT IN (");
            let mut ids = q.separated(", ");
            for id in busy {
                ids.push_bind(id);
            }
            q.push(")");
        }
        push_tenants(&mut q, "tenant", tenants);
        let at: Option<i64> = q.scalar().fetch_one(&self.pool).await?;
        at.map(from_millis).transpose()
    }

    /// Records one step of a delivery.
    pub async fn update_delivery(
        &self,
        call_id: &str,
        update: DeliveryUpdate,
    ) -> Result<(), StoreError> {
        let now = to_millis(OffsetDateTime::now_utc());
        let q = match &update {
            DeliveryUpdate::Prepared {
                deal_id,
                note_text,
                report_rev,
            } => sqlx::query(
                "UPDATE crm_deliveries SET deal_id = $2, note_text = $3, updated_at = $4
                 WHERE call_id = $1 AND report_rev = $5",
            )
            .bind(call_id)
            .bind(deal_id)
            .bind(note_text)
            .bind(now)
            .bind(report_rev),
            DeliveryUpdate::Sending { report_rev } => sqlx::query(
                "UPDATE crm_deliveries SET attempts = attempts + 1, maybe_sent = TRUE, updated_at = $2
                 WHERE call_id = $1 AND report_rev = $3",
            )
            .bind(call_id)
            .bind(now)
            .bind(report_rev),
            DeliveryUpdate::Delivered { note_id } => sqlx::query(
                "UPDATE crm_deliveries SET state = 'delivered', note_id = $2, last_error = NULL,
                 delivered_at = $3, updated_at = $3 WHERE call_id = $1",
            )
            .bind(call_id)
            .bind(note_id)
            .bind(now),
            DeliveryUpdate::Retry { at, error } => sqlx::query(
                "UPDATE crm_deliveries SET next_attempt_at = $2, last_error = $3, failures = failures + 1, updated_at = $4
                 WHERE call_id = $1",
            )
            .bind(call_id)
            .bind(to_millis(*at))
            .bind(error)
            .bind(now),
            DeliveryUpdate::Defer { at } => sqlx::query(
                "UPDATE crm_deliveries SET next_attempt_at = $2, updated_at = $3 WHERE call_id = $1",
            )
            .bind(call_id)
            .bind(to_millis(*at))
            .bind(now),
            DeliveryUpdate::Failed { error } | DeliveryUpdate::NoDeal { error } => {
                let state = match update {
                    DeliveryUpdate::Failed { .. } => CrmState::Failed,
                    _ => CrmState::NoDeal,
                };
                sqlx::query(
                    "UPDATE crm_deliveries SET state = $2, last_error = $3, updated_at = $4 WHERE call_id = $1",
                )
                .bind(call_id)
                .bind(state.as_str())
                .bind(error)
                .bind(now)
            }
            DeliveryUpdate::NotConfigured => sqlx::query(
                "UPDATE crm_deliveries SET state = 'not_configured', last_error = NULL, updated_at = $2 WHERE call_id = $1",
            )
            .bind(call_id)
            .bind(now),
        };
        let done = execute_one(&self.writes, q).await?;
        let guarded = matches!(
            update,
            DeliveryUpdate::Prepared { .. } | DeliveryUpdate::Sending { .. }
        );
        if guarded && done.rows_affected() == 0 {
            // A report came in since the delivery was read.
            return Err(StoreError::Conflict("report"));
        }
        if !guarded {
            // The note may have settled: what follows it may go.
            self.writer.followups.notify_one();
        }
        Ok(())
    }

    /// Queues again the tenant's notes that stopped (failed, no deal, no
    /// connection), or only `call_id`'s. A "no deal" note is looked up by
    /// phone again; any other keeps its deal (its note may already be
    /// there). Returns how many were queued.
    pub async fn requeue_deliveries(
        &self,
        tenant: &str,
        call_id: Option<&str>,
    ) -> Result<u64, StoreError> {
        let now = to_millis(OffsetDateTime::now_utc());
        let mut q: Statement = Statement::new(
            "UPDATE crm_deliveries SET state = 'pending', failures = 0, next_attempt_at = ",
        );
        q.push_bind(now)
            .push(", updated_at = ")
            .push_bind(now)
            .push(
                ", deal_id = CASE WHEN state = 'no_deal' THEN NULL ELSE deal_id END
                 WHERE state IN ('failed', 'no_deal', 'not_configured') AND tenant = ",
            )
            .push_bind(tenant);
        if let Some(id) = call_id {
            q.push(" AND call_id = ").push_bind(id);
        }
        let done = execute_one(&self.writes, q.query()).await?;
        if done.rows_affected() > 0 {
            self.writer.outbox.notify_one();
        }
        Ok(done.rows_affected())
    }

    /// Every tenant's notes not delivered, by tenant and state.
    pub async fn crm_backlog(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, state, COUNT(*) AS n FROM crm_deliveries WHERE state <> 'delivered'
             GROUP BY tenant, state ORDER BY tenant, state",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("tenant")?, r.try_get("state")?, r.try_get("n")?)))
            .collect()
    }

    /// How many of the tenant's notes are in each delivery state.
    pub async fn crm_delivery_counts(
        &self,
        tenant: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM crm_deliveries WHERE tenant = $1 GROUP BY state ORDER BY state",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
            .collect()
    }

    /// Waits until notes may have joined the outbox (or been queued again).
    pub async fn outbox_changed(&self) {
        self.writer.outbox.notified().await;
    }
}

fn delivery_from_row(row: &AnyRow) -> Result<Delivery, StoreError> {
    let call = call_from_row(row)?;
    let deal_id = call.crm.as_ref().and_then(|c| c.deal_id.clone());
    let attempts = call.crm.as_ref().map_or(0, |c| c.attempts);
    Ok(Delivery {
        user_name: row.try_get("user_name")?,
        crm_user_id: row.try_get("crm_user_id")?,
        deal_id,
        note_text: row.try_get("crm_note_text")?,
        attempts,
        failures: u32::try_from(row.try_get::<i64, _>("crm_failures")?).unwrap_or(u32::MAX),
        maybe_sent: row.try_get::<Flag, _>("crm_maybe_sent")?.0,
        report: report_from_row(row)?,
        report_rev: row.try_get("report_rev")?,
        call,
    })
}

/// `AND <column> IN (<tenants>)` when `tenants` is given.
pub(super) fn push_tenants<'args>(
    q: &mut Statement<'args>,
    column: &str,
    tenants: Option<&'args [String]>,
) {
    if let Some(tenants) = tenants {
        q.push(format!(" AND {column} IN ("));
        let mut list = q.separated(", ");
        for tenant in tenants {
            list.push_bind(tenant);
        }
        q.push(")");
    }
}
