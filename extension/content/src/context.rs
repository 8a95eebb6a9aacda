//! The RD Station records around a clicked number, sent with the call so its
//! note lands on the right deal: the deal (the row's deal link in a list,
//! else the deal page's address), and the contact whose card or row holds
//! the number (the nearest enclosing element that links to exactly one
//! contact; none when the nearest one links to several, rather than guess).
//! The context is the protocol's [`CallContext`], the one the host checks
//! and the backend stores.

use disca_protocol::CallContext;
use js_sys::Object;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Element, NodeList};

use crate::bindings::{Selector, text_of};
use crate::rdstation;

/// Enclosing elements that hold one record each in lists and tables.
const ROW: &str = "tr,li,[role=\"row\"],[role=\"listitem\"],[role=\"article\"]";
const DEAL_LINKS: &str = "a[href*=\"/deals/\"]";
const RECORD_LINKS: &str = "a[href*=\"/deals/\"],a[href*=\"/contacts/\"]";
const CONTACT_LINKS: &str = "a[href*=\"/contacts/\"]";
/// How far up from the number a contact's card may be.
const MAX_LEVELS: usize = 12;

/// The context of a click on `control`, on the page at `page_address`.
pub fn around(control: &Element, page_address: &str) -> CallContext {
    // A row is one that links to a record (a list item on a contact
    // card is not a row of a list).
    let row = Selector::new(ROW)
        .closest(control)
        .filter(|row| Selector::new(RECORD_LINKS).inside(row));
    let deal_id = match row
        .as_ref()
        .and_then(|row| row.query_selector_all(DEAL_LINKS).ok())
    {
        Some(links) => match only_id(&links, rdstation::deal_id) {
            Only::One(id) => Some(id),
            // Several deals in one row: rather none than a guess.
            Only::Several => None,
            Only::None => rdstation::deal_id(page_address).map(str::to_owned),
        },
        None => rdstation::deal_id(page_address).map(str::to_owned),
    };
    let (contact_id, contact_name) = nearest_contact(control, row.as_ref()).unzip();
    CallContext {
        deal_id,
        contact_id,
        contact_name: contact_name.flatten(),
        page_url: rdstation::page_url(page_address),
    }
}

/// The context as the plain object the service worker forwards, with the
/// protocol's field names (absent fields left out).
pub fn to_js(context: &CallContext) -> JsValue {
    serde_json::to_string(context)
        .ok()
        .and_then(|json| js_sys::JSON::parse(&json).ok())
        .unwrap_or_else(|| Object::new().into())
}

/// The id (and shown name) of the one contact the nearest enclosing element
/// links to, looking no further than `bound` (the number's row, if any).
fn nearest_contact(control: &Element, bound: Option<&Element>) -> Option<(String, Option<String>)> {
    let mut level = control.parent_element();
    for _ in 0..MAX_LEVELS {
        let element = level?;
        let links = element.query_selector_all(CONTACT_LINKS).ok()?;
        let mut found: Option<(String, Option<String>)> = None;
        for index in 0..links.length() {
            let Some(link) = links.item(index).and_then(|n| n.dyn_into::<Element>().ok()) else {
                continue;
            };
            let Some(id) = link
                .get_attribute("href")
                .and_then(|h| rdstation::contact_id(&h).map(str::to_owned))
            else {
                continue;
            };
            match &found {
                Some((known, _)) if *known != id => return None,
                Some(_) => {}
                None => {
                    let name = rdstation::contact_name(&text_of(&link));
                    found = Some((id, name));
                }
            }
        }
        if found.is_some() {
            return found;
        }
        if bound.is_some_and(|bound| bound.is_same_node(Some(&element)))
            || element.local_name() == "body"
        {
            return None;
        }
        level = element.parent_element();
    }
    None
}

/// How many different ids links hold.
enum Only {
    None,
    One(String),
    Several,
}

/// The one id `read` finds in the `href` of `links`, if they agree.
fn only_id(links: &NodeList, read: fn(&str) -> Option<&str>) -> Only {
    let mut only = Only::None;
    for index in 0..links.length() {
        let Some(href) = links
            .item(index)
            .and_then(|link| link.dyn_into::<Element>().ok())
            .and_then(|link| link.get_attribute("href"))
        else {
            continue;
        };
        let Some(id) = read(&href) else { continue };
        match &only {
            Only::One(known) if known != id => return Only::Several,
            Only::One(_) => {}
            _ => only = Only::One(id.to_owned()),
        }
    }
    only
}
