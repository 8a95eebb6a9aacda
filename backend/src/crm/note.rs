//! The note a finished call leaves on its deal, in Brazilian Portuguese, for
//! a manager scanning the deal's history: one fact per line, the outcome
//! first, times in São Paulo's time zone, and the Disca call id last (which
//! is also how a note already written is recognised).

use std::fmt::Write;

use crate::domain::phone::national_format;
use crate::domain::{Call, Outcome, sao_paulo};
use crate::storage::StoredReport;

/// What a note says besides the call itself.
pub struct NoteContext<'a> {
    /// The salesperson's name.
    pub caller: &'a str,
    /// The backend's address as managers reach it (`https://disca.example.com`),
    /// for the recording link; without it the note names the file.
    pub public_url: Option<&'a str>,
    /// What the salesperson said about the call, when they did in time.
    pub report: Option<&'a StoredReport>,
}

/// The salesperson's report, one line per thing said.
fn write_report(note: &mut String, report: &StoredReport) {
    if let Some(label) = &report.disposition_label {
        let _ = writeln!(note, "Resultado da conversa: {label}");
    }
    if !report.note.trim().is_empty() {
        let _ = writeln!(note, "Anotação do vendedor: {}", report.note.trim());
    }
    if let Some(at) = report.follow_up_at {
        let _ = writeln!(
            note,
            "Retorno agendado: {} (horário de Brasília)",
            sao_paulo::format(at, "%d/%m/%Y %H:%M")
        );
    }
}

/// The second note of a call whose report came after its note was
/// written: it names the first note's call and says what was added.
/// `followup_id` makes it findable on its own (exactly once).
pub fn complement(call: &Call, caller: &str, report: &StoredReport, followup_id: &str) -> String {
    let mut note = String::new();
    let _ = writeln!(
        note,
        "Complemento da ligação pelo Disca de {} (horário de Brasília)",
        sao_paulo::format(call.created_at, "%d/%m/%Y %H:%M")
    );
    let _ = writeln!(note, "Vendedor: {caller}");
    let _ = writeln!(note, "Número: {}", national_format(&call.to));
    write_report(&mut note, report);
    note.push_str(&complement_marker(&call.id, followup_id));
    note
}

/// The line that identifies a complement: it names the call (so a reader
/// finds the first note) without the first note's own marker line.
pub fn complement_marker(call_id: &str, followup_id: &str) -> String {
    format!("Complementa a nota da ligação {call_id} (complemento {followup_id})")
}

/// A follow-up task's title and notes.
pub fn task_text(call: &Call, report: &StoredReport) -> (String, String) {
    let who = call
        .context
        .contact_name
        .clone()
        .unwrap_or_else(|| national_format(&call.to));
    let subject = format!("Retornar ligação: {who}");
    let mut notes = format!(
        "Retorno combinado na ligação pelo Disca de {} (horário de Brasília), número {}.",
        sao_paulo::format(call.created_at, "%d/%m/%Y %H:%M"),
        national_format(&call.to)
    );
    if let Some(label) = &report.disposition_label {
        let _ = write!(notes, "\nResultado da conversa: {label}");
    }
    if !report.note.trim().is_empty() {
        let _ = write!(notes, "\nAnotação do vendedor: {}", report.note.trim());
    }
    (subject, notes)
}

/// The line that identifies the call; looked for among a deal's notes
/// before a note is sent again.
pub fn marker(call_id: &str) -> String {
    format!("ID da ligação no Disca: {call_id}")
}

/// Said of a call whose end the PBX did not report as it happened.
pub const ESTIMATED: &str = "Duração não confirmada: o Disca não acompanhou o fim desta ligação (a central ou o servidor estava fora do ar); os tempos acima são os mínimos conhecidos.";

