//! A call as the manager page and the CSV show it: São Paulo times, the
//! number in national format, the salesperson's name, Portuguese words for
//! outcomes and CRM states, durations, and links (deal, recording). The
//! page sets these texts as they are; nothing here is HTML.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::domain::phone::national_format;
use disca_protocol::words;

use crate::domain::{Call, CrmDelivery, CrmState, DealId, Outcome, User, sao_paulo};
use crate::storage::StoredReport;

/// A deal in RD Station CRM's web app.
const DEAL_URL: &str = "https://crm.rdstation.com/app/deals/";

/// Every outcome, in the order the page offers them.
pub const OUTCOMES: [Outcome; 7] = [
    Outcome::Answered,
    Outcome::NoAnswer,
    Outcome::Busy,
    Outcome::Rejected,
    Outcome::Failed,
    Outcome::AgentNoAnswer,
    Outcome::Canceled,
];

/// Every CRM delivery state, in the order the page offers them.
pub const CRM_STATES: [CrmState; 5] = [
    CrmState::Delivered,
    CrmState::Pending,
    CrmState::Failed,
    CrmState::NoDeal,
    CrmState::NotConfigured,
];

/// One call, ready to show.
#[derive(Debug, Clone, Serialize)]
pub struct CallRow {
    pub id: String,
    /// `21/11/2026 14:03`, São Paulo.
    pub when: String,
    pub user_id: String,
    pub salesperson: String,
    /// `(11) 98765-4321`.
    pub number: String,
    pub contact: Option<String>,
    pub deal_id: Option<String>,
    pub deal_url: Option<String>,
    /// `answered`...; absent while the call is live.
    pub outcome: Option<Outcome>,
    /// `Atendida`, `Não atendida`..., or where a live call is.
    pub outcome_label: &'static str,
    pub ring_seconds: Option<i64>,
    /// `12 s`, or `—`.
    pub ring: String,
    pub talk_seconds: Option<i64>,
    /// `3:05`, or `—`; `≥ 3:05` when estimated.
    pub talk: String,
    /// The call's end was not seen: its durations are lower bounds.
    pub durations_estimated: bool,
    /// What to tell a manager about estimated durations, when they are.
    pub durations_note: Option<&'static str>,
    /// Where to play the recording, when its file is on the server.
    pub recording_url: Option<String>,
    pub crm: CrmView,
    /// The number itself is wrong (the network said it does not exist, has
    /// changed or is incomplete): what to fix in the CRM.
    pub number_problem: Option<&'static str>,
    /// What the salesperson said after the call, if they did.
    pub report: Option<ReportView>,
}

/// The salesperson's report, ready to show.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    /// The outcome as it read when chosen (`Retornar`).
    pub outcome: Option<String>,
    pub note: Option<String>,
    /// `05/12/2026 14:30`, São Paulo.
    pub follow_up: Option<String>,
}

fn report_view(report: &StoredReport) -> ReportView {
    ReportView {
        outcome: report.disposition_label.clone(),
        note: Some(report.note.clone()).filter(|n| !n.is_empty()),
        follow_up: report
            .follow_up_at
            .map(|at| sao_paulo::format(at, "%d/%m/%Y %H:%M")),
    }
}

/// What a failed call's hangup cause (Q.850) says about the number itself:
/// only when the salesperson had answered, so the cause is the lead's leg.
fn number_problem(call: &Call) -> Option<&'static str> {
    if !matches!(call.outcome, Some(Outcome::Failed | Outcome::Rejected))
        || call.not_placed
        || call.agent_answered_at.is_none()
    {
        return None;
    }
    match call.hangup_cause.as_ref()?.code {
        1 => Some("Número inexistente: corrija o telefone no CRM."),
        22 => Some("O número mudou: corrija o telefone no CRM."),
        28 => Some("Número incompleto ou inválido: corrija o telefone no CRM."),
        _ => None,
    }
}

