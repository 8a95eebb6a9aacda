//! The walker: reads the text of the subtrees queued to it, block by block,
//! and turns each number the finder sees into a control. Work is done in
//! slices with a time budget and resumes where it stopped, so a page with
//! thousands of rows never blocks the main thread for long. After the first
//! pass only what the page adds or changes is queued; Disca's controls are
//! never entered, so reading a text again (when the page changes it) finds
//! only what is not a control yet.

use std::collections::VecDeque;

use disca_finder::{Found, Region, find};
use js_sys::JsString;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, Node, Text};

use crate::bindings::{Selector, TextTest, Visibility};
use crate::block::{Block, MAY_HOLD_A_NUMBER};
use crate::control;
use crate::tags::{self, Class, Kind};

/// Blocks with numbers held while reading goes on: past this many, their
/// controls are made before reading more (on a very long page the first
/// ones show sooner, and memory stays bounded).
const MAX_HOLDING: usize = 8192;
/// Blocks with numbers whose controls are made in a slice of their own
/// when there are more than this (about 3 ms of work).
const FRESH_COMMIT: usize = 256;
/// Hidden blocks with numbers remembered at once.
const MAX_HIDDEN: usize = 256;

/// What a slice is doing when it asks whether its time is up: reading
/// leaves the page as it is; making controls costs the page a layout after
/// the slice, so it may be given longer (fewer, larger slices).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Reading,
    Committing,
}

/// What the walker has done, for the page's tests and benchmarks.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    /// Controls made from numbers in text.
    pub numbers: u32,
    /// `tel:` links upgraded.
    pub links: u32,
    /// Text nodes read.
    pub text_nodes: u32,
    /// Elements visited.
    pub elements: u32,
}

pub struct Scanner {
    region: Region,
    maker: control::Maker,
    registry: control::Registry,
    queue: VecDeque<Node>,
    walk: Option<Walk>,
    /// Blocks with numbers, waiting until nothing is left to read.
    found: VecDeque<Holding>,
    /// Elements whose text held a number while they were hidden: read again
    /// when they may have been shown.
    hidden: Vec<Element>,
    /// Whether the page changed a class or style since hidden numbers were
    /// last looked at.
    recheck: bool,
    /// How many times the page was seen changing: blocks read since the
    /// last change are still as read.
    changes: u32,
    /// A rehearsal in a document never shown ([`Scanner::rehearsal`]).
    rehearsal: bool,
    skip: Selector,
    skip_attributes: Selector,
    /// Matches the links skipped for their attributes and the `tel:` links.
    link_check: Selector,
    visibility: Visibility,
    tel_link: Selector,
    may_hold_a_number: TextTest,
    pub stats: Stats,
}

/// A block's text with numbers in it, and the text nodes it came from.
struct Holding {
    block: Block,
    nodes: Vec<Text>,
    numbers: Vec<Found>,
    /// Whether its holder was shown when read; `None` once the page may
    /// have changed that (a class or style change), to be read again.
    shown: Option<bool>,
    /// [`Scanner::changes`] when it was read.
    read_at: u32,
}

/// A subtree being read: where to go on, the elements entered (from the
/// root down, each with what it is to the running text: where to go on
/// from when it is done, without asking the page for parents), and the
/// running text not yet searched.
struct Walk {
    root: Node,
    next: Option<Node>,
    entered: Vec<(Kind, Element)>,
    block: Block,
    nodes: Vec<Text>,
    /// Whether the innermost element entered is a block in which nothing
    /// but blank text was read so far.
    unread: bool,
}

