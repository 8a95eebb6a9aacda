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
//! [`BALANCE_EVERY`] a backend lets go of its tenants idle for [`LINGER`]
//! with nothing under way, and takes tenants with work up to its share
//! (those with work, divided by the backends, rounded up), or past it for a
//! tenant nobody has taken for [`STARVED_AFTER`]. A tenant taken is
//! delivered for only after the fence (`SESSION_LOCK_FENCE`), by when a
//! former holder whose session ended has stopped. When the connection
//! fails, every lock goes with it and the backend stops delivering. The
//! holder of a tenant's lock is also the one that keeps its idle v2
//! authorization alive, so two processes never refresh one token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::storage::{SESSION_LOCK_FENCE, SessionLocks, Store, StoreError};

/// Held shared by every backend that delivers: the key an earlier version's
/// single deliverer held alone, so that during a rolling upgrade an old
/// backend never delivers beside new ones (it cannot take it exclusively
/// while they hold it, and they wait until it lets it go).
pub const PRESENCE_LOCK: i64 = super::worker::DELIVERER_LOCK;
/// How often a backend looks at how the outbox is shared out.
pub const BALANCE_EVERY: Duration = Duration::from_secs(1);
/// How long a tenant stays with its backend once it has no work: longer
/// than RD Station's rate window, so a burst's budget is not spent again
/// by the next holder, and a quiet tenant's next note goes at once.
pub const LINGER: Duration = Duration::from_secs(120);
/// How long a tenant may wait with work nobody holds before a backend takes
/// it past its share (the count of backends may include a dead session).
pub const STARVED_AFTER: Duration = Duration::from_secs(10);
/// How long a count of the backends is used (`pg_locks` is not free to
/// read); counted only when a tenant may be taken.
const COUNT_EVERY: Duration = Duration::from_secs(3);

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
    /// Held tenants without work, and since when.
    idle_since: HashMap<String, tokio::time::Instant>,
    /// Tenants with work not held here, and since when they were seen so.
    waiting_since: HashMap<String, tokio::time::Instant>,
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

    /// Stops holding the tenants in `idle` that have nothing under way and
    /// have been idle for [`LINGER`]; returns those let go. `wanted` (the
    /// tenants with work) resets their idleness.
    fn let_go(&mut self, wanted: &[String]) -> Vec<String> {
        let now = tokio::time::Instant::now();
        self.idle_since.retain(|t, _| !wanted.contains(t));
        let mut free = Vec::new();
        for tenant in self.held.keys() {
            if wanted.contains(tenant) || self.running.contains_key(tenant) {
                continue;
            }
            let since = *self.idle_since.entry(tenant.clone()).or_insert(now);
            if now.duration_since(since) >= LINGER {
                free.push(tenant.clone());
            }
        }
        for tenant in &free {
            self.held.remove(tenant);
            self.idle_since.remove(tenant);
        }
        free
    }
}

/// Work for a tenant under way; ends ([`Partition::finish`]) when dropped,
/// even if the work panicked.
pub struct Working {
    partition: SharedPartition,
    tenant: String,
}

impl Working {
    /// Starts work for `tenant` if this backend may do it now.
    pub fn start(partition: &SharedPartition, tenant: &str) -> Option<Working> {
        lock(partition).start(tenant).then(|| Working {
            partition: partition.clone(),
            tenant: tenant.to_owned(),
        })
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        lock(&self.partition).finish(&self.tenant);
    }
}

/// Shares the outbox out for as long as `locks` hold. Returns when a lock
/// could not be let go: the caller then drops `locks` (its connection, and
/// every lock with it) rather than keep a lock it believes let go.
pub async fn balance(store: &Store, locks: &SessionLocks, partition: &SharedPartition) {
    let mut backends: Option<(tokio::time::Instant, usize)> = None;
    loop {
        match balance_once(store, locks, partition, &mut backends).await {
            Ok(()) => {}
            Err(Balance::Release(e)) => {
                tracing::error!(error = %e, "a CRM tenant lock could not be let go; starting over");
                return;
            }
            Err(Balance::Store(e)) => {
                tracing::warn!(error = %e, "cannot share the CRM outbox out among the backends");
            }
        }
        tokio::time::sleep(BALANCE_EVERY).await;
    }
}

