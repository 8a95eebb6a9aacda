//! Fault injection: make the stand-in fail the way a remote API fails, for
//! the next N requests or until cleared, on every API or on one.
//!
//! Set in-process through [`Faults`] (from [`crate::Running::faults`]) or
//! over HTTP with `POST /_standin/fault` and a JSON [`FaultSpec`]:
//! `{"mode": "status_429", "retry_after_secs": 30, "count": 2, "scope": "v2"}`.
//! The `/_standin` routes themselves are never faulted.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

/// The APIs the stand-in serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Api {
    /// `/api/v1`, instance tokens.
    #[serde(rename = "v1")]
    V1,
    /// `/crm/v2`, OAuth2 bearer tokens.
    #[serde(rename = "v2")]
    V2,
    /// `/oauth2/token` and `/oauth2/authorize`.
    #[serde(rename = "oauth")]
    OAuth,
}

/// Which requests a fault applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    #[default]
    #[serde(rename = "all")]
    All,
    #[serde(rename = "v1")]
    V1,
    #[serde(rename = "v2")]
    V2,
    #[serde(rename = "oauth")]
    OAuth,
}

impl Scope {
    pub fn covers(self, api: Api) -> bool {
        matches!(
            (self, api),
            (Scope::All, _)
                | (Scope::V1, Api::V1)
                | (Scope::V2, Api::V2)
                | (Scope::OAuth, Api::OAuth)
        )
    }
}

/// What goes wrong. In JSON, `mode` names the variant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode")]
pub enum Fault {
    /// Everything answers normally.
    #[default]
    #[serde(rename = "normal")]
    Normal,
    /// The connection is reset without an answer (TCP RST), as when the
    /// service is down behind its load balancer; kept-alive connections too.
    #[serde(rename = "down")]
    Down,
    /// Every answer is delayed by `ms` milliseconds.
    #[serde(rename = "slow")]
    Slow { ms: u64 },
    /// 429 in the API's shape; v2 and OAuth carry `Retry-After: retry_after_secs`.
    #[serde(rename = "status_429")]
    Status429 { retry_after_secs: u64 },
    /// 500 with an HTML page, as RD Station sends.
    #[serde(rename = "status_500_html")]
    Status500Html,
    /// A note creation (v1 `POST /activities`, v2 `POST /deals/{id}/notes`)
    /// is stored, then never answered: the client times out although the
    /// note exists. Only note creations that store a note count.
    #[serde(rename = "timeout_after_store")]
    TimeoutAfterStore,
    /// A redirect with this status (301, 302, 307, 308...) and no body, as
    /// a moved API or a proxy in front of it answers: `Location` is the
    /// same path and query (v1's token included) on another host.
    #[serde(rename = "redirect")]
    Redirect { status: u16 },
}

/// A fault to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultSpec {
    #[serde(flatten)]
    pub fault: Fault,
    /// For the next `count` requests it applies to; absent: until cleared.
    #[serde(default)]
    pub count: Option<u32>,
    #[serde(default)]
    pub scope: Scope,
}

/// The fault in force: `remaining` requests (or until cleared when `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FaultState {
    #[serde(flatten)]
    pub fault: Fault,
    pub remaining: Option<u32>,
    pub scope: Scope,
}

/// The shared fault switch; clones control the same server.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

impl Faults {
    /// Sets `fault` on every API until [`Faults::clear`].
    pub fn set(&self, fault: Fault) {
        self.apply(FaultSpec {
            fault,
            count: None,
            scope: Scope::All,
        });
    }

    /// Sets `fault` on every API for the next `requests` requests it
    /// applies to, then back to normal (0 requests: the same as clearing).
    pub fn set_for_next(&self, fault: Fault, requests: u32) {
        self.apply(FaultSpec {
            fault,
            count: Some(requests),
            scope: Scope::All,
        });
    }

    /// Sets a fault with its count and scope; returns the state in force.
    pub fn apply(&self, spec: FaultSpec) -> FaultState {
        let state = if spec.fault == Fault::Normal || spec.count == Some(0) {
            FaultState::default()
        } else {
            FaultState {
                fault: spec.fault,
                remaining: spec.count,
                scope: spec.scope,
            }
        };
        *self.lock() = state;
        tracing::info!(fault = ?state.fault, remaining = ?state.remaining, scope = ?state.scope, "fault set");
        state
    }