impl Scanner {
    pub fn new(
        document: &Document,
        registry: control::Registry,
        region: Region,
    ) -> Result<Scanner, JsValue> {
        Ok(Scanner {
            region,
            maker: control::Maker::new(document)?,
            registry,
            queue: VecDeque::new(),
            walk: None,
            found: VecDeque::new(),
            hidden: Vec::new(),
            recheck: false,
            changes: 0,
            rehearsal: false,
            skip: Selector::new(&tags::skip_selector()),
            skip_attributes: Selector::new(tags::SKIP_ATTRIBUTES),
            link_check: Selector::new(&[tags::SKIP_ATTRIBUTES, tags::TEL_LINK].join(",")),
            visibility: Visibility::new(),
            tel_link: Selector::new(tags::TEL_LINK),
            may_hold_a_number: TextTest::new(MAY_HOLD_A_NUMBER),
            stats: Stats::default(),
        })
    }

    /// This scanner for a document never shown, whose elements are read as
    /// if they were shown: the rehearsal that compiles the code a first
    /// scan runs.
    pub fn rehearsal(self) -> Scanner {
        Scanner {
            rehearsal: true,
            ..self
        }
    }

    /// Queues a subtree to read. A text node is read with its parent, so it
    /// joins the text around it.
    pub fn enqueue(&mut self, node: Node) {
        let Some(node) = self.block_of(node) else {
            return;
        };
        if self
            .queue
            .back()
            .is_some_and(|last| last.is_same_node(Some(&node)))
        {
            return;
        }
        self.queue.push_back(node);
    }

    /// The nearest element around `node` that is not inline: re-reading
    /// from there keeps a number split across inline elements, and its
    /// label, in one piece.
    fn block_of(&self, node: Node) -> Option<Node> {
        let mut element: Element = match node.dyn_into::<Element>() {
            Ok(element) => element,
            Err(node) => node.parent_element()?,
        };
        while matches!(
            tags::classify(&element.node_name()),
            Class::Link | Class::Read(Kind::Inline)
        ) {
            match element.parent_element() {
                Some(parent) => element = parent,
                None => break,
            }
        }
        Some(element.unchecked_into())
    }

    /// Notes that the page changed something (anything: blocks read before
    /// are checked before their controls are made).
    pub fn page_changed(&mut self) {
        self.changes = self.changes.wrapping_add(1);
    }

    /// A text node the page changed: read it again.
    pub fn changed(&mut self, text: Node) {
        self.enqueue(text);
    }

    /// Asks for the hidden numbers to be looked at again (in the next slice).
    pub fn shown_maybe(&mut self) {
        self.recheck = !self.hidden.is_empty();
        for holding in &mut self.found {
            holding.shown = None;
        }
    }

    /// Whether the next slice makes controls (nothing is left to read).
    pub fn will_commit(&self) -> bool {
        !self.found.is_empty() && self.walk.is_none() && self.queue.is_empty()
    }

    pub fn has_work(&self) -> bool {
        self.walk.is_some() || !self.queue.is_empty() || self.recheck || !self.found.is_empty()
    }

    /// Queues again the hidden numbers' elements that are now visible.
    fn recheck_hidden(&mut self) {
        self.recheck = false;
        let (shown, still): (Vec<Element>, Vec<Element>) = std::mem::take(&mut self.hidden)
            .into_iter()
            .filter(|element| element.is_connected())
            .partition(|element| self.visibility.of(element));
        self.hidden = still;
        for element in shown {
            self.enqueue(element.unchecked_into());
        }
    }

    /// Works until `out_of_time` says stop for what it is doing (checked
    /// every few nodes) or nothing is left; returns whether work remains.
    /// Controls are made once nothing is left to read (or many blocks are
    /// held): a slice that only reads leaves the page as it was, so the
    /// browser lays the page out again only after slices that made some.
    pub fn work(&mut self, mut out_of_time: impl FnMut(Phase) -> bool) -> bool {
        if self.recheck {
            self.recheck_hidden();
        }
        self.check_resumed_walk();
        let mut steps = 0u32;
        loop {
            let reading = self.walk.is_some() || !self.queue.is_empty();
            if !reading || self.found.len() >= MAX_HOLDING {
                if steps > 0 && self.found.len() > FRESH_COMMIT {
                    // Many controls to make: from the start of a slice of
                    // their own, so they take as few slices as they can.
                    return true;
                }
                if !self.commit(&mut || out_of_time(Phase::Committing)) {
                    return true;
                }
                if !reading {
                    return false;
                }
                continue;
            }
            if self.walk.is_none() {
                if let Some(root) = self.queue.pop_front() {
                    self.walk = self.start(root);
                }
                continue;
            }
            if !self.step() {
                self.walk = None;
            }
            steps += 1;
            if steps.is_multiple_of(32) && out_of_time(Phase::Reading) {
                return true;
            }
        }
    }

