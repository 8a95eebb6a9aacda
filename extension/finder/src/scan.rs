//! Cuts a text into candidates: runs of digits and phone separators that
//! start and end at a word boundary, outside URLs and e-mail addresses. A run
//! is consumed whole, so a number is never looked for again inside a longer
//! run that was refused (an order number does not hide a "phone" in its
//! middle); a run glued to a word is skipped up to the next space only, so
//! `R$ 1.250.000,00` does not hide the number after it. Field separators
//! (`;`, a `,` outside a figure, `|`) and sentence punctuation do not glue.
//! Each candidate carries whether its label says it is something else.

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
    // `N.º`, `N.°`: the ordinal sign alone.
    "º",
    "°",
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
    // Software versions (`versão 11.3456.7890`, `v. 21.2345.6789`) and
    // Unix times (`timestamp 1732198765`).
    "versão",
    "versao",
    "version",
    "v",
    "timestamp",
    "epoch",
];

/// Label words that count only when written with a dot (`No.`, `v.`):
/// bare, `no` is the preposition (`ligar no 11 …`) and `v` a letter.
const DOTTED_ONLY: &[&str] = &["no", "v"];

/// Words that, in the label before a number, say it is a phone after all
/// (`Telefone da conta: …`).
const PHONE_WORDS: &[&str] = &[
    "telefone",
    "telefones",
    "tel",
    "fone",
    "fones",
    "celular",
    "cel",
    "whatsapp",
    "zap",
    "fax",
    "contato",
    "ligar",
    "phone",
    "mobile",
];

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '-' | '.' | '\u{2011}' | '\u{2013}')
}

/// Characters that, right before a run, glue it to something else.
fn glues_before(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(
            c,
            '_' | '.' | '-' | '/' | '@' | '#' | '$' | '+' | '=' | '&' | '%' | '\\' | '*'
        )
}

/// Digits right after a comma that make a whole number, not the decimals
/// (`1.234,56`) or the thousands (`1,234,567`) of a figure.
const WHOLE_AFTER_COMMA: usize = 8;

/// Whether what ends `before` glues the run that starts `from`: a glueing
/// character, or a comma inside a figure (after a digit and before fewer
/// than 8 digits: `12,5`, `1.234,56`). Any other comma separates the fields
/// of a row (`SP,11987654321`, `1500,(11) 3456-7890`).
fn glued_before(before: &str, from: &str) -> bool {
    let mut chars = before.chars().rev();
    match chars.next() {
        Some(',') => {
            chars.next().is_some_and(|c| c.is_ascii_digit())
                && from.starts_with(|c: char| c.is_ascii_digit())
                && from
                    .bytes()
                    .take(WHOLE_AFTER_COMMA)
                    .take_while(u8::is_ascii_digit)
                    .count()
                    < WHOLE_AFTER_COMMA
        }
        Some(c) => glues_before(c),
        None => false,
    }
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
    Scanner {
        text,
        pos: 0,
        slash_from: None,
        link: None,
    }
}

/// Iterates over candidates; see [`candidates`].
pub struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    /// The end of the last candidate, when it had its area code in
    /// parentheses and a `/` then `(` follow it: the `/` separates two
    /// numbers (`(11)3456-7890/(11)98765-4321`), it does not glue the next.
    slash_from: Option<usize>,
    /// The last token looked at for a link: its byte range and whether it
    /// is a URL or an e-mail address. The runs inside one token share it,
    /// so a long text without spaces is scanned once, not once per run.
    link: Option<(usize, usize, bool)>,
}

