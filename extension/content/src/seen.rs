//! What a person sees of a number, checked when they click it: the number
//! dialled is the number shown. A page may style, cover, reorder or
//! dress up anything, Disca's controls included, so when a control is
//! clicked its number is derived again from what the browser renders:
//!
//! - the text from the first piece of the number to the end of the last
//!   (and whatever lies between them) shows that one number, without
//!   characters that reorder text ([`control::number_in`]);
//! - no generated content (`::before`, `::after`) inside the number, and
//!   none with digits, a `+`, counters or attributes on the number's line
//!   around it (its ancestors up to the first block);
//! - each digit is drawn: its glyph box is at least [`MIN_GLYPH_PX`] tall,
//!   its text's colour and the opacity of its element and every ancestor
//!   leave at least [`MIN_ALPHA`] of it, it is the topmost thing at its
//!   centre (not covered, clipped away, hidden or off screen), and it
//!   comes after the digit before it in reading order (left to right, line
//!   by line);
//! - a mouse click landed on the control itself.
//!
//! A click that fails places no call. Checked at click time, on one number,
//! not while the page is read: reading styles and boxes then would make the
//! browser lay out the page once per number.

use disca_finder::Region;
use wasm_bindgen::JsCast;
use web_sys::{CssStyleDeclaration, Document, Element, Node, Text, Window};

use crate::control;
use crate::tags::{self, Class};

/// Shortest glyph box of a digit, in CSS pixels (a font of about 5 px):
/// a smaller digit is not read.
pub const MIN_GLYPH_PX: f64 = 6.0;
/// Least colour alpha of a digit's text, and least opacity of its element
/// and its ancestors multiplied, in hundredths.
pub const MIN_ALPHA: u32 = 50;
/// Most nodes a number's pieces span, with what lies between them.
const MAX_NODES: usize = 64;

/// Whether the number `e164` (of `region`) is what the controls from
/// `ends[0]` to `ends[1]` (the first and last pieces of one number) show.
/// `point`: where a mouse click on `clicked` landed, in viewport pixels.
pub fn shows(
    window: &Window,
    document: &Document,
    region: Region,
    e164: &str,
    ends: &[Element; 2],
    clicked: &Element,
    point: Option<(f64, f64)>,
) -> bool {
    let seeing = Seeing { window, document };
    seeing.check(region, e164, ends, clicked, point).is_some()
}

struct Seeing<'a> {
    window: &'a Window,
    document: &'a Document,
}

