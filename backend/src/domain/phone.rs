//! Phone numbers as the rest of the backend sees them: parsed once, at the edge,
//! into an [`E164Number`] that also knows what kind of line it reaches.

use std::fmt;

use disca_protocol::InvalidNumberReason;
use phonenumber::{PhoneNumber, Type, country};
use serde::Serialize;

/// Longest text accepted as "a number as written on the page".
const MAX_INPUT_CHARS: usize = 64;

/// A dialable number in E.164 form (`+5511987654321`), with its line kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E164Number {
    e164: String,
    kind: NumberKind,
}

/// What kind of line a number reaches; drives the destination policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberKind {
    FixedLine,
    Mobile,
    TollFree,
    SharedCost,
    PremiumRate,
    /// A Brazilian collect call (`90` + carrier + number).
    Collect,
    /// Any number outside the tenant's home country.
    International,
    Other,
}

/// Why a text is not a number we can dial. `Display` is Portuguese, for the salesperson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidNumber {
    #[error("O número contém caracteres inválidos (quebras de linha ou caracteres de controle).")]
    ControlCharacters,
    #[error("O texto é longo demais para ser um número de telefone.")]
    TooLongInput,
    #[error("Não encontramos um número de telefone no texto informado.")]
    NotANumber,
    #[error(
        "O código do país não é válido. Números internacionais começam com + e o código do país."
    )]
    InvalidCountryCode,
    #[error("O número está incompleto: faltam dígitos. Confira o DDD e o número.")]
    TooShort,
    #[error("O número tem dígitos demais. Confira se não há outro número colado a ele.")]
    TooLong,
    #[error("Falta o DDD: informe o número com o código de área, por exemplo (11) 98765-4321.")]
    MissingAreaCode,
    #[error(
        "Este número não existe: confira o DDD e os dígitos (celulares têm 9 dígitos e começam com 9)."
    )]
    NotAssigned,
}

impl InvalidNumber {
    /// Stable machine-readable reason, for API clients.
    pub fn reason(self) -> InvalidNumberReason {
        match self {
            Self::ControlCharacters => InvalidNumberReason::ControlCharacters,
            Self::TooLongInput => InvalidNumberReason::InputTooLong,
            Self::NotANumber => InvalidNumberReason::NotANumber,
            Self::InvalidCountryCode => InvalidNumberReason::InvalidCountryCode,
            Self::TooShort => InvalidNumberReason::TooShort,
            Self::TooLong => InvalidNumberReason::TooLong,
            Self::MissingAreaCode => InvalidNumberReason::MissingAreaCode,
            Self::NotAssigned => InvalidNumberReason::NotAssigned,
        }
    }
}

/// `+5511987654321` → `(11) 98765-4321`; numbers of other countries keep
/// their international form (`+1 212-555-0123`).
pub fn national_format(e164: &str) -> String {
    match phonenumber::parse(None, e164) {
        Ok(number) if number.code().value() == 55 => number
            .format()
            .mode(phonenumber::Mode::National)
            .to_string(),
        Ok(number) => number
            .format()
            .mode(phonenumber::Mode::International)
            .to_string(),
        Err(_) => e164.to_owned(),
    }
}

/// A region whose numbering plan applies to numbers written without `+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region(country::Id);

impl Region {
    pub const BRAZIL: Region = Region(country::Id::BR);

    /// Parses an ISO 3166-1 alpha-2 code (`BR`, `PT`...).
    pub fn parse(code: &str) -> Option<Region> {
        code.trim().to_ascii_uppercase().parse().ok().map(Region)
    }

    pub fn code(self) -> String {
        format!("{:?}", self.0)
    }

    /// The region's country calling code (`55` for Brazil).
    pub fn calling_code(self) -> Option<u16> {
        phonenumber::metadata::DATABASE
            .by_id(self.code().as_str())
            .map(|m| m.country_code())
    }
}

/// Loads the numbering plans ahead of the first click: `phonenumber` reads
/// its metadata (every region's) on first use, and compiles each pattern
/// the first time one is needed, which otherwise adds tens of milliseconds
/// to the first call after a start. Parsing a Brazilian mobile number loads
/// the metadata and compiles the patterns the commonest click needs.
pub fn load_numbering_plans() {
    let loaded = E164Number::parse("(11) 98765-4321", Region::BRAZIL);
    debug_assert!(loaded.is_ok());
}

impl E164Number {
    /// Parses a number as a salesperson sees it on a page (`(11) 98765-4321`,
    /// `+55 11 98765-4321`, `0xx11 3456-7890`...) in `region`'s numbering plan.
    pub fn parse(raw: &str, region: Region) -> Result<E164Number, InvalidNumber> {
        if raw.chars().any(char::is_control) {
            return Err(InvalidNumber::ControlCharacters);
        }
        if raw.chars().count() > MAX_INPUT_CHARS {
            return Err(InvalidNumber::TooLongInput);
        }
        let cleaned = strip_written_carrier_prefix(raw.trim());
        let digits: String = cleaned.chars().filter(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return Err(InvalidNumber::NotANumber);
        }
        let number = phonenumber::parse(Some(region.0), &cleaned).map_err(|e| match e {
            phonenumber::ParseError::InvalidCountryCode => InvalidNumber::InvalidCountryCode,
            phonenumber::ParseError::TooShortAfterIdd | phonenumber::ParseError::TooShortNsn => {
                InvalidNumber::TooShort
            }
            phonenumber::ParseError::TooLong => InvalidNumber::TooLong,
            _ => InvalidNumber::NotANumber,
        })?;
        if !number.is_valid() {
            return Err(diagnose_invalid(&number, region, &digits));
        }
        let international = number.country().id() != Some(region.0);
        let kind = if international {
            NumberKind::International
        } else if is_collect_call(&cleaned, region) {
            NumberKind::Collect
        } else {
            kind_of(number.number_type(&phonenumber::metadata::DATABASE))
        };
        Ok(E164Number {
            e164: number.format().mode(phonenumber::Mode::E164).to_string(),
            kind,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.e164
    }

    pub fn kind(&self) -> NumberKind {
        self.kind
    }
}

impl fmt::Display for E164Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.e164)
    }
}