/// The note of an ended call.
pub fn render(call: &Call, ctx: &NoteContext<'_>) -> String {
    let mut note = String::new();
    let outcome = call.outcome.unwrap_or(Outcome::Failed);
    // `write!` to a String cannot fail.
    let _ = writeln!(note, "Ligação pelo Disca: {}", outcome.in_note());
    if let Some(report) = ctx.report {
        write_report(&mut note, report);
    }
    let _ = writeln!(note, "Vendedor: {}", ctx.caller);
    let _ = writeln!(note, "Número: {}", national_format(&call.to));
    if let Some(name) = &call.context.contact_name {
        let _ = writeln!(note, "Contato: {name}");
    }
    let _ = writeln!(
        note,
        "Data e hora: {} (horário de Brasília)",
        sao_paulo::format(call.created_at, "%d/%m/%Y %H:%M")
    );
    let lead_dialed = call.lead_dialed_at.is_some();
    // An estimate is a lower bound (see `Call::durations_estimated`).
    let seconds = |s: i64| {
        if call.durations_estimated {
            format!("pelo menos {}", duration_words(s))
        } else {
            duration_words(s)
        }
    };
    let ring = match call.ring_seconds {
        Some(s) if lead_dialed => seconds(s),
        _ => "o número do cliente não chegou a ser chamado".to_owned(),
    };
    let _ = writeln!(note, "Tempo chamando: {ring}");
    let talk = match call.talk_seconds {
        Some(s) if outcome == Outcome::Answered => seconds(s),
        _ => "não houve conversa".to_owned(),
    };
    let _ = writeln!(note, "Duração da conversa: {talk}");
    if call.durations_estimated {
        let _ = writeln!(note, "{ESTIMATED}");
    }
    if let Some(cause) = &call.hangup_cause {
        let _ = writeln!(
            note,
            "Motivo do encerramento: {} (causa {})",
            cause_words(cause.code),
            cause.code
        );
    }
    let recording = match (&call.recording_file, ctx.public_url) {
        (Some(_), _) if outcome != Outcome::Answered => "não há".to_owned(),
        (Some(_), Some(base)) => format!(
            "{}/manager/calls/{}/recording",
            base.trim_end_matches('/'),
            call.id
        ),
        (Some(file), None) => format!("arquivo {file} no servidor do Disca"),
        (None, _) => "não há".to_owned(),
    };
    let _ = writeln!(note, "Gravação: {recording}");
    note.push_str(&marker(&call.id));
    note
}

/// A Q.850 cause in words; the code follows in the note for the rest.
fn cause_words(code: i64) -> &'static str {
    match code {
        1 => "número inexistente",
        3 => "sem rota para o destino",
        16 => "desligamento normal",
        17 => "linha ocupada",
        18 => "sem resposta do aparelho",
        19 => "chamou e ninguém atendeu",
        20 => "assinante ausente",
        21 => "ligação recusada",
        22 => "número mudou",
        27 => "destino fora de serviço",
        28 => "número em formato inválido",
        31 => "encerramento normal sem causa informada",
        34 | 42 | 44 => "sem linha disponível na operadora",
        38 | 41 => "falha na rede da operadora",
        127 => "erro de interligação entre operadoras",
        _ => "outra causa informada pela central",
    }
}

