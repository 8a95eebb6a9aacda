//! The `calls` and `idempotency_keys` tables.

use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::events::{CallEvent, append_event};
use super::{Store, StoreError, Writer, from_millis, is_unique_violation, parse_column, to_millis};
use crate::domain::{Call, CallContext, CallId, CallState, E164Number, HangupCause, Outcome, User};

/// A call to record before its Originate is sent.
pub struct CreateCall<'a> {
    pub user: &'a User,
    pub to: &'a E164Number,
    pub context: &'a CallContext,
    /// `(Idempotency-Key, hash of the request body)`.
    pub idempotency: Option<(&'a str, &'a str)>,
}

/// What [`Store::create_call`] did.
pub enum Created {
    /// A new call, in state `queued`: send its Originate.
    New(Call),
    /// The Idempotency-Key was seen before with the same request: its call.
    Replayed(Call),
}

/// A creation waiting for the next group commit.
pub(super) struct PendingCreate {
    call: Call,
    idempotency: Option<(String, String)>,
    reply: oneshot::Sender<Result<Created, StoreError>>,
}

/// Most creations committed in one transaction.
const MAX_CREATE_BATCH: usize = 256;

/// Commits call creations in groups: whatever arrived while the previous
/// group was being written goes into the next transaction. Under a burst of
/// clicks this costs one commit per group instead of one per click. A
/// refused request (busy agent, reused key) is refused by its first write,
/// and SQLite undoes just that statement, so the others stay intact (on
/// PostgreSQL this needs a savepoint per request). Ends when every [`Store`]
/// is dropped.
pub(super) async fn run_creates(
    writer: Writer,
    mut requests: mpsc::UnboundedReceiver<PendingCreate>,
) {
    while let Some(first) = requests.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_CREATE_BATCH {
            match requests.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        writer.commit_creates(batch).await;
    }
}

impl Writer {
    async fn commit_creates(&self, batch: Vec<PendingCreate>) {
        let _serialized = self.lock.lock().await;
        let mut tx = match self.pool.begin().await {
            Ok(tx) => tx,
            Err(e) => {
                let message = e.to_string();
                for p in batch {
                    let _ = p.reply.send(Err(StoreError::Unavailable(message.clone())));
                }
                return;
            }
        };
        let mut results = Vec::with_capacity(batch.len());
        for p in &batch {
            match create_in(&mut tx, p).await {
                // Refusals touch nothing: each is decided by the request's
                // first write, whose failed statement SQLite undoes alone.
                Ok(created) => results.push(Ok(created)),
                Err(e @ (StoreError::AgentBusy | StoreError::IdempotencyMismatch)) => {
                    results.push(Err(e))
                }
                Err(e) => {
                    // Anything else leaves the transaction in doubt: drop the group.
                    drop(tx);
                    let message = e.to_string();
                    for p in batch {
                        let _ = p.reply.send(Err(StoreError::Unavailable(message.clone())));
                    }
                    return;
                }
            }
        }
        let committed = tx.commit().await.map_err(|e| e.to_string());
        for (p, result) in batch.into_iter().zip(results) {
            let result = match (result, &committed) {
                (Ok((created, event)), Ok(())) => {
                    if let Some(event) = event {
                        self.publish(event);
                    }
                    Ok(created)
                }
                (Ok(_), Err(message)) => Err(StoreError::Unavailable(message.clone())),
                (Err(e), _) => Err(e),
            };
            let _ = p.reply.send(result);
        }
    }
}

