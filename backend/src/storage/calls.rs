//! The `calls` and `idempotency_keys` tables.

use super::flag::Flag;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use super::statement::Statement;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::call_stats;
use super::crm::queue_notes;
use super::events::{CallEvent, append_events};
use super::{Store, StoreError, Writer, from_millis, parse_column, to_millis};
use crate::domain::call::NewCall;
use crate::domain::phone::national_format;
use crate::domain::{
    Call, CallContext, CallId, CallState, CrmDelivery, CrmState, E164Number, HangupCause, Outcome,
    PbxName, User, call,
};

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
    /// The PBX it goes through: its tenant's.
    pbx: PbxName,
    idempotency: Option<(String, String)>,
    reply: oneshot::Sender<Result<Created, StoreError>>,
}

/// Most creations committed in one transaction.
const MAX_CREATE_BATCH: usize = 256;

/// Commits call creations in groups: whatever arrived while the previous
/// group was being written goes into the next transaction, written with a
/// fixed number of statements (see [`Writer::write_creates`]). Under a burst
/// of clicks this costs one commit per group instead of one per click. Ends
/// when every [`Store`] is dropped.
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
        match self.write_creates(&batch).await {
            Ok((answers, events)) => {
                for event in events {
                    self.publish(event);
                }
                for (p, answer) in batch.into_iter().zip(answers) {
                    let _ = p.reply.send(answer);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, clicks = batch.len(), "could not store new calls");
                for p in batch {
                    let _ = p.reply.send(Err(e.for_another_request()));
                }
            }
        }
    }

    /// Writes a group with a fixed number of statements, whatever its size:
    /// one look-up of the Idempotency-Keys, one multi-row insert each for
    /// calls, keys and events. A busy agent's row is skipped by
    /// `ON CONFLICT DO NOTHING` (the partial unique index) and so is absent
    /// from `RETURNING`, which is how its request learns it was refused.
    /// Returns each request's answer, and the events to publish in `seq`
    /// order.
    async fn write_creates(
        &self,
        batch: &[PendingCreate],
    ) -> Result<(Vec<Result<Created, StoreError>>, Vec<CallEvent>), StoreError> {
        let mut tx = self.writes.begin().await?;
        let mut answers: Vec<Option<Result<Created, StoreError>>> =
            batch.iter().map(|_| None).collect();

        // Idempotency-Keys: the first use of each key in the group is looked
        // up; later uses in the same group answer like the first.
        let mut first_use: HashMap<(&str, &str), usize> = HashMap::new();
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        for (i, p) in batch.iter().enumerate() {
            if let Some((key, _)) = &p.idempotency {
                match first_use.entry((p.call.user_id.as_str(), key.as_str())) {
                    Entry::Occupied(first) => repeats.push((i, *first.get())),
                    Entry::Vacant(slot) => {
                        slot.insert(i);
                    }
                }
            }
        }
        if !first_use.is_empty() {
            for (i, answer) in replays(&mut tx, batch, &first_use).await? {
                answers[i] = Some(answer);
            }
        }
        let repeated: HashSet<usize> = repeats.iter().map(|(i, _)| *i).collect();

        let fresh: Vec<&PendingCreate> = batch
            .iter()
            .enumerate()
            .filter(|(i, _)| answers[*i].is_none() && !repeated.contains(i))
            .map(|(_, p)| p)
            .collect();
        let mut inserted: HashSet<String> = HashSet::new();
        if !fresh.is_empty() {
            let mut q: Statement = Statement::new(
                "INSERT INTO calls (id, tenant, user_id, agent_endpoint, to_number, state, created_at, deal_id, contact_id, contact_name, page_url, pbx) ",
            );
            q.push_values(&fresh, |mut row, p| {
                let c = &p.call;
                row.push_bind(&c.id)
                    .push_bind(&c.tenant)
                    .push_bind(&c.user_id)
                    .push_bind(&c.agent_endpoint)
                    .push_bind(&c.to)
                    .push_bind(c.state.as_str())
                    .push_bind(to_millis(c.created_at))
                    .push_bind(&c.context.deal_id)
                    .push_bind(&c.context.contact_id)
                    .push_bind(&c.context.contact_name)
                    .push_bind(&c.context.page_url)
                    .push_bind(p.pbx.as_str());
            });
            q.push(" ON CONFLICT DO NOTHING RETURNING id");
            for row in q.query().fetch_all(&mut *tx).await? {
                inserted.insert(row.try_get("id")?);
            }
        }
        let created: Vec<&PendingCreate> = fresh
            .into_iter()
            .filter(|p| inserted.contains(&p.call.id))
            .collect();
        let keyed: Vec<&PendingCreate> = created
            .iter()
            .copied()
            .filter(|p| p.idempotency.is_some())
            .collect();
        if !keyed.is_empty() {
            let mut q: Statement = Statement::new(
                "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, call_id, created_at) ",
            );
            q.push_values(&keyed, |mut row, p| {
                let (key, hash) = p.idempotency.as_ref().expect("only keyed requests");
                row.push_bind(&p.call.user_id)
                    .push_bind(key)
                    .push_bind(hash)
                    .push_bind(&p.call.id)
                    .push_bind(to_millis(p.call.created_at));
            });
            q.query().execute(&mut *tx).await?;
        }
        let events = append_events(&mut tx, created.iter().map(|p| &p.call)).await?;
        tx.commit().await?;

        for (i, p) in batch.iter().enumerate() {
            if answers[i].is_none() && !repeated.contains(&i) {
                answers[i] = Some(if inserted.contains(&p.call.id) {
                    Ok(Created::New(p.call.clone()))
                } else {
                    Err(StoreError::AgentBusy)
                });
            }
        }
        for (i, first) in repeats {
            let hash = |j: usize| batch[j].idempotency.as_ref().map(|(_, h)| h);
            answers[i] = Some(match &answers[first] {
                _ if hash(i) != hash(first) => Err(StoreError::IdempotencyMismatch),
                Some(Ok(Created::New(call) | Created::Replayed(call))) => {
                    Ok(Created::Replayed(call.clone()))
                }
                Some(Err(StoreError::AgentBusy)) => Err(StoreError::AgentBusy),
                _ => Err(StoreError::IdempotencyMismatch),
            });
        }
        let answers = answers
            .into_iter()
            .map(|a| a.unwrap_or(Err(StoreError::Closed)))
            .collect();
        Ok((answers, events))
    }
}

