//! How the walker treats an element, by its tag: skipped with everything
//! inside it, inline (its text joins the text around it, so a number split
//! across `<span>`s is read whole), or a boundary (text on either side of it
//! never joins).

/// What an element is to the walker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Never read, nor anything inside: code, editors, form fields, buttons,
    /// embedded documents, and Disca's own controls.
    Skip,
    /// Part of the running text.
    Inline,
    /// Ends the running text before and after it (blocks, table cells, `<br>`).
    Boundary,
}

/// The element Disca wraps around each number it turns into a control.
pub const CONTROL_TAG: &str = "disca-call";
/// The element Disca shows a message to the salesperson in.
pub const TOAST_TAG: &str = "disca-toast";

/// Elements skipped for what they are, whatever their tag: hidden ones,
/// editors, ARIA text boxes, search regions and buttons, links Disca already
/// upgraded. One selector, so the check is a single call into the browser
/// per element.
pub const SKIP_SELECTOR: &str = "[hidden],[aria-hidden=\"true\"],\
[contenteditable]:not([contenteditable=\"false\"]),\
[role=\"textbox\"],[role=\"searchbox\"],[role=\"search\"],[role=\"combobox\"],\
[role=\"button\"],[role=\"code\"],[data-disca-number]";

/// Tags skipped with everything inside them.
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

/// A selector matching every element inside which nothing is read, by tag
/// or by attribute: `element.closest(…)` with it tells whether a node added
/// to the page lies in such an element.
pub fn skipped_anywhere_selector() -> String {
    let mut selector = SKIP_TAGS.join(",");
    selector.push(',');
    selector.push_str(SKIP_SELECTOR);
    selector
}

/// The kind of an element from its local name (lowercase for HTML).
pub fn classify(local_name: &str) -> Kind {
    match local_name {
        "a" | "abbr" | "b" | "bdi" | "bdo" | "cite" | "data" | "dfn" | "em" | "font" | "i"
        | "label" | "mark" | "q" | "s" | "small" | "span" | "strong" | "sub" | "sup" | "time"
        | "u" | "var" | "wbr" | "ins" | "del" | "nobr" => Kind::Inline,
        name if SKIP_TAGS.contains(&name) => Kind::Skip,
        _ => Kind::Boundary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_level_elements_join_and_fields_are_skipped() {
        assert_eq!(classify("span"), Kind::Inline);
        assert_eq!(classify("a"), Kind::Inline);
        assert_eq!(classify("td"), Kind::Boundary);
        assert_eq!(classify("br"), Kind::Boundary);
        assert_eq!(classify("my-widget"), Kind::Boundary);
        for skipped in [
            "textarea",
            "input",
            "code",
            "pre",
            "button",
            "script",
            CONTROL_TAG,
        ] {
            assert_eq!(classify(skipped), Kind::Skip, "{skipped}");
        }
        let anywhere = skipped_anywhere_selector();
        assert!(anywhere.starts_with("script,style,"));
        assert!(anywhere.ends_with("[data-disca-number]"));
    }
}
