//! A click-to-call call: its identity, lifecycle and outcome.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
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

/// Where a call is in its life. Transitions only move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Recorded; the Originate is being sent.
    Queued,
    /// The salesperson's own phone is ringing.
    RingingAgent,
    /// The salesperson answered; Asterisk is dialling the lead.
    DialingLead,
    /// The lead's phone is ringing.
    RingingLead,
    /// Both parties are talking.
    Connected,
    Ended,
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered,
    NoAnswer,
    Busy,
    Rejected,
    Failed,
    AgentNoAnswer,
    Canceled,
}

macro_rules! text_enum {
    ($ty:ty { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
        impl FromStr for $ty {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s { $($text => Ok(Self::$variant),)+ _ => Err(UnknownValue(s.to_owned())) }
            }
        }
    };
}

text_enum!(CallState {
    Queued => "queued",
    RingingAgent => "ringing_agent",
    DialingLead => "dialing_lead",
    RingingLead => "ringing_lead",
    Connected => "connected",
    Ended => "ended",
});

text_enum!(Outcome {
    Answered => "answered",
    NoAnswer => "no_answer",
    Busy => "busy",
    Rejected => "rejected",
    Failed => "failed",
    AgentNoAnswer => "agent_no_answer",
    Canceled => "canceled",
});

/// A stored enum value this build does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

/// The CRM page the salesperson clicked on, kept so the call can be written
/// back to the right deal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_url: Option<String>,
}

/// Why a [`CallContext`] was refused.
#[derive(Debug, thiserror::Error)]
#[error("context.{field}: {problem}")]
pub struct InvalidContext {
    pub field: &'static str,
    pub problem: &'static str,
}

impl CallContext {
    const MAX_ID_LEN: usize = 128;
    const MAX_URL_LEN: usize = 2048;

    /// Checks every value: bounded length, no control characters, ids made of
    /// printable ASCII, URLs http(s).
    pub fn validate(&self) -> Result<(), InvalidContext> {
        for (field, value) in [("deal_id", &self.deal_id), ("contact_id", &self.contact_id)] {
            if let Some(v) = value {
                if v.is_empty() || v.len() > Self::MAX_ID_LEN {
                    return Err(InvalidContext {
                        field,
                        problem: "deve ter de 1 a 128 caracteres",
                    });
                }
                if !v.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(InvalidContext {
                        field,
                        problem: "deve ter só caracteres ASCII visíveis, sem espaços nem caracteres de controle",
                    });
                }
            }
        }
        if let Some(url) = &self.page_url {
            if url.len() > Self::MAX_URL_LEN {
                return Err(InvalidContext {
                    field: "page_url",
                    problem: "passa de 2048 bytes",
                });
            }
            if url.chars().any(char::is_control) {
                return Err(InvalidContext {
                    field: "page_url",
                    problem: "contém caracteres de controle",
                });
            }
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(InvalidContext {
                    field: "page_url",
                    problem: "deve ser um endereço http(s)",
                });
            }
        }
        Ok(())
    }
}

/// A hangup cause as Asterisk reports it (Q.850 code and text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HangupCause {
    pub code: i64,
    pub text: String,
}

/// Everything kept about one call.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Call {
    #[schema(value_type = String)]
    pub id: String,
    pub tenant: String,
    #[schema(value_type = String)]
    pub user_id: String,
    /// The agent's PJSIP endpoint as Asterisk knows it, e.g. `acme-1001`.
    pub agent_endpoint: String,
    /// The lead's number in E.164.
    pub to: String,
    pub state: CallState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub agent_answered_at: Option<OffsetDateTime>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lead_dialed_at: Option<OffsetDateTime>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lead_answered_at: Option<OffsetDateTime>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<OffsetDateTime>,
    /// Seconds the lead's phone rang (from dialling the lead to answer or end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_seconds: Option<i64>,
    /// Seconds both parties were connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub talk_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hangup_cause: Option<HangupCause>,
    /// Recording file name in the PBX's monitor spool, when the call was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_file: Option<String>,
    pub context: CallContext,
}

/// Who placed a new call and where to: what [`Call::queued`] needs.
pub struct NewCall {
    pub id: CallId,
    pub tenant: String,
    pub user_id: String,
    pub agent_endpoint: String,
    pub to: String,
    pub context: CallContext,
}

impl Call {
    /// A call just recorded, before its Originate: `queued`, nothing else known.
    pub fn queued(new: NewCall, created_at: OffsetDateTime) -> Call {
        Call {
            id: new.id.to_string(),
            tenant: new.tenant,
            user_id: new.user_id,
            agent_endpoint: new.agent_endpoint,
            to: new.to,
            state: CallState::Queued,
            outcome: None,
            created_at,
            agent_answered_at: None,
            lead_dialed_at: None,
            lead_answered_at: None,
            ended_at: None,
            ring_seconds: None,
            talk_seconds: None,
            hangup_cause: None,
            recording_file: None,
            context: new.context,
        }
    }

    pub fn is_live(&self) -> bool {
        self.state != CallState::Ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_through_text() {
        for s in [CallState::Queued, CallState::RingingLead, CallState::Ended] {
            assert_eq!(s.as_str().parse::<CallState>().unwrap(), s);
        }
        for o in [Outcome::AgentNoAnswer, Outcome::Canceled, Outcome::NoAnswer] {
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        }
        assert!("connectedd".parse::<CallState>().is_err());
    }

    #[test]
    fn now_has_the_stored_precision() {
        assert_eq!(now().nanosecond() % 1_000_000, 0);
    }

    #[test]
    fn states_only_move_forward_in_order() {
        assert!(CallState::Queued < CallState::RingingAgent);
        assert!(CallState::RingingLead < CallState::Connected);
        assert!(CallState::Connected < CallState::Ended);
    }

    #[test]
    fn context_values_are_checked() {
        let ok = CallContext {
            deal_id: Some("5f1e7a9b2c3d4e5f6a7b8c9d".into()),
            contact_id: None,
            page_url: Some("https://crm.rdstation.com/app/deals/5f1e7a9b2c3d4e5f6a7b8c9d".into()),
        };
        assert!(ok.validate().is_ok());
        let crlf = CallContext {
            deal_id: Some("1\r\nAction: Command".into()),
            ..ok.clone()
        };
        assert_eq!(crlf.validate().unwrap_err().field, "deal_id");
        let js = CallContext {
            page_url: Some("javascript:alert(1)".into()),
            ..ok
        };
        assert_eq!(js.validate().unwrap_err().field, "page_url");
    }
}
