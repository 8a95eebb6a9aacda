//! What salespeople say about their ended calls ([`StoredReport`]), the
//! tenant's outcomes to choose from, and the CRM writes that follow a
//! call's note (`crm_followups`): a complement note when the report came
//! after the note left, and the follow-up task.
//!
//! One note per call, written once: the note waits `crm.report_wait` for
//! the report after the call ends (`queue_notes`), and a report saved while
//! the note has not left puts it due at once, re-rendered with the report
//! (`report_rev` guards the race with a worker that already read it). A
//! report saved after the note may have left becomes a second note that
//! names the first's call id. The task is created once, after the note,
//! on the same deal.

use super::flag::Flag;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::statement::Statement;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::calls::{CALL_COLUMNS, CALL_ROWS, call_from_row};
use super::write::execute_one;
use super::{Actor, AuditEntry, Store, StoreError, from_millis, to_millis};
use crate::domain::{Call, CrmState, User};
use disca_protocol::report::{
    CallReport, Disposition, MAX_DISPOSITION_LABEL_CHARS, MAX_DISPOSITIONS, ReportNote,
    ReportSaved, ReportTask,
};

/// The outcomes a tenant that chose none offers.
pub const DEFAULT_DISPOSITIONS: [(&str, &str); 4] = [
    ("interessado", "Interessado"),
    ("retornar", "Retornar"),
    ("sem_interesse", "Sem interesse"),
    ("numero_errado", "Número errado"),
];

/// Columns of `call_reports r` read with a call.
pub(super) const REPORT_COLUMNS: &str = "r.call_id AS report_call_id, r.disposition_id AS report_disposition_id, \
    r.disposition_label AS report_disposition_label, r.note AS report_note, r.follow_up_at AS report_follow_up_at";

/// A call's report as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    pub disposition_id: Option<String>,
    /// As it read when chosen.
    pub disposition_label: Option<String>,
    pub note: String,
    pub follow_up_at: Option<OffsetDateTime>,
}

impl StoredReport {
    pub fn as_report(&self) -> CallReport {
        CallReport {
            disposition: self.disposition_id.clone(),
            note: self.note.clone(),
            follow_up_at: self.follow_up_at,
        }
    }
}

/// The report in [`REPORT_COLUMNS`], if the call has one.
pub(super) fn report_from_row(row: &AnyRow) -> Result<Option<StoredReport>, StoreError> {
    if row
        .try_get::<Option<String>, _>("report_call_id")?
        .is_none()
    {
        return Ok(None);
    }
    Ok(Some(StoredReport {
        disposition_id: row.try_get("report_disposition_id")?,
        disposition_label: row.try_get("report_disposition_label")?,
        note: row.try_get("report_note")?,
        follow_up_at: row
            .try_get::<Option<i64>, _>("report_follow_up_at")?
            .map(from_millis)
            .transpose()?,
    }))
}

/// What follows a call's note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowupKind {
    /// A second note, with a report that came after the first left.
    Complement,
    /// The follow-up: a task of type call.
    Task,
}

/// A follow-up due for delivery, with what it needs.
#[derive(Debug, Clone)]
pub struct Followup {
    pub id: String,
    pub kind: FollowupKind,
    pub call: Call,
    /// Where the call's note stands (never pending here).
    pub note_state: CrmState,
    /// The deal the call's note went to.
    pub deal_id: Option<String>,
    pub user_name: String,
    pub crm_user_id: Option<String>,
    pub report: Option<StoredReport>,
    pub failures: u32,
    /// A creation request was sent before.
    pub maybe_sent: bool,
    /// Counts the reports saved while it waited (see [`FollowupUpdate::Sending`]).
    pub report_rev: i64,
}

/// One step of a follow-up, written by the worker.
#[derive(Debug)]
pub enum FollowupUpdate {
    /// A creation request is about to leave: refused
    /// ([`StoreError::Conflict`]) if the follow-up changed since it was read
    /// (`report_rev`), was removed or already left.
    Sending {
        report_rev: i64,
    },
    Delivered {
        remote_id: String,
    },
    Retry {
        at: OffsetDateTime,
        error: String,
    },
    Defer {
        at: OffsetDateTime,
    },
    Failed {
        error: String,
    },
}

