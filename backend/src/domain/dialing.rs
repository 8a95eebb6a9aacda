//! How a tenant's calls leave the PBX when its admin configured them in the
//! console: the trunk (an IP-authenticated SIP carrier), how the number is
//! written for it, the caller ID shown to the lead (the tenant's, per area
//! code of the lead, or per salesperson), and the dial rule the dialplan
//! checks again (the destination policy as a regular expression). Every
//! value is checked here against the alphabet the dialplan accepts, so
//! nothing else reaches the PBX.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::tenant::DestinationPolicy;

/// How the trunk wants the lead's number (the dialplan's
/// `DISCA_NUMBER_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NumberFormat {
    /// `+5511987654321`
    #[serde(rename = "e164")]
    E164,
    /// `5511987654321`
    #[serde(rename = "e164-digits")]
    E164Digits,
    /// The national prefix, then area code and number: `011987654321`.
    #[serde(rename = "national")]
    National,
}

impl NumberFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberFormat::E164 => "e164",
            NumberFormat::E164Digits => "e164-digits",
            NumberFormat::National => "national",
        }
    }
}

impl FromStr for NumberFormat {
    type Err = InvalidDialing;
    fn from_str(s: &str) -> Result<NumberFormat, InvalidDialing> {
        match s {
            "e164" => Ok(NumberFormat::E164),
            "e164-digits" => Ok(NumberFormat::E164Digits),
            "national" => Ok(NumberFormat::National),
            _ => Err(InvalidDialing::NumberFormat),
        }
    }
}

/// A setting the dialplan would refuse; `Display` is Portuguese, for the
/// admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDialing {
    #[error("O endereço da operadora deve ser um IP ou um nome (letras, algarismos, . e -).")]
    Host,
    #[error("A porta da operadora deve ser um número de 1 a 65535.")]
    Port,
    #[error("O formato do número deve ser e164, e164-digits ou national.")]
    NumberFormat,
    #[error("O prefixo nacional deve ter até 4 algarismos (por exemplo 0), ou ficar vazio.")]
    NationalPrefix,
    #[error(
        "O número exibido deve estar no formato internacional, com + e de 10 a 15 algarismos (por exemplo +551130000000)."
    )]
    CallerId,
    #[error("O tempo de toque do cliente deve ser de 10 a 120 segundos.")]
    RingSeconds,
    #[error("O DDD deve ter 2 algarismos de 1 a 9 (por exemplo 11).")]
    AreaCode,
    #[error(
        "O usuário na operadora deve ter de 1 a 64 letras, algarismos, ., _, + ou - (como a operadora o informou)."
    )]
    TrunkUser,
    #[error(
        "A senha da operadora deve ter de 1 a 128 caracteres, sem espaços nem acentos (como a operadora a informou)."
    )]
    TrunkPassword,
}

/// The user name of the tenant's account at a carrier that asks the PBX to
/// register (also the authentication user): 1–64 of `[A-Za-z0-9._+-]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SipUser(String);

impl FromStr for SipUser {
    type Err = InvalidDialing;
    fn from_str(s: &str) -> Result<SipUser, InvalidDialing> {
        let s = s.trim();
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-'));
        ok.then(|| SipUser(s.to_owned()))
            .ok_or(InvalidDialing::TrunkUser)
    }
}