    /// A walk left between slices is only resumed if the page kept its
    /// root on the page, each element entered in the one entered before,
    /// and the next node in the innermost; else the root is read again
    /// from the start.
    fn check_resumed_walk(&mut self) {
        let Some(walk) = &self.walk else {
            return;
        };
        let in_place = |node: &Node, parent: &Element| {
            node.parent_node()
                .is_some_and(|actual| actual.is_same_node(Some(parent)))
        };
        let chain = walk
            .entered
            .windows(2)
            .all(|pair| in_place(&pair[1].1, &pair[0].1));
        let next = match (&walk.next, walk.entered.last()) {
            (Some(next), Some((_, innermost))) => in_place(next, innermost),
            _ => true,
        };
        let intact = walk.root.is_connected() && chain && next;
        if !intact {
            let root = walk.root.clone();
            self.walk = None;
            self.queue.push_front(root);
        }
    }

    /// A walk of `root`, unless it left the page or lies where nothing is read.
    fn start(&self, root: Node) -> Option<Walk> {
        if !root.is_connected() {
            return None;
        }
        if let Some(parent) = root.parent_element()
            && self.skip.closest(&parent).is_some()
        {
            return None;
        }
        Some(Walk {
            root: root.clone(),
            next: Some(root),
            entered: Vec::new(),
            block: Block::default(),
            nodes: Vec::new(),
            unread: false,
        })
    }

    /// Reads one node of the current walk; false when the walk is over.
    fn step(&mut self) -> bool {
        let Some(walk) = self.walk.as_mut() else {
            return false;
        };
        let Some(node) = walk.next.take() else {
            self.flush();
            return false;
        };
        let class = tags::classify(&node.node_name());
        let kind = match class {
            Class::Text => {
                self.stats.text_nodes += 1;
                let text: Text = node.unchecked_into();
                let data = text.data();
                let sibling = text.next_sibling();
                let walk = self.walk.as_mut().expect("walking");
                if !data.trim().is_empty() {
                    walk.unread = false;
                }
                walk.block.push(&data);
                walk.nodes.push(text);
                self.move_on(sibling);
                return true;
            }
            Class::Other => {
                self.advance(&node);
                return true;
            }
            Class::Skipped => None,
            Class::Read(kind) => Some(kind),
            Class::Link => Some(Kind::Inline),
        };
        self.stats.elements += 1;
        if kind == Some(Kind::Inline) && self.passes_over_block() {
            return true;
        }
        let walk = self.walk.as_mut().expect("walking");
        walk.unread = false;
        let element: Element = node.unchecked_into();
        let (skipped, tel_link) = self.attributes_of(&element, class == Class::Link);
        let kind = kind.filter(|_| !skipped);
        let Some(kind) = kind else {
            self.flush();
            self.advance(&element);
            return true;
        };
        if tel_link {
            // A `tel:` link is a control when its text shows its number;
            // otherwise it is left to the page, unread.
            self.upgrade_link(&element);
            self.flush();
            self.advance(&element);
            return true;
        }
        if kind == Kind::Boundary {
            self.flush();
        }
        let Some(child) = element.first_child() else {
            self.advance(&element);
            return true;
        };
        let walk = self.walk.as_mut().expect("walking");
        walk.entered.push((kind, element));
        walk.next = Some(child);
        walk.unread = kind == Kind::Boundary;
        true
    }