    /// Back to normal.
    pub fn clear(&self) {
        self.apply(FaultSpec {
            fault: Fault::Normal,
            count: None,
            scope: Scope::All,
        });
    }

    pub fn current(&self) -> FaultState {
        *self.lock()
    }

    /// The fault for a request arriving on `api`, counted as used; `None`
    /// when it answers normally (or waits until a note is stored).
    pub(crate) fn take(&self, api: Api) -> Option<Fault> {
        let mut state = self.lock();
        match state.fault {
            Fault::Normal | Fault::TimeoutAfterStore => None,
            _ if !state.scope.covers(api) => None,
            fault => {
                use_one(&mut state);
                Some(fault)
            }
        }
    }

    /// Whether a note creation on `api` that just stored its note must hang.
    pub(crate) fn take_hang_after_store(&self, api: Api) -> bool {
        let mut state = self.lock();
        let hang = state.fault == Fault::TimeoutAfterStore && state.scope.covers(api);
        if hang {
            use_one(&mut state);
        }
        hang
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn use_one(state: &mut FaultState) {
    match state.remaining {
        Some(n) if n <= 1 => *state = FaultState::default(),
        Some(n) => state.remaining = Some(n - 1),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_fault_applies_n_times_then_clears() {
        let faults = Faults::default();
        faults.set_for_next(Fault::Status500Html, 2);
        assert_eq!(faults.take(Api::V1), Some(Fault::Status500Html));
        assert_eq!(faults.take(Api::V2), Some(Fault::Status500Html));
        assert_eq!(faults.take(Api::V1), None);
        assert_eq!(faults.current(), FaultState::default());
    }

    #[test]
    fn a_scoped_fault_leaves_other_apis_alone() {
        let faults = Faults::default();
        faults.apply(FaultSpec {
            fault: Fault::Down,
            count: Some(1),
            scope: Scope::V2,
        });
        assert_eq!(faults.take(Api::V1), None);
        assert_eq!(faults.take(Api::OAuth), None);
        assert_eq!(faults.take(Api::V2), Some(Fault::Down));
        assert_eq!(faults.take(Api::V2), None);
    }

    #[test]
    fn timeout_after_store_is_used_only_by_stored_notes() {
        let faults = Faults::default();
        faults.set(Fault::TimeoutAfterStore);
        assert_eq!(faults.take(Api::V1), None);
        assert!(faults.take_hang_after_store(Api::V1));
        assert!(faults.take_hang_after_store(Api::V2));
        faults.clear();
        assert!(!faults.take_hang_after_store(Api::V1));
    }

    #[test]
    fn the_json_form_names_the_mode() {
        let spec: FaultSpec = serde_json::from_str(
            r#"{"mode": "status_429", "retry_after_secs": 7, "count": 3, "scope": "v2"}"#,
        )
        .unwrap();
        assert_eq!(
            spec.fault,
            Fault::Status429 {
                retry_after_secs: 7
            }
        );
        assert_eq!(spec.count, Some(3));
        assert_eq!(spec.scope, Scope::V2);
        let spec: FaultSpec =
            serde_json::from_str(r#"{"mode": "redirect", "status": 301}"#).unwrap();
        assert_eq!(spec.fault, Fault::Redirect { status: 301 });
        let spec: FaultSpec = serde_json::from_str(r#"{"mode": "slow", "ms": 250}"#).unwrap();
        assert_eq!((spec.count, spec.scope), (None, Scope::All));
        assert!(serde_json::from_str::<FaultSpec>(r#"{"mode": "slow"}"#).is_err());
        assert!(serde_json::from_str::<FaultSpec>(r#"{"mode": "flaky"}"#).is_err());
        let state = serde_json::to_value(FaultState {
            fault: Fault::Slow { ms: 5 },
            remaining: Some(1),
            scope: Scope::All,
        })
        .unwrap();
        assert_eq!(
            state,
            serde_json::json!({"mode": "slow", "ms": 5, "remaining": 1, "scope": "all"})
        );
    }
}
