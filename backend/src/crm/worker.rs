//! The delivery worker: takes due notes from the outbox, writes each to its
//! deal, and records every step, so that a note is written once whatever
//! fails in between.
//!
//! Exactly once: before a creation request leaves, the note is marked
//! "maybe sent" in the database. A note so marked (its answer was lost: a
//! timeout, a crash, a kill) is first looked for among the deal's notes by
//! the call id it carries, and sent again only if it is not there.
//!
//! Temporary errors (network, timeouts, 5xx, HTML pages, 429) retry with
//! exponential backoff and jitter, never sooner than `Retry-After`;
//! permanent ones (401, 403, 404, 422) stop with the CRM's message. One
//! backend process delivers a tenant's notes: on SQLite the one holding a
//! lock file in the data folder delivers them all; on PostgreSQL every
//! backend delivers for the tenants whose locks it holds
//! ([`super::partition`]), and when one dies, or its locks' connection
//! fails, others take its tenants over within seconds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use time::OffsetDateTime;
use tokio::task::{Id, JoinSet};
use tracing::Instrument;

use super::client::NewTask;
use super::connections::Connections;
use super::error::{CrmError, MAX_RETRY_AFTER};
use super::lookup;
use super::note::{self, NoteContext};
use super::partition::{self, SharedPartition, Working};
use crate::configuration::CrmSettings;
use crate::domain::{CrmState, CrmUserId, DealId, sao_paulo};
use crate::storage::{
    Backend, Delivery, DeliveryUpdate, Followup, FollowupKind, FollowupUpdate, SESSION_LOCK_FENCE,
    SessionLocks, Store, StoreError,
};
use crate::telemetry::{Metrics, call_span};

/// Pause after the database itself failed, before the outbox is read again.
const STORE_RETRY: Duration = Duration::from_secs(1);
/// The PostgreSQL session advisory lock an earlier version's single
/// deliverer held alone ("crmnote" in ASCII); every backend now holds it
/// shared ([`partition::PRESENCE_LOCK`]).
pub const DELIVERER_LOCK: i64 = 0x0063_726d_6e6f_7465;
/// How often a process that does not deliver checks whether it may.
const LOCK_RETRY: Duration = Duration::from_secs(5);
/// Follow-ups read at a time.
const FOLLOWUP_BATCH: u32 = 20;
/// Shortest sleep of the loop, so a note due now does not spin it.
const MIN_WAIT: Duration = Duration::from_millis(10);
/// How often idle v2 authorizations are looked for, and how idle is idle
/// (well inside RD Station's 14 days).
const KEEP_ALIVE_CHECK: Duration = Duration::from_secs(6 * 60 * 60);
const KEEP_ALIVE_IDLE: time::Duration = time::Duration::days(3);

pub struct Worker {
    store: Store,
    connections: Arc<Connections>,
    settings: CrmSettings,
    metrics: Metrics,
    /// On SQLite, held (flock) by the one process that delivers this
    /// database's notes.
    lock_file: PathBuf,
}

/// Which notes a delivery loop takes: every tenant's (SQLite, the one
/// process holding the lock file), or those of the tenants this backend
/// holds (PostgreSQL, [`partition`]).
#[derive(Clone)]
enum Scope {
    All,
    Tenants(SharedPartition),
}

impl Scope {
    /// The tenants to read due work for (`None`: all).
    fn tenants(&self) -> Option<Vec<String>> {
        match self {
            Scope::All => None,
            Scope::Tenants(p) => Some(partition::lock(p).ready()),
        }
    }

    /// Starts work for `tenant`, unless it is no longer this backend's
    /// (then it is not done here): `None`. The work ends when the value
    /// returned is dropped.
    fn start(&self, tenant: &str) -> Option<Option<Working>> {
        match self {
            Scope::All => Some(None),
            Scope::Tenants(p) => Working::start(p, tenant).map(Some),
        }
    }
}

impl Worker {
    pub fn new(
        store: Store,
        connections: Arc<Connections>,
        settings: CrmSettings,
        metrics: Metrics,
        lock_file: PathBuf,
    ) -> Worker {
        Worker {
            store,
            connections,
            settings,
            metrics,
            lock_file,
        }
    }