    /// Passes over the block just entered, unread, when it begins with an
    /// inline element (the node being read), its whole text, asked of the
    /// browser and left there, has too few digits to hold a number, and it
    /// holds no `tel:` link (a number without digits in its text): the
    /// block's text never joins the text around it. A block that begins
    /// with text is read as it is, which costs about as much as asking.
    fn passes_over_block(&mut self) -> bool {
        let walk = self.walk.as_mut().expect("walking");
        if !std::mem::take(&mut walk.unread) {
            return false;
        }
        let Some((_, block)) = walk.entered.last() else {
            return false;
        };
        if self.may_hold_a_number.in_text_of(block) || self.tel_link.inside(block) {
            return false;
        }
        let walk = self.walk.as_mut().expect("walking");
        let Some((_, block)) = walk.entered.pop() else {
            return false;
        };
        walk.block = Block::default();
        walk.nodes.clear();
        self.advance(&block);
        true
    }

    /// Whether `element`'s attributes skip it, and whether it is a `tel:`
    /// link (only asked of links). Most elements are neither: one selector
    /// check tells, none when they have no attributes.
    fn attributes_of(&self, element: &Element, link: bool) -> (bool, bool) {
        if !element.has_attributes() {
            return (false, false);
        }
        if !link {
            return (self.skip_attributes.matches(element), false);
        }
        if !self.link_check.matches(element) {
            return (false, false);
        }
        let skipped = self.skip_attributes.matches(element);
        (skipped, !skipped)
    }

    /// Moves past `node` and its subtree.
    fn advance(&mut self, node: &Node) {
        let sibling = node.next_sibling();
        self.move_on(sibling);
    }

    /// Moves past a node given its next sibling: to the sibling, or out to
    /// the first element entered (below the root) that has one, ending the
    /// running text when leaving a block.
    fn move_on(&mut self, sibling: Option<Node>) {
        let walk = self.walk.as_mut().expect("walking");
        if walk.entered.is_empty() {
            // The node was the root: the walk is over.
            walk.next = None;
            return;
        }
        if sibling.is_some() {
            walk.next = sibling;
            return;
        }
        loop {
            let walk = self.walk.as_mut().expect("walking");
            walk.unread = false;
            let Some((kind, left)) = walk.entered.pop() else {
                walk.next = None;
                return;
            };
            if kind == Kind::Boundary {
                self.flush();
            }
            let walk = self.walk.as_mut().expect("walking");
            if walk.entered.is_empty() {
                // `left` was the root.
                walk.next = None;
                return;
            }
            if let Some(sibling) = left.next_sibling() {
                walk.next = Some(sibling);
                return;
            }
        }
    }

    /// Searches the running text; what holds numbers waits in `found`
    /// until [`Scanner::commit`].
    fn flush(&mut self) {
        let Some(walk) = self.walk.as_mut() else {
            return;
        };
        if walk.block.is_empty() {
            return;
        }
        let block = std::mem::take(&mut walk.block);
        let nodes = std::mem::take(&mut walk.nodes);
        let found = if block.may_hold_a_number() {
            find(block.text(), self.region)
        } else {
            Vec::new()
        };
        // A block with characters that reorder what is shown may show its
        // numbers in another order than they read: no controls.
        let found = if found.is_empty() || control::has_bidi_controls(block.text()) {
            Vec::new()
        } else {
            found
        };
        if !found.is_empty() {
            let shown = Some(self.shown(&nodes[0]));
            self.found.push_back(Holding {
                block,
                nodes,
                numbers: found,
                shown,
                read_at: self.changes,
            });
        }
    }

    /// Whether the element holding `text` is shown.
    fn shown(&self, text: &Text) -> bool {
        self.rehearsal
            || text
                .parent_element()
                .is_none_or(|holder| self.visibility.of(&holder))
    }

