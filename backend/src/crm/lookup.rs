//! Which deal a call's note goes to when the page gave none: the rule,
//! apart from the requests that gather the candidates.
//!
//! The candidates are the deals of every contact whose phone matches the
//! number called. Among them:
//! 1. only open deals count (a won or lost deal is history);
//! 2. deals owned by the salesperson who called come first;
//! 3. then the most recently updated one (the deal being worked now);
//! 4. a tie goes to the newest deal (the greatest id: RD Station ids are
//!    ObjectIds, which start with their creation time).
//!
//! No open deal: no note; the call is marked "no deal" for managers.

use jiff::Timestamp;

use crate::domain::DealId;

/// A deal as the lookup needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: DealId,
    pub open: bool,
    pub owner_id: Option<String>,
    pub updated_at: Option<Timestamp>,
}

/// Most deals read per lookup; a number shared by more is unusual, and each
/// read is one request of the 120 per minute.
pub const MAX_CANDIDATES: usize = 20;

pub fn choose(candidates: &[Candidate], salesperson: Option<&str>) -> Option<DealId> {
    candidates
        .iter()
        .filter(|c| c.open)
        .max_by(|a, b| {
            let mine =
                |c: &Candidate| salesperson.is_some() && c.owner_id.as_deref() == salesperson;
            (mine(a), a.updated_at, a.id.as_str()).cmp(&(mine(b), b.updated_at, b.id.as_str()))
        })
        .map(|c| c.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deal(id: &str, open: bool, owner: &str, updated: &str) -> Candidate {
        Candidate {
            id: DealId::parse(id).unwrap(),
            open,
            owner_id: Some(owner.into()),
            updated_at: updated.parse().ok(),
        }
    }

    const A: &str = "64b7f0c2a1e4d30000000d01";
    const B: &str = "64b7f0c2a1e4d30000000d02";
    const C: &str = "64b7f0c2a1e4d30000000d03";

    #[test]
    fn the_rule() {
        let closed_newest = deal(C, false, "ana", "2026-11-20T00:00:00Z");
        let open_old = deal(A, true, "bruno", "2026-01-01T00:00:00Z");
        let open_new = deal(B, true, "bruno", "2026-06-01T00:00:00Z");
        assert_eq!(choose(&[], None), None);
        assert_eq!(
            choose(std::slice::from_ref(&closed_newest), None),
            None,
            "closed deals never"
        );
        let all = [closed_newest, open_old.clone(), open_new.clone()];
        assert_eq!(
            choose(&all, None).unwrap().as_str(),
            B,
            "most recently updated"
        );
        assert_eq!(choose(&all, Some("carla")).unwrap().as_str(), B);
        let mine = deal(A, true, "ana", "2025-01-01T00:00:00Z");
        assert_eq!(
            choose(&[mine, open_new], Some("ana")).unwrap().as_str(),
            A,
            "the caller's own deal first"
        );
        let twin = deal(C, true, "bruno", "2026-01-01T00:00:00Z");
        assert_eq!(
            choose(&[open_old, twin], None).unwrap().as_str(),
            C,
            "tie: the newest deal"
        );
    }
}
