//! What the salesperson says about a call once it has ended — the
//! conversation's outcome from the tenant's list ("disposition": Interessado,
//! Retornar…), a note, and when to call back — and the list itself.
//! `PUT /v1/calls/{id}/report` takes a [`CallReport`]; `GET
//! /v1/dispositions` gives the [`Dispositions`] to choose from.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Longest note, in characters.
pub const MAX_REPORT_NOTE_CHARS: usize = 2000;
/// Longest disposition label, in characters.
pub const MAX_DISPOSITION_LABEL_CHARS: usize = 40;
/// Most dispositions a tenant offers at once.
pub const MAX_DISPOSITIONS: usize = 12;

/// One outcome a salesperson may choose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Disposition {
    /// Stable while the outcome exists (`interessado`, `d-3f9a…`).
    pub id: String,
    /// What people read (`Interessado`).
    pub label: String,
}

/// `GET /v1/dispositions`: the tenant's outcomes, in the order offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Dispositions {
    pub dispositions: Vec<Disposition>,
}

/// `PUT /v1/calls/{id}/report`: what the salesperson says about their
/// ended call. Sent again, it replaces what was said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CallReport {
    /// A [`Disposition::id`] of the tenant's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// Free text, at most [`MAX_REPORT_NOTE_CHARS`].
    #[serde(default)]
    pub note: String,
    /// Call back then: an RD Station `call` task on the deal.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    #[cfg_attr(feature = "schema", schemars(with = "Option<String>"))]
    pub follow_up_at: Option<OffsetDateTime>,
}

/// Why a report cannot be taken, in Portuguese.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidReport(pub &'static str);

impl CallReport {
    /// Checks what needs no other data (the list, the clock).
    pub fn validate(&self) -> Result<(), InvalidReport> {
        if self.note.chars().count() > MAX_REPORT_NOTE_CHARS {
            return Err(InvalidReport("A anotação passa de 2.000 caracteres."));
        }
        if self
            .note
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err(InvalidReport("A anotação tem caracteres de controle."));
        }
        if self.disposition.as_deref().is_some_and(|d| {
            d.is_empty()
                || d.len() > 40
                || !d
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        }) {
            return Err(InvalidReport("Resultado desconhecido."));
        }
        if self.disposition.is_none() && self.note.trim().is_empty() && self.follow_up_at.is_none()
        {
            return Err(InvalidReport(
                "Escolha um resultado, escreva uma anotação ou marque um retorno.",
            ));
        }
        Ok(())
    }
}

/// Where the report goes in RD Station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportNote {
    /// Into the call's note, not yet written.
    InTheNote,
    /// The call's note was already written: a second note, linked to it.
    Complement,
    /// No note is written for this call (no CRM, no deal, never placed).
    NoNote,
}

/// The follow-up task's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReportTask {
    /// No follow-up asked.
    None,
    /// To be created on the deal after the call's note.
    Queued,
    /// Already created in RD Station with the earlier date: change it there.
    AlreadyCreated,
}

/// The answer to `PUT /v1/calls/{id}/report`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReportSaved {
    pub report: CallReport,
    pub note: ReportNote,
    pub task: ReportTask,
}

/// Another phone of the call's deal, to try after the lead did not answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OtherPhone {
    /// In E.164: what a click on it dials.
    pub number: String,
    /// As people read it (`(11) 3456-7890`).
    pub display: String,
    /// Whose it is, when the CRM says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// `GET /v1/calls/{id}/other-phones`: the deal's other phones, in the
/// CRM's order (none when the call has no deal or the CRM cannot say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct OtherPhones {
    /// The deal they were read from: a call to one of them goes on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<String>,
    pub phones: Vec<OtherPhone>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(note: &str) -> CallReport {
        CallReport {
            disposition: Some("interessado".into()),
            note: note.into(),
            follow_up_at: None,
        }
    }

    #[test]
    fn a_report_says_something_within_bounds() {
        assert!(report("Pediu proposta.\nLigar amanhã.").validate().is_ok());
        assert!(report(&"x".repeat(2001)).validate().is_err());
        assert!(report("a\u{0}b").validate().is_err());
        let mut odd = report("");
        odd.disposition = Some("<script>".into());
        assert!(odd.validate().is_err());
        let empty = CallReport {
            disposition: None,
            note: "  ".into(),
            follow_up_at: None,
        };
        assert!(empty.validate().is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let body = r#"{"note": "x", "deal_id": "64b7f0c2a1e4d30000000d01"}"#;
        assert!(serde_json::from_str::<CallReport>(body).is_err());
    }
}
