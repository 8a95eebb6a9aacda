//! How the walker treats an element: skipped with everything inside it,
//! inline (its text joins the text around it, so a number split across
//! `<span>`s is read whole), or a boundary (text on either side of it never
//! joins). Told by the node's name, read once per node (it also tells text
//! from element), and, for elements with attributes, by one CSS selector
//! check of the attributes that skip them: a selector list of every tag cost
//! the browser about a microsecond per element, more than the rest of the
//! walk.

/// What an element that is read is to the running text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Part of the running text.
    Inline,
    /// Ends the running text before and after it (blocks, table cells, `<br>`).
    Boundary,
}

/// The element Disca wraps around each number it turns into a control.
pub const CONTROL_TAG: &str = "disca-call";
/// The element Disca shows a message to the salesperson in.
pub const TOAST_TAG: &str = "disca-toast";

/// What a node is to the walker, told by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Text,
    /// An element skipped with everything inside it, whatever its attributes.
    Skipped,
    /// An element read as `Kind` unless its attributes skip it.
    Read(Kind),
    /// A link: read as inline unless its attributes skip it or make it a
    /// `tel:` link.
    Link,
    /// Comments and the like: nothing to read.
    Other,
}

/// Classifies a node by its `nodeName` (upper case for HTML elements,
/// `#text` for text).
pub fn classify(node_name: &str) -> Class {
    if node_name.starts_with('#') {
        return if node_name == "#text" {
            Class::Text
        } else {
            Class::Other
        };
    }
    let is = |tag: &&str| tag.eq_ignore_ascii_case(node_name);
    if node_name.eq_ignore_ascii_case("a") {
        Class::Link
    } else if INLINE_TAGS.iter().any(is) {
        Class::Read(Kind::Inline)
    } else if SKIP_TAGS.iter().any(is) {
        Class::Skipped
    } else {
        Class::Read(Kind::Boundary)
    }
}

/// Elements skipped for what they are, whatever their tag: hidden ones,
/// editors, ARIA text boxes, search regions and buttons, links Disca already
/// upgraded.
pub const SKIP_ATTRIBUTES: &str = "[hidden],[aria-hidden=\"true\"],\
[contenteditable]:not([contenteditable=\"false\"]),\
[role=\"textbox\"],[role=\"searchbox\"],[role=\"search\"],[role=\"combobox\"],\
[role=\"button\"],[role=\"code\"],[data-disca-number]";

/// Tags skipped with everything inside them: code, fields, buttons,
/// embedded documents and media, and Disca's own elements.
const SKIP_TAGS: &[&str] = &[
    "script",
    "style",
    "noscript",
    "template",
    "code",
    "pre",
    "kbd",
    "samp",
    "textarea",
    "input",
    "select",
    "option",
    "button",
    "svg",
    "math",
    "iframe",
    "object",
    "embed",
    "canvas",
    "video",
    "audio",
    "head",
    "title",
    CONTROL_TAG,
    TOAST_TAG,
];

/// Text-level tags: their text is part of the running text around them.
const INLINE_TAGS: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "cite", "data", "dfn", "em", "font", "i", "label", "mark", "q",
    "s", "small", "span", "strong", "sub", "sup", "time", "u", "var", "wbr", "ins", "del", "nobr",
];

/// `tel:` links, which become controls themselves.
pub const TEL_LINK: &str = "a[href^=\"tel:\" i]";

/// Matches every element inside which nothing is read, by tag or by
/// attribute (also used with `closest` for nodes added to the page).
pub fn skip_selector() -> String {
    let mut selector = SKIP_TAGS.join(",");
    selector.push(',');
    selector.push_str(SKIP_ATTRIBUTES);
    selector
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_classified_by_name() {
        assert_eq!(classify("#text"), Class::Text);
        assert_eq!(classify("#comment"), Class::Other);
        assert_eq!(classify("A"), Class::Link);
        assert_eq!(classify("SPAN"), Class::Read(Kind::Inline));
        assert_eq!(classify("TD"), Class::Read(Kind::Boundary));
        assert_eq!(classify("rd-phone"), Class::Read(Kind::Boundary));
        assert_eq!(classify("TEXTAREA"), Class::Skipped);
        assert_eq!(classify("svg"), Class::Skipped);
        assert_eq!(classify("DISCA-CALL"), Class::Skipped);
    }

    #[test]
    fn selectors_list_every_tag_once() {
        let skip = skip_selector();
        assert!(skip.starts_with("script,style,"));
        assert!(skip.contains(",disca-call,disca-toast,[hidden],"));
        assert!(skip.ends_with("[data-disca-number]"));
        for tag in INLINE_TAGS {
            assert!(!SKIP_TAGS.contains(tag), "{tag} both inline and skipped");
        }
    }
}