/// A digit's glyph box: its centre and size, in viewport pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Glyph {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl Seeing<'_> {
    fn check(
        &self,
        region: Region,
        e164: &str,
        [first, last]: &[Element; 2],
        clicked: &Element,
        point: Option<(f64, f64)>,
    ) -> Option<()> {
        let mut texts = Vec::new();
        let mut text = String::new();
        let mut node: Node = first.clone().into();
        let mut done = false;
        for _ in 0..MAX_NODES {
            match tags::classify(&node.node_name()) {
                Class::Text => {
                    let piece: &Text = node.unchecked_ref();
                    text.push_str(&piece.data());
                    texts.push(piece.clone());
                }
                Class::Other => {}
                _ => {
                    if self.generates(node.unchecked_ref(), true)? {
                        return None;
                    }
                }
            }
            if let Some(child) = node.first_child() {
                node = child;
                continue;
            }
            loop {
                if node.is_same_node(Some(last)) {
                    done = true;
                    break;
                }
                if let Some(next) = node.next_sibling() {
                    node = next;
                    break;
                }
                node = node.parent_node()?;
            }
            if done {
                break;
            }
        }
        if !done || control::number_in(&text, control::reading_region(e164, region))? != e164 {
            return None;
        }
        for piece in [first, last] {
            let mut around = piece.parent_element();
            while let Some(element) = around {
                let style = self.style(&element, "")?;
                if self.generates(&element, false)? {
                    return None;
                }
                let display = style.get_property_value("display").ok()?;
                if !(display.starts_with("inline") || display == "contents") {
                    break;
                }
                around = element.parent_element();
            }
        }
        self.digits_drawn(&texts)?;
        if let Some((x, y)) = point {
            let hit = self.document.element_from_point(x as f32, y as f32)?;
            if !clicked.contains(Some(&hit)) {
                return None;
            }
        }
        Some(())
    }

    /// Each digit of `texts` drawn, uncovered, legible and in reading order.
    fn digits_drawn(&self, texts: &[Text]) -> Option<()> {
        let range = self.document.create_range().ok()?;
        let mut previous: Option<Glyph> = None;
        for text in texts {
            let data = text.data();
            if !data.bytes().any(|b| b.is_ascii_digit()) {
                continue;
            }
            let holder = text.parent_element()?;
            let style = self.style(&holder, "")?;
            for property in ["color", "-webkit-text-fill-color"] {
                if alpha(&style.get_property_value(property).ok()?) < MIN_ALPHA {
                    return None;
                }
            }
            if self.opacity(&holder)? < MIN_ALPHA {
                return None;
            }
            let mut offset = 0u32;
            for c in data.chars() {
                let length = c.len_utf16() as u32;
                if c.is_ascii_digit() || c == '+' {
                    range.set_start(text, offset).ok()?;
                    range.set_end(text, offset + length).ok()?;
                    let rect = range.get_bounding_client_rect();
                    let glyph = Glyph {
                        x: rect.x() + rect.width() / 2.0,
                        y: rect.y() + rect.height() / 2.0,
                        width: rect.width(),
                        height: rect.height(),
                    };
                    if glyph.height < MIN_GLYPH_PX || glyph.width <= 0.0 {
                        return None;
                    }
                    let hit = self
                        .document
                        .element_from_point(glyph.x as f32, glyph.y as f32)?;
                    if !holder.contains(Some(&hit)) {
                        return None;
                    }
                    if previous.is_some_and(|before| !in_reading_order(&before, &glyph)) {
                        return None;
                    }
                    previous = Some(glyph);
                }
                offset += length;
            }
        }
        Some(())
    }

    /// The opacity of `element` and its ancestors multiplied, in hundredths.
    fn opacity(&self, element: &Element) -> Option<u32> {
        let mut total = 100;
        let mut next = Some(element.clone());
        while let Some(element) = next {
            let own = hundredths(
                &self
                    .style(&element, "")?
                    .get_property_value("opacity")
                    .ok()?,
            );
            total = total * own / 100;
            next = element.parent_element();
        }
        Some(total)
    }

    /// Whether `element`'s `::before` or `::after` shows what is refused
    /// ([`content_refused`]).
    fn generates(&self, element: &Element, inside: bool) -> Option<bool> {
        for pseudo in ["::before", "::after"] {
            let content = self
                .style(element, pseudo)?
                .get_property_value("content")
                .ok()?;
            if content_refused(&content, inside) {
                return Some(true);
            }
        }
        Some(false)
    }

    fn style(&self, element: &Element, pseudo: &str) -> Option<CssStyleDeclaration> {
        self.window
            .get_computed_style_with_pseudo_elt(element, pseudo)
            .ok()
            .flatten()
    }
}

/// Whether `after` follows `before` in reading order: further right on the
/// same line, or on a line below.
pub fn in_reading_order(before: &Glyph, after: &Glyph) -> bool {
    let same_line = (after.y - before.y).abs() < before.height.min(after.height) / 2.0;
    if same_line {
        after.x > before.x
    } else {
        after.y > before.y
    }
}

/// Whether a pseudo-element's computed `content` is refused: anything
/// (`inside` a number), or, around it, digits, a `+` or text taken from
/// counters or attributes (which may be digits). An icon (`"☎ "`) is not.
pub fn content_refused(content: &str, inside: bool) -> bool {
    let content = content.trim();
    if content.is_empty() || content == "none" || content == "normal" {
        return false;
    }
    inside
        || content.contains(|c: char| c.is_ascii_digit() || c == '+' || ('０'..='９').contains(&c))
        || holds(content, "counter")
        || holds(content, "attr(")
}

