//! DOM calls web-sys does not offer in the shape the walker needs: selector
//! checks and queries that take a selector already in JS memory (passing a
//! Rust `&str` would re-encode it on every call), text left in JS (a
//! block's text tested with a regular expression in the browser, a text
//! node's data kept as a control's face), attributes set from JS strings
//! made once, and `checkVisibility` with its options made once.

use js_sys::JsString;
use wasm_bindgen::prelude::*;
use web_sys::{Element, Text};

#[wasm_bindgen]
extern "C" {
    /// An `Element`, seen through the calls below.
    #[wasm_bindgen(js_name = Element)]
    type Queried;

    #[wasm_bindgen(method, catch, js_name = matches)]
    fn matches(this: &Queried, selector: &JsString) -> Result<bool, JsValue>;

    #[wasm_bindgen(method, catch, js_name = querySelector)]
    fn query_selector(this: &Queried, selector: &JsString) -> Result<Option<Element>, JsValue>;

    #[wasm_bindgen(method, getter, js_name = textContent)]
    fn text_content_js(this: &Queried) -> JsString;

    #[wasm_bindgen(method, catch, js_name = closest)]
    fn closest(this: &Queried, selector: &JsString) -> Result<Option<Element>, JsValue>;

    #[wasm_bindgen(method, js_name = checkVisibility)]
    fn check_visibility(this: &Queried, options: &JsValue) -> bool;

    #[wasm_bindgen(method, catch, js_name = setAttribute)]
    fn set_attribute_js(this: &Queried, name: &JsString, value: &JsString) -> Result<(), JsValue>;

    /// A `Text` node, seen through the call below.
    #[wasm_bindgen(js_name = Text)]
    type Characters;

    #[wasm_bindgen(method, getter, js_name = data)]
    fn data_js(this: &Characters) -> JsString;

    /// A `RegExp`, seen through the call below.
    #[wasm_bindgen(js_name = RegExp)]
    type Pattern;

    #[wasm_bindgen(constructor, js_class = RegExp)]
    fn new_pattern(source: &str) -> Pattern;

    #[wasm_bindgen(method, js_name = test)]
    fn test(this: &Pattern, text: &JsString) -> bool;
}

/// A regular expression tested, in the browser, on an element's text: the
/// text is never copied into wasm.
pub struct TextTest(Pattern);

impl TextTest {
    pub fn new(source: &str) -> TextTest {
        TextTest(Pattern::new_pattern(source))
    }

    /// Whether the text of `element` and everything inside it matches.
    pub fn in_text_of(&self, element: &Element) -> bool {
        self.0
            .test(&element.unchecked_ref::<Queried>().text_content_js())
    }
}

/// Sets an attribute whose name and value are already JS strings.
pub fn set_attribute(element: &Element, name: &JsString, value: &JsString) -> Result<(), JsValue> {
    element
        .unchecked_ref::<Queried>()
        .set_attribute_js(name, value)
}

/// The text of an element and everything inside it.
pub fn text_of(element: &Element) -> String {
    element
        .unchecked_ref::<Queried>()
        .text_content_js()
        .as_string()
        .unwrap_or_default()
}

/// The text of a node, left in JS.
pub fn text_data(text: &Text) -> JsString {
    text.unchecked_ref::<Characters>().data_js()
}

/// A CSS selector held as a JS string.
pub struct Selector(JsString);

impl Selector {
    pub fn new(selector: &str) -> Selector {
        Selector(JsString::from(selector))
    }

    pub fn matches(&self, element: &Element) -> bool {
        element
            .unchecked_ref::<Queried>()
            .matches(&self.0)
            .unwrap_or(false)
    }

    /// The first element inside `element` that matches.
    pub fn first_in(&self, element: &Element) -> Option<Element> {
        element
            .unchecked_ref::<Queried>()
            .query_selector(&self.0)
            .ok()
            .flatten()
    }

    /// Whether an element inside `element` matches.
    pub fn inside(&self, element: &Element) -> bool {
        self.first_in(element).is_some()
    }

    pub fn closest(&self, element: &Element) -> Option<Element> {
        element
            .unchecked_ref::<Queried>()
            .closest(&self.0)
            .ok()
            .flatten()
    }
}

/// Tells whether an element is rendered and visible (not `display: none`,
/// not in a `content-visibility: hidden` subtree, not `visibility:
/// hidden`), with the options object made once.
pub struct Visibility(JsValue);

impl Visibility {
    pub fn new() -> Visibility {
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"visibilityProperty".into(), &JsValue::TRUE);
        Visibility(options.into())
    }

    pub fn of(&self, element: &Element) -> bool {
        element.unchecked_ref::<Queried>().check_visibility(&self.0)
    }
}
