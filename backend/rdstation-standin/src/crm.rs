//! The CRM's records, from the seed: whose a v1 token is, which deals a
//! user may see, contact search, and the notes written to deals.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::faults::Api;
use crate::ids::new_object_id;
use crate::notes::{Note, NoteStore};
use crate::seed::{Contact, Deal, Seed, Stage, Tenant, User, Visibility};
use crate::tasks::{Task, TaskStore};

/// A user, by position in the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UserRef {
    pub tenant: usize,
    index: usize,
}

/// `GET /contacts` filters; all given ones must match.
#[derive(Debug, Default)]
pub(crate) struct ContactFilter {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
}

pub(crate) struct Crm {
    seed: Seed,
    users: HashMap<String, UserRef>,
    tokens: HashMap<String, UserRef>,
    deals: HashMap<String, (usize, usize)>,
    /// When the records were loaded: their `created_at`.
    pub seeded_at: OffsetDateTime,
    pub notes: NoteStore,
    pub tasks: TaskStore,
}

impl Crm {
    /// `seed` must be valid ([`Seed::validate`]).
    pub fn new(seed: Seed) -> Crm {
        let mut users = HashMap::new();
        let mut tokens = HashMap::new();
        let mut deals = HashMap::new();
        for (t, tenant) in seed.tenants.iter().enumerate() {
            for (index, user) in tenant.users.iter().enumerate() {
                let r = UserRef { tenant: t, index };
                users.insert(user.id.clone(), r);
                tokens.insert(user.token.clone(), r);
            }
            for (d, deal) in tenant.deals.iter().enumerate() {
                deals.insert(deal.id.clone(), (t, d));
            }
        }
        Crm {
            seed,
            users,
            tokens,
            deals,
            seeded_at: crate::clock::now(),
            notes: NoteStore::default(),
            tasks: TaskStore::default(),
        }
    }

    pub fn seed(&self) -> &Seed {
        &self.seed
    }

    pub fn tenant(&self, index: usize) -> &Tenant {
        &self.seed.tenants[index]
    }

    pub fn user(&self, r: UserRef) -> &User {
        &self.seed.tenants[r.tenant].users[r.index]
    }

    /// The user whose v1 instance token this is (active or not).
    pub fn user_by_token(&self, token: &str) -> Option<UserRef> {
        self.tokens.get(token).copied()
    }

    pub fn user_by_id(&self, id: &str) -> Option<UserRef> {
        self.users.get(id).copied()
    }

    /// A user of the same company as `of`.
    pub fn colleague(&self, of: UserRef, id: &str) -> Option<&User> {
        self.user_by_id(id)
            .filter(|r| r.tenant == of.tenant)
            .map(|r| self.user(r))
    }

    pub fn stage(&self, tenant: usize, id: &str) -> Option<&Stage> {
        self.tenant(tenant).stages.iter().find(|s| s.id == id)
    }

    pub fn contact(&self, tenant: usize, id: &str) -> Option<&Contact> {
        self.tenant(tenant).contacts.iter().find(|c| c.id == id)
    }

    /// A deal `viewer` may see: same company, and theirs if their
    /// visibility is `own`. Anything else is "not found", as in RD Station.
    pub fn deal(&self, viewer: UserRef, id: &str) -> Option<&Deal> {
        let &(t, d) = self.deals.get(id)?;
        let deal = &self.seed.tenants[t].deals[d];
        (t == viewer.tenant && self.can_see(viewer, deal)).then_some(deal)
    }

    /// Every deal `viewer` may see, in seed order.
    pub fn deals(&self, viewer: UserRef) -> Vec<&Deal> {
        self.tenant(viewer.tenant)
            .deals
            .iter()
            .filter(|d| self.can_see(viewer, d))
            .collect()
    }

    /// The visible deals a contact takes part in.
    pub fn deals_of_contact(&self, viewer: UserRef, contact_id: &str) -> Vec<&Deal> {
        self.deals(viewer)
            .into_iter()
            .filter(|d| d.contact_ids.iter().any(|c| c == contact_id))
            .collect()
    }

    /// The company's contacts matching every given filter, in seed order.
    pub fn contacts(&self, tenant: usize, filter: &ContactFilter) -> Vec<&Contact> {
        let name = filter.name.as_deref().map(fold);
        self.tenant(tenant)
            .contacts
            .iter()
            .filter(|c| {
                filter
                    .phone
                    .as_deref()
                    .is_none_or(|q| c.phones.iter().any(|p| phones_match(&p.phone, q)))
                    && filter
                        .email
                        .as_deref()
                        .is_none_or(|q| c.emails.iter().any(|e| e.eq_ignore_ascii_case(q.trim())))
                    && name.as_deref().is_none_or(|q| fold(&c.name).contains(q))
            })
            .collect()
    }