/// A new id for a follow-up.
fn followup_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

impl Store {
    /// How long a call's note waits for the salesperson's report.
    pub fn set_report_wait(&self, wait: Duration) {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.writer.report_wait_ms.store(ms, Ordering::Relaxed);
    }

    pub(super) fn report_wait(&self) -> Duration {
        Duration::from_millis(self.writer.report_wait_ms.load(Ordering::Relaxed))
    }

    /// The tenant's outcomes, in the order offered.
    pub async fn dispositions(&self, tenant: &str) -> Result<Vec<Disposition>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, label FROM call_dispositions WHERE tenant = $1 AND retired = FALSE
             ORDER BY position, id",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        let custom =
            sqlx::query("SELECT 1 AS one FROM call_dispositions WHERE tenant = $1 LIMIT 1")
                .bind(tenant)
                .fetch_optional(&self.pool)
                .await?
                .is_some();
        if !custom {
            return Ok(DEFAULT_DISPOSITIONS
                .iter()
                .map(|(id, label)| Disposition {
                    id: (*id).into(),
                    label: (*label).into(),
                })
                .collect());
        }
        rows.iter()
            .map(|r| {
                Ok(Disposition {
                    id: r.try_get("id")?,
                    label: r.try_get("label")?,
                })
            })
            .collect()
    }

    /// Replaces the tenant's outcomes with `labels`, in order: an entry
    /// with the id of a current outcome renames it; one without an id is
    /// new; an outcome left out is retired (its id never comes back).
    pub async fn set_dispositions(
        &self,
        tenant: &str,
        wanted: &[(Option<String>, String)],
        audit: (&Actor, &AuditEntry),
    ) -> Result<Vec<Disposition>, StoreError> {
        if wanted.is_empty() || wanted.len() > MAX_DISPOSITIONS {
            return Err(StoreError::Invalid("Mantenha de 1 a 12 resultados."));
        }
        let mut seen = Vec::new();
        for (_, label) in wanted {
            let label = label.trim();
            if label.is_empty()
                || label.chars().count() > MAX_DISPOSITION_LABEL_CHARS
                || label.chars().any(char::is_control)
            {
                return Err(StoreError::Invalid(
                    "Cada resultado precisa de um nome de até 40 caracteres.",
                ));
            }
            let folded = label.to_lowercase();
            if seen.contains(&folded) {
                return Err(StoreError::Invalid("Há dois resultados com o mesmo nome."));
            }
            seen.push(folded);
        }
        let mut ids: Vec<&str> = wanted.iter().filter_map(|(id, _)| id.as_deref()).collect();
        let given = ids.len();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != given {
            return Err(StoreError::Invalid("Há um resultado repetido na lista."));
        }
        let current = self.dispositions(tenant).await?;
        let mut tx = self.writes.begin().await?;
        // The built-in list becomes the tenant's own rows first.
        for (position, d) in current.iter().enumerate() {
            sqlx::query(
                "INSERT INTO call_dispositions (tenant, id, label, position) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, id) DO NOTHING",
            )
            .bind(tenant)
            .bind(&d.id)
            .bind(&d.label)
            .bind(position as i64)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("UPDATE call_dispositions SET retired = TRUE WHERE tenant = $1")
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        for (position, (id, label)) in wanted.iter().enumerate() {
            let known = id
                .as_deref()
                .filter(|id| current.iter().any(|d| d.id == *id));
            let id = known.map_or_else(|| format!("d-{}", &followup_id()[24..]), str::to_owned);
            sqlx::query(
                "INSERT INTO call_dispositions (tenant, id, label, position, retired)
                 VALUES ($1, $2, $3, $4, FALSE)
                 ON CONFLICT (tenant, id) DO UPDATE SET label = excluded.label,
                     position = excluded.position, retired = FALSE",
            )
            .bind(tenant)
            .bind(&id)
            .bind(label.trim())
            .bind(position as i64)
            .execute(&mut *tx)
            .await?;
        }
        super::audit::insert_audit(&mut tx, tenant, audit.0, audit.1).await?;
        tx.commit().await?;
        self.dispositions(tenant).await
    }

    /// The reports on `call_ids` that have one, by call id.
    pub async fn reports_of(
        &self,
        call_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, StoredReport>, StoreError> {
        let mut found = std::collections::HashMap::new();
        for chunk in call_ids.chunks(500) {
            let mut q: Statement = Statement::new(format!(
                "SELECT {REPORT_COLUMNS} FROM call_reports r WHERE r.call_id IN ("
            ));
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            for row in q.query().fetch_all(&self.pool).await? {
                let id: String = row.try_get("report_call_id")?;
                if let Some(report) = report_from_row(&row)? {
                    found.insert(id, report);
                }
            }
        }
        Ok(found)
    }

    /// The report on `call_id`, if any.
    pub async fn report(&self, call_id: &str) -> Result<Option<StoredReport>, StoreError> {
        let sql = format!("SELECT {REPORT_COLUMNS} FROM call_reports r WHERE r.call_id = $1");
        match sqlx::query(&sql)
            .bind(call_id)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => report_from_row(&row),
            None => Ok(None),
        }
    }

    /// Saves `user`'s report on their ended call `call_id` (another's is
    /// [`StoreError::NotFound`]; a live one [`StoreError::CallLive`]), and
    /// says where it goes in the CRM. The disposition must be one the
    /// tenant offers now.
    pub async fn save_report(
        &self,
        user: &User,
        call_id: &str,
        report: &CallReport,
    ) -> Result<ReportSaved, StoreError> {
        let tenant = user.tenant.slug.as_str();
        let label = match report.disposition.as_deref() {
            None => None,
            Some(id) => Some(
                self.dispositions(tenant)
                    .await?
                    .into_iter()
                    .find(|d| d.id == id)
                    .map(|d| d.label)
                    .ok_or(StoreError::Invalid(
                        "Esse resultado não está na lista da empresa.",
                    ))?,
            ),
        };
        let now = to_millis(OffsetDateTime::now_utc());
        let _serialized = self.writer.lock.lock().await;
        let mut tx = self.writes.begin().await?;
        let call = sqlx::query(
            "SELECT state, created_at, not_placed FROM calls
             WHERE id = $1 AND tenant = $2 AND user_id = $3",
        )
        .bind(call_id)
        .bind(tenant)
        .bind(&user.id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        if call.try_get::<String, _>("state")? != "ended" {
            return Err(StoreError::CallLive);
        }
        if call.try_get::<Flag, _>("not_placed")?.0 {
            return Err(StoreError::Invalid(
                "Esta ligação não chegou à central: não há o que relatar.",
            ));
        }
        // The same report again (a retried request): nothing new to send.
        let sql = format!("SELECT {REPORT_COLUMNS} FROM call_reports r WHERE r.call_id = $1");
        let before = match sqlx::query(&sql)
            .bind(call_id)
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(row) => report_from_row(&row)?,
            None => None,
        };
        let unchanged = before.is_some_and(|b| {
            b.disposition_id == report.disposition
                && b.note == report.note.trim()
                && b.follow_up_at == report.follow_up_at
        });
        sqlx::query(
            "INSERT INTO call_reports (call_id, tenant, disposition_id, disposition_label, note,
                                       follow_up_at, submitted_at, updated_at, user_id, call_created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9)
             ON CONFLICT (call_id) DO UPDATE SET disposition_id = excluded.disposition_id,
                 disposition_label = excluded.disposition_label, note = excluded.note,
                 follow_up_at = excluded.follow_up_at, updated_at = excluded.updated_at",
        )
        .bind(call_id)
        .bind(tenant)
        .bind(report.disposition.as_deref())
        .bind(label.as_deref())
        .bind(report.note.trim())
        .bind(report.follow_up_at.map(to_millis))
        .bind(now)
        .bind(&user.id)
        .bind(call.try_get::<i64, _>("created_at")?)
        .execute(&mut *tx)
        .await?;
        if !unchanged {
            // A follow-up read before this report must read it again.
            sqlx::query(
                "UPDATE crm_followups SET report_rev = report_rev + 1
                 WHERE call_id = $1 AND state = 'pending' AND maybe_sent = FALSE",
            )
            .bind(call_id)
            .execute(&mut *tx)
            .await?;
        }
        let delivery =
            sqlx::query("SELECT state, maybe_sent FROM crm_deliveries WHERE call_id = $1")
                .bind(call_id)
                .fetch_optional(&mut *tx)
                .await?;
        let note = match delivery {
            // Never placed: no note.
            None => ReportNote::NoNote,
            Some(row) => {
                let state: String = row.try_get("state")?;
                let Flag(maybe_sent) = row.try_get("maybe_sent")?;
                if state == "delivered" || (state == "pending" && maybe_sent) {
                    if unchanged {
                        return self
                            .unchanged_answer(tx, call_id, report, ReportNote::Complement)
                            .await;
                    }
                    // One complement not yet sent carries the latest report:
                    // quick edits do not make several.
                    let waiting = sqlx::query(
                        "SELECT id FROM crm_followups WHERE call_id = $1 AND kind = 'complement'
                           AND state = 'pending' AND maybe_sent = FALSE",
                    )
                    .bind(call_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if waiting.is_none() {
                        sqlx::query(
                            "INSERT INTO crm_followups (id, call_id, tenant, kind, state,
                                                        next_attempt_at, created_at, updated_at)
                             VALUES ($1, $2, $3, 'complement', 'pending', $4, $4, $4)",
                        )
                        .bind(followup_id())
                        .bind(call_id)
                        .bind(tenant)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    ReportNote::Complement
                } else if state == "no_deal" {
                    ReportNote::NoNote
                } else {
                    // Not left yet (waiting, failed, no connection): the
                    // note is written again with the report, whenever it goes.
                    // Due now if it was only waiting for the report; a
                    // retry's backoff or the rate limit's wait stand.
                    let due = if state == "pending" {
                        "next_attempt_at = CASE WHEN failures = 0 THEN $2 ELSE next_attempt_at END,"
                    } else {
                        ""
                    };
                    sqlx::query(&format!(
                        "UPDATE crm_deliveries SET {due} note_text = NULL,
                             report_rev = report_rev + 1, updated_at = $2
                         WHERE call_id = $1"
                    ))
                    .bind(call_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    ReportNote::InTheNote
                }
            }
        };
        let task = self
            .plan_task(&mut tx, call_id, tenant, report, note, now)
            .await?;
        tx.commit().await?;
        self.writer.outbox.notify_one();
        self.writer.followups.notify_one();
        Ok(ReportSaved {
            report: CallReport {
                disposition: report.disposition.clone(),
                note: report.note.trim().to_owned(),
                follow_up_at: report.follow_up_at,
            },
            note,
            task,
        })
    }

    /// The answer to a report sent again unchanged: what the first one did,
    /// with nothing queued again.
    async fn unchanged_answer(
        &self,
        tx: super::write::WriteTx,
        call_id: &str,
        report: &CallReport,
        note: ReportNote,
    ) -> Result<ReportSaved, StoreError> {
        let mut tx = tx;
        let task = sqlx::query(
            "SELECT state, maybe_sent FROM crm_followups WHERE call_id = $1 AND kind = 'task'",
        )
        .bind(call_id)
        .fetch_optional(&mut *tx)
        .await?;
        let task = match task {
            None => ReportTask::None,
            Some(row)
                if row.try_get::<String, _>("state")? == "delivered"
                    || row.try_get::<Flag, _>("maybe_sent")?.0 =>
            {
                ReportTask::AlreadyCreated
            }
            Some(_) => ReportTask::Queued,
        };
        tx.commit().await?;
        Ok(ReportSaved {
            report: CallReport {
                disposition: report.disposition.clone(),
                note: report.note.trim().to_owned(),
                follow_up_at: report.follow_up_at,
            },
            note,
            task,
        })
    }

    /// Queues, moves or drops the follow-up task as the report asks.
    async fn plan_task(
        &self,
        tx: &mut sqlx::AnyConnection,
        call_id: &str,
        tenant: &str,
        report: &CallReport,
        note: ReportNote,
        now: i64,
    ) -> Result<ReportTask, StoreError> {
        let existing = sqlx::query(
            "SELECT id, state, maybe_sent FROM crm_followups WHERE call_id = $1 AND kind = 'task'",
        )
        .bind(call_id)
        .fetch_optional(&mut *tx)
        .await?;
        // Created, or maybe created (its answer was lost): never again.
        let settled = match &existing {
            Some(row) => {
                row.try_get::<String, _>("state")? == "delivered"
                    || row.try_get::<Flag, _>("maybe_sent")?.0
            }
            None => false,
        };
        if settled {
            return Ok(if report.follow_up_at.is_some() {
                ReportTask::AlreadyCreated
            } else {
                ReportTask::None
            });
        }
        if let Some(row) = &existing {
            // A waiting task takes the report's date when it is sent (a
            // stopped one, never sent, is queued again); none asked any
            // more: it goes.
            if report.follow_up_at.is_some() {
                sqlx::query(
                    "UPDATE crm_followups SET state = 'pending', last_error = NULL, failures = 0,
                         next_attempt_at = $2, updated_at = $2
                     WHERE id = $1 AND state = 'failed'",
                )
                .bind(row.try_get::<String, _>("id")?)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query("DELETE FROM crm_followups WHERE id = $1")
                    .bind(row.try_get::<String, _>("id")?)
                    .execute(&mut *tx)
                    .await?;
            }
            return Ok(if report.follow_up_at.is_some() {
                ReportTask::Queued
            } else {
                ReportTask::None
            });
        }
        if report.follow_up_at.is_none() || note == ReportNote::NoNote {
            return Ok(ReportTask::None);
        }
        sqlx::query(
            "INSERT INTO crm_followups (id, call_id, tenant, kind, state, next_attempt_at,
                                        created_at, updated_at)
             VALUES ($1, $2, $3, 'task', 'pending', $4, $4, $4)",
        )
        .bind(followup_id())
        .bind(call_id)
        .bind(tenant)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        Ok(ReportTask::Queued)
    }

    /// Follow-ups due at `now` whose call's note is settled (delivered,
    /// or stopped: then the follow-up stops too).
    pub async fn due_followups(
        &self,
        now: OffsetDateTime,
        limit: u32,
        tenants: Option<&[String]>,
    ) -> Result<Vec<Followup>, StoreError> {
        if tenants.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        let mut q: Statement = Statement::new(format!(
            "SELECT {CALL_COLUMNS}, f.id AS followup_id, f.kind AS followup_kind,
                    f.failures AS followup_failures, f.maybe_sent AS followup_maybe_sent,
                    f.report_rev AS followup_report_rev,
                    u.name AS user_name, u.crm_user_id, {REPORT_COLUMNS}
             FROM {CALL_ROWS}
             JOIN crm_followups f ON f.call_id = calls.id
             JOIN users u ON u.id = calls.user_id
             LEFT JOIN call_reports r ON r.call_id = calls.id
             WHERE f.state = 'pending' AND d.state IN ('delivered', 'no_deal')
               AND f.next_attempt_at <= "
        ));
        q.push_bind(to_millis(now));
        super::crm::push_tenants(&mut q, "calls.tenant", tenants);
        q.push(" ORDER BY f.next_attempt_at, f.id LIMIT ")
            .push_bind(i64::from(limit));
        q.query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(followup_from_row)
            .collect()
    }

    /// Waits until follow-ups may have become due.
    pub async fn followups_changed(&self) {
        self.writer.followups.notified().await;
    }

    /// When the next follow-up is due, if any is waiting.
    /// (Of `tenants`, when given.)
    pub async fn next_followup_due(
        &self,
        tenants: Option<&[String]>,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        if tenants.is_some_and(<[String]>::is_empty) {
            return Ok(None);
        }
        let mut q: Statement = Statement::new(
            "SELECT MIN(f.next_attempt_at) FROM crm_followups f
             JOIN crm_deliveries d ON d.call_id = f.call_id
             WHERE f.state = 'pending' AND d.state IN ('delivered', 'no_deal')",
        );
        super::crm::push_tenants(&mut q, "d.tenant", tenants);
        let at: Option<i64> = q.scalar().fetch_one(&self.pool).await?;
        at.map(from_millis).transpose()
    }

    /// Records one step of a follow-up.
    pub async fn update_followup(
        &self,
        id: &str,
        update: FollowupUpdate,
    ) -> Result<(), StoreError> {
        let now = to_millis(OffsetDateTime::now_utc());
        let q = match &update {
            FollowupUpdate::Sending { report_rev } => sqlx::query(
                "UPDATE crm_followups SET attempts = attempts + 1, maybe_sent = TRUE, updated_at = $2
                 WHERE id = $1 AND state = 'pending' AND maybe_sent = FALSE AND report_rev = $3",
            )
            .bind(id)
            .bind(now)
            .bind(report_rev),
            FollowupUpdate::Delivered { remote_id } => sqlx::query(
                "UPDATE crm_followups SET state = 'delivered', remote_id = $2, last_error = NULL,
                     updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(remote_id)
            .bind(now),
            FollowupUpdate::Retry { at, error } => sqlx::query(
                "UPDATE crm_followups SET next_attempt_at = $2, last_error = $3,
                     failures = failures + 1, updated_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(to_millis(*at))
            .bind(error)
            .bind(now),
            FollowupUpdate::Defer { at } => sqlx::query(
                "UPDATE crm_followups SET next_attempt_at = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(to_millis(*at))
            .bind(now),
            FollowupUpdate::Failed { error } => sqlx::query(
                "UPDATE crm_followups SET state = 'failed', last_error = $2, updated_at = $3
                 WHERE id = $1",
            )
            .bind(id)
            .bind(error)
            .bind(now),
        };
        let done = execute_one(&self.writes, q).await?;
        if matches!(update, FollowupUpdate::Sending { .. }) && done.rows_affected() == 0 {
            return Err(StoreError::Conflict("report"));
        }
        Ok(())
    }
}

fn followup_from_row(row: &AnyRow) -> Result<Followup, StoreError> {
    let call = call_from_row(row)?;
    let crm = call.crm.clone();
    let kind = match row.try_get::<String, _>("followup_kind")?.as_str() {
        "complement" => FollowupKind::Complement,
        "task" => FollowupKind::Task,
        other => {
            return Err(StoreError::Corrupt(format!(
                "crm_followups.kind = {other:?}"
            )));
        }
    };
    Ok(Followup {
        id: row.try_get("followup_id")?,
        kind,
        note_state: crm.as_ref().map_or(CrmState::Pending, |c| c.state),
        deal_id: crm.and_then(|c| c.deal_id),
        user_name: row.try_get("user_name")?,
        crm_user_id: row.try_get("crm_user_id")?,
        report: report_from_row(row)?,
        failures: u32::try_from(row.try_get::<i64, _>("followup_failures")?).unwrap_or(u32::MAX),
        maybe_sent: row.try_get::<Flag, _>("followup_maybe_sent")?.0,
        report_rev: row.try_get("followup_report_rev")?,
        call,
    })
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::domain::{
        CallContext, CallState, E164Number, Outcome, PhoneKind, Region, Role, Tenant,
    };
    use crate::storage::{CreateCall, Created, DeliveryUpdate, NewUser};

    struct Data {
        _dir: tempfile::TempDir,
        store: Store,
        ana: User,
        call: String,
    }

    /// Ana's ended call, its note delivered.
    async fn delivered_call() -> Data {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::storage::testing::fresh_store(dir.path())
            .await
            .unwrap();
        store
            .add_tenant(&Tenant::in_brazil("acme".parse().unwrap(), "Acme"))
            .await
            .unwrap();
        let ana = store
            .add_user(NewUser {
                tenant: "acme",
                name: "Ana",
                email: "ana@acme.com",
                extension: &"1001".parse().unwrap(),
                role: Role::Agent,
                phone: PhoneKind::Desk,
                token_hash: None,
            })
            .await
            .unwrap();
        let to = E164Number::parse("(11) 98765-4321", Region::BRAZIL).unwrap();
        let context = CallContext {
            deal_id: Some("64b7f0c2a1e4d30000000d01".into()),
            ..CallContext::default()
        };
        let Created::New(mut call) = store
            .create_call(CreateCall {
                user: &ana,
                to: &to,
                context: &context,
                idempotency: None,
            })
            .await
            .unwrap()
        else {
            panic!("a new call");
        };
        call.state = CallState::Ended;
        call.outcome = Some(Outcome::Answered);
        call.ended_at = Some(OffsetDateTime::now_utc());
        store.save_calls(&[call.clone()]).await.unwrap();
        let deal = "64b7f0c2a1e4d30000000d01".to_owned();
        store
            .update_delivery(
                &call.id,
                DeliveryUpdate::Prepared {
                    deal_id: deal,
                    note_text: "nota".into(),
                    report_rev: 0,
                },
            )
            .await
            .unwrap();
        store
            .update_delivery(
                &call.id,
                DeliveryUpdate::Delivered {
                    note_id: "n1".into(),
                },
            )
            .await
            .unwrap();
        Data {
            _dir: dir,
            store,
            ana,
            call: call.id,
        }
    }

    fn report(note: &str, follow_up: bool) -> CallReport {
        CallReport {
            disposition: Some("retornar".into()),
            note: note.into(),
            follow_up_at: follow_up.then(|| OffsetDateTime::now_utc() + time::Duration::days(1)),
        }
    }

    async fn due(store: &Store) -> Vec<Followup> {
        store
            .due_followups(OffsetDateTime::now_utc(), 10, None)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn quick_edits_after_the_note_make_one_complement_with_the_latest() {
        let d = delivered_call().await;
        for text in ["Pediu proposta", "Pediu proposta revisada"] {
            let saved = d
                .store
                .save_report(&d.ana, &d.call, &report(text, false))
                .await
                .unwrap();
            assert_eq!(saved.note, ReportNote::Complement);
        }
        let due = due(&d.store).await;
        assert_eq!(due.len(), 1, "{due:?}");
        assert_eq!(due[0].kind, FollowupKind::Complement);
        assert_eq!(
            due[0].report.as_ref().unwrap().note,
            "Pediu proposta revisada"
        );
    }

    #[tokio::test]
    async fn a_follow_up_read_before_a_new_report_is_not_sent() {
        let d = delivered_call().await;
        d.store
            .save_report(&d.ana, &d.call, &report("a", true))
            .await
            .unwrap();
        let read = due(&d.store).await;
        let task = read
            .iter()
            .find(|f| f.kind == FollowupKind::Task)
            .unwrap()
            .clone();
        // The follow-up is unticked meanwhile: the task goes, and the
        // worker's read is refused.
        d.store
            .save_report(&d.ana, &d.call, &report("b", false))
            .await
            .unwrap();
        let refused = d
            .store
            .update_followup(
                &task.id,
                FollowupUpdate::Sending {
                    report_rev: task.report_rev,
                },
            )
            .await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
        assert!(
            due(&d.store)
                .await
                .iter()
                .all(|f| f.kind != FollowupKind::Task)
        );
    }

    #[tokio::test]
    async fn follow_ups_wait_for_a_stopped_note_and_a_sent_task_is_never_planned_again() {
        let d = delivered_call().await;
        // The note stopped (a manager may queue it again).
        d.store
            .update_delivery(&d.call, DeliveryUpdate::Failed { error: "x".into() })
            .await
            .unwrap();
        let saved = d
            .store
            .save_report(&d.ana, &d.call, &report("a", true))
            .await
            .unwrap();
        assert_eq!(
            (saved.note, saved.task),
            (ReportNote::InTheNote, ReportTask::Queued)
        );
        assert!(
            due(&d.store).await.is_empty(),
            "the task waits for the note"
        );
        d.store
            .update_delivery(
                &d.call,
                DeliveryUpdate::Delivered {
                    note_id: "n2".into(),
                },
            )
            .await
            .unwrap();
        let task = due(&d.store).await.pop().unwrap();
        assert_eq!(task.kind, FollowupKind::Task);
        d.store
            .update_followup(
                &task.id,
                FollowupUpdate::Sending {
                    report_rev: task.report_rev,
                },
            )
            .await
            .unwrap();
        let again = d
            .store
            .save_report(&d.ana, &d.call, &report("b", true))
            .await
            .unwrap();
        assert_eq!(again.task, ReportTask::AlreadyCreated);
    }
}
