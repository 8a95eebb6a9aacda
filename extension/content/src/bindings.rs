//! DOM calls web-sys does not offer in the shape the walker needs: selector
//! checks that take a selector already in JS memory (the walker makes one per
//! element; passing a Rust `&str` would re-encode it every time), and
//! `checkVisibility`.

use js_sys::JsString;
use wasm_bindgen::prelude::*;
use web_sys::Element;

#[wasm_bindgen]
extern "C" {
    /// An `Element`, seen through the calls below.
    #[wasm_bindgen(js_name = Element)]
    type Queried;

    #[wasm_bindgen(method, catch, js_name = matches)]
    fn matches(this: &Queried, selector: &JsString) -> Result<bool, JsValue>;

    #[wasm_bindgen(method, catch, js_name = closest)]
    fn closest(this: &Queried, selector: &JsString) -> Result<Option<Element>, JsValue>;

    #[wasm_bindgen(method, js_name = checkVisibility)]
    fn check_visibility(this: &Queried, options: &JsValue) -> bool;
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

    pub fn closest(&self, element: &Element) -> Option<Element> {
        element
            .unchecked_ref::<Queried>()
            .closest(&self.0)
            .ok()
            .flatten()
    }
}

/// Whether the element is rendered and visible (not `display: none`, not in
/// a `content-visibility: hidden` subtree, not `visibility: hidden`).
pub fn is_visible(element: &Element) -> bool {
    let options = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&options, &"visibilityProperty".into(), &JsValue::TRUE);
    element
        .unchecked_ref::<Queried>()
        .check_visibility(&options)
}