    /// Stores a note on `deal` (which the caller may see).
    pub fn add_note(
        &self,
        deal: &Deal,
        user_id: &str,
        created_by: &str,
        text: String,
        via: Api,
    ) -> Note {
        let note = Note {
            id: new_object_id(),
            deal_id: deal.id.clone(),
            user_id: user_id.to_owned(),
            created_by: created_by.to_owned(),
            text,
            contact_id: deal.contact_ids.first().cloned(),
            deal_stage_id: deal.stage_id.clone(),
            created_at: crate::clock::now(),
            via,
        };
        self.notes.push(note.clone());
        tracing::info!(note = %note.id, deal = %note.deal_id, via = ?via, "note stored");
        note
    }

    /// Stores a task on `deal` (which the caller may see); `task.id` and
    /// `task.created_at` are given here.
    pub fn add_task(&self, mut task: Task) -> Task {
        task.id = new_object_id();
        task.created_at = crate::clock::now();
        self.tasks.push(task.clone());
        tracing::info!(task = %task.id, deal = %task.deal_id, kind = %task.kind, via = ?task.via, "task stored");
        task
    }

    /// The notes on deals `viewer` may see, oldest first.
    pub fn visible_notes(&self, viewer: UserRef) -> Vec<Note> {
        self.notes
            .filtered(|n| self.deal(viewer, &n.deal_id).is_some())
    }

    fn can_see(&self, viewer: UserRef, deal: &Deal) -> bool {
        let user = self.user(viewer);
        user.visibility == Visibility::All || deal.owner_id == user.id
    }
}

/// Whether a stored number and a searched one are the same line: their
/// digits (leading zeros dropped) are equal, or the shorter one, of at least
/// 10 digits (area code and number), ends the longer one. So
/// `+55 11 97173-0783`, `+5511971730783` and `(11) 97173-0783` all match.
pub(crate) fn phones_match(stored: &str, searched: &str) -> bool {
    let digits = |s: &str| {
        s.chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
            .trim_start_matches('0')
            .to_owned()
    };
    let (a, b) = (digits(stored), digits(searched));
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    !short.is_empty() && (short == long || (short.len() >= 10 && long.ends_with(&short)))
}

/// Lowercase without Portuguese accents, for name search.
fn fold(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'õ' | 'ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_search_compares_digits() {
        assert!(phones_match("+5511971730783", "+55 11 97173-0783"));
        assert!(phones_match("+5511971730783", "(11) 97173-0783"));
        assert!(phones_match("(11) 3456-7890", "+55 11 3456-7890"));
        assert!(phones_match("(11) 3456-7890", "011 3456-7890"));
        assert!(!phones_match("+5511971730783", "97173-0783"));
        assert!(!phones_match("+5511971730783", "+5521971730783"));
        assert!(!phones_match("+5511971730783", "telefone"));
    }

    #[test]
    fn name_search_ignores_case_and_accents() {
        let crm = Crm::new(Seed::demo());
        let found = |q: &str| {
            crm.contacts(
                0,
                &ContactFilter {
                    name: Some(q.into()),
                    ..ContactFilter::default()
                },
            )
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
        };
        assert_eq!(found("JULIANA"), ["Juliana Pereira"]);
        assert_eq!(found("fernandes"), ["Beatriz Fernandes"]);
        assert!(found("Luana").is_empty(), "another company's contact");
    }

    #[test]
    fn own_visibility_hides_colleagues_deals() {
        let crm = Crm::new(Seed::demo());
        let ana = crm.user_by_id("64b7f0c2a1e4d30000000a01").unwrap();
        let bruno = crm.user_by_id("64b7f0c2a1e4d30000000a02").unwrap();
        let eduardo = crm.user_by_id("64b7f0c2a1e4d30000000a11").unwrap();
        let anas_deal = "64b7f0c2a1e4d30000000d01";
        assert!(crm.deal(ana, anas_deal).is_some());
        assert!(crm.deal(bruno, anas_deal).is_none());
        assert!(crm.deal(eduardo, anas_deal).is_none());
        assert_eq!(crm.deals(ana).len(), 7);
        assert!(
            crm.deals(bruno)
                .iter()
                .all(|d| d.owner_id == "64b7f0c2a1e4d30000000a02")
        );
    }
}