/// Whether `needle` occurs in `text` (a byte search: `str::contains` with
/// a `&str` pattern brings the two-way searcher into the wasm).
fn holds(text: &str, needle: &str) -> bool {
    text.as_bytes()
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// The alpha of a computed CSS colour (`rgb(…)`, `rgba(…, 0.5)`,
/// `color(srgb … / 0.5)`, `transparent`), in hundredths.
pub fn alpha(color: &str) -> u32 {
    let color = color.trim();
    if color == "transparent" {
        return 0;
    }
    let Some(inner) = color.strip_suffix(')') else {
        return 100;
    };
    if let Some((_, alpha)) = inner.rsplit_once('/') {
        return hundredths(alpha);
    }
    if (color.starts_with("rgba(") || color.starts_with("hsla("))
        && let Some((_, alpha)) = inner.rsplit_once(',')
    {
        return hundredths(alpha);
    }
    100
}

/// A computed opacity or alpha (`1`, `0.5`, `.25`, `50%`) in hundredths,
/// at most 100; anything else (`1e-05`) counts as 0.
pub fn hundredths(value: &str) -> u32 {
    let value = value.trim();
    let (number, percent) = match value.strip_suffix('%') {
        Some(number) => (number, true),
        None => (value, false),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return 0;
    }
    let whole = whole.bytes().fold(0u32, |n, b| {
        n.saturating_mul(10).saturating_add(u32::from(b - b'0'))
    });
    let mut fraction = fraction.bytes().map(|b| u32::from(b - b'0'));
    let cents = fraction.next().unwrap_or(0) * 10 + fraction.next().unwrap_or(0);
    let value = whole.saturating_mul(100).saturating_add(cents);
    if percent { value / 100 } else { value }.min(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opacities_and_alphas_are_read_in_hundredths() {
        assert_eq!(hundredths("1"), 100);
        assert_eq!(hundredths("0"), 0);
        assert_eq!(hundredths("0.5"), 50);
        assert_eq!(hundredths(".25"), 25);
        assert_eq!(hundredths("0.0980392"), 9);
        assert_eq!(hundredths("50%"), 50);
        assert_eq!(hundredths("1e-05"), 0);
        assert_eq!(hundredths(""), 0);
        assert_eq!(alpha("rgb(34, 34, 34)"), 100);
        assert_eq!(alpha("rgba(0, 0, 0, 0)"), 0);
        assert_eq!(alpha("rgba(255, 0, 0, 0.4)"), 40);
        assert_eq!(alpha("color(srgb 0 0 0 / 0.8)"), 80);
        assert_eq!(alpha("oklch(0.5 0.1 20 / 0)"), 0);
        assert_eq!(alpha("transparent"), 0);
    }

    #[test]
    fn generated_content_is_refused_inside_a_number_and_with_digits_around_it() {
        assert!(!content_refused("none", true));
        assert!(!content_refused("normal", true));
        assert!(content_refused("\"☎ \"", true));
        assert!(!content_refused("\"☎ \"", false));
        assert!(!content_refused("url(\"phone.svg\")", false));
        assert!(content_refused("\"7\"", false));
        assert!(content_refused("\"+1 \"", false));
        assert!(content_refused("\"７\"", false));
        assert!(content_refused("counter(item) \". \"", false));
        assert!(content_refused("attr(data-x)", false));
    }

    #[test]
    fn digits_must_read_left_to_right_line_by_line() {
        let at = |x, y| Glyph {
            x,
            y,
            width: 8.0,
            height: 16.0,
        };
        assert!(in_reading_order(&at(10.0, 20.0), &at(18.0, 20.0)));
        assert!(in_reading_order(&at(10.0, 20.0), &at(18.0, 23.0)));
        assert!(!in_reading_order(&at(18.0, 20.0), &at(10.0, 20.0)));
        // Wrapped to the next line.
        assert!(in_reading_order(&at(300.0, 20.0), &at(4.0, 40.0)));
        assert!(!in_reading_order(&at(4.0, 40.0), &at(300.0, 20.0)));
    }
}
