//! The extension's content script, in Rust compiled to wasm. It owns what
//! Disca does on a CRM page: finding the phone numbers in the page's text
//! ([`disca_finder`]), turning each into a click-to-call control
//! ([`control`]), keeping up with what the page adds later (a
//! `MutationObserver` whose records are read in idle time, [`watch`],
//! [`Content`]), and reading the deal and contact around a click
//! ([`context`]).
//!
//! Invariants: page text is moved into controls, never parsed as HTML; a
//! slice of work stops after [`MAX_SLICE_MS`] of reading or
//! [`MAX_COMMIT_MS`] of making controls (and within the browser's idle
//! period); only added or changed nodes are read after the first pass, and
//! Disca's own insertions are never read; only trusted clicks (a person's,
//! not a script's) place calls, and only for the number the person sees
//! ([`seen`]).
//!
//! The JS side (`extension/static/content/boot.js`) loads this module, reads
//! the settings and carries calls to the service worker.

mod bindings;
pub mod block;
mod context;
mod control;
pub mod rdstation;
mod scanner;
pub mod seen;
pub mod tags;
mod watch;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use disca_finder::{Region, find};
use js_sys::Function;
use wasm_bindgen::prelude::*;
use web_sys::{
    AddEventListenerOptions, CustomEvent, CustomEventInit, Document, Element, Event, IdleDeadline,
    IdleRequestOptions, KeyboardEvent, MouseEvent, MutationObserver, MutationRecord, Node,
    Performance, Window,
};

use crate::bindings::Selector;
use crate::scanner::{Phase, Scanner};
use crate::tags::{CONTROL_TAG, TOAST_TAG};
use crate::watch::Watch;

/// Shortest slice of work, in milliseconds (the first pass on a page, and
/// idle periods shorter than this).
pub const SLICE_MS: f64 = 8.0;
/// Longest slice of reading, when the page is idle: well under the 50 ms
/// that make a task "long" and a page feel stuck.
pub const MAX_SLICE_MS: f64 = 24.0;
/// Longest slice that makes controls, when the page is idle: the page is
/// laid out again after each (for a long table, for longer than the slice
/// itself), so fewer, larger ones leave it responsive more of the time;
/// still under the 50 ms of a long task, within the idle period.
pub const MAX_COMMIT_MS: f64 = 40.0;
/// How long work may wait for idle time before it runs anyway.
const IDLE_TIMEOUT_MS: u32 = 200;
/// How long a message stays on the page.
const TOAST_MS: i32 = 6000;
/// What a click on a number the page does not show plainly says.
const NOT_SHOWN: &str = "O Disca não ligou: este número não está inteiro à vista na página \
(escondido, coberto, fora da tela ou disfarçado).";
/// The event the content script reports its progress with (detail: JSON),
/// only on pages that ask for it (test and benchmark pages) with this
/// attribute on `<html>`: other pages learn nothing of Disca from events.
const SCAN_EVENT: &str = "disca-scan";
const REPORT_ATTRIBUTE: &str = "data-disca-report";

thread_local! {
    /// What runs on this page, kept alive until stopped.
    static RUNNING: RefCell<Vec<Rc<Shared>>> = const { RefCell::new(Vec::new()) };
}

/// Disca running on a page.
#[wasm_bindgen]
pub struct Content {
    shared: Rc<Shared>,
}

/// The callback `requestIdleCallback` runs.
type IdleCallback = Closure<dyn FnMut(IdleDeadline)>;
/// A listener on the document (click, keydown).
type EventListener = Closure<dyn FnMut(Event)>;
/// What the `MutationObserver` calls.
type RecordsCallback = Closure<dyn FnMut(Vec<MutationRecord>, MutationObserver)>;

/// Work asked of the browser for later.
#[derive(Clone, Copy)]
enum Pending {
    Idle(u32),
    Timer(i32),
}

