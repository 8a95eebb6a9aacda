//! [`PbxName`]: which of the configured Asterisk servers a tenant's calls
//! go through.

use std::fmt;
use std::str::FromStr;

/// The name of a PBX: `default` for the one under `[ami]`, else a key of
/// `[pbxs]` in the configuration. 1–32 lowercase ASCII letters or digits,
/// so it is also a safe part of an environment variable's name
/// (`DISCA_PBXS__CAMPINAS__SECRET`) and of a metric label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PbxName(String);

/// The name of the PBX configured under `[ami]`.
pub const DEFAULT_PBX: &str = "default";

#[derive(Debug, thiserror::Error)]
#[error("a PBX name must be 1 to 32 lowercase ASCII letters or digits")]
pub struct InvalidPbxName;

impl FromStr for PbxName {
    type Err = InvalidPbxName;
    fn from_str(s: &str) -> Result<PbxName, InvalidPbxName> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        ok.then(|| PbxName(s.to_owned())).ok_or(InvalidPbxName)
    }
}

impl Default for PbxName {
    /// The PBX under `[ami]`: every tenant's until assigned another.
    fn default() -> PbxName {
        PbxName(DEFAULT_PBX.to_owned())
    }
}

impl PbxName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT_PBX
    }
}

impl fmt::Display for PbxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_letters_and_digits() {
        assert_eq!("sp2".parse::<PbxName>().unwrap().as_str(), "sp2");
        assert!(PbxName::default().is_default());
        for bad in ["", "SP", "sp-2", "sp_2", "a b", &"a".repeat(33), "ção"] {
            assert!(bad.parse::<PbxName>().is_err(), "{bad:?}");
        }
    }
}
