//! Finds the phone numbers in a text: each one's byte span and its E.164
//! form, in order. Pure Rust with no dependencies and no regular
//! expressions, so it compiles to a small wasm module for the extension's
//! content script, and runs natively (`disca-detect`) for tests and tools.
//!
//! What it recognises (default region Brazil): mobiles and fixed lines with
//! their area code (DDD) in the usual writings — `(11) 98765-4321`,
//! `11 9 8765-4321`, `11987654321`, `(21) 2345-6789`, `+55 11 98765-4321` —
//! with a trunk `0` (`(011) 3456-7890`), a carrier code (`0 15 11 98765-4321`,
//! `0xx11 3456-7890`), toll-free and shared-cost numbers (`0800 123 4567`,
//! `0300 …`, `4004-1234`, `3003-4000`), and international numbers written
//! with `+` (`+55(31)99456-1200`, `+1 415 555 2671`).
//!
//! Where it finds them: in sentences, whatever punctuation follows
//! (`ligar no 62 98400-1122; …`, `"(41) 3013-2200"`, `… 4321!`); after
//! money or a date earlier in the text (`R$ 1.250.000,00  (61) 3344-7788`);
//! in spreadsheet rows, whose `;` `,` `|` separate fields
//! (`Maria;maria@x.com.br;11987654321;SP`); and two numbers written with
//! their area codes in parentheses around a `/`
//! (`(11)3456-7890/(11)98765-4321`).
//!
//! What it refuses, by construction: CPF, CNPJ, CEP, dates, times, money,
//! percentages, IP addresses, card numbers, digit runs glued to letters or to
//! other digits (a comma glues only inside a figure: `12,5`, `1.234,56`),
//! digits inside URLs and e-mail addresses, numbers labelled otherwise, and
//! numbers without an area code (they cannot be dialled without guessing
//! one). A label is a word such as "CPF", "RG", "pedido", "protocolo" or
//! "nº" among the two words before the number (`Pedido nº 11987654321`), or
//! among the four words of a label ending in a colon right before it (`cpf
//! do sócio: 47991234592`), unless that label has a phone word (`Telefone
//! da conta: …`). Bare `no` is the preposition (`ligar no 11 …`), not `nº`.
//!
//! Cost: one pass over the text; each run looks at a bounded neighbourhood
//! (its label, its token for links), so pages of thousands of rows and texts
//! without spaces take linear time.
//!
//! Modules: [`scan`] cuts the text into candidates (where a number may start
//! and end, and what surrounds it); [`brazil`] decides whether a candidate's
//! digits and grouping make a Brazilian or international number.

pub mod brazil;
pub mod scan;

/// A phone number found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Byte offsets of the number as written (`text[start..end]`).
    pub start: usize,
    pub end: usize,
    /// The number in E.164, e.g. `+5511987654321`.
    pub e164: String,
}

/// The numbering plan for numbers written without `+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Region {
    /// Brazil: DDD area codes, trunk `0`, carrier codes, 0800/0300/4004.
    #[default]
    Brazil,
    /// No national plan: only numbers written with `+` are found.
    InternationalOnly,
}

impl Region {
    /// `BR`, or `none` for international numbers only.
    pub fn parse(code: &str) -> Option<Region> {
        match code.trim().to_ascii_uppercase().as_str() {
            "BR" => Some(Region::Brazil),
            "NONE" => Some(Region::InternationalOnly),
            _ => None,
        }
    }
}

/// Every phone number in `text`, in order of appearance.
pub fn find(text: &str, region: Region) -> Vec<Found> {
    let mut found = Vec::new();
    let mut scanner = scan::candidates(text);
    while let Some(candidate) = scanner.next() {
        if let Some(e164) = brazil::classify(&candidate, region) {
            found.push(Found {
                start: candidate.start,
                end: candidate.end,
                e164,
            });
            continue;
        }
        // Two numbers side by side (`11 98765-4321 11 3456-7890`), or a
        // number and its extension (`11 3456-7890 230`): cut where the rest
        // is a number too, or a short extension after a full number; a card
        // like `4004 1234 5678 9012` is not cut. Then scan on after the cut.
        let first = candidate.cut_points().find_map(|cut| {
            let prefix = candidate.prefix(text, cut);
            let e164 = brazil::classify(&prefix, region)?;
            let rest = scan::candidates(&text[..candidate.end]).tap_from(cut)?;
            let extension = rest.digits.len() <= 4 && prefix.digits.len() >= 10;
            (extension || brazil::classify(&rest, region).is_some()).then_some((cut, e164))
        });
        if let Some((cut, e164)) = first {
            found.push(Found {
                start: candidate.start,
                end: cut,
                e164,
            });
            scanner.resume_at(cut);
        }
    }
    found
}
