//! The walker: reads the text of the subtrees queued to it, block by block,
//! and turns each number the finder sees into a control. Work is done in
//! slices with a time budget and resumes where it stopped, so a page with
//! thousands of rows never blocks the main thread for long. After the first
//! pass only what the page adds or changes is queued; Disca's controls are
//! never entered, so reading a text again (when the page changes it) finds
//! only what is not a control yet.

use std::collections::VecDeque;

use disca_finder::{Found, Region, find};
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, Node, Text};

use crate::bindings::{Selector, is_visible};
use crate::block::Block;
use crate::control;
use crate::tags::{self, Kind};

/// Blocks with numbers held before their controls are made: bounds the
/// work done after a slice's time is up.
const MAX_HOLDING: usize = 128;
/// Hidden blocks with numbers remembered at once.
const MAX_HIDDEN: usize = 256;

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
    document: Document,
    registry: control::Registry,
    queue: VecDeque<Node>,
    walk: Option<Walk>,
    /// Blocks with numbers, waiting for the end of the slice.
    found: Vec<Holding>,
    /// Elements whose text held a number while they were hidden: read again
    /// when they may have been shown.
    hidden: Vec<Element>,
    /// Whether the page changed a class or style since hidden numbers were
    /// last looked at.
    recheck: bool,
    /// A rehearsal on detached nodes ([`Scanner::rehearsal`]).
    rehearsal: bool,
    skip: Selector,
    inline: Selector,
    tel_link: Selector,
    pub stats: Stats,
}

/// A block's text with numbers in it, and the text nodes it came from.
struct Holding {
    block: Block,
    nodes: Vec<Text>,
    numbers: Vec<Found>,
}

/// A subtree being read: where to go on, the kinds of the elements entered
/// below the root, and the running text not yet searched.
struct Walk {
    root: Node,
    next: Option<Node>,
    entered: Vec<Kind>,
    block: Block,
    nodes: Vec<Text>,
}

impl Scanner {
    pub fn new(document: Document, registry: control::Registry, region: Region) -> Scanner {
        Scanner {
            region,
            document,
            registry,
            queue: VecDeque::new(),
            walk: None,
            found: Vec::new(),
            hidden: Vec::new(),
            recheck: false,
            rehearsal: false,
            skip: Selector::new(&tags::skip_selector()),
            inline: Selector::new(&tags::inline_selector()),
            tel_link: Selector::new(tags::TEL_LINK),
            stats: Stats::default(),
        }
    }