impl<'a> Scanner<'a> {
    /// Goes on scanning from byte `pos` (after a number found at the start
    /// of a longer run).
    pub fn resume_at(&mut self, pos: usize) {
        self.pos = pos;
        self.slash_from = None;
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
            let before = &self.text[..start];
            let slash_separated = self.slash_from.take().is_some_and(|from| {
                c == '(' && before.get(from..).is_some_and(|b| b.trim() == "/")
            });
            let glued = glued_before(before, &self.text[start..]) && !slash_separated;
            if glued || self.in_link(start) {
                // Skip the whole glued word, so nothing inside it is found.
                self.pos = skip_run(self.text, start + c.len_utf8());
                continue;
            }
            let (end, run_end, digits, plus, placeholder) = extend(self.text, start);
            self.pos = run_end.max(start + c.len_utf8());
            if digits.is_empty() || digits.len() > MAX_DIGITS {
                continue;
            }
            // Trailing separators belong to the text around the number.
            let after = &self.text[end..];
            let slash_next = self.text[start..end].contains(')')
                && after
                    .trim_start()
                    .strip_prefix('/')
                    .is_some_and(|a| a.trim_start().starts_with('('));
            self.slash_from = slash_next.then_some(end);
            if glued_after(after) && !slash_next {
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

/// Past the glued word from `from` on: its letters, digits and the
/// punctuation inside figures, up to a space or a comma. What follows a
/// space is a new word, so money such as `1.250.000,00` does not hide the
/// next number; what follows a comma is glued again if it is the rest of a
/// figure (`56` in `R$1.234,56`), and is a new field otherwise
/// (`21/11/2026,11987654321`).
fn skip_run(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|&(_, c)| {
            !(c.is_alphanumeric()
                || (is_separator(c) && !c.is_whitespace())
                || matches!(c, '(' | ')' | '/' | ':'))
        })
        .map_or(text.len(), |(i, _)| from + i)
}

/// What delimits a URL or an e-mail address: a space, or a field separator
/// of a spreadsheet row (`Maria;maria@x.com.br;11987654321`).
fn ends_link(c: char) -> bool {
    c.is_whitespace() || matches!(c, ';' | ',' | '|' | '"' | '<' | '>')
}

impl Scanner<'_> {
    /// Whether `start` is inside a URL or an e-mail address: its token,
    /// between spaces or field separators, has `://`, `@` or starts with
    /// `www.`.
    fn in_link(&mut self, start: usize) -> bool {
        if let Some((from, to, link)) = self.link
            && (from..to).contains(&start)
        {
            return link;
        }
        let text = self.text;
        let from = text[..start]
            .char_indices()
            .rev()
            .find(|&(_, c)| ends_link(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let to = text[start..]
            .char_indices()
            .find(|&(_, c)| ends_link(c))
            .map_or(text.len(), |(i, _)| start + i);
        let token = &text[from..to];
        let link = token.contains("://")
            || token.contains('@')
            || token
                .get(..4)
                .is_some_and(|t| t.eq_ignore_ascii_case("www."));
        self.link = Some((from, to, link));
        link
    }
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
            // An area code in parentheses: at the start, after a separator,
            // or right after a country code (`+55(31)99456-1200`).
            '(' if open_paren.is_none()
                && (at == start
                    || separators_in_a_row > 0
                    || (plus && (1..=3).contains(&digits.len()))) =>
            {
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

/// How far back labels are looked for, in bytes.
const LABEL_REACH: usize = 80;

/// Words a label is looked for in: the two right before the number
/// (`Pedido nº 11987654321`), or the four before a colon that ends right
/// before it (`cpf do sócio: 47991234592`).
const LABEL_WORDS: usize = 2;
const LABEL_WORDS_BEFORE_COLON: usize = 4;

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == 'º' || c == '°'
}

/// Punctuation that ends a clause or a field: a label does not reach past it.
fn ends_clause(c: char) -> bool {
    matches!(
        c,
        ',' | ';' | '|' | '·' | '•' | '!' | '?' | '\n' | '\r' | '\t'
    )
}

/// Longest word compared with the lists, in bytes once lowercased.
const MAX_WORD: usize = 16;

/// A word lowercased into a buffer on the stack; `None` if it is longer
/// than any word of the lists.
struct Lowercase {
    buf: [u8; MAX_WORD],
    len: usize,
}

impl Lowercase {
    fn of(word: &str) -> Option<Lowercase> {
        if word.len() > MAX_WORD {
            return None;
        }
        let mut lower = Lowercase {
            buf: [0; MAX_WORD],
            len: 0,
        };
        for c in word.chars().map(latin_lowercase) {
            let n = c.len_utf8();
            let slot = lower.buf.get_mut(lower.len..lower.len + n)?;
            c.encode_utf8(slot);
            lower.len += n;
        }
        Some(lower)
    }

    fn is_one_of(&self, list: &[&str]) -> bool {
        let word = &self.buf[..self.len];
        list.iter().any(|l| l.as_bytes() == word)
    }
}

/// `c` in lower case for the Latin letters Portuguese is written with
/// (ASCII and Latin-1: `Ç` → `ç`, `Í` → `í`); other characters as they are.
/// The label words are all written with these, and Unicode's full case
/// tables would weigh more in the content script's wasm than the finder.
fn latin_lowercase(c: char) -> char {
    match c {
        'A'..='Z' | 'À'..='Ö' | 'Ø'..='Þ' => char::from_u32(c as u32 + 32).unwrap_or(c),
        _ => c,
    }
}

/// The words of `text` from its end backwards, each with the text between
/// it and what follows it (the next word, or the end of `text`).
fn words_back(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut end = text.len();
    std::iter::from_fn(move || {
        let head = &text[..end];
        let (i, c) = head.char_indices().rev().find(|&(_, c)| is_word_char(c))?;
        let word_end = i + c.len_utf8();
        let word_start = head[..word_end]
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_word_char(c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        end = word_start;
        Some((&head[word_start..word_end], &head[word_end..]))
    })
}

/// The label before a number says it is not a phone: a word such as `CPF`,
/// `pedido` or `protocolo` among the two words right before it, or among
/// the four words of a label ended by a colon right before it (`cpf do
/// sócio: …`); across a line break, only the word right before it or a
/// label ended by a colon. Clause punctuation (`,` `;` `|` `!` `?`, a line
/// break) or a colon between two words ends the label (`Nota: ligar no 11
/// …` is not labelled by `Nota`). A phone word in the label outweighs the rest
/// (`Telefone da conta: …`). `no` is `nº` only when written `No.` (bare,
/// it is the preposition: `ligar no 11 …`), `v` a version only as `v.`.
fn labelled_otherwise(before: &str) -> bool {
    let mut from = before.len().saturating_sub(LABEL_REACH);
    while !before.is_char_boundary(from) {
        from += 1;
    }
    if from > 0 {
        // A word cut by the reach is not a word.
        from = before[from..]
            .find(|c: char| !is_word_char(c))
            .map_or(before.len(), |i| from + i);
    }
    let mut words = words_back(&before[from..]);
    let Some(first) = words.next() else {
        return false;
    };
    let reach = if first.1.contains(':') {
        LABEL_WORDS_BEFORE_COLON
    } else if first.1.contains(['\n', '\r']) {
        // A label alone on the line before (`CPF⏎…`), not the end of an
        // unrelated line (`Lote L21987654321A⏎(12) 3921-4455`).
        1
    } else {
        LABEL_WORDS
    };
    let (mut label, mut phone) = (false, false);
    for (i, (word, gap)) in std::iter::once(first).chain(words).take(reach).enumerate() {
        // Between the label and the number any punctuation may stand
        // (`Protocolo:\n…`); between two words of it, no clause ends.
        if i > 0 && (gap.contains(ends_clause) || gap.contains(':')) {
            break;
        }
        let Some(word) = Lowercase::of(word) else {
            continue;
        };
        phone |= word.is_one_of(PHONE_WORDS);
        label |=
            word.is_one_of(NOT_A_PHONE) && (!word.is_one_of(DOTTED_ONLY) || gap.starts_with('.'));
    }
    label && !phone
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_letters_are_lowered_like_unicode_does() {
        for c in "ABCXYZÀÁÂÃÇÉÊÍÓÔÕÚÜÑØÞ×ÿaz1º°-".chars() {
            assert_eq!(
                latin_lowercase(c).to_string(),
                c.to_lowercase().to_string(),
                "{c}"
            );
        }
    }

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
    fn a_glued_word_ends_at_a_space() {
        // Money or a date earlier in the text does not hide a later number.
        assert_eq!(
            written("R$ 1.250.000,00  (61) 3344-7788"),
            vec!["(61) 3344-7788"]
        );
        assert_eq!(
            written("em 05/12/2026 no 44 99812-6600"),
            vec!["44 99812-6600"]
        );
        assert!(written("ref11987654321x-11987654321").is_empty());
        assert!(written("R$1.234,56").is_empty());
        assert_eq!(written("id5f1e,11987654321"), vec!["11987654321"]);
        assert_eq!(written("21/11/2026,11987654321"), vec!["11987654321"]);
    }

    #[test]
    fn field_separators_do_not_glue() {
        assert_eq!(
            written("Maria;maria@empresa.com.br;11987654321;SP"),
            vec!["11987654321"]
        );
        assert_eq!(written("Bruno,+5541991234567,PR"), vec!["+5541991234567"]);
        assert_eq!(
            written("Loja,1500,(67) 3321-4455"),
            vec!["1500", "(67) 3321-4455"]
        );
        assert_eq!(written("ligue: 11 98765-4321!"), vec!["11 98765-4321"]);
        // A comma inside a figure still glues its decimals or thousands.
        assert!(written("12,5%").is_empty());
        assert!(written("USD 1,234,567").is_empty());
        assert_eq!(written("R$ 1.234,56"), Vec::<&str>::new());
        // An e-mail address is its field, not the whole row.
        assert!(written("a;maria11987654321@x.com;b").is_empty());
    }

    #[test]
    fn a_slash_separates_numbers_in_parentheses() {
        assert_eq!(
            written("(11)3456-7890/(11)98765-4321"),
            vec!["(11)3456-7890", "(11)98765-4321"]
        );
        assert_eq!(
            written("(11)3456-7890 /(11)98765-4321"),
            vec!["(11)3456-7890", "(11)98765-4321"]
        );
        assert!(written("11 3456-7890/7891").is_empty());
        assert!(written("21/(11)98765-4321").is_empty());
    }

    #[test]
    fn an_area_code_in_parentheses_may_follow_the_country_code() {
        assert_eq!(written("+55(31)99456-1200"), vec!["+55(31)99456-1200"]);
        // Without the `+`, `55(` glues the parenthesis to the digits.
        assert_eq!(written("55(31)99456-1200"), vec!["55"]);
    }

    fn labelled(text: &str) -> bool {
        candidates(text).next().unwrap().labelled_otherwise
    }

    #[test]
    fn labels_before_a_number_are_seen() {
        assert!(labelled("Pedido nº 11987654321"));
        assert!(labelled("N.º 11987654321"));
        assert!(labelled("No. 11987654321"));
        assert!(labelled("Protocolo:\n11987654321"));
        assert!(labelled("CPF\n11987654374"));
        assert!(labelled("cpf do sócio:\n47991234592"));
        assert!(!labelled("Lote L21987654321A\n(12) 3921-4455"));
        assert!(!labelled("Celular: 11987654321"));
        assert!(!labelled("ligar no 11987654321"));
    }

    #[test]
    fn versions_and_timestamps_are_labels() {
        assert!(labelled("Versão 11.3456.7890 instalada"));
        assert!(labelled("app version 21.98765.4321"));
        assert!(labelled("v. 11.3456.7890"));
        assert!(labelled("versão do app: 11.3456.7890"));
        assert!(labelled("timestamp 1732198765"));
        assert!(labelled("Timestamp (unix): 1732198765"));
        assert!(labelled("\"timestamp\": 1732198765"));
        assert!(labelled("epoch 1732198765"));
        assert!(!labelled("Maria v 11 3456-7890"));
        assert!(!labelled("Fone da versão paga: 11 3456-7890"));
    }

    #[test]
    fn a_label_ended_by_a_colon_reaches_four_words() {
        assert!(labelled("cpf do sócio: 47991234592"));
        assert!(labelled("Número do RG do cliente: 1134567890"));
        assert!(!labelled("cpf do sócio 47991234592"));
        assert!(!labelled("CPF do sócio, tel: 47991234592"));
        assert!(!labelled("Nota: ligar no 11987654321"));
        assert!(!labelled("Telefone da conta: 11987654321"));
        assert!(!labelled("Celular (informado no formulário): 11987654321"));
    }
}
