//! Disca's controls on the page, built with DOM calls only (page text is
//! moved into them, never parsed as HTML): the `<disca-call>` element around
//! a number found in text, `tel:` links upgraded in place, the state a click
//! puts a control in, and the short messages shown to the salesperson.

use disca_finder::{Region, find};
use js_sys::{JsString, WeakMap};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, Node, Text};

use crate::bindings::{Selector, set_attribute, text_data, text_of};
use crate::tags::{CONTROL_TAG, TOAST_TAG};

/// The attribute carrying a control's number in E.164.
pub const NUMBER_ATTRIBUTE: &str = "data-disca-number";
/// The attribute carrying the number on the later pieces of a number split
/// across elements.
pub const CONTINUES_ATTRIBUTE: &str = "data-disca-continues";
/// The attribute saying where a click on the control stands.
pub const STATE_ATTRIBUTE: &str = "data-disca-state";
/// Selects any element a click on which places a call.
pub const CLICKABLE: &str = "[data-disca-number],[data-disca-continues]";

/// The controls Disca made, each with its number and what it showed when
/// made (its text, or a link's `href`), and the pieces of a number split
/// across elements. A click counts only on a control found here, and only
/// while it still shows the same thing: a page cannot make its own
/// elements place calls, and a control whose text the page changed (a
/// recycled list row) does not call the old number.
#[derive(Clone)]
pub struct Registry {
    numbers: WeakMap,
    faces: WeakMap,
    /// Each piece of a number in several pieces → its first and its last.
    firsts: WeakMap,
    lasts: WeakMap,
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            numbers: WeakMap::new(),
            faces: WeakMap::new(),
            firsts: WeakMap::new(),
            lasts: WeakMap::new(),
        }
    }

    /// Notes that `pieces` (in document order) show one number together.
    pub fn group(&self, pieces: &[Element]) {
        let (Some(first), Some(last)) = (pieces.first(), pieces.last()) else {
            return;
        };
        for piece in pieces {
            self.firsts.set(piece.unchecked_ref(), first);
            self.lasts.set(piece.unchecked_ref(), last);
        }
    }

    /// The first and last pieces of the number `control` shows part of
    /// (itself for a number in one piece, or a link).
    pub fn ends(&self, control: &Element) -> [Element; 2] {
        [&self.firsts, &self.lasts].map(|ends| {
            let end = ends.get(control.unchecked_ref());
            if end.is_undefined() {
                control.clone()
            } else {
                end.unchecked_into()
            }
        })
    }

    fn add(&self, control: &Element, e164: &JsValue, shown: &JsValue) {
        self.numbers.set(control.unchecked_ref(), e164);
        self.faces.set(control.unchecked_ref(), shown);
    }

    fn knows(&self, node: &Node) -> bool {
        self.numbers.has(node.unchecked_ref())
    }

    pub fn forget(&self, control: &Element) {
        self.numbers.delete(control.unchecked_ref());
        self.faces.delete(control.unchecked_ref());
        self.firsts.delete(control.unchecked_ref());
        self.lasts.delete(control.unchecked_ref());
    }

    /// The number of `control`, if Disca made it and it shows what it did.
    pub fn number(&self, control: &Element) -> Option<String> {
        let e164 = self.numbers.get(control.unchecked_ref()).as_string()?;
        let shown = self.faces.get(control.unchecked_ref()).as_string()?;
        (current_face(control) == shown).then_some(e164)
    }
}

/// What a control shows: a link's `href`, another control's text.
fn current_face(control: &Element) -> String {
    if control.local_name() == "a" {
        control.get_attribute("href").unwrap_or_default()
    } else {
        text_of(control)
    }
}

/// Undoes a control the page changed under Disca: its content goes back
/// where it was, the control and its number go away.
pub fn undo(control: &Element, registry: &Registry) {
    registry.forget(control);
    if control.local_name() == "a" {
        let _ = control.remove_attribute(NUMBER_ATTRIBUTE);
        let _ = control.remove_attribute(STATE_ATTRIBUTE);
        return;
    }
    if let Some(parent) = control.parent_node() {
        while let Some(child) = control.first_child() {
            if parent
                .insert_before(&child, Some(control.unchecked_ref::<Node>()))
                .is_err()
            {
                break;
            }
        }
    }
    control.remove();
}

/// Which piece of a number a control holds.
pub enum Role<'a> {
    /// The number, or its first piece: carries the number, takes the focus.
    /// `written` is the number as written when it spans several pieces
    /// (none when it is all the text the control gets).
    Number { written: Option<&'a str> },
    /// A later piece of a number split across elements.
    Continues,
}

