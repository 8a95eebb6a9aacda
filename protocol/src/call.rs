//! A call as the backend reports it: where it is in its life, how it ended,
//! and the CRM page it was placed from.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Where a call is in its life, in the order of a call's life: transitions
/// only move forward (see [`Call::is_behind`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, strum::EnumIter,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CallContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<String>,
    /// The contact's name as the CRM page shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
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
    const MAX_NAME_CHARS: usize = 200;

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
        if let Some(name) = &self.contact_name {
            if name.trim().is_empty() || name.chars().count() > Self::MAX_NAME_CHARS {
                return Err(InvalidContext {
                    field: "contact_name",
                    problem: "deve ter de 1 a 200 caracteres",
                });
            }
            if name.chars().any(char::is_control) {
                return Err(InvalidContext {
                    field: "contact_name",
                    problem: "contém caracteres de controle",
                });
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct HangupCause {
    pub code: i64,
    pub text: String,
}

/// Everything kept about one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Call {
    pub id: String,
    pub tenant: String,
    pub user_id: String,
    /// The agent's PJSIP endpoint as Asterisk knows it, e.g. `acme-1001`.
    pub agent_endpoint: String,
    /// The lead's number in E.164.
    pub to: String,
    /// The lead's number as people read it: national format for Brazilian
    /// numbers (`(11) 98765-4321`), international otherwise. Set by the
    /// backend; clients show `to` when it is absent (an older backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_display: Option<String>,
    pub state: CallState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    #[cfg_attr(feature = "schema", schemars(with = "String"))]
    pub created_at: OffsetDateTime,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub agent_answered_at: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub lead_dialed_at: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub lead_answered_at: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub ended_at: Option<OffsetDateTime>,
    /// Seconds the lead's phone rang (from dialling the lead to answer or end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_seconds: Option<i64>,
    /// Seconds both parties were connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub talk_seconds: Option<i64>,
    /// `true` when the call's end (or the lead's answer) was not seen as it
    /// happened — the backend, the PBX or the link to it was down — so
    /// `ended_at`, `ring_seconds` and `talk_seconds` are estimates from the
    /// last sign of life the backend had of the call: they may be shorter
    /// than the truth, never longer. Absent (`false`) when measured.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub durations_estimated: bool,
    /// `true` when the call never reached the PBX: Asterisk refused its
    /// Originate, it could not be sent, or the link died before Asterisk
    /// acknowledged it and no channel of it was found afterwards. Nothing
    /// rang, and no note goes to the CRM. Absent (`false`) otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_placed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hangup_cause: Option<HangupCause>,
    /// Recording file name in the PBX's monitor spool, when the call was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_file: Option<String>,
    #[serde(default)]
    pub context: CallContext,
    /// The note to the CRM, once the call has ended (`GET /v1/calls` and
    /// `GET /v1/calls/{id}`; absent from live events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm: Option<crate::crm::CrmDelivery>,
}

impl Call {
    pub fn is_live(&self) -> bool {
        self.state != CallState::Ended
    }

    /// Whether this is older news of the `known` call: the same call at an
    /// earlier state. A call never goes backwards, so such an update (a
    /// slower answer overtaken by a newer event) is dropped.
    pub fn is_behind(&self, known: &Call) -> bool {
        self.id == known.id && self.state < known.state
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
    fn states_only_move_forward_in_order() {
        assert!(CallState::Queued < CallState::RingingAgent);
        assert!(CallState::RingingLead < CallState::Connected);
        assert!(CallState::Connected < CallState::Ended);
        let states: Vec<CallState> = <CallState as strum::IntoEnumIterator>::iter().collect();
        assert!(states.is_sorted(), "iteration order is the life order");
    }

    #[test]
    fn an_earlier_state_of_the_same_call_is_behind() {
        let at = |id: &str, state: &str| -> Call {
            serde_json::from_value(serde_json::json!({"id": id, "tenant": "acme",
                "user_id": "u1", "agent_endpoint": "acme-1001", "to": "+5511987654321",
                "state": state, "created_at": "2026-11-21T12:00:00Z"}))
            .unwrap()
        };
        let ringing = at("a", "ringing_lead");
        assert!(at("a", "ringing_agent").is_behind(&ringing));
        assert!(!at("a", "connected").is_behind(&ringing));
        assert!(!at("a", "ringing_lead").is_behind(&ringing));
        assert!(!at("b", "queued").is_behind(&ringing));
    }

    #[test]
    fn context_values_are_checked() {
        let ok = CallContext {
            deal_id: Some("5f1e7a9b2c3d4e5f6a7b8c9d".into()),
            contact_id: None,
            contact_name: Some("Maria da Silva".into()),
            page_url: Some("https://crm.rdstation.com/app/deals/5f1e7a9b2c3d4e5f6a7b8c9d".into()),
        };
        assert!(ok.validate().is_ok());
        let crlf = CallContext {
            deal_id: Some("1\r\nAction: Command".into()),
            ..ok.clone()
        };
        assert_eq!(crlf.validate().unwrap_err().field, "deal_id");
        let name = CallContext {
            contact_name: Some("Maria\nAction: Hangup".into()),
            ..ok.clone()
        };
        assert_eq!(name.validate().unwrap_err().field, "contact_name");
        let js = CallContext {
            page_url: Some("javascript:alert(1)".into()),
            ..ok
        };
        assert_eq!(js.validate().unwrap_err().field, "page_url");
    }

    #[test]
    fn a_call_reads_back_what_it_wrote() {
        let json = r#"{"id":"0193a1b2-0000-7000-8000-000000000001","tenant":"acme","user_id":"u1",
            "agent_endpoint":"acme-1001","to":"+5511987654321","state":"ended","outcome":"answered",
            "created_at":"2026-11-21T12:00:00.123Z","ended_at":"2026-11-21T12:01:00Z",
            "ring_seconds":4,"talk_seconds":50,"hangup_cause":{"code":16,"text":"Normal Clearing"},
            "context":{"deal_id":"5f1e7a9b2c3d4e5f6a7b8c9d"}}"#;
        let call: Call = serde_json::from_str(json).unwrap();
        assert_eq!(call.outcome, Some(Outcome::Answered));
        assert!(!call.is_live());
        let again: Call = serde_json::from_str(&serde_json::to_string(&call).unwrap()).unwrap();
        assert_eq!(again, call);
    }
}