/// `45 s`, `3 min 05 s`, `1 h 02 min 05 s`.
pub fn duration_words(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s:02} s"),
        _ => format!("{h} h {m:02} min {s:02} s"),
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::domain::{CallContext, CallState, HangupCause};

    fn ended(outcome: Outcome) -> Call {
        let created = datetime!(2026-11-21 17:03:20 UTC);
        Call {
            id: "0193a1b2-0000-7000-8000-000000000001".into(),
            tenant: "acme".into(),
            user_id: "u1".into(),
            agent_endpoint: "acme-1001".into(),
            to: "+5511987654321".into(),
            to_display: None,
            state: CallState::Ended,
            outcome: Some(outcome),
            created_at: created,
            agent_answered_at: Some(datetime!(2026-11-21 17:03:24 UTC)),
            lead_dialed_at: Some(datetime!(2026-11-21 17:03:24 UTC)),
            lead_answered_at: None,
            ended_at: Some(datetime!(2026-11-21 17:04:00 UTC)),
            ring_seconds: Some(12),
            talk_seconds: None,
            durations_estimated: false,
            not_placed: false,
            hangup_cause: None,
            recording_file: None,
            context: CallContext {
                deal_id: Some("5f1e7a9b2c3d4e5f6a7b8c9d".into()),
                contact_name: Some("Maria da Silva".into()),
                ..CallContext::default()
            },
            crm: None,
        }
    }

    const CTX: NoteContext<'static> = NoteContext {
        caller: "Ana Souza",
        public_url: Some("https://disca.example.com/"),
        report: None,
    };

    #[test]
    fn an_answered_call() {
        let mut call = ended(Outcome::Answered);
        call.talk_seconds = Some(205);
        call.hangup_cause = Some(HangupCause {
            code: 16,
            text: "Normal Clearing".into(),
        });
        call.recording_file = Some("acme-0193a1b2.wav".into());
        assert_eq!(
            render(&call, &CTX),
            "Ligação pelo Disca: atendida\n\
             Vendedor: Ana Souza\n\
             Número: (11) 98765-4321\n\
             Contato: Maria da Silva\n\
             Data e hora: 21/11/2026 14:03 (horário de Brasília)\n\
             Tempo chamando: 12 s\n\
             Duração da conversa: 3 min 25 s\n\
             Motivo do encerramento: desligamento normal (causa 16)\n\
             Gravação: https://disca.example.com/manager/calls/0193a1b2-0000-7000-8000-000000000001/recording\n\
             ID da ligação no Disca: 0193a1b2-0000-7000-8000-000000000001"
        );
        let without_url = NoteContext {
            public_url: None,
            ..CTX
        };
        assert!(
            render(&call, &without_url)
                .contains("Gravação: arquivo acme-0193a1b2.wav no servidor do Disca\n")
        );
    }

    fn report() -> StoredReport {
        StoredReport {
            disposition_id: Some("retornar".into()),
            disposition_label: Some("Retornar".into()),
            note: "Pediu a proposta por e-mail.\n".into(),
            follow_up_at: Some(time::macros::datetime!(2026-11-23 17:30 UTC)),
        }
    }

    #[test]
    fn the_salesperson_s_report_follows_the_outcome() {
        let call = ended(Outcome::Answered);
        let report = report();
        let note = render(
            &call,
            &NoteContext {
                report: Some(&report),
                ..CTX
            },
        );
        assert!(
            note.starts_with(
                "Ligação pelo Disca: atendida\n\
                 Resultado da conversa: Retornar\n\
                 Anotação do vendedor: Pediu a proposta por e-mail.\n\
                 Retorno agendado: 23/11/2026 14:30 (horário de Brasília)\n\
                 Vendedor: Ana Souza\n"
            ),
            "{note}"
        );
        let second = complement(&call, "Ana Souza", &report, "f-1");
        assert!(second.starts_with("Complemento da ligação pelo Disca de 21/11/2026 14:03"));
        assert!(
            second.contains("Resultado da conversa: Retornar\n"),
            "{second}"
        );
        assert!(
            !second.contains(&marker(&call.id)),
            "a complement is never taken for the call's note"
        );
        assert!(second.ends_with(&complement_marker(&call.id, "f-1")));
        let (subject, notes) = task_text(&call, &report);
        assert_eq!(subject, "Retornar ligação: Maria da Silva");
        assert!(notes.contains("Anotação do vendedor: Pediu a proposta por e-mail."));
    }

    #[test]
    fn a_call_whose_end_was_missed_says_its_durations_are_not_confirmed() {
        let mut call = ended(Outcome::Answered);
        call.talk_seconds = Some(20);
        call.durations_estimated = true;
        let note = render(&call, &CTX);
        assert!(note.contains("Tempo chamando: pelo menos 12 s\n"), "{note}");
        assert!(
            note.contains("Duração da conversa: pelo menos 20 s\nDuração não confirmada:"),
            "{note}"
        );
    }

    #[test]
    fn every_outcome_reads_in_words() {
        let cases = [
            (
                Outcome::NoAnswer,
                19,
                "Ligação pelo Disca: não atendida (o cliente não atendeu)",
                "chamou e ninguém atendeu (causa 19)",
            ),
            (
                Outcome::Busy,
                17,
                "Ligação pelo Disca: ocupado",
                "linha ocupada (causa 17)",
            ),
            (
                Outcome::Rejected,
                21,
                "Ligação pelo Disca: recusada pelo cliente",
                "ligação recusada (causa 21)",
            ),
            (
                Outcome::Failed,
                34,
                "Ligação pelo Disca: falhou (a ligação não pôde ser completada)",
                "sem linha disponível na operadora (causa 34)",
            ),
            (
                Outcome::Canceled,
                16,
                "Ligação pelo Disca: cancelada pelo vendedor antes do atendimento",
                "desligamento normal (causa 16)",
            ),
            (
                Outcome::AgentNoAnswer,
                19,
                "Ligação pelo Disca: não realizada (o vendedor não atendeu o próprio telefone)",
                "chamou e ninguém atendeu (causa 19)",
            ),
        ];
        for (outcome, code, first_line, cause) in cases {
            let mut call = ended(outcome);
            call.hangup_cause = Some(HangupCause {
                code,
                text: String::new(),
            });
            call.recording_file = Some("acme-x.wav".into());
            if outcome == Outcome::AgentNoAnswer {
                call.lead_dialed_at = None;
                call.ring_seconds = None;
            }
            let note = render(&call, &CTX);
            assert_eq!(note.lines().next(), Some(first_line), "{outcome:?}");
            assert!(
                note.contains(&format!("Motivo do encerramento: {cause}\n")),
                "{note}"
            );
            assert!(
                note.contains("Duração da conversa: não houve conversa\n"),
                "{note}"
            );
            assert!(note.contains("Gravação: não há\n"), "{note}");
            assert!(note.ends_with(&marker(&call.id)));
            let ring = if outcome == Outcome::AgentNoAnswer {
                "Tempo chamando: o número do cliente não chegou a ser chamado\n"
            } else {
                "Tempo chamando: 12 s\n"
            };
            assert!(note.contains(ring), "{note}");
        }
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration_words(0), "0 s");
        assert_eq!(duration_words(59), "59 s");
        assert_eq!(duration_words(65), "1 min 05 s");
        assert_eq!(duration_words(3725), "1 h 02 min 05 s");
    }
}
