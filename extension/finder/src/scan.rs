//! Cuts a text into candidates: runs of digits and phone separators that
//! start and end at a word boundary, outside URLs and e-mail addresses. A run
//! is consumed whole, so a number is never looked for again inside a longer
//! run that was refused (an order number does not hide a "phone" in its
//! middle).

/// A run that may be a phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Byte offsets of the run in the text.
    pub start: usize,
    pub end: usize,
    /// The run as written.
    pub written: &'a str,
    /// Its digits, in order.
    pub digits: String,
    /// Written with a leading `+`.
    pub plus: bool,
    /// Written with the `0xx` carrier placeholder (`0xx11 3456-7890`).
    pub carrier_placeholder: bool,
    /// A word before the run says what follows is not a phone (`CPF`,
    /// `pedido`, `protocolo`...).
    pub labelled_otherwise: bool,
}

/// Longest digit run considered: two numbers side by side with their
/// prefixes (E.164 has at most 15 digits; a Brazilian writing with a carrier
/// code 14). Longer runs are card, protocol or order numbers.
const MAX_DIGITS: usize = 32;

/// Words that, just before a number, say it is something else.
const NOT_A_PHONE: &[&str] = &[
    "cpf",
    "cnpj",
    "cep",
    "rg",
    "ie",
    "protocolo",
    "pedido",
    "ordem",
    "order",
    "nf",
    "nfe",
    "nota",
    "fiscal",
    "boleto",
    "fatura",
    "invoice",
    "código",
    "codigo",
    "cód",
    "cod",
    "id",
    "nº",
    "n°",
    "no",
    "num",
    "nr",
    "conta",
    "agência",
    "agencia",
    "ag",
    "cc",
    "matrícula",
    "matricula",
    "cartão",
    "cartao",
    "processo",
    "chamado",
    "ticket",
    "sku",
    "lote",
    "serial",
    "placa",
    "cnh",
    "renavam",
    "pis",
    "nis",
    "titulo",
    "título",
];

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '-' | '.' | '\u{2011}' | '\u{2013}')
}

/// Characters that, right before a run, glue it to something else.
fn glues_before(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(
            c,
            '_' | '.' | ',' | '-' | '/' | '@' | '#' | '$' | '+' | '=' | '&' | '%' | '\\' | '*'
        )
}

/// Characters that, right after a run, glue it to something else.
fn glues_after(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(
            c,
            '_' | '%' | '@' | '/' | '\\' | '°' | 'º' | '*' | '$' | '€' | '='
        )
}

/// The candidates of `text`, in order.
pub fn candidates(text: &str) -> Scanner<'_> {
    Scanner { text, pos: 0 }
}

/// Iterates over candidates; see [`candidates`].
pub struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// Goes on scanning from byte `pos` (after a number found at the start
    /// of a longer run).
    pub fn resume_at(&mut self, pos: usize) {
        self.pos = pos;
    }

    /// The first candidate at or after byte `pos`.
    pub fn tap_from(mut self, pos: usize) -> Option<Candidate<'a>> {
        self.pos = pos;
        self.next()
    }
}

impl<'a> Candidate<'a> {
    /// The candidate cut at byte `end` of the text (a space inside it): for
    /// two numbers written side by side.
    pub fn prefix(&self, text: &'a str, end: usize) -> Candidate<'a> {
        let written = &text[self.start..end];
        Candidate {
            start: self.start,
            end,
            written,
            digits: written.chars().filter(char::is_ascii_digit).collect(),
            ..self.clone()
        }
    }

    /// Where the candidate could be cut in two: before each space that
    /// follows a digit or a closing parenthesis, latest first.
    pub fn cut_points(&self) -> impl Iterator<Item = usize> + '_ {
        let bytes = self.written.as_bytes();
        (1..bytes.len())
            .rev()
            .filter(move |&i| {
                bytes[i] == b' ' && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b')')
            })
            .map(move |i| self.start + i)
    }
}

impl<'a> Iterator for Scanner<'a> {
    type Item = Candidate<'a>;

    fn next(&mut self) -> Option<Candidate<'a>> {
        while self.pos < self.text.len() {
            let rest = &self.text[self.pos..];
            let Some((offset, c)) = rest
                .char_indices()
                .find(|&(_, c)| c.is_ascii_digit() || c == '+' || c == '(')
            else {
                self.pos = self.text.len();
                return None;
            };
            let start = self.pos + offset;
            let before = self.text[..start].chars().next_back();
            if before.is_some_and(glues_before) || in_link(self.text, start) {
                // Skip the whole glued run, so nothing inside it is found.
                self.pos = skip_run(self.text, start + c.len_utf8());
                continue;
            }
            let (end, run_end, digits, plus, placeholder) = extend(self.text, start);
            self.pos = run_end.max(start + c.len_utf8());
            if digits.is_empty() || digits.len() > MAX_DIGITS {
                continue;
            }
            // Trailing separators belong to the text around the number.
            if glued_after(&self.text[end..]) {
                continue;
            }
            return Some(Candidate {
                start,
                end,
                written: &self.text[start..end],
                digits,
                plus,
                carrier_placeholder: placeholder,
                labelled_otherwise: labelled_otherwise(&self.text[..start]),
            });
        }
        None
    }
}