impl SipUser {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a carrier account's password: 1–128 visible ASCII characters
/// (it is written into the directory Asterisk reads, and sent in SIP
/// digest authentication only as a hash).
pub fn check_trunk_password(password: &str) -> Result<(), InvalidDialing> {
    let ok = (1..=128).contains(&password.len()) && password.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(()).ok_or(InvalidDialing::TrunkPassword)
}

/// The carrier's address: an IPv4 address or a host name, 1–253 of
/// `[A-Za-z0-9.-]` (the alphabet of a PJSIP `contact` the dialplan and
/// sorcery take as is).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrunkHost(String);

impl FromStr for TrunkHost {
    type Err = InvalidDialing;
    fn from_str(s: &str) -> Result<TrunkHost, InvalidDialing> {
        let s = s.trim();
        let ok = (1..=253).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !s.starts_with(['.', '-'])
            && !s.ends_with(['.', '-']);
        ok.then(|| TrunkHost(s.to_ascii_lowercase()))
            .ok_or(InvalidDialing::Host)
    }
}

impl TrunkHost {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A number shown to the lead: `+` and 10 to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerId(String);

impl FromStr for CallerId {
    type Err = InvalidDialing;
    fn from_str(s: &str) -> Result<CallerId, InvalidDialing> {
        let compact: String = s
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').unwrap_or_default();
        let ok = (10..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        ok.then_some(CallerId(compact))
            .ok_or(InvalidDialing::CallerId)
    }
}

impl CallerId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Brazilian area code (DDD): two digits, 1–9 each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AreaCode(String);

impl FromStr for AreaCode {
    type Err = InvalidDialing;
    fn from_str(s: &str) -> Result<AreaCode, InvalidDialing> {
        let s = s.trim();
        let ok = s.len() == 2 && s.bytes().all(|b| (b'1'..=b'9').contains(&b));
        ok.then(|| AreaCode(s.to_owned()))
            .ok_or(InvalidDialing::AreaCode)
    }
}

impl AreaCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Shortest and longest time the lead's phone may ring.
pub const LEAD_RING_SECONDS: std::ops::RangeInclusive<u32> = 10..=120;

/// A tenant's trunk and caller ID, as its admin set them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkSettings {
    pub host: TrunkHost,
    pub port: u16,
    pub number_format: NumberFormat,
    /// Digits only, at most 4 (for [`NumberFormat::National`]).
    pub national_prefix: String,
    /// The tenant's caller ID, when no other applies.
    pub caller_id: CallerId,
    pub lead_ring_secs: u32,
}

impl TrunkSettings {
    /// Checks the settings as typed.
    pub fn parse(
        host: &str,
        port: u32,
        number_format: &str,
        national_prefix: &str,
        caller_id: &str,
        lead_ring_secs: u32,
    ) -> Result<TrunkSettings, InvalidDialing> {
        let national_prefix = national_prefix.trim();
        if national_prefix.len() > 4 || !national_prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidDialing::NationalPrefix);
        }
        if !LEAD_RING_SECONDS.contains(&lead_ring_secs) {
            return Err(InvalidDialing::RingSeconds);
        }
        Ok(TrunkSettings {
            host: host.parse()?,
            port: u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or(InvalidDialing::Port)?,
            number_format: number_format.parse()?,
            national_prefix: national_prefix.to_owned(),
            caller_id: caller_id.parse()?,
            lead_ring_secs,
        })
    }

    /// The trunk's SIP URI (the PJSIP AOR's `contact`).
    pub fn contact(&self) -> String {
        format!("sip:{}:{}", self.host.as_str(), self.port)
    }
}