/// Answers for requests whose Idempotency-Key was stored by an earlier
/// group: the same request gets its call back, another request with the key
/// is refused.
async fn replays(
    tx: &mut AnyConnection,
    batch: &[PendingCreate],
    first_use: &HashMap<(&str, &str), usize>,
) -> Result<Vec<(usize, Result<Created, StoreError>)>, StoreError> {
    let mut q: Statement = Statement::new(
        "SELECT user_id, idem_key, request_hash, call_id FROM idempotency_keys WHERE idem_key IN (",
    );
    let mut keys = q.separated(", ");
    for (_, key) in first_use.keys() {
        keys.push_bind(*key);
    }
    q.push(")");
    let mut answers = Vec::new();
    let mut replayed = Vec::new();
    for row in q.query().fetch_all(&mut *tx).await? {
        let (user_id, key): (String, String) = (row.try_get("user_id")?, row.try_get("idem_key")?);
        let Some(&i) = first_use.get(&(user_id.as_str(), key.as_str())) else {
            continue;
        };
        let stored_hash: String = row.try_get("request_hash")?;
        if batch[i]
            .idempotency
            .as_ref()
            .is_some_and(|(_, hash)| *hash == stored_hash)
        {
            replayed.push((i, row.try_get::<String, _>("call_id")?));
        } else {
            answers.push((i, Err(StoreError::IdempotencyMismatch)));
        }
    }
    if replayed.is_empty() {
        return Ok(answers);
    }
    let mut q: Statement = Statement::new(format!(
        "SELECT {CALL_COLUMNS} FROM {CALL_ROWS} WHERE calls.id IN ("
    ));
    let mut ids = q.separated(", ");
    for (_, id) in &replayed {
        ids.push_bind(id.as_str());
    }
    q.push(")");
    let calls: HashMap<String, Call> = q
        .query()
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| call_from_row(row).map(|c| (c.id.clone(), c)))
        .collect::<Result<_, _>>()?;
    for (i, id) in replayed {
        let call = calls.get(&id).cloned().ok_or_else(|| {
            StoreError::Corrupt(format!("idempotency key of a missing call {id}"))
        })?;
        answers.push((i, Ok(Created::Replayed(call))));
    }
    Ok(answers)
}

