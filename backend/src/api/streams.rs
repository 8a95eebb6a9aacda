//! Caps on open event streams (`GET /v1/events`): per user and per tenant,
//! so one token (or one company) cannot hold the connections and memory
//! every other salesperson needs. A stream holds a [`StreamSlot`] for as
//! long as it is open; a request over a cap is answered 429
//! `too_many_streams` before anything is read from the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::error::ApiError;
use crate::telemetry::Metrics;

/// The open streams, counted per user and per tenant.
pub struct StreamSlots {
    per_user: usize,
    per_tenant: usize,
    open: Mutex<Open>,
    /// Turned to `true` at shutdown: every stream ends (clients resume
    /// with `Last-Event-ID` from the next process).
    closing: watch::Sender<bool>,
    metrics: Metrics,
}

#[derive(Default)]
struct Open {
    users: HashMap<String, usize>,
    tenants: HashMap<String, usize>,
}

/// One open stream's place; given back when dropped.
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    user: String,
    tenant: String,
}

impl StreamSlots {
    pub fn new(per_user: usize, per_tenant: usize, metrics: Metrics) -> StreamSlots {
        StreamSlots {
            per_user,
            per_tenant,
            open: Mutex::default(),
            closing: watch::Sender::new(false),
            metrics,
        }
    }

    /// A slot for one more stream of `user` in `tenant`, or the 429 saying
    /// which cap was reached.
    pub fn acquire(self: &Arc<Self>, user: &str, tenant: &str) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().expect("stream counts");
        let of_user = open.users.get(user).copied().unwrap_or(0);
        if of_user >= self.per_user {
            return Err(ApiError::too_many_user_streams(self.per_user));
        }
        let of_tenant = open.tenants.get(tenant).copied().unwrap_or(0);
        if of_tenant >= self.per_tenant {
            tracing::warn!(
                tenant,
                streams = of_tenant,
                "tenant's event stream cap reached"
            );
            return Err(ApiError::too_many_tenant_streams(self.per_tenant));
        }
        *open.users.entry(user.to_owned()).or_default() += 1;
        *open.tenants.entry(tenant.to_owned()).or_default() += 1;
        self.metrics.sse_stream_opened();
        Ok(StreamSlot {
            slots: self.clone(),
            user: user.to_owned(),
            tenant: tenant.to_owned(),
        })
    }

    /// Resolves to `true` once the server is shutting down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every open stream (and every stream opened from now on).
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().expect("stream counts");
        let Open { users, tenants } = &mut *open;
        for (map, key) in [(users, &self.user), (tenants, &self.tenant)] {
            if let Some(n) = map.get_mut(key.as_str()) {
                *n -= 1;
                if *n == 0 {
                    map.remove(key.as_str());
                }
            }
        }
        self.slots.metrics.sse_stream_closed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_user_and_per_tenant_and_slots_come_back() {
        let slots = Arc::new(StreamSlots::new(2, 3, Metrics::default()));
        let a1 = slots.acquire("ana", "acme").unwrap();
        let _a2 = slots.acquire("ana", "acme").unwrap();
        assert!(slots.acquire("ana", "acme").is_err(), "user cap");
        let _b1 = slots.acquire("bia", "acme").unwrap();
        assert!(slots.acquire("caio", "acme").is_err(), "tenant cap");
        assert!(
            slots.acquire("gil", "globex").is_ok(),
            "other tenants unaffected"
        );
        drop(a1);
        assert!(
            slots.acquire("caio", "acme").is_ok(),
            "a closed stream frees its slot"
        );
        assert!(!slots.open.lock().unwrap().users.contains_key("gil"));
    }
}
