//! How the walker treats an element: skipped with everything inside it,
//! inline (its text joins the text around it, so a number split across
//! `<span>`s is read whole), or a boundary (text on either side of it never
//! joins). Told by CSS selectors, so each check is one boolean call into the
//! browser per element (no tag name string crosses into wasm).

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

/// Elements skipped for what they are, whatever their tag: hidden ones,
/// editors, ARIA text boxes, search regions and buttons, links Disca already
/// upgraded.
const SKIP_ATTRIBUTES: &str = "[hidden],[aria-hidden=\"true\"],\
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

/// Matches the inline elements.
pub fn inline_selector() -> String {
    INLINE_TAGS.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_list_every_tag_once() {
        let skip = skip_selector();
        assert!(skip.starts_with("script,style,"));
        assert!(skip.contains(",disca-call,disca-toast,[hidden],"));
        assert!(skip.ends_with("[data-disca-number]"));
        let inline = inline_selector();
        assert!(inline.starts_with("a,abbr,"));
        for tag in INLINE_TAGS {
            assert!(!SKIP_TAGS.contains(tag), "{tag} both inline and skipped");
        }
    }
}