/// Which calls to list, newest first.
#[derive(Debug, Default)]
pub struct CallFilter {
    pub tenant: String,
    pub user_id: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
    pub outcome: Option<Outcome>,
    /// Only calls whose CRM note is in this state.
    pub crm: Option<CrmState>,
    /// Only calls older than this one (paging cursor).
    pub before: Option<CallId>,
    pub limit: u32,
}

/// A call and its CRM delivery (when it has ended): `SELECT {CALL_COLUMNS} FROM {CALL_ROWS}`.
pub(super) const CALL_COLUMNS: &str = "calls.id, calls.tenant, calls.user_id, calls.agent_endpoint, calls.to_number, \
    calls.state, calls.outcome, calls.created_at, calls.agent_answered_at, calls.lead_dialed_at, \
    calls.lead_answered_at, calls.ended_at, calls.ring_seconds, calls.talk_seconds, calls.hangup_cause_code, \
    calls.hangup_cause_text, calls.recording_file, calls.durations_estimated, calls.not_placed, calls.last_seen_at, calls.deal_id, calls.contact_id, calls.contact_name, \
    calls.page_url, d.state AS crm_state, d.deal_id AS crm_deal_id, d.note_id AS crm_note_id, \
    d.attempts AS crm_attempts, d.last_error AS crm_error, d.next_attempt_at AS crm_next_attempt_at, \
    d.delivered_at AS crm_delivered_at";
pub(super) const CALL_ROWS: &str = "calls LEFT JOIN crm_deliveries d ON d.call_id = calls.id";