/// The destination policy as the dialplan checks it: a POSIX extended
/// regular expression (`REGEX()`) the E.164 number must match, in the
/// dialplan's alphabet (printable ASCII without `"` and `\`; `[+]` for a
/// plus). Brazilian kinds follow the E.164 forms `E164Number` writes:
/// fixed `+55 DD [2-5]NNNNNNN` and shared cost `+55 300…`/`+55 4004…`,
/// mobile `+55 DD 9NNNNNNNN`, toll-free `+55 800…`, premium `+55 900…` and
/// `+55 500…`; international, any country code but 55. A collect call is
/// dialled as the plain number (the `90` prefix never reaches the trunk),
/// so only the backend can refuse it. Nothing allowed: a rule no number
/// matches.
pub fn dial_rule(policy: &DestinationPolicy) -> String {
    let mut national = Vec::new();
    if policy.allow_fixed {
        national.push("[1-9][1-9][2-5][0-9]{7}");
        national.push("30[03][0-9]{7}");
        national.push("400[0-9]{5}");
    }
    if policy.allow_mobile {
        national.push("[1-9][1-9]9[0-9]{8}");
    }
    if policy.allow_toll_free {
        national.push("800[0-9]{6,7}");
    }
    if policy.allow_premium {
        national.push("[59]00[0-9]{6,7}");
    }
    let mut rules = Vec::new();
    if !national.is_empty() {
        rules.push(format!("^[+]55({})$", national.join("|")));
    }
    if policy.allow_international {
        rules.push("^[+]([1-46-9][0-9]{6,14}|5[0-46-9][0-9]{5,13})$".to_owned());
    }
    if rules.is_empty() {
        "^none$".to_owned()
    } else {
        rules.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{E164Number, NumberKind, Region};

    #[test]
    fn a_carrier_account_takes_only_what_sip_and_the_directory_carry() {
        assert_eq!(
            " 1130001000 ".parse::<SipUser>().unwrap().as_str(),
            "1130001000"
        );
        assert!("acme.vendas_1+x-y".parse::<SipUser>().is_ok());
        for bad in ["", "a b", "user@host", "a;b", "ação", &"x".repeat(65)] {
            assert!(bad.parse::<SipUser>().is_err(), "{bad:?}");
        }
        assert!(check_trunk_password("S3nh@!#;%").is_ok());
        for bad in ["", "com espaço", "senha\n", "çenha", &"x".repeat(129)] {
            assert!(check_trunk_password(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_dial_rule_allows_exactly_what_the_policy_allows() {
        let samples = [
            "(21) 2345-6789",
            "(11) 98765-4321",
            "4004-1234",
            "0300 123 4567",
            "0800 123 4567",
            "0800 123 456",
            "0900 123 4567",
            "0500 123 4567",
            "+1 212 555 0123",
            "+351 912 345 678",
            "+54 9 11 2345-6789",
            "+44 20 7946 0958",
        ];
        let all = [
            ("fixed", NumberKind::FixedLine),
            ("mobile", NumberKind::Mobile),
            ("toll_free", NumberKind::TollFree),
            ("premium", NumberKind::PremiumRate),
            ("international", NumberKind::International),
        ];
        for (only, _) in all {
            let policy = DestinationPolicy {
                allow_fixed: only == "fixed",
                allow_mobile: only == "mobile",
                allow_toll_free: only == "toll_free",
                allow_premium: only == "premium",
                allow_collect: false,
                allow_international: only == "international",
            };
            let rule = regex::Regex::new(&dial_rule(&policy)).unwrap();
            for raw in samples {
                let number = E164Number::parse(raw, Region::BRAZIL).unwrap();
                let allowed = policy.check(number.kind()).is_ok();
                assert_eq!(
                    rule.is_match(number.as_str()),
                    allowed,
                    "{only}: {raw} ({}, {:?})",
                    number.as_str(),
                    number.kind()
                );
            }
        }
        let nothing = DestinationPolicy {
            allow_fixed: false,
            allow_mobile: false,
            allow_toll_free: false,
            allow_premium: false,
            allow_collect: true,
            allow_international: false,
        };
        let rule = dial_rule(&nothing);
        assert!(!regex::Regex::new(&rule).unwrap().is_match("+5511987654321"));
        for policy in [DestinationPolicy::default(), nothing] {
            let rule = dial_rule(&policy);
            assert!(
                rule.bytes()
                    .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
            );
        }
    }

    #[test]
    fn settings_are_checked() {
        let ok = TrunkSettings::parse(
            "SIP.Operadora.com.br",
            5060,
            "national",
            "0",
            "+55 (11) 3000-0000",
            30,
        )
        .unwrap();
        assert_eq!(ok.contact(), "sip:sip.operadora.com.br:5060");
        assert_eq!(ok.caller_id.as_str(), "+551130000000");
        for bad in [
            TrunkSettings::parse(
                "sip.op.com;transport=tcp",
                5060,
                "e164",
                "",
                "+551130000000",
                30,
            ),
            TrunkSettings::parse("sip.op.com", 0, "e164", "", "+551130000000", 30),
            TrunkSettings::parse("sip.op.com", 70000, "e164", "", "+551130000000", 30),
            TrunkSettings::parse("sip.op.com", 5060, "local", "", "+551130000000", 30),
            TrunkSettings::parse("sip.op.com", 5060, "national", "0,1", "+551130000000", 30),
            TrunkSettings::parse("sip.op.com", 5060, "e164", "", "1130000000", 30),
            TrunkSettings::parse("sip.op.com", 5060, "e164", "", "+551130000000", 5),
        ] {
            assert!(bad.is_err(), "{bad:?}");
        }
        assert!("11".parse::<AreaCode>().is_ok());
        for bad in ["1", "01", "110", "1a"] {
            assert!(bad.parse::<AreaCode>().is_err(), "{bad}");
        }
    }
}
