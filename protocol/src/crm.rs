//! Where a finished call's note to the CRM (RD Station) stands, as managers
//! see it on `GET /v1/calls` and on the manager page.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::call::UnknownValue;

/// The delivery of one call's note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum CrmState {
    /// Waiting for its first attempt, or for a retry after a temporary error.
    Pending,
    /// The note is on the deal.
    Delivered,
    /// The CRM refused it for good (401, 403, 404, 422...): `error` says why,
    /// in the CRM's own words. A manager can queue it again after fixing it.
    Failed,
    /// No deal on the page and none found for the number: the call is kept,
    /// with no note anywhere.
    NoDeal,
    /// The tenant has no CRM connection; delivered once one is set up.
    NotConfigured,
}

impl CrmState {
    pub fn as_str(self) -> &'static str {
        match self {
            CrmState::Pending => "pending",
            CrmState::Delivered => "delivered",
            CrmState::Failed => "failed",
            CrmState::NoDeal => "no_deal",
            CrmState::NotConfigured => "not_configured",
        }
    }
}

impl std::str::FromStr for CrmState {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, UnknownValue> {
        [
            CrmState::Pending,
            CrmState::Delivered,
            CrmState::Failed,
            CrmState::NoDeal,
            CrmState::NotConfigured,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| UnknownValue(s.to_owned()))
    }
}

/// The note of a finished call and its way to the CRM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CrmDelivery {
    pub state: CrmState,
    /// The deal the note is for: the page's, or the one found by phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<String>,
    /// The note's id at the CRM, once delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_id: Option<String>,
    /// Requests sent so far to write the note.
    pub attempts: u32,
    /// The last error, in the CRM's own words when it gave any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the next attempt is due (pending deliveries).
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub delivered_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_text() {
        for s in [CrmState::Pending, CrmState::NoDeal, CrmState::NotConfigured] {
            assert_eq!(s.as_str().parse::<CrmState>().unwrap(), s);
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::from(s.as_str())
            );
        }
        assert!("sent".parse::<CrmState>().is_err());
    }
}