impl Store {
    /// Records a new call for `req.user`, unless the Idempotency-Key was
    /// already used (then the first call is returned) or the user already has
    /// a live call ([`StoreError::AgentBusy`]). Concurrent creations are
    /// group-committed: see [`run_creates`].
    pub async fn create_call(&self, req: CreateCall<'_>) -> Result<Created, StoreError> {
        let call = NewCall {
            id: CallId::generate(),
            tenant: req.user.tenant.slug.to_string(),
            user_id: req.user.id.clone(),
            agent_endpoint: req.user.endpoint(),
            to: req.to.as_str().to_owned(),
            context: req.context.clone(),
        }
        .queued(call::now());
        let (reply, answer) = oneshot::channel();
        let pending = PendingCreate {
            call,
            pbx: req.user.tenant.pbx.clone(),
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
        let mut tx = self.writes.begin().await?;
        // An ended call is never made live again: a version written late
        // (by a tracker that had not yet heard that another backend ended
        // the call) is dropped.
        let ended_before = ended_among(&mut tx, versions).await?;
        let versions: Vec<&Call> = versions
            .iter()
            .filter(|c| c.state == CallState::Ended || !ended_before.contains(c.id.as_str()))
            .collect();
        if versions.is_empty() {
            tx.commit().await?;
            return Ok(());
        }
        // The row takes each call's last version; the log takes every version.
        let mut latest: HashMap<&str, &Call> = HashMap::new();
        for call in &versions {
            latest.insert(call.id.as_str(), call);
        }
        let rows: Vec<&Call> = latest.into_values().collect();
        let mut q: Statement = Statement::new(
            "WITH v (id, state, outcome, agent_answered_at, lead_dialed_at, lead_answered_at, ended_at, \
             ring_seconds, talk_seconds, hangup_cause_code, hangup_cause_text, recording_file, durations_estimated, not_placed) AS (",
        );
        q.push_values(&rows, |mut row, call| {
            row.push_bind(&call.id)
                .push_bind(call.state.as_str())
                .push_bind(call.outcome.map(Outcome::as_str))
                .push_bind(call.agent_answered_at.map(to_millis))
                .push_bind(call.lead_dialed_at.map(to_millis))
                .push_bind(call.lead_answered_at.map(to_millis))
                .push_bind(call.ended_at.map(to_millis))
                .push_bind(call.ring_seconds)
                .push_bind(call.talk_seconds)
                .push_bind(call.hangup_cause.as_ref().map(|c| c.code))
                .push_bind(call.hangup_cause.as_ref().map(|c| c.text.as_str()))
                .push_bind(&call.recording_file)
                .push_bind(call.durations_estimated)
                .push_bind(call.not_placed);
        });
        q.push(
            ") UPDATE calls SET state = v.state, outcome = v.outcome, agent_answered_at = v.agent_answered_at, \
             lead_dialed_at = v.lead_dialed_at, lead_answered_at = v.lead_answered_at, ended_at = v.ended_at, \
             ring_seconds = v.ring_seconds, talk_seconds = v.talk_seconds, hangup_cause_code = v.hangup_cause_code, \
             hangup_cause_text = v.hangup_cause_text, \
             recording_file = CASE WHEN calls.recording_file IS NULL AND EXISTS (SELECT 1 FROM tenant_recording r \
                 WHERE r.tenant = calls.tenant AND NOT r.enabled) THEN NULL ELSE v.recording_file END, \
             durations_estimated = v.durations_estimated, not_placed = v.not_placed, \
             last_seen_at = CASE WHEN v.state <> 'ended' THEN ",
        );
        // A change of a live call is a sign of life (its end, if missed,
        // is estimated from the latest one).
        q.push_bind(to_millis(call::now()))
            .push(" ELSE calls.last_seen_at END FROM v WHERE calls.id = v.id");
        let ended: Vec<&Call> = rows
            .iter()
            .copied()
            .filter(|c| c.state == CallState::Ended)
            .collect();
        // Read before the update: the calls this transaction ends.
        let ending = call_stats::ending_now(&mut tx, &ended).await?;
        q.query().execute(&mut *tx).await?;
        call_stats::count_ended(&mut tx, &ending).await?;
        let events = append_events(&mut tx, versions.iter().copied()).await?;
        // The call's note joins the outbox in the transaction that ends it.
        queue_notes(&mut tx, &ended, self.report_wait()).await?;
        tx.commit().await?;
        for event in events {
            self.writer.publish(event);
        }
        if !ended.is_empty() {
            self.writer.outbox.notify_one();
        }
        Ok(())
    }

    /// The call an earlier request with this Idempotency-Key created, if
    /// any; [`StoreError::IdempotencyMismatch`] when that request differed.
    pub async fn replay(
        &self,
        user_id: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<Option<Call>, StoreError> {
        let seen = sqlx::query("SELECT request_hash, call_id FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2")
            .bind(user_id)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = seen else { return Ok(None) };
        if row.try_get::<String, _>("request_hash")? != request_hash {
            return Err(StoreError::IdempotencyMismatch);
        }
        self.call(&row.try_get::<String, _>("call_id")?)
            .await
            .map(Some)
    }

    /// Frees the Idempotency-Key of a call that was certainly never placed,
    /// so that retrying the same click tries again.
    pub async fn forget_idempotency_key(&self, call_id: &str) -> Result<(), StoreError> {
        let _serialized = self.writer.lock.lock().await;
        let mut tx = self.writes.begin().await?;
        sqlx::query("DELETE FROM idempotency_keys WHERE call_id = $1")
            .bind(call_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    pub async fn call(&self, id: &str) -> Result<Call, StoreError> {
        let sql = format!("SELECT {CALL_COLUMNS} FROM {CALL_ROWS} WHERE calls.id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        call_from_row(&row)
    }

    /// The PBX each of `call_ids` was placed on (the calls that exist).
    pub async fn pbxs_of(&self, call_ids: &[&str]) -> Result<HashMap<String, PbxName>, StoreError> {
        let mut found = HashMap::new();
        for chunk in call_ids.chunks(500) {
            let mut q: Statement = Statement::new("SELECT id, pbx FROM calls WHERE id IN (");
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            for row in q.query().fetch_all(&self.pool).await? {
                let pbx: String = row.try_get("pbx")?;
                let pbx = pbx
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("calls.pbx = {pbx:?}")))?;
                found.insert(row.try_get("id")?, pbx);
            }
        }
        Ok(found)
    }

    /// The call `id` and the PBX it was placed on.
    pub async fn call_and_pbx(&self, id: &str) -> Result<(Call, PbxName), StoreError> {
        let sql = format!("SELECT {CALL_COLUMNS}, calls.pbx FROM {CALL_ROWS} WHERE calls.id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let pbx: String = row.try_get("pbx")?;
        let pbx = pbx
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("calls.pbx = {pbx:?}")))?;
        Ok((call_from_row(&row)?, pbx))
    }

    /// Every call placed on `pbx` not yet ended, oldest first, with the
    /// last moment it was known to be alive there.
    pub async fn live_calls_on(
        &self,
        pbx: &PbxName,
    ) -> Result<Vec<(Call, Option<OffsetDateTime>)>, StoreError> {
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM {CALL_ROWS} WHERE calls.state <> 'ended' AND calls.pbx = $1 \
             ORDER BY calls.id"
        );
        sqlx::query(&sql)
            .bind(pbx.as_str())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| {
                let seen = row
                    .try_get::<Option<i64>, _>("last_seen_at")?
                    .map(from_millis)
                    .transpose()?;
                Ok((call_from_row(row)?, seen))
            })
            .collect()
    }

