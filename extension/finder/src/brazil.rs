//! Whether a candidate is a phone number, and its E.164 form: Brazil's
//! numbering plan (ANATEL, as libphonenumber's metadata for BR has it) for
//! numbers written without `+`, and a length check for international ones.

use crate::Region;
use crate::scan::Candidate;

/// Area codes (DDD) in use: `[14689][1-9] | 2[12478] | 3[1-578] | 5[13-5] | 7[13-579]`.
pub fn is_area_code(ddd: &[u8]) -> bool {
    let [a, b] = ddd else { return false };
    let (a, b) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
    match a {
        1 | 4 | 6 | 8 | 9 => (1..=9).contains(&b),
        2 => matches!(b, 1 | 2 | 4 | 7 | 8),
        3 => matches!(b, 1..=5 | 7 | 8),
        5 => matches!(b, 1 | 3..=5),
        7 => matches!(b, 1 | 3..=5 | 7 | 9),
        _ => false,
    }
}

/// Carrier selection codes written after a trunk `0`.
const CARRIERS: &[&str] = &[
    "12", "14", "15", "21", "22", "23", "25", "31", "41", "43", "55", "65", "99",
];

/// Non-geographic numbers (0800, 0300, 0303, 0500, 0900 as dialled): their
/// national significant number is one of these and 6 or 7 more digits.
const NON_GEOGRAPHIC: &[&str] = &["800", "300", "303", "500", "900"];

fn is_non_geographic(n: &str) -> bool {
    NON_GEOGRAPHIC
        .iter()
        .any(|p| n.starts_with(p) && (6..=7).contains(&(n.len() - p.len())))
}

/// 8-digit shared-cost numbers dialled without an area code: `4004-1234`,
/// and `300x-xxxx` (`3003-4000`), which libphonenumber's BR metadata
/// accepts as `300\d{5}`.
const CAPITALS: &[&str] = &[
    "300", "4003", "4004", "4020", "4062", "4090", "4370", "4864",
];

/// A national number (area code + subscriber): mobile `DDD 9xxxx-xxxx` or
/// fixed line `DDD [2-5]xxx-xxxx`.
fn is_national(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 10
        && is_area_code(&b[..2])
        && match b.len() {
            11 => b[2] == b'9',
            10 => (b'2'..=b'5').contains(&b[2]),
            _ => false,
        }
}

/// The E.164 form of `candidate`, if it is a phone number.
pub fn classify(candidate: &Candidate<'_>, region: Region) -> Option<String> {
    if candidate.labelled_otherwise || looks_like_other_figures(candidate.written) {
        return None;
    }
    let d = candidate.digits.as_str();
    if candidate.plus {
        return international(d);
    }
    if region != Region::Brazil {
        return None;
    }
    // The country code without its `+`, as exports write it: `55 11 98765-4321`.
    let written = candidate.written.as_bytes();
    if written.starts_with(b"55")
        && written
            .get(2)
            .is_some_and(|&b| b == b' ' || b == b'-' || b == b'.')
        && is_national(&d[2..])
    {
        return Some(format!("+{d}"));
    }
    national(d, candidate.carrier_placeholder).map(|n| format!("+55{n}"))
}

/// `+<country code><number>`: Brazil checked against its plan, other
/// countries by length (8 to 15 digits, no leading 0).
fn international(d: &str) -> Option<String> {
    if let Some(national) = d.strip_prefix("55") {
        return (is_national(national) || is_non_geographic(national)).then(|| format!("+{d}"));
    }
    ((8..=15).contains(&d.len()) && !d.starts_with('0')).then(|| format!("+{d}"))
}

/// The national significant number of a Brazilian writing without `+`.
fn national(d: &str, carrier_placeholder: bool) -> Option<String> {
    if let Some(n) = d.strip_prefix('0')
        && is_non_geographic(n)
    {
        return Some(n.to_owned());
    }
    if d.len() == 8 && CAPITALS.iter().any(|p| d.starts_with(p)) {
        return Some(d.to_owned());
    }
    let candidate = match d.strip_prefix('0') {
        // `0xx11 …`: the placeholder stands for the carrier code.
        Some(rest) if carrier_placeholder => rest,
        // Trunk 0 then a carrier code then the national number.
        Some(rest) if (12..=13).contains(&rest.len()) && CARRIERS.contains(&&rest[..2]) => {
            &rest[2..]
        }
        // Trunk 0 then the national number.
        Some(rest) => rest,
        None => d,
    };
    is_national(candidate).then(|| candidate.to_owned())
}

/// Groupings of other figures: `1.234.567`, `123.456.789-09` (CPF),
/// `192.168.0.1` (IP), `01310-100` (CEP).
fn looks_like_other_figures(written: &str) -> bool {
    let groups: Vec<&str> = written
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .collect();
    let dots = written.matches('.').count();
    // Thousands separators or a CPF: a first group of 1–3 digits, then
    // dot-separated groups of exactly 3 (the last may carry a `-dd`).
    let thousands = dots >= 1 && {
        let parts: Vec<&str> = written.split('.').collect();
        let (first, rest) = parts.split_first().unwrap_or((&"", &[]));
        let three = |g: &str| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit());
        (1..=3).contains(&first.len())
            && first.bytes().all(|b| b.is_ascii_digit())
            && rest.iter().enumerate().all(|(i, g)| {
                if i + 1 < rest.len() {
                    three(g)
                } else {
                    let (head, tail) = g.split_once('-').unwrap_or((g, ""));
                    three(head) && tail.bytes().all(|b| b.is_ascii_digit())
                }
            })
    };
    let ip = dots == 3 && groups.len() == 4 && groups.iter().all(|g| g.len() <= 3);
    // CEP: 5 digits, a hyphen, 3 digits, and nothing else.
    let cep =
        groups.len() == 2 && groups[0].len() == 5 && groups[1].len() == 3 && written.contains('-');
    thousands || ip || cep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_codes_are_the_67_in_use() {
        let count = (10..100)
            .filter(|n: &u32| is_area_code(n.to_string().as_bytes()))
            .count();
        assert_eq!(count, 67);
        for not in [
            "20", "23", "25", "26", "29", "30", "36", "39", "40", "50", "52", "56", "60", "70",
            "72", "76", "78", "80", "90",
        ] {
            assert!(!is_area_code(not.as_bytes()), "{not}");
        }
    }

    #[test]
    fn national_numbers_need_an_area_code_and_a_valid_first_digit() {
        assert!(is_national("11987654321"));
        assert!(is_national("2123456789"));
        assert!(!is_national("1187654321"), "8-digit mobiles are gone");
        assert!(!is_national("2012345678"), "20 is not an area code");
        assert!(!is_national("11612345678"), "11 digits must be a mobile");
    }

    #[test]
    fn capitals_numbers_are_8_digits_without_an_area_code() {
        for n in ["40041234", "30034000", "30001234", "48642000"] {
            assert_eq!(national(n, false).as_deref(), Some(n), "{n}");
        }
        for not in ["30134000", "31034000", "3003400", "34567890"] {
            assert_eq!(national(not, false), None, "{not}");
        }
    }

    #[test]
    fn other_figures_are_recognised() {
        for other in [
            "123.456.789-09",
            "1.234.567",
            "192.168.0.1",
            "01310-100",
            "12.345.678",
        ] {
            assert!(looks_like_other_figures(other), "{other}");
        }
        for phone in [
            "(11) 98765-4321",
            "11.98765.4321",
            "0800 123 4567",
            "+55 11 98765-4321",
        ] {
            assert!(!looks_like_other_figures(phone), "{phone}");
        }
    }
}