/// Where the call's note to the CRM stands.
#[derive(Debug, Clone, Serialize)]
pub struct CrmView {
    /// `delivered`, `pending`...; absent while the call is live.
    pub state: Option<CrmState>,
    /// `Entregue`, `Pendente (tentativa 2)`, `Falhou`...
    pub label: String,
    /// The last error, in the CRM's own words when it gave any.
    pub error: Option<String>,
    /// More about the state: when it was delivered, when it is tried next.
    pub detail: Option<String>,
    pub attempts: u32,
    /// Stopped: a manager may queue it again.
    pub retryable: bool,
}

/// The team's names by user id.
pub struct Team(HashMap<String, String>);

impl Team {
    pub fn new(users: &[User]) -> Team {
        Team::from_names(users.iter().map(|u| (u.id.clone(), u.name.clone())))
    }

    /// From (user id, name) pairs.
    pub fn from_names(names: impl IntoIterator<Item = (String, String)>) -> Team {
        Team(names.into_iter().collect())
    }

    /// Whether `user_id` is one of the team (a newer user is not, yet).
    pub fn knows(&self, user_id: &str) -> bool {
        self.0.contains_key(user_id)
    }

    pub fn name(&self, user_id: &str) -> String {
        self.0
            .get(user_id)
            .cloned()
            .unwrap_or_else(|| "(usuário removido)".into())
    }
}

/// `call` as a row; `recorded` holds the ids of calls whose recording file
/// is on the server, `reports` the salespeople's reports by call id.
pub fn row(
    call: &Call,
    team: &Team,
    recorded: &HashSet<String>,
    reports: &HashMap<String, StoredReport>,
) -> CallRow {
    let (deal_id, deal_url) = deal(call);
    CallRow {
        id: call.id.clone(),
        when: sao_paulo::format(call.created_at, "%d/%m/%Y %H:%M"),
        user_id: call.user_id.clone(),
        salesperson: team.name(&call.user_id),
        number: national_format(&call.to),
        contact: call.context.contact_name.clone(),
        deal_id,
        deal_url,
        outcome: call.outcome,
        outcome_label: outcome_label(call),
        ring_seconds: call.ring_seconds,
        ring: call
            .ring_seconds
            .map_or_else(|| "—".into(), |s| at_least(call, format!("{s} s"))),
        talk_seconds: call.talk_seconds,
        talk: call
            .talk_seconds
            .map_or_else(|| "—".into(), |s| at_least(call, clock(s))),
        durations_estimated: call.durations_estimated,
        durations_note: call
            .durations_estimated
            .then_some("duração não confirmada: o fim da ligação não foi acompanhado"),
        recording_url: recorded
            .contains(&call.id)
            .then(|| format!("/manager/calls/{}/recording", call.id)),
        crm: crm_view(call.crm.as_ref()),
        number_problem: number_problem(call),
        report: reports.get(&call.id).map(report_view),
    }
}

/// The call's deal id (the CRM note's, else the page's), and its address in
/// RD Station CRM when the id is well formed.
pub fn deal(call: &Call) -> (Option<String>, Option<String>) {
    let deal_id = call
        .crm
        .as_ref()
        .and_then(|c| c.deal_id.as_deref())
        .or(call.context.deal_id.as_deref())
        .map(str::to_owned);
    let deal_url = deal_id
        .as_deref()
        .and_then(|d| DealId::parse(d).ok())
        .map(|d| format!("{DEAL_URL}{}", d.as_str()));
    (deal_id, deal_url)
}

/// `duration`, marked as a lower bound when the call's are estimated.
fn at_least(call: &Call, duration: String) -> String {
    if call.durations_estimated {
        format!("≥ {duration}")
    } else {
        duration
    }
}

/// `185` → `3:05`; `3725` → `1:02:05`.
pub fn clock(seconds: i64) -> String {
    let s = seconds.max(0);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, m, s) => format!("{m}:{s:02}"),
        (h, m, s) => format!("{h}:{m:02}:{s:02}"),
    }
}

