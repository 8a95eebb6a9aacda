//! Tenants (companies), their users, and who may dial what.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use disca_protocol::Role;
use disca_protocol::phone::PhoneKind;

use super::pbx_name::PbxName;
use super::phone::{NumberKind, Region};

/// A tenant's short name, used in Asterisk object names (`acme-1001`,
/// `disca-acme-outbound`): 1–32 lowercase ASCII letters and digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);

/// An agent's extension within a tenant (`1001`): 1–16 ASCII letters or digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension(String);

#[derive(Debug, thiserror::Error)]
#[error("{what} must be {rule}")]
pub struct InvalidName {
    what: &'static str,
    rule: &'static str,
}

impl FromStr for TenantSlug {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, InvalidName> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        ok.then(|| TenantSlug(s.to_owned())).ok_or(InvalidName {
            what: "a tenant slug",
            rule: "1 to 32 lowercase ASCII letters or digits",
        })
    }
}

impl FromStr for Extension {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<Self, InvalidName> {
        // `<tenant>-trunk` is the tenant's trunk (console telephony).
        let ok = (1..=16).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric())
            && !s.eq_ignore_ascii_case("trunk");
        ok.then(|| Extension(s.to_owned())).ok_or(InvalidName {
            what: "an endpoint extension",
            rule: "1 to 16 ASCII letters or digits, and not \"trunk\"",
        })
    }
}

impl TenantSlug {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PJSIP endpoint of one of this tenant's agents.
    pub fn endpoint(&self, extension: &Extension) -> String {
        format!("{}-{}", self.0, extension.0)
    }

    /// The dialplan context the agent's channel runs once answered.
    pub fn outbound_context(&self) -> String {
        format!("disca-{}-outbound", self.0)
    }
}

impl Extension {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which kinds of destination a tenant's users may call, set by the
/// tenant's admin. By default Brazilian fixed, mobile and toll-free numbers
/// are allowed (shared-cost `0300`/`4004` numbers go with fixed lines: they
/// cost the caller a local call); premium-rate, collect and international
/// calls only when the tenant opted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationPolicy {
    pub allow_fixed: bool,
    pub allow_mobile: bool,
    pub allow_toll_free: bool,
    pub allow_premium: bool,
    pub allow_collect: bool,
    pub allow_international: bool,
}

impl Default for DestinationPolicy {
    fn default() -> DestinationPolicy {
        DestinationPolicy {
            allow_fixed: true,
            allow_mobile: true,
            allow_toll_free: true,
            allow_premium: false,
            allow_collect: false,
            allow_international: false,
        }
    }
}

/// A destination the tenant does not allow; `Display` is Portuguese.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DestinationRefused {
    #[error("Ligações para telefones fixos não estão liberadas para a sua empresa.")]
    Fixed,
    #[error("Ligações para celulares não estão liberadas para a sua empresa.")]
    Mobile,
    #[error("Ligações para números 0800 não estão liberadas para a sua empresa.")]
    TollFree,
    #[error(
        "Ligações para números de tarifa especial (0900/0500) não estão liberadas para a sua empresa."
    )]
    Premium,
    #[error("Ligações a cobrar (90) não estão liberadas para a sua empresa.")]
    Collect,
    #[error("Ligações internacionais não estão liberadas para a sua empresa.")]
    International,
    #[error("Este tipo de número não pode ser chamado pelo Disca.")]
    Other,
}