/// Past the digits and separators from `from` on.
fn skip_run(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|&(_, c)| {
            !(c.is_alphanumeric() || is_separator(c) || matches!(c, '(' | ')' | ',' | '/' | ':'))
        })
        .map_or(text.len(), |(i, _)| from + i)
}

/// Whether `start` is inside a URL or an e-mail address (its
/// whitespace-delimited token has `://`, `www.` or `@`).
fn in_link(text: &str, start: usize) -> bool {
    let token_start = text[..start]
        .char_indices()
        .rev()
        .find(|&(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let token_end = text[start..]
        .char_indices()
        .find(|&(_, c)| c.is_whitespace())
        .map_or(text.len(), |(i, _)| start + i);
    let token = &text[token_start..token_end];
    token.contains("://") || token.contains('@') || token.to_ascii_lowercase().starts_with("www.")
}

/// Extends a run from `start`: returns the end of the number (trailing
/// separators and an unclosed parenthesis dropped), the end of the whole run,
/// its digits, whether it starts with `+`, and whether it has `0xx`.
fn extend(text: &str, start: usize) -> (usize, usize, String, bool, bool) {
    let mut digits = String::new();
    let mut plus = false;
    let mut placeholder = false;
    let mut open_paren: Option<usize> = None;
    let mut separators_in_a_row = 0;
    // End of the last digit or closing parenthesis: where the number ends.
    let mut end = start;
    let mut run_end = start;
    let mut chars = text[start..].char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let at = start + i;
        match c {
            '+' if at == start => plus = true,
            '0'..='9' => {
                digits.push(c);
                separators_in_a_row = 0;
                end = at + 1;
            }
            'x' | 'X' if digits == "0" && !placeholder => {
                // `0xx`: both x's, right after the 0.
                match chars.peek() {
                    Some(&(_, 'x' | 'X')) => {
                        chars.next();
                        placeholder = true;
                    }
                    _ => break,
                }
            }
            '(' if open_paren.is_none() && (at == start || separators_in_a_row > 0) => {
                open_paren = Some(at);
                separators_in_a_row = 1;
            }
            ')' if open_paren.is_some() && separators_in_a_row == 0 && !digits.is_empty() => {
                open_paren = None;
                end = at + 1;
                separators_in_a_row = 1;
            }
            c if is_separator(c) && separators_in_a_row < 3 && (!digits.is_empty() || plus) => {
                separators_in_a_row += 1;
            }
            _ => break,
        }
        run_end = at + c.len_utf8();
    }
    if let Some(paren) = open_paren {
        // An unclosed parenthesis: the number cannot contain it.
        if paren < end {
            return (start, run_end, String::new(), plus, placeholder);
        }
    }
    (end, run_end, digits, plus, placeholder)
}

/// What follows the run glues it to something: a letter or a digit-like
/// continuation (`1.234,56`, `21:30`, `12%`).
fn glued_after(after: &str) -> bool {
    let mut chars = after.chars();
    match chars.next() {
        None => false,
        Some(c) if glues_after(c) => true,
        Some('.' | ',' | ':' | '-') => chars.next().is_some_and(|n| n.is_ascii_digit()),
        Some(_) => false,
    }
}

/// The last words before a number, lowercased, say it is not a phone.
fn labelled_otherwise(before: &str) -> bool {
    let tail: String = {
        let mut start = before.len().saturating_sub(40);
        while !before.is_char_boundary(start) {
            start += 1;
        }
        before[start..].to_lowercase()
    };
    tail.split(|c: char| !(c.is_alphanumeric() || c == 'º' || c == '°'))
        .filter(|w| !w.is_empty())
        .rev()
        .take(2)
        .any(|w| NOT_A_PHONE.contains(&w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(text: &str) -> Vec<&str> {
        candidates(text).map(|c| c.written).collect()
    }

    #[test]
    fn runs_end_at_the_last_digit_or_parenthesis() {
        assert_eq!(written("Tel: (11) 98765-4321."), vec!["(11) 98765-4321"]);
        assert_eq!(
            written("ligar +55 11 98765-4321 hoje"),
            vec!["+55 11 98765-4321"]
        );
        assert_eq!(written("0xx11 3456-7890"), vec!["0xx11 3456-7890"]);
        assert_eq!(written("a (0xx11) 3456-7890"), vec!["(0xx11) 3456-7890"]);
    }

    #[test]
    fn glued_runs_are_skipped_whole() {
        assert!(written("id5f1e7a9b2c3d4e5f6a7b8c9d").is_empty());
        assert!(written("abc11987654321").is_empty());
        assert!(written("11987654321abc").is_empty());
        assert!(written("https://crm.example.com/app/deals/11987654321").is_empty());
        assert!(written("maria.11987654321@example.com").is_empty());
        assert!(written("R$ 1.234,56").iter().all(|w| w.len() < 6));
    }

    #[test]
    fn labels_before_a_number_are_seen() {
        let c: Vec<_> = candidates("Pedido nº 11987654321").collect();
        assert!(c[0].labelled_otherwise);
        let c: Vec<_> = candidates("Celular: 11987654321").collect();
        assert!(!c[0].labelled_otherwise);
    }
}
