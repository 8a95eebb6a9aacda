//! Requests received by the CRM-facing APIs (v1, v2, OAuth2; not
//! `/_standin`), counted per endpoint and per token, faulted and refused
//! ones included.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde::Serialize;

use crate::telemetry::fingerprint;

/// A snapshot of the counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    total: u64,
    by_endpoint: BTreeMap<String, u64>,
    by_token: HashMap<String, u64>,
}

impl RequestCounts {
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Requests to one endpoint, named `METHOD /route`, with the route as
    /// declared: `POST /api/v1/activities`, `GET /crm/v2/deals/{deal_id}/notes`,
    /// `POST /oauth2/token`. Requests to no route count as `METHOD (unmatched)`.
    pub fn endpoint(&self, name: &str) -> u64 {
        self.by_endpoint.get(name).copied().unwrap_or(0)
    }

    pub fn by_endpoint(&self) -> &BTreeMap<String, u64> {
        &self.by_endpoint
    }

    /// Requests that carried `token` (v1 `?token=`, v2 bearer), valid or not.
    pub fn token(&self, token: &str) -> u64 {
        self.by_token.get(token).copied().unwrap_or(0)
    }

    /// What `GET /_standin/requests` shows: tokens as fingerprints.
    pub(crate) fn published(&self) -> PublishedCounts {
        PublishedCounts {
            total: self.total,
            by_endpoint: self.by_endpoint.clone(),
            by_token: self
                .by_token
                .iter()
                .map(|(token, &n)| (fingerprint(token), n))
                .collect(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct PublishedCounts {
    total: u64,
    by_endpoint: BTreeMap<String, u64>,
    by_token: BTreeMap<String, u64>,
}

#[derive(Default)]
pub(crate) struct RequestLog {
    counts: Mutex<RequestCounts>,
}

impl RequestLog {
    pub fn record(&self, endpoint: String, token: Option<&str>) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total += 1;
        *counts.by_endpoint.entry(endpoint).or_default() += 1;
        if let Some(token) = token {
            *counts.by_token.entry(token.to_owned()).or_default() += 1;
        }
    }

    pub fn snapshot(&self) -> RequestCounts {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