    /// On SQLite, waits until this process holds the lock file: two
    /// processes on one database (a rolling deploy) must not send the same
    /// note.
    async fn hold_the_lock_file(&self) -> std::fs::File {
        let mut said = false;
        loop {
            match exclusive_lock(&self.lock_file) {
                Ok(file) => {
                    if said {
                        tracing::info!("this process now delivers the CRM notes");
                    }
                    return file;
                }
                Err(e) => {
                    if !said {
                        if e.kind() == std::io::ErrorKind::WouldBlock {
                            tracing::info!(
                                "another disca-backend delivers this database's CRM notes; waiting"
                            );
                        } else {
                            tracing::warn!(
                                error = %format!("{}: {e}", self.lock_file.display()),
                                "cannot tell whether this process may deliver the CRM notes; waiting"
                            );
                        }
                        said = true;
                    }
                    tokio::time::sleep(LOCK_RETRY).await;
                }
            }
        }
    }

    /// Delivers for ever: up to `concurrency` notes at a time, woken by new
    /// notes, by the next due retry, and every `poll_interval` (notes queued
    /// by another process, such as the command line). Also keeps idle v2
    /// authorizations alive.
    pub async fn run(self) {
        let worker = Arc::new(self);
        match worker.store.backend() {
            Backend::Sqlite => {
                let _locked = worker.hold_the_lock_file().await;
                let mut background: JoinSet<()> = JoinSet::new();
                background.spawn(worker.clone().keep_authorizations_alive(None));
                worker.deliver_the_outbox(Scope::All).await;
            }
            Backend::Postgres => worker.run_shared().await,
        }
    }