    /// A scanner for detached nodes, read as if they were on the page and
    /// shown: the rehearsal that compiles the code a first scan runs.
    pub fn rehearsal(document: Document, region: Region) -> Scanner {
        Scanner {
            rehearsal: true,
            ..Scanner::new(document, control::Registry::new(), region)
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
        let mut element: Element = if node.node_type() == Node::ELEMENT_NODE {
            node.unchecked_into()
        } else {
            node.parent_element()?
        };
        while self.inline.matches(&element) {
            match element.parent_element() {
                Some(parent) => element = parent,
                None => break,
            }
        }
        Some(element.unchecked_into())
    }

    /// A text node the page changed: read it again.
    pub fn changed(&mut self, text: Node) {
        self.enqueue(text);
    }

    /// Asks for the hidden numbers to be looked at again (in the next slice).
    pub fn shown_maybe(&mut self) {
        self.recheck = !self.hidden.is_empty();
    }

    pub fn has_work(&self) -> bool {
        self.walk.is_some() || !self.queue.is_empty() || self.recheck
    }

    /// Queues again the hidden numbers' elements that are now visible.
    fn recheck_hidden(&mut self) {
        self.recheck = false;
        let (shown, still): (Vec<Element>, Vec<Element>) = std::mem::take(&mut self.hidden)
            .into_iter()
            .filter(|element| element.is_connected())
            .partition(is_visible);
        self.hidden = still;
        for element in shown {
            self.enqueue(element.unchecked_into());
        }
    }

    /// Works until `out_of_time` says stop (checked every few nodes) or
    /// nothing is left; returns whether work remains.
    pub fn work(&mut self, mut out_of_time: impl FnMut() -> bool) -> bool {
        if self.recheck {
            self.recheck_hidden();
        }
        self.check_resumed_walk();
        let mut steps = 0u32;
        loop {
            if self.walk.is_none() {
                let Some(root) = self.queue.pop_front() else {
                    self.commit();
                    return false;
                };
                self.walk = self.start(root);
                continue;
            }
            if !self.step() {
                self.walk = None;
            }
            steps += 1;
            if self.found.len() >= MAX_HOLDING {
                self.commit();
            }
            if steps.is_multiple_of(32) && out_of_time() {
                self.commit();
                return self.has_work();
            }
        }
    }

    /// A walk left between slices is only resumed if the page kept its
    /// root and its next node where they were; else the root is read again
    /// from the start.
    fn check_resumed_walk(&mut self) {
        let Some(walk) = &self.walk else {
            return;
        };
        let intact = (self.rehearsal || walk.root.is_connected())
            && walk
                .next
                .as_ref()
                .is_none_or(|next| walk.root.contains(Some(next)));
        if !intact {
            let root = walk.root.clone();
            self.walk = None;
            self.queue.push_front(root);
        }
    }

    /// A walk of `root`, unless it left the page or lies where nothing is read.
    fn start(&self, root: Node) -> Option<Walk> {
        if !self.rehearsal && !root.is_connected() {
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
        match node.node_type() {
            Node::TEXT_NODE => {
                let text: &Text = node.unchecked_ref();
                self.stats.text_nodes += 1;
                let data = text.data();
                let walk = self.walk.as_mut().expect("walking");
                walk.block.push(&data);
                walk.nodes.push(text.clone());
                self.advance(node);
            }
            Node::ELEMENT_NODE => {
                self.stats.elements += 1;
                let element: &Element = node.unchecked_ref();
                if self.skip.matches(element) {
                    self.flush();
                    self.advance(node);
                    return true;
                }
                let kind = if self.inline.matches(element) {
                    Kind::Inline
                } else {
                    Kind::Boundary
                };
                if kind == Kind::Inline
                    && self.tel_link.matches(element)
                    && self.upgrade_link(element)
                {
                    self.flush();
                    self.advance(node);
                    return true;
                }
                if kind == Kind::Boundary {
                    self.flush();
                }
                match node.first_child() {
                    Some(child) => {
                        let walk = self.walk.as_mut().expect("walking");
                        walk.entered.push(kind);
                        walk.next = Some(child);
                    }
                    None => self.advance(node),
                }
            }
            _ => self.advance(node),
        }
        true
    }

    /// Moves past `node` and its subtree: to its next sibling, or up to the
    /// first ancestor (below the root) that has one, ending the running text
    /// when leaving a block.
    fn advance(&mut self, node: Node) {
        let mut node = node;
        loop {
            let walk = self.walk.as_mut().expect("walking");
            if walk.entered.is_empty() {
                // `node` is the root: the walk is over.
                walk.next = None;
                return;
            }
            if let Some(sibling) = node.next_sibling() {
                walk.next = Some(sibling);
                return;
            }
            let left = walk.entered.pop();
            let Some(parent) = node.parent_node() else {
                walk.next = None;
                return;
            };
            if left == Some(Kind::Boundary) {
                self.flush();
            }
            node = parent;
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
        if !found.is_empty() {
            self.found.push(Holding {
                block,
                nodes,
                numbers: found,
            });
        }
    }

    /// Makes controls of the numbers found since the last commit. The
    /// visibility of every holder is read first, all together: reading it
    /// after a change to the page would make the browser recompute styles
    /// once per number.
    fn commit(&mut self) {
        let found = std::mem::take(&mut self.found);
        let shown: Vec<bool> = found
            .iter()
            .map(|f| {
                self.rehearsal
                    || f.nodes[0]
                        .parent_element()
                        .is_none_or(|holder| is_visible(&holder))
            })
            .collect();
        for (f, shown) in found.into_iter().zip(shown) {
            if !still_as_read(&f.block, &f.nodes, self.rehearsal) {
                // The page changed these nodes since they were read; its
                // mutation records bring them back.
                continue;
            }
            if !shown {
                self.remember_hidden(&f.nodes[0]);
                continue;
            }
            for number in f.numbers.iter().rev() {
                self.annotate(&f.block, &f.nodes, number);
            }
        }
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
        let written: String = block.text()[number.start..number.end].to_owned();
        for (index, fragment) in fragments.iter().enumerate().rev() {
            if fragment.blank {
                continue;
            }
            let text = &nodes[fragment.piece];
            if fragment.end < text.length() && text.split_text(fragment.end).is_err() {
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
                control::Role::Number { written: &written }
            } else {
                control::Role::Continues
            };
            if control::wrap(&self.document, &self.registry, &covered, &number.e164, role).is_ok()
                && index == first
            {
                self.stats.numbers += 1;
            }
        }
    }

    /// Marks a `tel:` link as a control; false when `element` is not one or
    /// its number is not dialable.
    fn upgrade_link(&mut self, element: &Element) -> bool {
        let Some(href) = element.get_attribute("href") else {
            return false;
        };
        let Some(e164) = control::tel_number(&href, self.region) else {
            return false;
        };
        if control::upgrade_link(element, &self.registry, &href, &e164).is_ok() {
            self.stats.links += 1;
        }
        true
    }
}

/// Whether each node still holds the text read from it (and is still on
/// the page, unless `detached` nodes are expected).
fn still_as_read(block: &Block, nodes: &[Text], detached: bool) -> bool {
    nodes.iter().enumerate().all(|(index, node)| {
        (detached || node.is_connected())
            && block.piece(index).is_some_and(|piece| node.data() == piece)
    })
}
