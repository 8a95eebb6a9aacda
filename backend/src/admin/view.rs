//! People and changes as the console shows them, in Portuguese: the JSON
//! the page reads, and the words of the audit log.

use serde::Serialize;

use crate::domain::{DestinationPolicy, PhoneKind, Role, sao_paulo};
use crate::storage::{AuditRecord, Person};

/// A person as a row of the console.
#[derive(Debug, Serialize)]
pub struct PersonView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub extension: String,
    /// Their phone on the PBX (`PJSIP/<endpoint>`).
    pub endpoint: String,
    pub role: Role,
    pub role_label: &'static str,
    pub admin: bool,
    pub phone: PhoneKind,
    pub phone_label: &'static str,
    pub crm_user_id: Option<String>,
    /// `active`, `invited` (no password yet) or `disabled`.
    pub status: &'static str,
    pub status_label: &'static str,
    /// Computers signed in.
    pub devices: i64,
    /// When they were added, São Paulo time.
    pub added: String,
}

impl From<&Person> for PersonView {
    fn from(p: &Person) -> PersonView {
        let (status, status_label) = if p.disabled {
            ("disabled", "Desativado")
        } else if !p.password_set && p.api_tokens == 0 {
            ("invited", "Convidado")
        } else {
            ("active", "Ativo")
        };
        PersonView {
            id: p.user.id.clone(),
            name: p.user.name.clone(),
            email: p.user.email.clone(),
            extension: p.user.extension.as_str().to_owned(),
            endpoint: p.user.endpoint(),
            role: p.user.role,
            role_label: role_label(p.user.role),
            admin: p.user.admin,
            phone: p.user.phone,
            phone_label: phone_label(p.user.phone),
            crm_user_id: p.crm_user_id.clone(),
            status,
            status_label,
            devices: p.devices,
            added: sao_paulo::format(p.created_at, "%d/%m/%Y"),
        }
    }
}

pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Agent => "Vendedor",
        Role::Manager => "Gestor",
    }
}

pub fn phone_label(phone: PhoneKind) -> &'static str {
    match phone {
        PhoneKind::Browser => "Navegador",
        PhoneKind::Desk => "Telefone de mesa",
    }
}

/// A choice of a select: the value sent and its label.
#[derive(Debug, Serialize)]
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
}

pub fn role_choices() -> Vec<Choice> {
    [Role::Agent, Role::Manager]
        .into_iter()
        .map(|r| Choice {
            value: r.as_str(),
            label: role_label(r),
        })
        .collect()
}

pub fn phone_choices() -> Vec<Choice> {
    [PhoneKind::Browser, PhoneKind::Desk]
        .into_iter()
        .map(|p| Choice {
            value: p.as_str(),
            label: phone_label(p),
        })
        .collect()
}

/// The destinations of the policy, in the console's order: the field of
/// [`DestinationPolicy`] and its label.
pub const DESTINATIONS: [(&str, &str); 6] = [
    ("allow_fixed", "Telefones fixos (e 0300/4004)"),
    ("allow_mobile", "Celulares"),
    ("allow_toll_free", "Números 0800"),
    ("allow_premium", "Tarifa especial (0900/0500)"),
    ("allow_collect", "A cobrar (90)"),
    ("allow_international", "Internacionais"),
];

/// The policy's settings, in [`DESTINATIONS`]' order.
pub fn policy_values(p: &DestinationPolicy) -> [bool; 6] {
    [
        p.allow_fixed,
        p.allow_mobile,
        p.allow_toll_free,
        p.allow_premium,
        p.allow_collect,
        p.allow_international,
    ]
}

/// What a policy change did, in words: "Celulares: bloqueados; ...".
pub fn policy_change(before: &DestinationPolicy, after: &DestinationPolicy) -> String {
    let changes: Vec<String> = DESTINATIONS
        .iter()
        .zip(policy_values(before).into_iter().zip(policy_values(after)))
        .filter(|(_, (b, a))| b != a)
        .map(|((_, label), (_, allowed))| {
            format!(
                "{label}: {}",
                if allowed { "liberados" } else { "bloqueados" }
            )
        })
        .collect();
    if changes.is_empty() {
        "Nenhuma mudança".to_owned()
    } else {
        changes.join("; ")
    }
}

/// A change as a row of the console's log.
#[derive(Debug, Serialize)]
pub struct AuditView {
    pub id: String,
    /// São Paulo time, `dd/mm/aaaa hh:mm:ss`.
    pub at: String,
    pub actor: String,
    pub action: &'static str,
    pub target: String,
    pub detail: String,
}

impl From<&AuditRecord> for AuditView {
    fn from(r: &AuditRecord) -> AuditView {
        AuditView {
            id: r.id.clone(),
            at: sao_paulo::format(r.at, "%d/%m/%Y %H:%M:%S"),
            actor: r.actor.clone(),
            action: action_label(&r.action),
            target: r.target.clone(),
            detail: r.detail.clone(),
        }
    }
}

/// An action code of the log in words.
pub fn action_label(code: &str) -> &'static str {
    use crate::storage::AuditAction as A;
    match A::parse(code) {
        Some(A::PersonInvited) => "Pessoa convidada",
        Some(A::PersonChanged) => "Pessoa alterada",
        Some(A::PasswordResetSent) => "Link de nova senha enviado",
        Some(A::InvitationSent) => "Convite enviado de novo",
        Some(A::DevicesSignedOut) => "Computadores desconectados",
        Some(A::DeskPhoneCredentials) => "Nova senha do telefone de mesa",
        Some(A::PeopleImported) => "Pessoas importadas (CSV)",
        Some(A::PolicyChanged) => "Destinos permitidos alterados",
        Some(A::DispositionsChanged) => "Resultados de ligação alterados",
        Some(A::PbxChanged) => "Central telefônica trocada",
        Some(A::DialingChanged) => "Telefonia alterada",
        Some(A::CrmConnected) => "RD Station conectado",
        Some(A::CrmUsersMatched) => "Usuários do RD Station associados",
        Some(A::RecordingRulesChanged) => "Regras de gravação alteradas",
        Some(A::RecordingPlayed) => "Gravação ouvida ou baixada",
        None => "Outra alteração",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_change_says_what_changed() {
        let before = DestinationPolicy::default();
        let after = DestinationPolicy {
            allow_mobile: false,
            allow_international: true,
            ..before
        };
        assert_eq!(
            policy_change(&before, &after),
            "Celulares: bloqueados; Internacionais: liberados"
        );
        assert_eq!(policy_change(&before, &before), "Nenhuma mudança");
    }

    #[test]
    fn every_action_has_words() {
        for a in crate::storage::AuditAction::ALL {
            assert_ne!(action_label(a.as_str()), "Outra alteração", "{a:?}");
        }
    }
}
