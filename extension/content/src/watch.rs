//! Following the page's changes with a `MutationObserver`: nodes added,
//! text changed, and the attributes that hide or show text or change a
//! link. Disca changes the page only while the observer is paused, so its
//! own insertions are never recorded: recording thousands of them only to
//! drop them cost about a tenth of a long list's scan.

use js_sys::{Array, Function};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, MutationObserver, MutationObserverInit, MutationRecord, Node};

pub struct Watch {
    observer: MutationObserver,
    root: Node,
    options: MutationObserverInit,
}

impl Watch {
    /// Follows the whole document; `on_records(records, observer)` gets
    /// the records the browser delivers.
    pub fn start(document: &Document, on_records: &Function) -> Result<Watch, JsValue> {
        let observer = MutationObserver::new(on_records)?;
        let options = MutationObserverInit::new();
        options.set_child_list(true);
        options.set_subtree(true);
        options.set_character_data(true);
        options.set_attributes(true);
        let filter = Array::of5(
            &"hidden".into(),
            &"class".into(),
            &"style".into(),
            &"aria-hidden".into(),
            &"href".into(),
        );
        options.set_attribute_filter(&filter);
        let root: Node = document
            .document_element()
            .ok_or_else(|| JsValue::from_str("no document element"))?
            .into();
        let watch = Watch {
            observer,
            root,
            options,
        };
        watch.resume();
        Ok(watch)
    }

    /// Stops recording; returns what the page did since the last delivery.
    pub fn pause(&self) -> impl Iterator<Item = MutationRecord> {
        let records = self.observer.take_records();
        self.observer.disconnect();
        records
            .into_iter()
            .map(JsCast::unchecked_into::<MutationRecord>)
    }

    /// Records again.
    pub fn resume(&self) {
        let _ = self
            .observer
            .observe_with_options(&self.root, &self.options);
    }

    pub fn stop(&self) {
        self.observer.disconnect();
    }
}
