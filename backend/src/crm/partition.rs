//! On PostgreSQL, the CRM outbox is shared out among the backends by
//! tenant: a tenant's notes and follow-ups are delivered by the backend
//! holding its session advisory lock ([`tenant_lock`]), so every backend
//! drains part of the outbox while each tenant still has one deliverer —
//! what keeps a note written once (its "maybe sent" mark is read by the
//! only process that may send it) and RD Station's limit per token (the
//! limiter is in that process).
//!
//! Each backend holds its locks on one connection of its own
//! (`storage::SessionLocks`), with [`PRESENCE_LOCK`] taken shared, so the
//! number of backends is the number of that lock's holders. Every
//! [`BALANCE_EVERY`] a backend lets go of its tenants with no work left
//! and nothing under way, and takes tenants with work up to its share
//! (those with work, divided by the backends, rounded up). A tenant taken
//! is delivered for only after the fence (`SESSION_LOCK_FENCE`), by when a
//! former holder whose session ended has stopped. When the connection
//! fails, every lock goes with it and the backend stops delivering.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::storage::{SESSION_LOCK_FENCE, SessionLocks, Store, StoreError};

/// Held shared by every backend that delivers ("crmnodes" in ASCII).
pub const PRESENCE_LOCK: i64 = 0x6372_6d6e_6f64_6573;
/// How often a backend looks at how the outbox is shared out.
pub const BALANCE_EVERY: Duration = Duration::from_secs(1);

/// The lock of the backend that delivers `tenant`'s notes: the first eight
/// bytes of a SHA-256 of its slug, the same on every backend.
pub fn tenant_lock(tenant: &str) -> i64 {
    let digest = Sha256::digest(format!("disca crm deliverer {tenant}").as_bytes());
    let mut key = [0; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

/// The tenants this backend delivers for, and its deliveries under way.
#[derive(Default)]
pub struct Partition {
    /// Each tenant held, and since when.
    held: HashMap<String, tokio::time::Instant>,
    /// Deliveries and follow-ups under way, per tenant.
    running: HashMap<String, usize>,
}

/// A [`Partition`] shared by the delivery loops and [`balance`].
pub type SharedPartition = Arc<Mutex<Partition>>;

impl Partition {
    /// The tenants held for at least the fence: those delivered for now.
    pub fn ready(&self) -> Vec<String> {
        let now = tokio::time::Instant::now();
        let mut ready: Vec<String> = self
            .held
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= SESSION_LOCK_FENCE)
            .map(|(tenant, _)| tenant.clone())
            .collect();
        ready.sort();
        ready
    }

    /// Starts work for `tenant` if it is still held and ready; `false`
    /// (nothing to do) otherwise. Each start is ended by [`Partition::finish`].
    pub fn start(&mut self, tenant: &str) -> bool {
        let ready = self.held.get(tenant).is_some_and(|since| {
            tokio::time::Instant::now().duration_since(*since) >= SESSION_LOCK_FENCE
        });
        if ready {
            *self.running.entry(tenant.to_owned()).or_default() += 1;
        }
        ready
    }

    pub fn finish(&mut self, tenant: &str) {
        if let Some(n) = self.running.get_mut(tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(tenant);
            }
        }
    }

    /// Stops holding the tenants in `idle` that have nothing under way;
    /// returns those let go.
    fn let_go(&mut self, idle: &[String]) -> Vec<String> {
        let free: Vec<String> = idle
            .iter()
            .filter(|t| self.held.contains_key(*t) && !self.running.contains_key(*t))
            .cloned()
            .collect();
        for tenant in &free {
            self.held.remove(tenant);
        }
        free
    }
}

/// Shares the outbox out for as long as `locks` hold (never returns).
pub async fn balance(store: &Store, locks: &SessionLocks, partition: &SharedPartition) {
    loop {
        if let Err(e) = balance_once(store, locks, partition).await {
            tracing::warn!(error = %e, "cannot share the CRM outbox out among the backends");
        }
        tokio::time::sleep(BALANCE_EVERY).await;
    }
}

async fn balance_once(
    store: &Store,
    locks: &SessionLocks,
    partition: &SharedPartition,
) -> Result<(), StoreError> {
    let wanted = store.tenants_with_crm_work().await?;
    let backends = usize::try_from(store.shared_holders(PRESENCE_LOCK).await?)
        .unwrap_or(1)
        .max(1);
    let share = wanted.len().div_ceil(backends);
    // Tenants with no work left: let go, unless something is under way
    // (a note is pending until its delivery is recorded, so a tenant with
    // a delivery under way has work).
    let idle: Vec<String> = {
        let p = lock(partition);
        p.held
            .keys()
            .filter(|t| !wanted.contains(t))
            .cloned()
            .collect()
    };
    let free = lock(partition).let_go(&idle);
    for tenant in free {
        locks.release(tenant_lock(&tenant)).await?;
        tracing::debug!(tenant, "no CRM work left: tenant let go");
    }
    let mut room = share.saturating_sub(lock(partition).held.len());
    for tenant in wanted {
        if room == 0 {
            break;
        }
        if lock(partition).held.contains_key(&tenant) {
            continue;
        }
        if locks.try_take(tenant_lock(&tenant)).await? {
            tracing::info!(tenant, "this backend now delivers the tenant's CRM notes");
            lock(partition)
                .held
                .insert(tenant, tokio::time::Instant::now());
            room -= 1;
        }
    }
    Ok(())
}

/// The partition, even if a thread panicked holding it (its maps stay
/// consistent: every change is one insert or remove).
pub fn lock(partition: &SharedPartition) -> std::sync::MutexGuard<'_, Partition> {
    partition
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_tenant_is_worked_only_after_the_fence_and_let_go_only_when_idle() {
        let mut p = Partition::default();
        p.held
            .insert("acme".to_owned(), tokio::time::Instant::now());
        assert!(p.ready().is_empty());
        assert!(!p.start("acme"), "inside the fence");
        tokio::time::advance(SESSION_LOCK_FENCE).await;
        assert_eq!(p.ready(), ["acme"]);
        assert!(p.start("acme"));
        assert!(!p.start("globex"), "not held");
        let idle = ["acme".to_owned()];
        assert!(p.let_go(&idle).is_empty(), "a delivery is under way");
        p.finish("acme");
        assert_eq!(p.let_go(&idle), ["acme"]);
        assert!(!p.start("acme"), "let go");
    }

    #[test]
    fn tenant_locks_differ_and_stay_the_same() {
        assert_eq!(tenant_lock("acme"), tenant_lock("acme"));
        assert_ne!(tenant_lock("acme"), tenant_lock("globex"));
        assert_ne!(tenant_lock("acme"), PRESENCE_LOCK);
    }
}