/// `0xx11 3456-7890` and `(0xx11)`: the written placeholder for "your carrier".
fn strip_written_carrier_prefix(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    match lower.find("0xx") {
        Some(at) => format!("{}0{}", &raw[..at], &raw[at + 3..]),
        None => raw.to_owned(),
    }
}

fn is_collect_call(cleaned: &str, region: Region) -> bool {
    if region != Region::BRAZIL || cleaned.trim_start().starts_with('+') {
        return false;
    }
    let digits: String = cleaned.chars().filter(char::is_ascii_digit).collect();
    // 90 + two-digit carrier + DDD + 8 or 9 digits.
    digits.starts_with("90") && (digits.len() == 14 || digits.len() == 15)
}

fn diagnose_invalid(number: &PhoneNumber, region: Region, digits: &str) -> InvalidNumber {
    let national_len = number.national().to_string().len();
    let home = number.country().id() == Some(region.0);
    if home && region == Region::BRAZIL && (8..=9).contains(&digits.len()) {
        return InvalidNumber::MissingAreaCode;
    }
    if home && region == Region::BRAZIL {
        if national_len < 10 {
            return InvalidNumber::TooShort;
        }
        if national_len > 11 {
            return InvalidNumber::TooLong;
        }
    }
    InvalidNumber::NotAssigned
}

fn kind_of(t: Type) -> NumberKind {
    match t {
        Type::FixedLine => NumberKind::FixedLine,
        Type::Mobile | Type::FixedLineOrMobile => NumberKind::Mobile,
        Type::TollFree => NumberKind::TollFree,
        Type::SharedCost => NumberKind::SharedCost,
        Type::PremiumRate => NumberKind::PremiumRate,
        _ => NumberKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_in_national_format_at_home() {
        assert_eq!(national_format("+552123456789"), "(21) 2345-6789");
        assert_eq!(national_format("+5511987654321"), "(11) 98765-4321");
        assert_eq!(national_format("+5508001234567"), "0800 123 4567");
        assert_eq!(national_format("+12125550123"), "+1 212-555-0123");
        assert_eq!(national_format("not a number"), "not a number");
    }

    fn br(raw: &str) -> Result<E164Number, InvalidNumber> {
        E164Number::parse(raw, Region::BRAZIL)
    }

    #[test]
    fn brazilian_writings_normalize_to_e164() {
        for raw in [
            "(11) 98765-4321",
            "(11) 9 8765-4321",
            "11 98765-4321",
            "11987654321",
            "+55 11 98765-4321",
            "+55 (11) 98765-4321",
            "(011) 98765-4321",
            "0 15 11 98765-4321",
            "0xx11 98765-4321",
            "(0xx11) 98765-4321",
        ] {
            let n = br(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(n.as_str(), "+5511987654321", "{raw}");
            assert_eq!(n.kind(), NumberKind::Mobile, "{raw}");
        }
        let fixed = br("(21) 2345-6789").unwrap();
        assert_eq!(fixed.as_str(), "+552123456789");
        assert_eq!(fixed.kind(), NumberKind::FixedLine);
    }

    #[test]
    fn special_services_are_classified() {
        assert_eq!(br("0800 123 4567").unwrap().kind(), NumberKind::TollFree);
        assert_eq!(br("0900 123 4567").unwrap().kind(), NumberKind::PremiumRate);
        assert_eq!(br("4004-1234").unwrap().kind(), NumberKind::SharedCost);
        assert_eq!(
            br("+1 212 555 0123").unwrap().kind(),
            NumberKind::International
        );
        assert_eq!(
            br("+351 912 345 678").unwrap().kind(),
            NumberKind::International
        );
        assert_eq!(
            br("90 21 11 98765-4321").unwrap().kind(),
            NumberKind::Collect
        );
    }

    #[test]
    fn bad_input_says_why() {
        assert_eq!(
            br("11 98765-4321\r\nAction: Command"),
            Err(InvalidNumber::ControlCharacters)
        );
        assert_eq!(br("abc"), Err(InvalidNumber::NotANumber));
        assert_eq!(br(""), Err(InvalidNumber::NotANumber));
        assert_eq!(br("98765-4321"), Err(InvalidNumber::MissingAreaCode));
        assert_eq!(br(&"1".repeat(200)), Err(InvalidNumber::TooLongInput));
        assert!(br("(20) 98765-4321").is_err(), "20 is not an area code");
        assert!(br("123.456.789-09").is_err(), "a CPF is not a phone number");
    }

    #[test]
    fn other_regions() {
        let pt = Region::parse("pt").unwrap();
        let n = E164Number::parse("912 345 678", pt).unwrap();
        assert_eq!(n.as_str(), "+351912345678");
        assert_eq!(n.kind(), NumberKind::Mobile);
        assert_eq!(Region::parse("zz"), None);
    }
}