/// One creation inside the group's transaction.
async fn create_in(
    tx: &mut Transaction<'_, Sqlite>,
    p: &PendingCreate,
) -> Result<(Created, Option<CallEvent>), StoreError> {
    let call = &p.call;
    if let Some((key, hash)) = &p.idempotency {
        let seen = sqlx::query("SELECT request_hash, call_id FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2")
            .bind(&call.user_id)
            .bind(key)
            .fetch_optional(&mut **tx)
            .await?;
        if let Some(row) = seen {
            if row.try_get::<String, _>("request_hash")? != *hash {
                return Err(StoreError::IdempotencyMismatch);
            }
            let call_id: String = row.try_get("call_id")?;
            let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = $1");
            let row = sqlx::query(&sql).bind(call_id).fetch_one(&mut **tx).await?;
            return Ok((Created::Replayed(call_from_row(&row)?), None));
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO calls (id, tenant, user_id, agent_endpoint, to_number, state, created_at, deal_id, contact_id, page_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&call.id)
    .bind(&call.tenant)
    .bind(&call.user_id)
    .bind(&call.agent_endpoint)
    .bind(&call.to)
    .bind(call.state.as_str())
    .bind(to_millis(call.created_at))
    .bind(&call.context.deal_id)
    .bind(&call.context.contact_id)
    .bind(&call.context.page_url)
    .execute(&mut **tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(StoreError::AgentBusy),
        other => other?,
    };
    if let Some((key, hash)) = &p.idempotency {
        sqlx::query("INSERT INTO idempotency_keys (user_id, idem_key, request_hash, call_id, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&call.user_id)
            .bind(key)
            .bind(hash)
            .bind(&call.id)
            .bind(to_millis(call.created_at))
            .execute(&mut **tx)
            .await?;
    }
    let event = append_event(tx, call).await?;
    Ok((Created::New(call.clone()), Some(event)))
}

/// Which calls to list, newest first.
#[derive(Debug, Default)]
pub struct CallFilter {
    pub tenant: String,
    pub user_id: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub outcome: Option<Outcome>,
    /// Only calls older than this one (paging cursor).
    pub before: Option<CallId>,
    pub limit: u32,
}

const CALL_COLUMNS: &str = "id, tenant, user_id, agent_endpoint, to_number, state, outcome, created_at, \
    agent_answered_at, lead_dialed_at, lead_answered_at, ended_at, ring_seconds, talk_seconds, \
    hangup_cause_code, hangup_cause_text, recording_file, deal_id, contact_id, page_url";

impl Store {
    /// Records a new call for `req.user`, unless the Idempotency-Key was
    /// already used (then the first call is returned) or the user already has
    /// a live call ([`StoreError::AgentBusy`]). Concurrent creations are
    /// group-committed: see [`run_creates`].
    pub async fn create_call(&self, req: CreateCall<'_>) -> Result<Created, StoreError> {
        let call = Call {
            id: CallId::generate().to_string(),
            tenant: req.user.tenant.slug.to_string(),
            user_id: req.user.id.clone(),
            agent_endpoint: req.user.endpoint(),
            to: req.to.as_str().to_owned(),
            state: CallState::Queued,
            outcome: None,
            created_at: OffsetDateTime::now_utc(),
            agent_answered_at: None,
            lead_dialed_at: None,
            lead_answered_at: None,
            ended_at: None,
            ring_seconds: None,
            talk_seconds: None,
            hangup_cause: None,
            recording_file: None,
            context: req.context.clone(),
        };
        let (reply, answer) = oneshot::channel();
        let pending = PendingCreate {
            call,
            idempotency: req.idempotency.map(|(k, h)| (k.to_owned(), h.to_owned())),
            reply,
        };
        self.creates.send(pending).map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Writes successive versions of calls, in order, in one transaction:
    /// every version becomes one event, so a burst of AMI events costs one
    /// commit while the stream still sees each change.
    pub async fn save_calls(&self, versions: &[Call]) -> Result<(), StoreError> {
        if versions.is_empty() {
            return Ok(());
        }
        let _serialized = self.writer.lock.lock().await;
        let mut tx = self.pool.begin().await?;
        let mut events = Vec::with_capacity(versions.len());
        for call in versions {
            sqlx::query(
                "UPDATE calls SET state = $1, outcome = $2, agent_answered_at = $3, lead_dialed_at = $4,
                    lead_answered_at = $5, ended_at = $6, ring_seconds = $7, talk_seconds = $8,
                    hangup_cause_code = $9, hangup_cause_text = $10, recording_file = $11
                 WHERE id = $12",
            )
            .bind(call.state.as_str())
            .bind(call.outcome.map(Outcome::as_str))
            .bind(call.agent_answered_at.map(to_millis))
            .bind(call.lead_dialed_at.map(to_millis))
            .bind(call.lead_answered_at.map(to_millis))
            .bind(call.ended_at.map(to_millis))
            .bind(call.ring_seconds)
            .bind(call.talk_seconds)
            .bind(call.hangup_cause.as_ref().map(|c| c.code))
            .bind(call.hangup_cause.as_ref().map(|c| c.text.as_str()))
            .bind(&call.recording_file)
            .bind(&call.id)
            .execute(&mut *tx)
            .await?;
            events.push(append_event(&mut tx, call).await?);
        }
        tx.commit().await?;
        for event in events {
            self.writer.publish(event);
        }
        Ok(())
    }

    pub async fn call(&self, id: &str) -> Result<Call, StoreError> {
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        call_from_row(&row)
    }

    /// Every call not yet ended, oldest first.
    pub async fn live_calls(&self) -> Result<Vec<Call>, StoreError> {
        let sql = format!("SELECT {CALL_COLUMNS} FROM calls WHERE state <> 'ended' ORDER BY id");
        sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(call_from_row)
            .collect()
    }

    pub async fn list_calls(&self, filter: &CallFilter) -> Result<Vec<Call>, StoreError> {
        let mut q: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {CALL_COLUMNS} FROM calls WHERE tenant = "));
        q.push_bind(&filter.tenant);
        if let Some(user) = &filter.user_id {
            q.push(" AND user_id = ").push_bind(user);
        }
        if let Some(from) = filter.from {
            q.push(" AND created_at >= ").push_bind(to_millis(from));
        }
        if let Some(to) = filter.to {
            q.push(" AND created_at < ").push_bind(to_millis(to));
        }
        if let Some(outcome) = filter.outcome {
            q.push(" AND outcome = ").push_bind(outcome.as_str());
        }
        if let Some(before) = filter.before {
            q.push(" AND id < ").push_bind(before.to_string());
        }
        q.push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        q.build()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(call_from_row)
            .collect()
    }
}

fn call_from_row(row: &SqliteRow) -> Result<Call, StoreError> {
    let millis = |name: &str| -> Result<Option<OffsetDateTime>, StoreError> {
        row.try_get::<Option<i64>, _>(name)?
            .map(from_millis)
            .transpose()
    };
    let outcome: Option<String> = row.try_get("outcome")?;
    let cause_code: Option<i64> = row.try_get("hangup_cause_code")?;
    Ok(Call {
        id: row.try_get("id")?,
        tenant: row.try_get("tenant")?,
        user_id: row.try_get("user_id")?,
        agent_endpoint: row.try_get("agent_endpoint")?,
        to: row.try_get("to_number")?,
        state: parse_column(&row.try_get::<String, _>("state")?, "calls.state")?,
        outcome: outcome
            .map(|o| parse_column(&o, "calls.outcome"))
            .transpose()?,
        created_at: from_millis(row.try_get("created_at")?)?,
        agent_answered_at: millis("agent_answered_at")?,
        lead_dialed_at: millis("lead_dialed_at")?,
        lead_answered_at: millis("lead_answered_at")?,
        ended_at: millis("ended_at")?,
        ring_seconds: row.try_get("ring_seconds")?,
        talk_seconds: row.try_get("talk_seconds")?,
        hangup_cause: cause_code
            .map(|code| -> Result<HangupCause, StoreError> {
                Ok(HangupCause {
                    code,
                    text: row
                        .try_get::<Option<String>, _>("hangup_cause_text")?
                        .unwrap_or_default(),
                })
            })
            .transpose()?,
        recording_file: row.try_get("recording_file")?,
        context: CallContext {
            deal_id: row.try_get("deal_id")?,
            contact_id: row.try_get("contact_id")?,
            page_url: row.try_get("page_url")?,
        },
    })
}