    /// PostgreSQL: delivers for the tenants this backend holds, for as long
    /// as their locks' connection lives, then again on a new one.
    async fn run_shared(self: Arc<Self>) {
        loop {
            let locks = match self.store.session_locks().await {
                Ok(locks) => locks,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot open the connection for the CRM delivery locks");
                    tokio::time::sleep(LOCK_RETRY).await;
                    continue;
                }
            };
            match locks.try_take_shared(partition::PRESENCE_LOCK).await {
                Ok(true) => {}
                Ok(false) => {
                    // An earlier version's deliverer holds it alone.
                    tracing::info!(
                        "an older disca-backend delivers this database's CRM notes; waiting"
                    );
                    tokio::time::sleep(LOCK_RETRY).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot join the backends delivering CRM notes");
                    tokio::time::sleep(LOCK_RETRY).await;
                    continue;
                }
            }
            let shared = SharedPartition::default();
            tokio::select! {
                () = self.clone().deliver_the_outbox(Scope::Tenants(shared.clone())) => {}
                () = partition::balance(&self.store, &locks, &shared) => {}
                () = self.clone().keep_authorizations_alive(Some((&locks, &shared))) => {}
                () = locks.lost() => {
                    // Every delivery under way is dropped here: a note it
                    // had sent is "maybe sent", and looked for before it
                    // is sent again by whoever takes its tenant.
                    tracing::error!("this process may no longer deliver its tenants' CRM notes: stopped");
                }
            }
        }
    }

    /// Refreshes `tenant`'s idle authorization under its lock (PostgreSQL):
    /// held here already (re-entrant), or taken now and waited the fence;
    /// held elsewhere, that backend's business. Two processes refreshing
    /// one token race, and RD Station kills the loser's.
    async fn refresh_idle_under_lock(
        &self,
        tenant: &str,
        locks: &SessionLocks,
        shared: &SharedPartition,
    ) {
        let key = partition::tenant_lock(tenant);
        let held_here = partition::lock(shared).ready().iter().any(|t| t == tenant);
        if !held_here {
            match locks.try_take(key).await {
                Ok(true) => tokio::time::sleep(SESSION_LOCK_FENCE).await,
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot take a tenant's CRM lock");
                    return;
                }
            }
        }
        self.refresh_idle(tenant).await;
        if !held_here && let Err(e) = locks.release(key).await {
            // Held until the connection goes: harmless but noted.
            tracing::warn!(error = %e, %tenant, "a tenant's CRM lock could not be let go");
        }
    }

    async fn refresh_idle(&self, tenant: &str) {
        match self.connections.refresh_authorization(tenant).await {
            Ok(()) => tracing::info!(%tenant, "idle RD Station authorization refreshed"),
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "idle RD Station authorization not refreshed")
            }
        }
    }

    /// The deliverer's work for `scope`, for as long as it may deliver:
    /// dropping it stops every task it started.
    async fn deliver_the_outbox(self: Arc<Self>, scope: Scope) {
        let worker = self;
        let mut background: JoinSet<()> = JoinSet::new();
        background.spawn(worker.clone().run_followups(scope.clone()));
        let mut running: JoinSet<()> = JoinSet::new();
        // The call each task delivers, so a task that panicked frees its note.
        let mut tasks: HashMap<Id, String> = HashMap::new();
        loop {
            let room = worker.settings.concurrency.saturating_sub(running.len());
            let busy: Vec<String> = tasks.values().cloned().collect();
            let tenants = scope.tenants();
            let wait = match worker.fill(room, &busy, tenants.as_deref()).await {
                Ok(due) => {
                    for delivery in due {
                        let Some(working) = scope.start(&delivery.call.tenant) else {
                            continue;
                        };
                        let call_id = delivery.call.id.clone();
                        let task = worker.clone();
                        let span = call_span(&delivery.call);
                        let handle = running.spawn(
                            async move {
                                task.deliver(delivery).await;
                                drop(working);
                            }
                            .instrument(span),
                        );
                        tasks.insert(handle.id(), call_id);
                    }
                    let busy: Vec<String> = tasks.values().cloned().collect();
                    worker.until_next_due(&busy, tenants.as_deref()).await
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the CRM outbox");
                    STORE_RETRY
                }
            };
            // With a partition, tenants taken later are looked at soon.
            let wait = match scope {
                Scope::All => wait,
                Scope::Tenants(_) => wait.min(partition::BALANCE_EVERY),
            };
            tokio::select! {
                _ = worker.store.outbox_changed() => {}
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(e) => {
                            tracing::error!(error = %e, "a CRM delivery task failed");
                            e.id()
                        }
                    };
                    tasks.remove(&id);
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Up to `room` due notes that are not `busy` (of `tenants`, when
    /// given).
    async fn fill(
        &self,
        room: usize,
        busy: &[String],
        tenants: Option<&[String]>,
    ) -> Result<Vec<Delivery>, StoreError> {
        if room == 0 {
            return Ok(Vec::new());
        }
        let limit = u32::try_from(room).unwrap_or(u32::MAX);
        self.store
            .due_deliveries(OffsetDateTime::now_utc(), limit, busy, tenants)
            .await
    }

    /// How long until the next note not in `busy` (of `tenants`, when
    /// given) is due, at most `poll_interval`.
    async fn until_next_due(&self, busy: &[String], tenants: Option<&[String]>) -> Duration {
        let poll = self.settings.poll_interval;
        match self.store.next_delivery_due(busy, tenants).await {
            Ok(Some(at)) => Duration::try_from(at - OffsetDateTime::now_utc())
                .unwrap_or(Duration::ZERO)
                .clamp(MIN_WAIT, poll),
            Ok(None) => poll,
            Err(_) => STORE_RETRY,
        }
    }

    /// RD Station kills a refresh token unused for 14 days: a tenant with no
    /// calls for a while (holidays) would find its authorization dead. Every
    /// few hours, v2 connections idle for days refresh once; on PostgreSQL
    /// each under its tenant's lock (`under`: the locks and this backend's
    /// tenants).
    async fn keep_authorizations_alive(
        self: Arc<Self>,
        under: Option<(&SessionLocks, &SharedPartition)>,
    ) {
        loop {
            tokio::time::sleep(KEEP_ALIVE_CHECK).await;
            let idle_since = OffsetDateTime::now_utc() - KEEP_ALIVE_IDLE;
            let tenants = match self.store.idle_v2_accounts(idle_since).await {
                Ok(tenants) => tenants,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list idle CRM authorizations");
                    continue;
                }
            };
            for tenant in tenants {
                match under {
                    Some((locks, shared)) => {
                        self.refresh_idle_under_lock(&tenant, locks, shared).await
                    }
                    None => self.refresh_idle(&tenant).await,
                }
            }
        }
    }
    /// Delivers what follows the calls' notes (complements, tasks), one at
    /// a time, for ever: woken when reports are saved or notes settle, at
    /// the next due retry, and every `poll_interval`.
    async fn run_followups(self: Arc<Self>, scope: Scope) {
        loop {
            let tenants = scope.tenants();
            match self
                .store
                .due_followups(
                    OffsetDateTime::now_utc(),
                    FOLLOWUP_BATCH,
                    tenants.as_deref(),
                )
                .await
            {
                Ok(due) => {
                    for followup in due {
                        let Some(_working) = scope.start(&followup.call.tenant) else {
                            continue;
                        };
                        let span = call_span(&followup.call);
                        self.follow_up(followup).instrument(span).await;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the CRM follow-ups");
                    tokio::time::sleep(STORE_RETRY).await;
                    continue;
                }
            }
            let poll = match scope {
                Scope::All => self.settings.poll_interval,
                Scope::Tenants(_) => self.settings.poll_interval.min(partition::BALANCE_EVERY),
            };
            let wait = match self.store.next_followup_due(tenants.as_deref()).await {
                Ok(Some(at)) => Duration::try_from(at - OffsetDateTime::now_utc())
                    .unwrap_or(Duration::ZERO)
                    .clamp(MIN_WAIT, poll),
                Ok(None) => poll,
                Err(_) => STORE_RETRY,
            };
            tokio::select! {
                _ = self.store.followups_changed() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Runs in the call's span.
    async fn follow_up(&self, followup: Followup) {
        let update = self.attempt_followup(&followup).await;
        match &update {
            FollowupUpdate::Delivered { remote_id } => {
                self.metrics.crm_delivered();
                tracing::info!(%remote_id, kind = ?followup.kind, "CRM follow-up delivered");
            }
            FollowupUpdate::Retry { at, error } => {
                self.metrics.crm_error(false);
                tracing::warn!(retry_at = %at, %error, kind = ?followup.kind, "CRM follow-up delayed");
            }
            FollowupUpdate::Failed { error } => {
                self.metrics.crm_error(true);
                tracing::error!(%error, kind = ?followup.kind, "CRM follow-up stopped");
            }
            _ => {}
        }
        if let Err(e) = self.store.update_followup(&followup.id, update).await {
            tracing::error!(error = %e, "cannot record the CRM follow-up");
            tokio::time::sleep(STORE_RETRY).await;
        }
    }

    /// One attempt at a complement note or a follow-up task.
    async fn attempt_followup(&self, f: &Followup) -> FollowupUpdate {
        let failed = |error: &str| FollowupUpdate::Failed {
            error: error.to_owned(),
        };
        if f.note_state != CrmState::Delivered {
            // Only a note with no deal lets its follow-ups through: it will
            // not be written (a stopped note may be queued again, and they
            // wait for it).
            return failed("nenhum negócio no RD Station para esta ligação");
        }
        let (Some(report), Some(deal)) = (
            f.report.as_ref(),
            f.deal_id.as_deref().and_then(|d| DealId::parse(d).ok()),
        ) else {
            return failed("a ligação não tem relato ou negócio");
        };
        let client = match self.connections.client(&f.call.tenant).await {
            Ok(Some(client)) => client,
            Ok(None) => return failed("o RD Station não está conectado"),
            Err(e) => return self.followup_error(f, e),
        };
        let author = f
            .crm_user_id
            .as_deref()
            .and_then(|id| CrmUserId::parse(id).ok());
        if client.needs_author() && author.is_none() {
            return FollowupUpdate::Failed {
                error: format!(
                    "{} não tem usuário do RD Station CRM associado \
                     (disca-backend user set-crm-user)",
                    f.user_name
                ),
            };
        }
        match f.kind {
            FollowupKind::Complement => {
                let marker = note::complement_marker(&f.call.id, &f.id);
                if f.maybe_sent {
                    match client
                        .find_note(&deal, search_from(f.call.created_at), &marker)
                        .await
                    {
                        Ok(Some(note_id)) => {
                            return FollowupUpdate::Delivered { remote_id: note_id };
                        }
                        Ok(None) => {}
                        Err(e) => return self.followup_error(f, e),
                    }
                }
                let text = note::complement(&f.call, &f.user_name, report, &f.id);
                let permit = match client.permit() {
                    Ok(permit) => permit,
                    Err(e) => return self.followup_error(f, e),
                };
                let sending = FollowupUpdate::Sending {
                    report_rev: f.report_rev,
                };
                if let Err(e) = self.store.update_followup(&f.id, sending).await {
                    client.refund(permit);
                    return self.followup_store_failed(f, e);
                }
                match client
                    .create_note(permit, &deal, author.as_ref(), &text)
                    .await
                {
                    Ok(note_id) => FollowupUpdate::Delivered { remote_id: note_id },
                    Err(e) => self.followup_error(f, e),
                }
            }
            FollowupKind::Task => {
                // RD Station documents no way to list a deal's tasks: a task
                // whose answer was lost is not sent again (it may exist).
                if f.maybe_sent {
                    return failed(
                        "a resposta do RD Station não chegou; confira no negócio se a tarefa de retorno foi criada",
                    );
                }
                let Some(due) = report.follow_up_at else {
                    return failed("o retorno foi desmarcado");
                };
                let (subject, notes) = note::task_text(&f.call, report);
                let permit = match client.permit() {
                    Ok(permit) => permit,
                    Err(e) => return self.followup_error(f, e),
                };
                let sending = FollowupUpdate::Sending {
                    report_rev: f.report_rev,
                };
                if let Err(e) = self.store.update_followup(&f.id, sending).await {
                    client.refund(permit);
                    return self.followup_store_failed(f, e);
                }
                let task = NewTask {
                    subject: &subject,
                    notes: &notes,
                    due,
                };
                match client
                    .create_call_task(permit, &deal, author.as_ref(), &task)
                    .await
                {
                    Ok(id) => FollowupUpdate::Delivered { remote_id: id },
                    Err(e) => self.followup_error(f, e),
                }
            }
        }
    }

    fn followup_store_failed(&self, f: &Followup, error: StoreError) -> FollowupUpdate {
        if matches!(error, StoreError::Conflict(_)) {
            // The report changed (or the task was removed) since it was
            // read: read it again now.
            return FollowupUpdate::Defer {
                at: OffsetDateTime::now_utc(),
            };
        }
        self.followup_error(
            f,
            CrmError::temporary(format!("banco de dados indisponível: {error}")),
        )
    }

    fn followup_error(&self, f: &Followup, error: CrmError) -> FollowupUpdate {
        match error {
            CrmError::Permanent { message, .. } => FollowupUpdate::Failed { error: message },
            CrmError::Temporary {
                message,
                retry_after,
                ..
            } => FollowupUpdate::Retry {
                at: later(retry_delay(
                    self.settings.retry_base,
                    self.settings.retry_max,
                    f.failures,
                    retry_after,
                ))
                .max(later(self.settings.request_timeout * 2)),
                error: message,
            },
            CrmError::Wait { wait } => FollowupUpdate::Defer { at: later(wait) },
        }
    }

    /// Runs in the call's span.
    async fn deliver(&self, delivery: Delivery) {
        let call_id = delivery.call.id.clone();
        let update = self.attempt(&delivery).await;
        match &update {
            DeliveryUpdate::Delivered { note_id } => {
                self.metrics.crm_delivered();
                tracing::info!(%note_id, "note delivered to the CRM");
            }
            DeliveryUpdate::Retry { at, error } => {
                self.metrics.crm_error(false);
                tracing::warn!(retry_at = %at, %error, "CRM note delayed");
            }
            DeliveryUpdate::Failed { error } => {
                self.metrics.crm_error(true);
                tracing::error!(%error, "CRM note refused");
            }
            DeliveryUpdate::NoDeal { .. } => tracing::info!("no deal for this call"),
            DeliveryUpdate::Defer { at } => {
                tracing::debug!(retry_at = %at, "CRM note waits for the rate limit");
            }
            _ => {}
        }
        self.record(&call_id, update).await;
    }

    /// Writes a step, retrying while the database is unavailable.
    async fn record(&self, call_id: &str, update: DeliveryUpdate) {
        if let Err(e) = self.store.update_delivery(call_id, update).await {
            tracing::error!(error = %e, "cannot record the CRM delivery");
            tokio::time::sleep(STORE_RETRY).await;
        }
    }

    /// One attempt; returns how it ended. Earlier steps (deal chosen, note
    /// rendered, "maybe sent") are written as they happen.
    async fn attempt(&self, delivery: &Delivery) -> DeliveryUpdate {
        let call = &delivery.call;
        let client = match self.connections.client(&call.tenant).await {
            Ok(Some(client)) => client,
            Ok(None) => return DeliveryUpdate::NotConfigured,
            Err(e) => return self.after_error(delivery, e),
        };
        let author = delivery
            .crm_user_id
            .as_deref()
            .and_then(|id| CrmUserId::parse(id).ok());
        if client.needs_author() && author.is_none() {
            return DeliveryUpdate::Failed {
                error: format!(
                    "{} não tem usuário do RD Station CRM associado \
                     (disca-backend user set-crm-user)",
                    delivery.user_name
                ),
            };
        }
        let deal = match delivery.deal_id.as_deref().map(DealId::parse) {
            Some(Ok(deal)) => deal,
            Some(Err(_)) | None => match client.deals_for_phone(&call.to).await {
                Ok(candidates) => {
                    match lookup::choose(&candidates, author.as_ref().map(CrmUserId::as_str)) {
                        Some(deal) => deal,
                        None => {
                            return DeliveryUpdate::NoDeal {
                                error: format!(
                                    "nenhum negócio aberto no RD Station para {}",
                                    crate::domain::phone::national_format(&call.to)
                                ),
                            };
                        }
                    }
                }
                Err(e) => return self.after_error(delivery, e),
            },
        };
        let text = delivery.note_text.clone().unwrap_or_else(|| {
            note::render(
                call,
                &NoteContext {
                    caller: &delivery.user_name,
                    public_url: self.settings.public_url.as_deref(),
                    report: delivery.report.as_ref(),
                },
            )
        });
        if delivery.note_text.is_none() || delivery.deal_id.as_deref() != Some(deal.as_str()) {
            let prepared = DeliveryUpdate::Prepared {
                deal_id: deal.as_str().to_owned(),
                note_text: text.clone(),
                report_rev: delivery.report_rev,
            };
            if let Err(e) = self.store.update_delivery(&call.id, prepared).await {
                return self.store_failed(delivery, e);
            }
        }
        if delivery.maybe_sent {
            match client
                .find_note(&deal, search_from(call.created_at), &note::marker(&call.id))
                .await
            {
                Ok(Some(note_id)) => return DeliveryUpdate::Delivered { note_id },
                Ok(None) => {}
                Err(e) => return self.after_error(delivery, e),
            }
        }
        // The slot first: once "maybe sent" is written, the request goes out.
        let permit = match client.permit() {
            Ok(permit) => permit,
            Err(e) => return self.after_error(delivery, e),
        };
        let sending = DeliveryUpdate::Sending {
            report_rev: delivery.report_rev,
        };
        if let Err(e) = self.store.update_delivery(&call.id, sending).await {
            client.refund(permit);
            return self.store_failed(delivery, e);
        }
        match client
            .create_note(permit, &deal, author.as_ref(), &text)
            .await
        {
            Ok(note_id) => DeliveryUpdate::Delivered { note_id },
            Err(e) => match self.after_error(delivery, e) {
                // RD Station may still store a note it did not answer for:
                // the search that comes first next time waits for it to settle.
                DeliveryUpdate::Retry { at, error } => DeliveryUpdate::Retry {
                    at: at.max(later(self.settings.request_timeout * 2)),
                    error,
                },
                other => other,
            },
        }
    }

    fn after_error(&self, delivery: &Delivery, error: CrmError) -> DeliveryUpdate {
        match error {
            CrmError::Permanent { message, .. } => DeliveryUpdate::Failed { error: message },
            CrmError::Temporary {
                message,
                retry_after,
                ..
            } => DeliveryUpdate::Retry {
                at: later(retry_delay(
                    self.settings.retry_base,
                    self.settings.retry_max,
                    delivery.failures,
                    retry_after,
                )),
                error: message,
            },
            CrmError::Wait { wait } => DeliveryUpdate::Defer { at: later(wait) },
        }
    }

    fn store_failed(&self, delivery: &Delivery, error: StoreError) -> DeliveryUpdate {
        if matches!(error, StoreError::Conflict(_)) {
            // The salesperson's report came in since the note was read:
            // read it again now, with the report.
            return DeliveryUpdate::Defer {
                at: OffsetDateTime::now_utc(),
            };
        }
        self.after_error(
            delivery,
            CrmError::temporary(format!("banco de dados indisponível: {error}")),
        )
    }
}

/// The pause after `failures` earlier failures: `base · 2^failures`, capped
/// at `max`, with jitter (somewhere in the upper half of that), and never
/// sooner than `Retry-After` (itself capped at an hour). The due time is
/// stored, so this is the n-th delay of a fresh backoff, not a retry loop;
/// backon's jitter adds up to the step again, hence the halves.
fn retry_delay(
    base: Duration,
    max: Duration,
    failures: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let delay = ExponentialBuilder::new()
        .with_min_delay(base.min(max) / 2)
        .with_max_delay(max / 2)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(failures.min(20) as usize)
        .unwrap_or(max);
    delay.max(retry_after.unwrap_or_default().min(MAX_RETRY_AFTER))
}

/// Opens `path` and locks it exclusively without waiting; the lock lasts
/// as long as the file stays open (and ends with the process, however it ends).
fn exclusive_lock(path: &Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)?;
    Ok(file)
}

/// Now plus `wait`, saturating far in the future instead of overflowing.
fn later(wait: Duration) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.checked_add(time::Duration::try_from(wait).unwrap_or(time::Duration::DAY))
        .unwrap_or(now + time::Duration::DAY)
}

/// The day before the call, in São Paulo: v1 lists notes by whole days.
fn search_from(created_at: OffsetDateTime) -> jiff::civil::Date {
    let day = sao_paulo::zoned(created_at)
        .map(|local| local.date())
        .unwrap_or_default();
    day.yesterday().unwrap_or(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Within a microsecond of `low..=high` (backon computes in f32 seconds).
    fn within(delay: Duration, low: Duration, high: Duration) -> bool {
        let slack = Duration::from_micros(1);
        delay + slack >= low && delay <= high + slack
    }

    #[test]
    fn retries_double_up_to_the_ceiling_with_jitter() {
        let (base, max) = (100 * MS, 1000 * MS);
        let ceilings = [100, 200, 400, 800, 1000, 1000];
        for (failures, ceiling) in ceilings.into_iter().enumerate() {
            let ceiling = ceiling * MS;
            let delay = retry_delay(base, max, failures as u32, None);
            assert!(within(delay, ceiling / 2, ceiling), "{failures}: {delay:?}");
        }
        let delay = retry_delay(base, max, u32::MAX, None);
        assert!(within(delay, max / 2, max), "{delay:?}");
    }

    #[test]
    fn never_sooner_than_retry_after_capped_at_an_hour() {
        let (base, max) = (100 * MS, 1000 * MS);
        let wait = Duration::from_secs(90);
        assert_eq!(retry_delay(base, max, 0, Some(wait)), wait);
        let day = Duration::from_secs(24 * 60 * 60);
        assert_eq!(retry_delay(base, max, 0, Some(day)), MAX_RETRY_AFTER);
        let delay = retry_delay(base, max, 3, Some(MS));
        assert!(within(delay, 400 * MS, 800 * MS), "{delay:?}");
    }
}
