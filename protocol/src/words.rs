//! What people read about calls, in Brazilian Portuguese, in one place: the
//! same state or outcome is said once per audience, and the audiences differ
//! on purpose. The salesperson reads short words about their own call in the
//! extension (second person: "Você não atendeu o seu telefone"); a manager
//! reads the team's calls on the manager page (third person: "Vendedor não
//! atendeu"); the note on a CRM deal is read later by anyone, out of context,
//! so it says more. The browser phone's readiness is said to the salesperson
//! too (popup, badge). The extension gets its words generated from these
//! (`cargo xtask codegen`).

use crate::call::{CallState, Outcome};
use crate::crm::CrmState;
use crate::phone::{Microphone, Registration};
use crate::report::{ReportNote, ReportTask};

/// A call that never reached the PBX, whatever its outcome (salesperson and
/// manager alike).
pub const NOT_PLACED: &str = "Não chegou à central";

/// An ended call with no outcome recorded (salesperson and manager alike).
pub const ENDED_WITHOUT_OUTCOME: &str = "Encerrada";

impl CallState {
    /// Where the salesperson's own call is (popup, badge).
    pub fn for_salesperson(self) -> &'static str {
        match self {
            CallState::Queued => "Preparando a ligação…",
            CallState::RingingAgent => "Tocando o seu telefone…",
            CallState::DialingLead => "Chamando o lead…",
            CallState::RingingLead => "Tocando no lead…",
            CallState::Connected => "Em ligação",
            CallState::Ended => "Ligação encerrada",
        }
    }

    /// Where a live call is, on the manager page.
    pub fn for_manager(self) -> &'static str {
        match self {
            CallState::Queued => "Na fila",
            CallState::RingingAgent => "Chamando o vendedor",
            CallState::DialingLead => "Discando",
            CallState::RingingLead => "Chamando o cliente",
            CallState::Connected => "Em conversa",
            CallState::Ended => ENDED_WITHOUT_OUTCOME,
        }
    }
}

impl Outcome {
    /// How the salesperson's own call ended (popup, notification).
    pub fn for_salesperson(self) -> &'static str {
        match self {
            Outcome::Answered => "Atendida",
            Outcome::NoAnswer => "Não atendida",
            Outcome::Busy => "Ocupado",
            Outcome::Rejected => "Recusada",
            Outcome::Failed => "Falhou",
            Outcome::AgentNoAnswer => "Você não atendeu o seu telefone",
            Outcome::Canceled => "Cancelada",
        }
    }

    /// How a call ended, on the manager page and its filters.
    pub fn for_manager(self) -> &'static str {
        match self {
            Outcome::Answered => "Atendida",
            Outcome::NoAnswer => "Não atendida",
            Outcome::Busy => "Ocupado",
            Outcome::Rejected => "Recusada",
            Outcome::Failed => "Falha na ligação",
            Outcome::AgentNoAnswer => "Vendedor não atendeu",
            Outcome::Canceled => "Cancelada",
        }
    }

    /// How a call ended, in the note on the CRM deal.
    pub fn in_note(self) -> &'static str {
        match self {
            Outcome::Answered => "atendida",
            Outcome::NoAnswer => "não atendida (o cliente não atendeu)",
            Outcome::Busy => "ocupado",
            Outcome::Rejected => "recusada pelo cliente",
            Outcome::Failed => "falhou (a ligação não pôde ser completada)",
            Outcome::AgentNoAnswer => "não realizada (o vendedor não atendeu o próprio telefone)",
            Outcome::Canceled => "cancelada pelo vendedor antes do atendimento",
        }
    }
}

impl CrmState {
    /// Where a call's note to the CRM stands, on the manager page.
    pub fn for_manager(self) -> &'static str {
        match self {
            CrmState::Delivered => "Entregue",
            CrmState::Pending => "Pendente",
            CrmState::Failed => "Falhou",
            CrmState::NoDeal => "Sem negócio",
            CrmState::NotConfigured => "CRM não configurado",
        }
    }
}

impl Registration {
    /// Where the salesperson's browser phone stands (popup, badge title).
    pub fn for_salesperson(self) -> &'static str {
        match self {
            Registration::Off => "Telefone desligado",
            Registration::Connecting => "Conectando o telefone…",
            Registration::Registered => "Telefone pronto",
            Registration::Refused => "A central recusou o telefone; pedindo novo acesso…",
            Registration::Disconnected => "Telefone desconectado; reconectando…",
        }
    }
}

impl Microphone {
    /// The microphone permission, as the salesperson must act on it (popup).
    pub fn for_salesperson(self) -> &'static str {
        match self {
            Microphone::Prompt => "Permita o microfone",
            Microphone::Granted => "Microfone permitido",
            Microphone::Denied => {
                "Microfone bloqueado: permita-o para o Disca nas configurações do Chrome"
            }
            Microphone::Missing => "Nenhum microfone encontrado",
        }
    }
}

impl ReportNote {
    /// Where the salesperson's report went, said once it is saved (popup).
    pub fn for_salesperson(self) -> &'static str {
        match self {
            ReportNote::InTheNote => "Salvo: vai na nota desta ligação no RD Station.",
            ReportNote::Complement => {
                "Salvo: a nota desta ligação já estava no RD Station; vai como um complemento dela."
            }
            ReportNote::NoNote => {
                "Salvo no Disca. Esta ligação não tem nota no RD Station (nenhum negócio foi encontrado), então não vai para lá."
            }
        }
    }
}

impl ReportTask {
    /// What becomes of the follow-up, said once the report is saved (popup).
    pub fn for_salesperson(self) -> &'static str {
        match self {
            ReportTask::None => "",
            ReportTask::Queued => "A tarefa de retorno vai ser criada no negócio.",
            ReportTask::AlreadyCreated => {
                "A tarefa de retorno já tinha sido criada; para mudar a data, altere-a no RD Station."
            }
        }
    }
}