struct Shared {
    window: Window,
    document: Document,
    performance: Performance,
    region: Region,
    scanner: RefCell<Scanner>,
    registry: control::Registry,
    watch: RefCell<Option<Watch>>,
    idle: RefCell<Option<IdleCallback>>,
    resume: RefCell<Option<Closure<dyn FnMut()>>>,
    /// The observer's callback, kept as long as Disca runs here.
    on_records: RefCell<Option<RecordsCallback>>,
    listeners: RefCell<Vec<(&'static str, EventListener)>>,
    /// The idle callback or timer asked for, until it runs (cancelled by
    /// `stop`: its closure goes with this).
    pending: Cell<Option<Pending>>,
    /// Whether the last idle period was passed over for being short.
    passed_over: Cell<bool>,
    on_call: Function,
    clickable: Selector,
    timing: RefCell<Timing>,
}

/// How the work went, for tests and benchmarks.
#[derive(Default)]
struct Timing {
    started: f64,
    slices: u32,
    longest_slice: f64,
    first_slice: f64,
    /// Time spent working, all slices together.
    busy: f64,
    drained_at: Option<f64>,
}

#[wasm_bindgen]
impl Content {
    /// Starts on the current page: reads what fits in one slice now, the rest
    /// in idle time, then follows the page's changes. `region` is `BR` or
    /// `none`; `on_call(number, context, control)` is called on each click.
    pub fn start(region: &str, on_call: Function) -> Result<Content, JsValue> {
        let region = Region::parse(region).ok_or_else(|| unknown_region(region))?;
        let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
        let document = window
            .document()
            .ok_or_else(|| JsValue::from_str("no document"))?;
        let shared = Shared::start(window, document, region, on_call, false)?;
        // Disca runs for the page's life, whether or not the JS side keeps
        // its handle (the handle's finalizer would drop the callbacks the
        // browser still calls); `stop` ends it.
        RUNNING.with(|running| running.borrow_mut().push(Rc::clone(&shared)));
        Ok(Content { shared })
    }

    /// Shows the result of a click on `control`: `state` (`calling`, `error`
    /// or none to clear) and an optional message for the salesperson.
    pub fn feedback(&self, control: &Element, state: Option<String>, message: Option<String>) {
        let _ = control::set_state(control, state.as_deref());
        if let Some(message) = message {
            self.shared
                .toast(&message, state.as_deref().unwrap_or("info"));
        }
    }

    /// What was done so far, as JSON (see [`Shared::report`]).
    pub fn stats(&self) -> String {
        self.shared.report()
    }

    /// Stops following the page and answering clicks (controls stay, inert).
    pub fn stop(&self) {
        self.shared.stop();
    }
}

/// Runs what the page's start runs (set-up, the walk, the finder, controls,
/// a `tel:` link, a hidden line, the report, the stop) on `stage`, a
/// document never shown holding a card with the usual writings and
/// look-alikes (built by `load.js` at document_start), then reads an
/// element added to it afterwards (through the observer's records, taken
/// at the start of the next slice), so that the page's first scan does not
/// pay for compiling that code: the browser compiles wasm functions, and
/// the JS glue they call, on their first call. The idle and timer
/// callbacks are not run (they only call what is rehearsed). `on_call` is
/// never called (clicks on the stage are not a person's).
#[wasm_bindgen]
pub fn rehearse(stage: Document, on_call: Function) -> Result<(), JsValue> {
    let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
    let body = stage.body().ok_or_else(|| JsValue::from_str("no body"))?;
    let shared = Shared::start(window, stage.clone(), Region::Brazil, on_call, true)?;
    let later = stage.create_element("p")?;
    later.set_text_content(Some("WhatsApp: +55 21 99876-5432"));
    body.append_child(&later)?;
    Shared::slice(&shared, Budget::both(f64::INFINITY));
    shared.stop();
    Ok(())
}

/// The numbers in `text` as E.164, in order (`region`: `BR` or `none`). For
/// the precision benchmark and tools; the page scan uses the same finder.
#[wasm_bindgen]
pub fn find_numbers(text: &str, region: &str) -> Result<Vec<String>, JsValue> {
    let region = Region::parse(region).ok_or_else(|| unknown_region(region))?;
    Ok(find(text, region)
        .into_iter()
        .map(|found| found.e164)
        .collect())
}

impl Shared {
    /// Disca on `document`: reads what fits in one slice now, the rest in
    /// idle time, then follows its changes. `rehearsal`: a document never
    /// shown, every element of which counts as shown.
    fn start(
        window: Window,
        document: Document,
        region: Region,
        on_call: Function,
        rehearsal: bool,
    ) -> Result<Rc<Shared>, JsValue> {
        let performance = window
            .performance()
            .ok_or_else(|| JsValue::from_str("no performance"))?;
        let started = performance.now();
        let registry = control::Registry::new();
        let mut scanner = Scanner::new(&document, registry.clone(), region)?;
        if rehearsal {
            scanner = scanner.rehearsal();
        }
        let shared = Rc::new(Shared {
            scanner: RefCell::new(scanner),
            registry,
            window,
            document,
            performance,
            region,
            watch: RefCell::new(None),
            idle: RefCell::new(None),
            resume: RefCell::new(None),
            on_records: RefCell::new(None),
            listeners: RefCell::new(Vec::new()),
            pending: Cell::new(None),
            passed_over: Cell::new(false),
            on_call,
            clickable: Selector::new(control::CLICKABLE),
            timing: RefCell::new(Timing {
                started,
                ..Timing::default()
            }),
        });
        Shared::install(&shared)?;
        if let Some(body) = shared.document.body() {
            shared.scanner.borrow_mut().enqueue(body.into());
        }
        Shared::slice(&shared, Budget::both(SLICE_MS));
        Ok(shared)
    }