/// How the call ended in words, or where a live call is.
fn outcome_label(call: &Call) -> &'static str {
    match (call.outcome, call.state) {
        (Some(_), _) if call.not_placed => words::NOT_PLACED,
        (Some(outcome), _) => outcome.for_manager(),
        (None, state) => state.for_manager(),
    }
}

fn crm_view(crm: Option<&CrmDelivery>) -> CrmView {
    let Some(crm) = crm else {
        return CrmView {
            state: None,
            label: "Aguardando o fim da ligação".into(),
            error: None,
            detail: None,
            attempts: 0,
            retryable: false,
        };
    };
    let label = match crm.state {
        CrmState::Pending if crm.attempts > 0 => format!("Pendente (tentativa {})", crm.attempts),
        state => state.for_manager().to_owned(),
    };
    let detail = match crm.state {
        CrmState::Delivered => crm
            .delivered_at
            .map(|at| format!("em {}", sao_paulo::format(at, "%d/%m/%Y %H:%M"))),
        CrmState::Pending => crm
            .next_attempt_at
            .filter(|_| crm.attempts > 0 || crm.error.is_some())
            .map(|at| format!("próxima tentativa às {}", sao_paulo::format(at, "%H:%M:%S"))),
        CrmState::Failed => Some(match crm.attempts {
            1 => "depois de 1 tentativa".to_owned(),
            n => format!("depois de {n} tentativas"),
        }),
        CrmState::NoDeal => None,
        CrmState::NotConfigured => {
            Some("Conecte o RD Station CRM ao Disca para entregar as notas.".into())
        }
    };
    CrmView {
        state: Some(crm.state),
        label,
        error: crm.error.clone(),
        detail,
        attempts: crm.attempts,
        retryable: matches!(
            crm.state,
            CrmState::Failed | CrmState::NoDeal | CrmState::NotConfigured
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    use crate::domain::{CallContext, CallState};

    fn ended(crm: Option<CrmDelivery>) -> Call {
        Call {
            id: "0193a1b2-0000-7000-8000-000000000001".into(),
            tenant: "acme".into(),
            user_id: "u1".into(),
            agent_endpoint: "acme-1001".into(),
            to: "+5511987654321".into(),
            to_display: None,
            state: CallState::Ended,
            outcome: Some(Outcome::Answered),
            // 2026-11-21 15:04:05 UTC = 12:04 in São Paulo.
            created_at: OffsetDateTime::from_unix_timestamp(1_795_273_445).unwrap(),
            agent_answered_at: None,
            lead_dialed_at: None,
            lead_answered_at: None,
            ended_at: None,
            ring_seconds: Some(7),
            talk_seconds: Some(185),
            durations_estimated: false,
            not_placed: false,
            hangup_cause: None,
            recording_file: Some("acme-x.wav".into()),
            context: CallContext {
                deal_id: Some("64b7f0c2a1e4d30000000d01".into()),
                contact_name: Some("Maria".into()),
                ..CallContext::default()
            },
            crm,
        }
    }

    fn delivery(state: CrmState, attempts: u32, error: Option<&str>) -> CrmDelivery {
        CrmDelivery {
            state,
            deal_id: None,
            note_id: None,
            attempts,
            error: error.map(Into::into),
            next_attempt_at: None,
            delivered_at: None,
        }
    }

    #[test]
    fn a_number_the_network_says_is_wrong_is_flagged() {
        let team = Team(HashMap::new());
        let mut call = ended(None);
        assert_eq!(
            row(&call, &team, &HashSet::new(), &HashMap::new()).number_problem,
            None
        );
        call.outcome = Some(Outcome::Failed);
        call.agent_answered_at = Some(call.created_at);
        for (code, flagged) in [(1, true), (22, true), (28, true), (17, false), (34, false)] {
            call.hangup_cause = Some(disca_protocol::call::HangupCause {
                code,
                text: String::new(),
            });
            assert_eq!(
                row(&call, &team, &HashSet::new(), &HashMap::new())
                    .number_problem
                    .is_some(),
                flagged,
                "cause {code}"
            );
        }
        call.hangup_cause = Some(disca_protocol::call::HangupCause {
            code: 1,
            text: "Unallocated (unassigned) number".into(),
        });
        assert!(
            row(&call, &team, &HashSet::new(), &HashMap::new())
                .number_problem
                .unwrap()
                .starts_with("Número inexistente")
        );
        call.not_placed = true;
        assert_eq!(
            row(&call, &team, &HashSet::new(), &HashMap::new()).number_problem,
            None
        );
        call.not_placed = false;
        call.agent_answered_at = None;
        assert_eq!(
            row(&call, &team, &HashSet::new(), &HashMap::new()).number_problem,
            None,
            "the salesperson's own phone failed: the cause is not the lead's"
        );
    }

    #[test]
    fn a_row_is_in_portuguese_and_sao_paulo_time() {
        let team = Team(HashMap::from([("u1".into(), "Ana Souza".into())]));
        let recorded = HashSet::from(["0193a1b2-0000-7000-8000-000000000001".to_owned()]);
        let row = row(&ended(None), &team, &recorded, &HashMap::new());
        assert_eq!(row.when, "21/11/2026 12:04");
        assert_eq!(row.salesperson, "Ana Souza");
        assert_eq!(row.number, "(11) 98765-4321");
        assert_eq!(row.outcome_label, "Atendida");
        assert_eq!((row.ring.as_str(), row.talk.as_str()), ("7 s", "3:05"));
        assert_eq!(
            row.deal_url.as_deref(),
            Some("https://crm.rdstation.com/app/deals/64b7f0c2a1e4d30000000d01")
        );
        assert_eq!(
            row.recording_url.as_deref(),
            Some("/manager/calls/0193a1b2-0000-7000-8000-000000000001/recording")
        );
        let unrecorded = super::row(&ended(None), &team, &HashSet::new(), &HashMap::new());
        assert_eq!(unrecorded.recording_url, None);
    }

    #[test]
    fn deal_links_only_for_deal_ids() {
        let mut call = ended(None);
        call.context.deal_id = Some("javascript:alert(1)".into());
        let row = row(
            &call,
            &Team(HashMap::new()),
            &HashSet::new(),
            &HashMap::new(),
        );
        assert_eq!(row.deal_url, None);
        assert_eq!(row.salesperson, "(usuário removido)");
    }

    #[test]
    fn crm_states_read_as_words_with_the_crm_message() {
        let failed = crm_view(Some(&delivery(
            CrmState::Failed,
            2,
            Some("RD Station recusou (HTTP 404): Deal not found."),
        )));
        assert_eq!(failed.label, "Falhou");
        assert_eq!(
            failed.error.as_deref(),
            Some("RD Station recusou (HTTP 404): Deal not found.")
        );
        assert_eq!(failed.detail.as_deref(), Some("depois de 2 tentativas"));
        assert!(failed.retryable);
        let pending = crm_view(Some(&delivery(CrmState::Pending, 3, Some("fora do ar"))));
        assert_eq!(pending.label, "Pendente (tentativa 3)");
        assert!(!pending.retryable);
        assert_eq!(
            crm_view(Some(&delivery(CrmState::Delivered, 1, None))).label,
            "Entregue"
        );
        assert_eq!(
            crm_view(Some(&delivery(CrmState::NoDeal, 0, None))).label,
            "Sem negócio"
        );
        assert!(crm_view(Some(&delivery(CrmState::NotConfigured, 0, None))).retryable);
        assert_eq!(crm_view(None).state, None);
    }

    #[test]
    fn durations_read_as_clocks() {
        assert_eq!(clock(0), "0:00");
        assert_eq!(clock(59), "0:59");
        assert_eq!(clock(3725), "1:02:05");
        assert_eq!(clock(-5), "0:00");
    }
}
