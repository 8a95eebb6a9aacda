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
//! backend process delivers a database's outbox.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rand::Rng;
use time::OffsetDateTime;
use tokio::task::JoinSet;

use super::connections::Connections;
use super::error::CrmError;
use super::lookup;
use super::note::{self, NoteContext};
use crate::configuration::CrmSettings;
use crate::domain::{CrmUserId, DealId};
use crate::storage::{Delivery, DeliveryUpdate, Store};

/// Pause after the database itself failed, before the note is tried again.
const STORE_RETRY: Duration = Duration::from_secs(1);

pub struct Worker {
    store: Store,
    connections: Connections,
    settings: CrmSettings,
}

impl Worker {
    pub fn new(store: Store, connections: Connections, settings: CrmSettings) -> Worker {
        Worker {
            store,
            connections,
            settings,
        }
    }

    /// Delivers for ever: up to `concurrency` notes at a time, woken by new
    /// notes, by the next due retry, and every `poll_interval` (notes queued
    /// by another process, such as the command line).
    pub async fn run(self) {
        let worker = Arc::new(self);
        let mut running: JoinSet<String> = JoinSet::new();
        let mut busy: HashSet<String> = HashSet::new();
        loop {
            let room = worker.settings.concurrency.saturating_sub(running.len());
            let mut wait = worker.settings.poll_interval;
            if room > 0 {
                let busy_ids: Vec<String> = busy.iter().cloned().collect();
                match worker
                    .store
                    .due_deliveries(OffsetDateTime::now_utc(), room as u32, &busy_ids)
                    .await
                {
                    Ok(due) => {
                        for delivery in due {
                            busy.insert(delivery.call.id.clone());
                            let worker = worker.clone();
                            running.spawn(async move {
                                let id = delivery.call.id.clone();
                                worker.deliver(delivery).await;
                                id
                            });
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the CRM outbox");
                        wait = STORE_RETRY;
                    }
                }
                let busy_ids: Vec<String> = busy.iter().cloned().collect();
                if let Ok(Some(at)) = worker.store.next_delivery_due(&busy_ids).await {
                    let until = at - OffsetDateTime::now_utc();
                    let until = Duration::try_from(until).unwrap_or(Duration::ZERO);
                    wait = wait.min(until.max(Duration::from_millis(10)));
                }
            }
            tokio::select! {
                _ = worker.store.outbox_changed() => {}
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok(id) = done {
                        busy.remove(&id);
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn deliver(&self, delivery: Delivery) {
        let call_id = delivery.call.id.clone();
        let update = self.attempt(&delivery).await;
        match &update {
            DeliveryUpdate::Delivered { note_id } => {
                tracing::info!(%call_id, %note_id, "note delivered to the CRM");
            }
            DeliveryUpdate::Retry { at, error } => {
                tracing::warn!(%call_id, retry_at = %at, %error, "CRM note delayed");
            }
            DeliveryUpdate::Failed { error } => {
                tracing::error!(%call_id, %error, "CRM note refused");
            }
            DeliveryUpdate::NoDeal { .. } => tracing::info!(%call_id, "no deal for this call"),
            _ => {}
        }
        self.record(&call_id, update).await;
    }

    /// Writes a step, retrying while the database is unavailable.
    async fn record(&self, call_id: &str, update: DeliveryUpdate) {
        if let Err(e) = self.store.update_delivery(call_id, update).await {
            tracing::error!(%call_id, error = %e, "cannot record the CRM delivery");
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
                                    note::national_format(&call.to)
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
                },
            )
        });
        if delivery.note_text.is_none() || delivery.deal_id.as_deref() != Some(deal.as_str()) {
            let prepared = DeliveryUpdate::Prepared {
                deal_id: deal.as_str().to_owned(),
                note_text: text.clone(),
            };
            if let Err(e) = self.store.update_delivery(&call.id, prepared).await {
                return self.store_failed(delivery, e);
            }
        }
        if delivery.maybe_sent {
            let marker = note::marker(&call.id);
            match client
                .find_note(
                    &deal,
                    author.as_ref(),
                    search_from(call.created_at),
                    &marker,
                )
                .await
            {
                Ok(Some(note_id)) => return DeliveryUpdate::Delivered { note_id },
                Ok(None) => {}
                Err(e) => return self.after_error(delivery, e),
            }
        }
        if let Err(e) = self
            .store
            .update_delivery(&call.id, DeliveryUpdate::Sending)
            .await
        {
            return self.store_failed(delivery, e);
        }
        match client.create_note(&deal, author.as_ref(), &text).await {
            Ok(note_id) => DeliveryUpdate::Delivered { note_id },
            Err(e) => self.after_error(delivery, e),
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
                at: OffsetDateTime::now_utc() + self.backoff(delivery.failures, retry_after),
                error: message,
            },
        }
    }

    fn store_failed(
        &self,
        delivery: &Delivery,
        error: crate::storage::StoreError,
    ) -> DeliveryUpdate {
        self.after_error(
            delivery,
            CrmError::temporary(format!("banco de dados indisponível: {error}")),
        )
    }

    /// `base · 2^failures`, capped, with jitter (half fixed, half random),
    /// and never sooner than `Retry-After`.
    fn backoff(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .settings
            .retry_base
            .saturating_mul(1u32 << failures.min(20))
            .min(self.settings.retry_max);
        let half = ceiling / 2;
        let jitter = rand::rng().random_range(0..=half.as_millis() as u64);
        (half + Duration::from_millis(jitter)).max(retry_after.unwrap_or_default())
    }
}

/// The day before the call, in São Paulo: v1 lists notes by whole days.
fn search_from(created_at: OffsetDateTime) -> jiff::civil::Date {
    let millis = i64::try_from(created_at.unix_timestamp_nanos() / 1_000_000).unwrap_or_default();
    let zone = TimeZone::get("America/Sao_Paulo").unwrap_or(TimeZone::UTC);
    let day = Timestamp::from_millisecond(millis)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(zone)
        .date();
    day.yesterday().unwrap_or(day)
}