    /// Stops following the document and answering clicks; work asked for
    /// later is cancelled.
    fn stop(self: &Rc<Shared>) {
        RUNNING.with(|running| {
            running
                .borrow_mut()
                .retain(|shared| !Rc::ptr_eq(shared, self));
        });
        match self.pending.take() {
            Some(Pending::Idle(handle)) => self.window.cancel_idle_callback(handle),
            Some(Pending::Timer(handle)) => self.window.clear_timeout_with_handle(handle),
            None => {}
        }
        if let Some(watch) = self.watch.borrow_mut().take() {
            watch.stop();
        }
        for (kind, listener) in self.listeners.borrow_mut().drain(..) {
            let _ = self.document.remove_event_listener_with_callback_and_bool(
                kind,
                listener.as_ref().unchecked_ref(),
                true,
            );
        }
    }

    /// The observer, the idle callback and the click and key listeners.
    fn install(shared: &Rc<Shared>) -> Result<(), JsValue> {
        let weak = Rc::downgrade(shared);
        let on_records =
            RecordsCallback::new(move |records: Vec<MutationRecord>, _: MutationObserver| {
                if let Some(shared) = weak.upgrade() {
                    shared.absorb(records);
                    Shared::schedule(&shared);
                }
            });
        let watch = Watch::start(&shared.document, on_records.as_ref().unchecked_ref())?;
        *shared.on_records.borrow_mut() = Some(on_records);
        *shared.watch.borrow_mut() = Some(watch);

        let weak = Rc::downgrade(shared);
        *shared.idle.borrow_mut() = Some(Closure::new(move |deadline: IdleDeadline| {
            if let Some(shared) = weak.upgrade() {
                shared.pending.set(None);
                let remaining = deadline.time_remaining();
                // Controls to make: a short period (the rest of a frame) is
                // passed over once for the next, usually long one. Every
                // slice that makes controls costs the page a layout, so it
                // should make many.
                if remaining < SLICE_MS
                    && !deadline.did_timeout()
                    && shared.scanner.borrow().will_commit()
                    && !shared.passed_over.replace(true)
                {
                    Shared::schedule(&shared);
                    return;
                }
                shared.passed_over.set(false);
                // The idle period, within bounds: at least a whole small
                // slice (8 ms delays a frame at worst; tiny slices would
                // stretch a long list over many seconds), at most
                // MAX_SLICE_MS of reading or MAX_COMMIT_MS of making
                // controls when the page is idle (periods run to 50 ms).
                let budget = Budget {
                    reading: (remaining - 2.0).clamp(SLICE_MS, MAX_SLICE_MS),
                    committing: (remaining - 2.0).clamp(SLICE_MS, MAX_COMMIT_MS),
                };
                Shared::slice(&shared, budget);
            }
        }));

        let weak = Rc::downgrade(shared);
        *shared.resume.borrow_mut() = Some(Closure::new(move || {
            if let Some(shared) = weak.upgrade() {
                shared.pending.set(None);
                Shared::schedule(&shared);
            }
        }));

        for kind in ["click", "keydown"] {
            let weak = Rc::downgrade(shared);
            let listener = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
                if let Some(shared) = weak.upgrade() {
                    shared.on_event(&event);
                }
            });
            let options = AddEventListenerOptions::new();
            options.set_capture(true);
            shared
                .document
                .add_event_listener_with_callback_and_add_event_listener_options(
                    kind,
                    listener.as_ref().unchecked_ref(),
                    &options,
                )?;
            shared.listeners.borrow_mut().push((kind, listener));
        }
        Ok(())
    }

    /// Reads the page's mutation records: what was added or changed is
    /// queued; Disca's own elements are not.
    fn absorb(&self, records: impl IntoIterator<Item = MutationRecord>) {
        let mut scanner = self.scanner.borrow_mut();
        let mut recheck = false;
        for record in records {
            scanner.page_changed();
            match record.type_().as_str() {
                "childList" => {
                    let added = record.added_nodes();
                    for index in 0..added.length() {
                        let Some(node) = added.item(index) else {
                            continue;
                        };
                        if !is_ours(&node) {
                            scanner.enqueue(node);
                        }
                    }
                }
                "characterData" => {
                    let Some(target) = record.target() else {
                        continue;
                    };
                    match target.parent_element() {
                        // The page changed the text of a control: undone,
                        // and its block read again.
                        Some(control) if is_ours(&control) => {
                            let block = control.parent_node();
                            control::undo(&control, &self.registry);
                            if let Some(block) = block {
                                scanner.enqueue(block);
                            }
                        }
                        _ => scanner.changed(target),
                    }
                }
                _ => {
                    // `hidden` or `aria-hidden` taken off: its text was never
                    // read. A class or style change may show a hidden number.
                    let name = record.attribute_name();
                    match (name.as_deref(), record.target()) {
                        (Some("hidden" | "aria-hidden"), Some(target)) if !is_ours(&target) => {
                            scanner.enqueue(target);
                        }
                        // A link's number changed: it is a link again, then
                        // read again.
                        (Some("href"), Some(target)) => {
                            if let Some(link) = target.dyn_ref::<Element>()
                                && link.has_attribute(control::NUMBER_ATTRIBUTE)
                            {
                                control::undo(link, &self.registry);
                                scanner.enqueue(target);
                            }
                        }
                        _ => recheck = true,
                    }
                }
            }
        }
        if recheck {
            scanner.shown_maybe();
        }
    }

    /// Asks for idle time to go on, once.
    fn schedule(shared: &Rc<Shared>) {
        if shared.pending.get().is_some() || !shared.scanner.borrow().has_work() {
            return;
        }
        if let Some(idle) = shared.idle.borrow().as_ref() {
            let options = IdleRequestOptions::new();
            options.set_timeout(IDLE_TIMEOUT_MS);
            let asked = shared
                .window
                .request_idle_callback_with_options(idle.as_ref().unchecked_ref(), &options);
            shared.pending.set(asked.ok().map(Pending::Idle));
        }
    }

    /// Asks for idle time from outside this idle period: the browser runs
    /// idle callbacks asked for during one only in the next, which would
    /// leave the rest of this one unused.
    fn resume_later(&self) {
        if let Some(resume) = self.resume.borrow().as_ref() {
            let posted = self
                .window
                .set_timeout_with_callback_and_timeout_and_arguments_0(
                    resume.as_ref().unchecked_ref(),
                    0,
                );
            self.pending.set(posted.ok().map(Pending::Timer));
        }
    }

    /// One slice of work of at most `budget` milliseconds.
    fn slice(shared: &Rc<Shared>, budget: Budget) {
        let watch = shared.watch.borrow();
        if let Some(watch) = watch.as_ref() {
            // Records the page made since the last delivery.
            shared.absorb(watch.pause());
        }
        let start = shared.performance.now();
        let more = shared
            .scanner
            .borrow_mut()
            .work(|phase| shared.performance.now() - start >= budget.of(phase));
        if let Some(watch) = watch.as_ref() {
            watch.resume();
        }
        drop(watch);
        let end = shared.performance.now();
        {
            let mut timing = shared.timing.borrow_mut();
            if timing.slices == 0 {
                timing.first_slice = end - start;
            }
            timing.slices += 1;
            timing.longest_slice = timing.longest_slice.max(end - start);
            timing.busy += end - start;
            timing.drained_at = (!more).then_some(end);
        }
        if more {
            shared.resume_later();
        } else {
            shared.announce();
        }
    }

    /// A trusted click (or Enter/Space) on a control: the call goes out.
    fn on_event(&self, event: &Event) {
        if !event.is_trusted() {
            return;
        }
        if let Some(key) = event.dyn_ref::<KeyboardEvent>()
            && (key.repeat() || !matches!(key.key().as_str(), "Enter" | " "))
        {
            return;
        }
        let Some(target) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        let Some(control) = self.clickable.closest(&target) else {
            return;
        };
        if event.type_() == "keydown" && control.local_name() != CONTROL_TAG {
            // Links answer Enter with a click of their own.
            return;
        }
        let Some(number) = self.registry.number(&control) else {
            // Not Disca's (a page's look-alike), or it no longer shows what
            // it did: never a call.
            return;
        };
        event.prevent_default();
        event.stop_immediate_propagation();
        if control.get_attribute(control::STATE_ATTRIBUTE).as_deref() == Some("calling") {
            // Double click, or a click while the call is being placed.
            return;
        }
        if event.type_() == "click"
            && self
                .window
                .get_selection()
                .ok()
                .flatten()
                .is_some_and(|selection| !selection.is_collapsed())
        {
            // Selecting the number (to copy it) is not a click on it.
            return;
        }
        // The number must be the one the person sees, whole, on the page
        // as it is rendered now; a mouse click must land on the control
        // (a click from the keyboard has no point: `detail` 0).
        let ends = self.registry.ends(&control);
        let point = (event.type_() == "click")
            .then(|| event.unchecked_ref::<MouseEvent>())
            .filter(|click| click.detail() > 0)
            .map(|click| (f64::from(click.client_x()), f64::from(click.client_y())));
        let whole = ends
            .iter()
            .all(|end| self.registry.number(end).as_ref() == Some(&number));
        if !whole
            || !seen::shows(
                &self.window,
                &self.document,
                self.region,
                &number,
                &ends,
                &control,
                point,
            )
        {
            self.toast(NOT_SHOWN, "error");
            return;
        }
        let address = self.window.location().href().unwrap_or_default();
        let context = context::around(&control, &address);
        let _ = control::set_state(&control, Some("calling"));
        let _ = self.on_call.call3(
            &JsValue::NULL,
            &number.into(),
            &context::to_js(&context),
            &control,
        );
    }

    /// Shows `message` in a corner of the page for a while.
    fn toast(&self, message: &str, kind: &str) {
        if let Ok(toast) = control::show_toast(&self.document, message, kind) {
            let remove = Closure::once_into_js(move || toast.remove());
            let _ = self
                .window
                .set_timeout_with_callback_and_timeout_and_arguments_0(
                    remove.unchecked_ref(),
                    TOAST_MS,
                );
        }
    }

    /// Tells the page's tests and benchmarks that the queue drained (when
    /// the page asks, see [`REPORT_ATTRIBUTE`]).
    fn announce(&self) {
        let opted_in = self
            .document
            .document_element()
            .is_some_and(|root| root.has_attribute(REPORT_ATTRIBUTE));
        if !opted_in {
            return;
        }
        let detail = JsValue::from_str(&self.report());
        let init = CustomEventInit::new();
        init.set_detail(&detail);
        if let Ok(event) = CustomEvent::new_with_event_init_dict(SCAN_EVENT, &init) {
            let _ = self.document.dispatch_event(&event);
        }
    }

    /// `{"numbers","links","text_nodes","elements","slices","first_slice_ms",
    /// "longest_slice_ms","busy_ms","drained_ms"}` as JSON; `drained_ms` is the time
    /// from start until nothing was left to read, null while work remains.
    /// (Built as a JS object: Rust's float formatting would weigh more in the
    /// wasm than all of this crate.)
    fn report(&self) -> String {
        let stats = self.scanner.borrow().stats;
        let timing = self.timing.borrow();
        let drained = timing
            .drained_at
            .map_or(JsValue::NULL, |at| JsValue::from_f64(at - timing.started));
        let report = js_sys::Object::new();
        for (key, value) in [
            ("numbers", JsValue::from(stats.numbers)),
            ("links", JsValue::from(stats.links)),
            ("text_nodes", JsValue::from(stats.text_nodes)),
            ("elements", JsValue::from(stats.elements)),
            ("slices", JsValue::from(timing.slices)),
            ("first_slice_ms", JsValue::from_f64(timing.first_slice)),
            ("longest_slice_ms", JsValue::from_f64(timing.longest_slice)),
            ("busy_ms", JsValue::from_f64(timing.busy)),
            ("drained_ms", drained),
        ] {
            let _ = js_sys::Reflect::set(&report, &key.into(), &value);
        }
        js_sys::JSON::stringify(&report)
            .ok()
            .and_then(|json| json.as_string())
            .unwrap_or_default()
    }
}

/// How long a slice may go on, in milliseconds, for what it is doing.
#[derive(Clone, Copy)]
struct Budget {
    reading: f64,
    committing: f64,
}

impl Budget {
    fn both(ms: f64) -> Budget {
        Budget {
            reading: ms,
            committing: ms,
        }
    }

    fn of(self, phase: Phase) -> f64 {
        match phase {
            Phase::Reading => self.reading,
            Phase::Committing => self.committing,
        }
    }
}

/// The error for a region code that is neither `BR` nor `none`.
fn unknown_region(region: &str) -> JsValue {
    JsValue::from_str(&["unknown region \"", region, "\" (BR or none)"].concat())
}

/// Whether `node` is one of Disca's elements.
fn is_ours(node: &Node) -> bool {
    node.dyn_ref::<Element>().is_some_and(|element| {
        let name = element.local_name();
        name == CONTROL_TAG || name == TOAST_TAG
    })
}