/// Makes controls by copying two empty ones that already carry what every
/// control of their role carries, and keeps the names of the attributes
/// that differ as JS strings: a control then costs a copy and two
/// attributes, not an element and five attributes whose every name and
/// value is decoded from wasm memory again.
pub struct Maker {
    number: Element,
    continues: Element,
    number_attribute: JsString,
    continues_attribute: JsString,
    label_attribute: JsString,
    label_start: JsString,
    label_end: JsString,
}

impl Maker {
    pub fn new(document: &Document) -> Result<Maker, JsValue> {
        let number = document.create_element(CONTROL_TAG)?;
        set_attribute(&number, &"role".into(), &"button".into())?;
        set_attribute(&number, &"tabindex".into(), &"0".into())?;
        set_attribute(&number, &"title".into(), &TITLE.into())?;
        let continues = document.create_element(CONTROL_TAG)?;
        set_attribute(&continues, &"title".into(), &TITLE.into())?;
        Ok(Maker {
            number,
            continues,
            number_attribute: NUMBER_ATTRIBUTE.into(),
            continues_attribute: CONTINUES_ATTRIBUTE.into(),
            label_attribute: "aria-label".into(),
            label_start: LABEL_START.into(),
            label_end: LABEL_END.into(),
        })
    }

    /// Moves `text` into a new control for `e164` (not into a second one:
    /// a block read twice before its controls were made is held twice).
    pub fn wrap(
        &self,
        registry: &Registry,
        text: &Text,
        e164: &JsString,
        role: Role,
    ) -> Result<Element, JsValue> {
        let parent = text
            .parent_node()
            .ok_or_else(|| JsValue::from_str("detached text"))?;
        if registry.knows(&parent) {
            return Err(JsValue::from_str("already a control"));
        }
        let shown = text_data(text);
        let control: Element = match role {
            Role::Number { written } => {
                let control: Element = self.number.clone_node()?.unchecked_into();
                set_attribute(&control, &self.number_attribute, e164)?;
                let label = match written {
                    None => self.label_start.concat(&shown).concat(&self.label_end),
                    Some(written) => [LABEL_START, written, LABEL_END].concat().as_str().into(),
                };
                set_attribute(&control, &self.label_attribute, &label)?;
                control
            }
            Role::Continues => {
                let control: Element = self.continues.clone_node()?.unchecked_into();
                set_attribute(&control, &self.continues_attribute, e164)?;
                control
            }
        };
        parent.replace_child(&control, text)?;
        control.append_child(text)?;
        registry.add(&control, e164, &shown);
        Ok(control)
    }
}

/// What a control says when pointed at.
const TITLE: &str = "Ligar com o Disca";
/// What a control tells screen readers, around the number as written.
const LABEL_START: &str = "Ligar para ";
const LABEL_END: &str = " com o Disca";

/// Whether `text` holds a character that reorders what is shown
/// (U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069): a number in or
/// around such text may be shown in another order than it reads.
pub fn has_bidi_controls(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
    })
}

/// The number `text` shows: the only one in it, in a text without
/// bidirectional controls.
pub fn number_in(text: &str, region: Region) -> Option<String> {
    if has_bidi_controls(text) {
        return None;
    }
    let mut found = find(text, region).into_iter();
    match (found.next(), found.next()) {
        (Some(only), None) => Some(only.e164),
        _ => None,
    }
}

/// The number of a `tel:` link whose text shows that same number: a link
/// whose text shows another number, or none, dials nothing through Disca.
pub fn link_number(href: &str, text: &str, region: Region) -> Option<String> {
    let e164 = tel_number(href, region)?;
    (number_in(text, reading_region(&e164, region))? == e164).then_some(e164)
}

/// The plan a text showing `e164` is read with: Brazil's for a Brazilian
/// number (a `tel:+55…` link's text written `(11) 3456-7890` shows it,
/// whatever the region for text), else `region`.
pub fn reading_region(e164: &str, region: Region) -> Region {
    if e164.starts_with("+55") {
        Region::Brazil
    } else {
        region
    }
}

/// The dialable number of a `tel:` link's address, if it has one.
pub fn tel_number(href: &str, region: Region) -> Option<String> {
    let rest = href.trim().strip_prefix("tel:").or_else(|| {
        let head = href.trim().get(..4)?;
        head.eq_ignore_ascii_case("tel:").then(|| &href.trim()[4..])
    })?;
    let number = percent_decoded(rest.split([';', '?']).next().unwrap_or_default());
    let found = find(&number, region);
    match found.as_slice() {
        [only]
            if number[..only.start].trim().is_empty() && number[only.end..].trim().is_empty() =>
        {
            Some(only.e164.clone())
        }
        _ => None,
    }
}