enum Balance {
    Store(StoreError),
    Release(StoreError),
}

impl From<StoreError> for Balance {
    fn from(e: StoreError) -> Balance {
        Balance::Store(e)
    }
}

async fn balance_once(
    store: &Store,
    locks: &SessionLocks,
    partition: &SharedPartition,
    backends: &mut Option<(tokio::time::Instant, usize)>,
) -> Result<(), Balance> {
    let now = tokio::time::Instant::now();
    let wanted = store.tenants_with_crm_work().await?;
    // The backends are counted only when a tenant may be taken here.
    let takes = {
        let p = lock(partition);
        wanted.iter().any(|t| !p.held.contains_key(t))
    };
    let count = match *backends {
        _ if !takes => 1,
        Some((at, n)) if now.duration_since(at) < COUNT_EVERY => n,
        _ => {
            let n = usize::try_from(store.shared_holders(PRESENCE_LOCK).await?)
                .unwrap_or(1)
                .max(1);
            *backends = Some((now, n));
            n
        }
    };
    let share = wanted.len().div_ceil(count);
    // Tenants idle for a while, with nothing under way (a note is pending
    // until its delivery is recorded, so a tenant with a delivery under
    // way has work): let go.
    let free = lock(partition).let_go(&wanted);
    for tenant in free {
        locks
            .release(tenant_lock(&tenant))
            .await
            .map_err(Balance::Release)?;
        tracing::debug!(tenant, "no CRM work for a while: tenant let go");
    }
    let mut room = share.saturating_sub(lock(partition).held.len());
    {
        let mut p = lock(partition);
        let held: Vec<String> = p.held.keys().cloned().collect();
        p.waiting_since
            .retain(|t, _| wanted.contains(t) && !held.contains(t));
        for tenant in &wanted {
            if !held.contains(tenant) {
                p.waiting_since.entry(tenant.clone()).or_insert(now);
            }
        }
    }
    for tenant in wanted {
        let (held, starved) = {
            let p = lock(partition);
            let starved = p
                .waiting_since
                .get(&tenant)
                .is_some_and(|since| now.duration_since(*since) >= STARVED_AFTER);
            (p.held.contains_key(&tenant), starved)
        };
        // Past the share only for a tenant nobody has taken for a while.
        if held || (room == 0 && !starved) {
            continue;
        }
        if locks.try_take(tenant_lock(&tenant)).await? {
            tracing::info!(tenant, "this backend now delivers the tenant's CRM notes");
            let mut p = lock(partition);
            p.waiting_since.remove(&tenant);
            p.held.insert(tenant, tokio::time::Instant::now());
            room = room.saturating_sub(1);
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
        assert!(p.let_go(&[]).is_empty(), "a delivery is under way");
        p.finish("acme");
        assert!(p.let_go(&[]).is_empty(), "idle, but only just");
        tokio::time::advance(LINGER / 2).await;
        assert!(
            p.let_go(&["acme".to_owned()]).is_empty(),
            "work again: idle from scratch"
        );
        tokio::time::advance(LINGER / 2).await;
        assert!(p.let_go(&[]).is_empty());
        tokio::time::advance(LINGER).await;
        assert_eq!(p.let_go(&[]), ["acme"]);
        assert!(!p.start("acme"), "let go");
    }

    #[test]
    fn tenant_locks_differ_and_stay_the_same() {
        assert_eq!(tenant_lock("acme"), tenant_lock("acme"));
        assert_ne!(tenant_lock("acme"), tenant_lock("globex"));
        assert_ne!(tenant_lock("acme"), PRESENCE_LOCK);
        assert_eq!(PRESENCE_LOCK, crate::crm::worker::DELIVERER_LOCK);
    }
}