    /// Makes controls of the numbers found, until `out_of_time`; returns
    /// whether all were made. Visibility was read with the text, before any
    /// control was made: reading it after a change to the page would make
    /// the browser recompute styles once per number.
    fn commit(&mut self, out_of_time: &mut impl FnMut() -> bool) -> bool {
        for index in 0..self.found.len() {
            if self.found[index].shown.is_none() {
                let shown = self.shown(&self.found[index].nodes[0]);
                self.found[index].shown = Some(shown);
            }
        }
        let mut made = 0u32;
        while let Some(f) = self.found.pop_front() {
            if !self.intact(&f) {
                // The page changed these nodes since they were read; its
                // mutation records bring them back.
                continue;
            }
            if f.shown != Some(true) {
                self.remember_hidden(&f.nodes[0]);
                continue;
            }
            for number in f.numbers.iter().rev() {
                self.annotate(&f.block, &f.nodes, number);
            }
            made += 1;
            if made.is_multiple_of(16) && out_of_time() {
                return self.found.is_empty();
            }
        }
        true
    }

    /// Whether the nodes of `f` are as they were read: on the page, with the
    /// same text. When the page changed nothing since, only Disca's own
    /// controls can have changed them, and cutting a node out for a control
    /// changes its length (a block read twice before its controls were made
    /// is held twice; a node moved whole is caught by [`control::Maker::wrap`]).
    fn intact(&self, f: &Holding) -> bool {
        let unchanged = f.read_at == self.changes;
        f.nodes.iter().enumerate().all(|(index, node)| {
            if unchanged {
                return f.block.piece_length(index) == Some(node.length());
            }
            node.is_connected()
                && f.block
                    .piece(index)
                    .is_some_and(|piece| node.data() == piece)
        })
    }

    /// Keeps the block of a hidden number, once, to read it when shown (at
    /// most [`MAX_HIDDEN`]; past that, the oldest are forgotten).
    fn remember_hidden(&mut self, text: &Text) {
        let Some(block) = self.block_of(text.clone().unchecked_into()) else {
            return;
        };
        let block: Element = block.unchecked_into();
        if self
            .hidden
            .iter()
            .any(|known| known.is_same_node(Some(&block)))
        {
            return;
        }
        if self.hidden.len() >= MAX_HIDDEN {
            self.hidden.remove(0);
        }
        self.hidden.push(block);
    }

    /// Wraps each piece of `number` in a control (the first one carries the
    /// number and takes the focus; the others continue it).
    fn annotate(&mut self, block: &Block, nodes: &[Text], number: &Found) {
        let fragments = block.fragments(number.start..number.end);
        let Some(first) = fragments.iter().position(|f| !f.blank) else {
            return;
        };
        // The number as written, when its controls do not each hold all of it.
        let written = (fragments.len() > 1).then(|| &block.text()[number.start..number.end]);
        let e164 = JsString::from(number.e164.as_str());
        let mut pieces = Vec::new();
        for (index, fragment) in fragments.iter().enumerate().rev() {
            if fragment.blank {
                continue;
            }
            let text = &nodes[fragment.piece];
            if !fragment.to_end && text.split_text(fragment.end).is_err() {
                continue;
            }
            let covered = if fragment.start > 0 {
                match text.split_text(fragment.start) {
                    Ok(covered) => covered,
                    Err(_) => continue,
                }
            } else {
                text.clone()
            };
            let role = if index == first {
                control::Role::Number { written }
            } else {
                control::Role::Continues
            };
            if let Ok(control) = self.maker.wrap(&self.registry, &covered, &e164, role) {
                pieces.push(control);
                if index == first {
                    self.stats.numbers += 1;
                }
            }
        }
        if pieces.len() > 1 {
            pieces.reverse();
            self.registry.group(&pieces);
        }
    }

    /// Makes a `tel:` link a control when its number is dialable and its
    /// text shows that number.
    fn upgrade_link(&mut self, element: &Element) {
        let Some(href) = element.get_attribute("href") else {
            return;
        };
        let text = crate::bindings::text_of(element);
        let Some(e164) = control::link_number(&href, &text, self.region) else {
            return;
        };
        if control::upgrade_link(element, &self.registry, &href, &e164).is_ok() {
            self.stats.links += 1;
        }
    }
}