    /// Records when live calls were last seen alive at the PBX (without an
    /// event: nothing the salesperson sees changed). A call's end, if it is
    /// missed, is estimated from this.
    pub async fn record_sightings(
        &self,
        seen: &[(&str, OffsetDateTime)],
    ) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut q: Statement = Statement::new("WITH v (id, seen) AS (");
        q.push_values(seen, |mut row, (id, at)| {
            row.push_bind(*id).push_bind(to_millis(*at));
        });
        q.push(
            ") UPDATE calls SET last_seen_at = v.seen FROM v \
             WHERE calls.id = v.id AND calls.state <> 'ended'",
        );
        let mut tx = self.writes.begin().await?;
        q.query().execute(&mut *tx).await?;
        tx.commit().await
    }

    pub async fn list_calls(&self, filter: &CallFilter) -> Result<Vec<Call>, StoreError> {
        let mut q: Statement = Statement::new(format!(
            "SELECT {CALL_COLUMNS} FROM {CALL_ROWS} WHERE calls.tenant = "
        ));
        q.push_bind(&filter.tenant);
        if let Some(user) = &filter.user_id {
            q.push(" AND calls.user_id = ").push_bind(user);
        }
        if let Some(from) = filter.from {
            q.push(" AND calls.created_at >= ")
                .push_bind(to_millis(from));
        }
        if let Some(to) = filter.to {
            q.push(" AND calls.created_at < ").push_bind(to_millis(to));
        }
        if let Some(outcome) = filter.outcome {
            q.push(" AND calls.outcome = ").push_bind(outcome.as_str());
        }
        if let Some(crm) = filter.crm {
            q.push(" AND d.state = ").push_bind(crm.as_str());
        }
        if let Some(before) = filter.before {
            q.push(" AND calls.id < ").push_bind(before.to_string());
        }
        q.push(" ORDER BY calls.id DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        q.query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(call_from_row)
            .collect()
    }
}

/// Which of `calls` are ended in the database, inside the writing
/// transaction.
async fn ended_among(
    tx: &mut AnyConnection,
    calls: &[Call],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut q = Statement::new("SELECT id FROM calls WHERE state = 'ended' AND id IN (");
    let mut ids = q.separated(", ");
    for call in calls {
        ids.push_bind(&call.id);
    }
    q.push(")");
    Ok(q.scalar::<String>()
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect())
}

pub(super) fn call_from_row(row: &AnyRow) -> Result<Call, StoreError> {
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
        to_display: Some(national_format(&row.try_get::<String, _>("to_number")?)),
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
        durations_estimated: row.try_get::<Flag, _>("durations_estimated")?.0,
        not_placed: row.try_get::<Flag, _>("not_placed")?.0,
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
            contact_name: row.try_get("contact_name")?,
            page_url: row.try_get("page_url")?,
        },
        crm: crm_from_row(row)?,
    })
}

fn crm_from_row(row: &AnyRow) -> Result<Option<CrmDelivery>, StoreError> {
    let Some(state) = row.try_get::<Option<String>, _>("crm_state")? else {
        return Ok(None);
    };
    let millis = |name: &str| -> Result<Option<OffsetDateTime>, StoreError> {
        row.try_get::<Option<i64>, _>(name)?
            .map(from_millis)
            .transpose()
    };
    let state: CrmState = parse_column(&state, "crm_deliveries.state")?;
    Ok(Some(CrmDelivery {
        state,
        deal_id: row.try_get("crm_deal_id")?,
        note_id: row.try_get("crm_note_id")?,
        attempts: u32::try_from(row.try_get::<i64, _>("crm_attempts")?).unwrap_or(u32::MAX),
        error: row.try_get("crm_error")?,
        next_attempt_at: if state == CrmState::Pending {
            millis("crm_next_attempt_at")?
        } else {
            None
        },
        delivered_at: millis("crm_delivered_at")?,
    }))
}