/// `%2B55%2011…` → `+55 11…`. Only escapes of ASCII characters are
/// decoded (a phone number has no others); anything else is kept as written.
fn percent_decoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escaped = rest
            .get(at + 1..at + 3)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(u8::is_ascii);
        match escaped {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Makes a `tel:` link place its call through Disca.
pub fn upgrade_link(
    link: &Element,
    registry: &Registry,
    href: &str,
    e164: &str,
) -> Result<(), JsValue> {
    set_attribute(link, &NUMBER_ATTRIBUTE.into(), &e164.into())?;
    set_attribute(link, &"title".into(), &TITLE.into())?;
    registry.add(link, &e164.into(), &href.into());
    Ok(())
}

/// Shows where a click on `control` stands: `calling`, `error`, or removed.
pub fn set_state(control: &Element, state: Option<&str>) -> Result<(), JsValue> {
    match state {
        Some(state) => set_attribute(control, &STATE_ATTRIBUTE.into(), &state.into()),
        None => control.remove_attribute(STATE_ATTRIBUTE),
    }
}

/// Shows `message` in a corner of the page (an ARIA live region), replacing
/// any message still shown. Returns the element so it can be taken away.
pub fn show_toast(document: &Document, message: &str, kind: &str) -> Result<Element, JsValue> {
    let root = document
        .document_element()
        .ok_or_else(|| JsValue::from_str("no document element"))?;
    if let Some(old) = Selector::new(TOAST_TAG).first_in(&root) {
        old.remove();
    }
    let toast = document.create_element(TOAST_TAG)?;
    set_attribute(&toast, &"role".into(), &"status".into())?;
    set_attribute(&toast, &"aria-live".into(), &"polite".into())?;
    set_attribute(&toast, &"data-kind".into(), &kind.into())?;
    toast.set_text_content(Some(message));
    root.append_child(&toast)?;
    Ok(toast)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tel_links_give_their_number() {
        let br = Region::Brazil;
        assert_eq!(
            tel_number("tel:+5511987654321", br).as_deref(),
            Some("+5511987654321")
        );
        assert_eq!(
            tel_number("TEL:%2B55%2011%2098765-4321", br).as_deref(),
            Some("+5511987654321")
        );
        assert_eq!(
            tel_number("tel:11-3456-7890;ext=12", br).as_deref(),
            Some("+551134567890")
        );
        assert_eq!(tel_number("tel:1234", br), None);
        assert_eq!(tel_number("mailto:a@b.c", br), None);
        assert_eq!(tel_number("tel:%E0%A4%A", br), None);
    }

    #[test]
    fn a_tel_link_counts_only_when_its_text_shows_its_number() {
        let br = Region::Brazil;
        let href = "tel:+5511987654321";
        assert_eq!(
            link_number(href, "(11) 98765-4321", br).as_deref(),
            Some("+5511987654321")
        );
        assert_eq!(
            link_number(href, "Celular: 11 98765-4321", br).as_deref(),
            Some("+5511987654321")
        );
        assert_eq!(link_number(href, "(11) 98765-0001", br), None);
        assert_eq!(link_number(href, "Ligar agora", br), None);
        assert_eq!(
            link_number(href, "(11) 98765-4321 ou (11) 3456-7890", br),
            None
        );
        assert_eq!(
            link_number(href, "\u{202e}(11) 98765-4321\u{202c}", br),
            None
        );
        assert_eq!(link_number("tel:1234", "1234", br), None);
        let none = Region::InternationalOnly;
        assert_eq!(
            link_number(href, "(11) 98765-4321", none).as_deref(),
            Some("+5511987654321")
        );
    }

    #[test]
    fn bidirectional_controls_are_refused() {
        let br = Region::Brazil;
        assert_eq!(
            number_in("Fixo: (11) 3456-7890", br).as_deref(),
            Some("+551134567890")
        );
        for control in [
            '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
            '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ] {
            let text = format!("Fixo: {control}(11) 3456-7890");
            assert!(has_bidi_controls(&text), "{control:?}");
            assert_eq!(number_in(&text, br), None, "{control:?}");
        }
        assert!(!has_bidi_controls("João — (11) 3456-7890 ‘ok’ \u{200b}"));
    }
}
