//! The running text of a block: the text nodes read in order between two
//! boundaries, joined into one string for the finder, and the way back from
//! a match in that string to the pieces of each text node it covers, in the
//! UTF-16 offsets the DOM counts in.

use std::ops::Range;

/// Text pieces joined in reading order.
#[derive(Debug, Default)]
pub struct Block {
    text: String,
    /// Byte range of each piece in `text`.
    pieces: Vec<Range<usize>>,
}

/// The part of one piece a match covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Index of the piece, in the order they were pushed.
    pub piece: usize,
    /// Offsets in the piece, in UTF-16 code units.
    pub start: u32,
    pub end: u32,
    /// Whether the covered text is only white space (nothing to wrap).
    pub blank: bool,
    /// Whether it runs to the end of the piece.
    pub to_end: bool,
}

/// Fewest digits any number the finder accepts has (`4004-1234`); a block
/// with fewer is not worth searching.
const MIN_DIGITS: usize = 8;
/// The same test as a JS regular expression, for text left in the browser
/// (`\d` is ASCII digits only without the `u` flag).
pub const MAY_HOLD_A_NUMBER: &str = "^\\D*(?:\\d\\D*){8}";

impl Block {
    pub fn push(&mut self, piece: &str) {
        let start = self.text.len();
        self.text.push_str(piece);
        self.pieces.push(start..self.text.len());
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text of piece `index` as pushed.
    pub fn piece(&self, index: usize) -> Option<&str> {
        self.pieces
            .get(index)
            .map(|range| &self.text[range.clone()])
    }

    /// The length of piece `index` in UTF-16 code units, as the DOM counts.
    pub fn piece_length(&self, index: usize) -> Option<u32> {
        self.piece(index).map(utf16_len)
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Whether the text has enough digits to hold a number at all.
    pub fn may_hold_a_number(&self) -> bool {
        self.text
            .bytes()
            .filter(u8::is_ascii_digit)
            .nth(MIN_DIGITS - 1)
            .is_some()
    }

    /// The pieces the byte range `span` of the joined text covers, first to
    /// last, each with the covered part in UTF-16 offsets.
    pub fn fragments(&self, span: Range<usize>) -> Vec<Fragment> {
        let mut fragments = Vec::new();
        for (index, piece) in self.pieces.iter().enumerate() {
            let start = span.start.max(piece.start);
            let end = span.end.min(piece.end);
            if start >= end {
                continue;
            }
            let text = &self.text[piece.clone()];
            let (from, to) = (start - piece.start, end - piece.start);
            fragments.push(Fragment {
                piece: index,
                start: utf16_len(&text[..from]),
                end: utf16_len(&text[..to]),
                blank: text[from..to].trim().is_empty(),
                to_end: end == piece.end,
            });
        }
        fragments
    }
}

fn utf16_len(text: &str) -> u32 {
    let units: usize = text.chars().map(char::len_utf16).sum();
    u32::try_from(units).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use disca_finder::{Region, find};

    fn block(pieces: &[&str]) -> Block {
        let mut block = Block::default();
        for piece in pieces {
            block.push(piece);
        }
        block
    }

    #[test]
    fn a_number_split_across_inline_elements_maps_back_to_each_piece() {
        let block = block(&["Tel.: ", "(11)", " ", "98765-4321", " (celular)"]);
        let found = find(block.text(), Region::Brazil);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].e164, "+5511987654321");
        let fragments = block.fragments(found[0].start..found[0].end);
        assert_eq!(
            fragments,
            vec![
                Fragment {
                    piece: 1,
                    start: 0,
                    end: 4,
                    blank: false,
                    to_end: true
                },
                Fragment {
                    piece: 2,
                    start: 0,
                    end: 1,
                    blank: true,
                    to_end: true
                },
                Fragment {
                    piece: 3,
                    start: 0,
                    end: 10,
                    blank: false,
                    to_end: true
                },
            ]
        );
    }

    #[test]
    fn offsets_are_counted_in_utf16_units() {
        let block = block(&["Joãozinho 😀 — (21) 2345-6789"]);
        let found = find(block.text(), Region::Brazil);
        let fragment = &block.fragments(found[0].start..found[0].end)[0];
        let units: Vec<u16> = block.text().encode_utf16().collect();
        let covered = String::from_utf16(&units[fragment.start as usize..fragment.end as usize]);
        assert_eq!(covered.unwrap(), "(21) 2345-6789");
    }

    #[test]
    fn the_js_test_counts_the_same_digits() {
        assert_eq!(
            MAY_HOLD_A_NUMBER,
            format!("^\\D*(?:\\d\\D*){{{MIN_DIGITS}}}")
        );
    }

    #[test]
    fn short_digit_runs_are_not_searched() {
        assert!(!block(&["Pedido 123", " de 12/03"]).may_hold_a_number());
        assert!(block(&["4004-", "1234"]).may_hold_a_number());
    }
}