impl DestinationPolicy {
    pub fn check(&self, kind: NumberKind) -> Result<(), DestinationRefused> {
        match kind {
            NumberKind::FixedLine | NumberKind::SharedCost if self.allow_fixed => Ok(()),
            NumberKind::FixedLine | NumberKind::SharedCost => Err(DestinationRefused::Fixed),
            NumberKind::Mobile if self.allow_mobile => Ok(()),
            NumberKind::Mobile => Err(DestinationRefused::Mobile),
            NumberKind::TollFree if self.allow_toll_free => Ok(()),
            NumberKind::TollFree => Err(DestinationRefused::TollFree),
            NumberKind::PremiumRate if self.allow_premium => Ok(()),
            NumberKind::PremiumRate => Err(DestinationRefused::Premium),
            NumberKind::Collect if self.allow_collect => Ok(()),
            NumberKind::Collect => Err(DestinationRefused::Collect),
            NumberKind::International if self.allow_international => Ok(()),
            NumberKind::International => Err(DestinationRefused::International),
            NumberKind::Other => Err(DestinationRefused::Other),
        }
    }
}

/// A tenant as the request path needs it.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub slug: TenantSlug,
    pub name: String,
    pub region: Region,
    pub policy: DestinationPolicy,
    /// The PBX its calls go through.
    pub pbx: PbxName,
}

impl Tenant {
    /// A company in Brazil with the default destination policy, on the
    /// default PBX: what `tenant add` makes without options.
    pub fn in_brazil(slug: TenantSlug, name: impl Into<String>) -> Tenant {
        Tenant {
            slug,
            name: name.into(),
            region: Region::BRAZIL,
            policy: DestinationPolicy::default(),
            pbx: PbxName::default(),
        }
    }
}

/// An authenticated user.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub tenant: Tenant,
    pub name: String,
    pub email: String,
    pub extension: Extension,
    pub role: Role,
    /// What rings when they click.
    pub phone: PhoneKind,
    /// May use the admin console (a manager may be an admin too).
    pub admin: bool,
}

impl User {
    pub fn endpoint(&self) -> String {
        self.tenant.slug.endpoint(&self.extension)
    }
}

impl From<User> for disca_protocol::Me {
    /// Who a token or a sign-in belongs to, as clients see it.
    fn from(user: User) -> disca_protocol::Me {
        disca_protocol::Me {
            id: user.id,
            name: user.name,
            email: user.email,
            tenant: user.tenant.slug.to_string(),
            role: user.role,
            extension: user.extension.as_str().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_strict() {
        assert!("acme".parse::<TenantSlug>().is_ok());
        for bad in ["", "Acme", "ac-me", "a b", "acme\n", &"a".repeat(33)] {
            assert!(bad.parse::<TenantSlug>().is_err(), "{bad:?}");
        }
        assert!("1001".parse::<Extension>().is_ok());
        assert!("10 01".parse::<Extension>().is_err());
        assert!("Trunk".parse::<Extension>().is_err(), "the trunk's name");
        let slug: TenantSlug = "acme".parse().unwrap();
        assert_eq!(slug.endpoint(&"1001".parse().unwrap()), "acme-1001");
        assert_eq!(slug.outbound_context(), "disca-acme-outbound");
    }

    #[test]
    fn default_policy_allows_only_ordinary_brazilian_numbers() {
        let p = DestinationPolicy::default();
        assert!(p.check(NumberKind::Mobile).is_ok());
        assert!(p.check(NumberKind::FixedLine).is_ok());
        assert!(p.check(NumberKind::TollFree).is_ok());
        assert_eq!(
            p.check(NumberKind::PremiumRate),
            Err(DestinationRefused::Premium)
        );
        assert_eq!(
            p.check(NumberKind::Collect),
            Err(DestinationRefused::Collect)
        );
        assert_eq!(
            p.check(NumberKind::International),
            Err(DestinationRefused::International)
        );
        let open = DestinationPolicy {
            allow_premium: true,
            allow_collect: true,
            allow_international: true,
            ..DestinationPolicy::default()
        };
        assert!(open.check(NumberKind::International).is_ok());
        let no_mobiles = DestinationPolicy {
            allow_mobile: false,
            ..DestinationPolicy::default()
        };
        assert_eq!(
            no_mobiles.check(NumberKind::Mobile),
            Err(DestinationRefused::Mobile)
        );
        assert!(no_mobiles.check(NumberKind::FixedLine).is_ok());
    }
}
