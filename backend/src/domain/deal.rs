//! Identifiers of RD Station CRM records, checked before they reach a URL
//! or a request body.

use std::fmt;

/// An RD Station deal id: 24 lowercase hexadecimal characters (a MongoDB
/// ObjectId, as API v2 documents `^[0-9a-f]{24}$`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DealId(String);

/// A user id at the CRM, the author of a v1 note: 1 to 64 ASCII letters,
/// digits, `-` or `_` (RD Station's are ObjectIds; nothing else is assumed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CrmUserId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidCrmId(&'static str);

impl DealId {
    pub fn parse(s: &str) -> Result<DealId, InvalidCrmId> {
        let ok = s.len() == 24 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| DealId(s.to_owned())).ok_or(InvalidCrmId(
            "a deal id has 24 lowercase hexadecimal characters",
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl CrmUserId {
    pub fn parse(s: &str) -> Result<CrmUserId, InvalidCrmId> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| CrmUserId(s.to_owned())).ok_or(InvalidCrmId(
            "a CRM user id has 1 to 64 ASCII letters, digits, - or _",
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DealId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for CrmUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deal_ids_are_object_ids() {
        assert!(DealId::parse("5f1e7a9b2c3d4e5f6a7b8c9d").is_ok());
        for bad in [
            "",
            "5F1E7A9B2C3D4E5F6A7B8C9D",
            "5f1e7a9b2c3d4e5f6a7b8c9",
            "5f1e7a9b2c3d4e5f6a7b8c9d0",
            "../../users/5f1e7a9b2c3d",
            "5f1e7a9b2c3d4e5f6a7b8c9\n",
        ] {
            assert!(DealId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn crm_user_ids_are_plain() {
        assert!(CrmUserId::parse("64b7f0c2a1e4d30000000a01").is_ok());
        assert!(CrmUserId::parse("user_1-a").is_ok());
        for bad in ["", "a b", "a&token=x", "a\r\n", &"a".repeat(65)] {
            assert!(CrmUserId::parse(bad).is_err(), "{bad:?}");
        }
    }
}
