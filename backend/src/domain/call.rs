//! A click-to-call call: its identity and its creation. The call itself, its
//! states and outcomes are in [`disca_protocol::call`]: they cross to clients.

use std::fmt;
use std::str::FromStr;

use disca_protocol::{Call, CallContext, CallState};

use crate::domain::phone::national_format;
use time::OffsetDateTime;
use uuid::Uuid;

/// Our own id for a call. It is also the Asterisk `ChannelId` (Uniqueid) of the
/// agent leg, and therefore the `Linkedid` of every channel of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(Uuid);

impl CallId {
    /// A new, time-ordered id.
    pub fn generate() -> CallId {
        CallId(Uuid::now_v7())
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for CallId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(CallId)
    }
}

/// The current instant at the precision calls are stored with (milliseconds),
/// so a call reads the same from memory, from the API and from the database.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t)
}

/// Who placed a new call and where to.
pub struct NewCall {
    pub id: CallId,
    pub tenant: String,
    pub user_id: String,
    pub agent_endpoint: String,
    pub to: String,
    pub context: CallContext,
}

impl NewCall {
    /// The call just recorded, before its Originate: `queued`, nothing else known.
    pub fn queued(self, created_at: OffsetDateTime) -> Call {
        Call {
            id: self.id.to_string(),
            tenant: self.tenant,
            user_id: self.user_id,
            agent_endpoint: self.agent_endpoint,
            to_display: Some(national_format(&self.to)),
            to: self.to,
            state: CallState::Queued,
            outcome: None,
            created_at,
            agent_answered_at: None,
            lead_dialed_at: None,
            lead_answered_at: None,
            ended_at: None,
            ring_seconds: None,
            talk_seconds: None,
            durations_estimated: false,
            not_placed: false,
            hangup_cause: None,
            recording_file: None,
            context: self.context,
            crm: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_has_the_stored_precision() {
        assert_eq!(now().nanosecond() % 1_000_000, 0);
    }
}
