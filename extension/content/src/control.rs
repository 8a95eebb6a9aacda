//! Disca's controls on the page, built with DOM calls only (page text is
//! moved into them, never parsed as HTML): the `<disca-call>` element around
//! a number found in text, `tel:` links upgraded in place, the state a click
//! puts a control in, and the short messages shown to the salesperson.

use disca_finder::{Region, find};
use wasm_bindgen::JsValue;
use web_sys::{Document, Element, Text};

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

/// Which piece of a number a control holds.
pub enum Role<'a> {
    /// The number, or its first piece: carries the number, takes the focus.
    Number { written: &'a str },
    /// A later piece of a number split across elements.
    Continues,
}

/// Moves `text` into a new control for `e164`.
pub fn wrap(document: &Document, text: &Text, e164: &str, role: Role) -> Result<(), JsValue> {
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
pub fn upgrade_link(link: &Element, e164: &str) -> Result<(), JsValue> {
    link.set_attribute(NUMBER_ATTRIBUTE, e164)?;
    link.set_attribute("title", "Ligar com o Disca")
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
