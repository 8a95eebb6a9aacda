//! Disca's controls on the page, built with DOM calls only (page text is
//! moved into them, never parsed as HTML): the `<disca-call>` element around
//! a number found in text, `tel:` links upgraded in place, the state a click
//! puts a control in, and the short messages shown to the salesperson.

use disca_finder::{Region, find};
use js_sys::{Array, WeakMap};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, Node, Text};

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
/// made (its text, or a link's `href`). A click counts only on a control
/// found here, and only while it still shows the same thing: a page cannot
/// make its own elements place calls, and a control whose text the page
/// changed (a recycled list row) does not call the old number.
#[derive(Clone)]
pub struct Registry {
    map: WeakMap,
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            map: WeakMap::new(),
        }
    }

    fn add(&self, control: &Element, e164: &str, shown: &str) {
        let entry = Array::of2(&e164.into(), &shown.into());
        self.map.set(control.unchecked_ref(), &entry);
    }

    pub fn forget(&self, control: &Element) {
        self.map.delete(control.unchecked_ref());
    }

    /// The number of `control`, if Disca made it and it shows what it did.
    pub fn number(&self, control: &Element) -> Option<String> {
        let entry: Array = self.map.get(control.unchecked_ref()).dyn_into().ok()?;
        let e164 = entry.get(0).as_string()?;
        let shown = entry.get(1).as_string()?;
        (current_face(control) == shown).then_some(e164)
    }
}

/// What a control shows: a link's `href`, another control's text.
fn current_face(control: &Element) -> String {
    if control.local_name() == "a" {
        control.get_attribute("href").unwrap_or_default()
    } else {
        control.text_content().unwrap_or_default()
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
    Number { written: &'a str },
    /// A later piece of a number split across elements.
    Continues,
}

/// Moves `text` into a new control for `e164`.
pub fn wrap(
    document: &Document,
    registry: &Registry,
    text: &Text,
    e164: &str,
    role: Role,
) -> Result<(), JsValue> {
    let control = document.create_element(CONTROL_TAG)?;
    match role {
        Role::Number { written } => {
            control.set_attribute(NUMBER_ATTRIBUTE, e164)?;
            control.set_attribute("role", "button")?;
            control.set_attribute("tabindex", "0")?;
            control.set_attribute("title", "Ligar com o Disca")?;
            control.set_attribute(
                "aria-label",
                &["Ligar para ", written, " com o Disca"].concat(),
            )?;
        }
        Role::Continues => {
            control.set_attribute(CONTINUES_ATTRIBUTE, e164)?;
            control.set_attribute("title", "Ligar com o Disca")?;
        }
    }
    let parent = text
        .parent_node()
        .ok_or_else(|| JsValue::from_str("detached text"))?;
    parent.replace_child(&control, text)?;
    control.append_child(text)?;
    registry.add(&control, e164, &text.data());
    Ok(())
}

/// The dialable number of a `tel:` link, if it has one.
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
    link.set_attribute(NUMBER_ATTRIBUTE, e164)?;
    link.set_attribute("title", "Ligar com o Disca")?;
    registry.add(link, e164, href);
    Ok(())
}

/// Shows where a click on `control` stands: `calling`, `error`, or removed.
pub fn set_state(control: &Element, state: Option<&str>) -> Result<(), JsValue> {
    match state {
        Some(state) => control.set_attribute(STATE_ATTRIBUTE, state),
        None => control.remove_attribute(STATE_ATTRIBUTE),
    }
}

/// Shows `message` in a corner of the page (an ARIA live region), replacing
/// any message still shown. Returns the element so it can be taken away.
pub fn show_toast(document: &Document, message: &str, kind: &str) -> Result<Element, JsValue> {
    if let Some(old) = document.query_selector(TOAST_TAG)? {
        old.remove();
    }
    let toast = document.create_element(TOAST_TAG)?;
    toast.set_attribute("role", "status")?;
    toast.set_attribute("aria-live", "polite")?;
    toast.set_attribute("data-kind", kind)?;
    toast.set_text_content(Some(message));
    document
        .document_element()
        .ok_or_else(|| JsValue::from_str("no document element"))?
        .append_child(&toast)?;
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
}
