//! Query strings, paging, and the bits of URL and HTML writing the routes share.

use axum::extract::Query;
use axum::http::Uri;

/// A request's query parameters, in order, decoded.
pub(super) struct Params(Vec<(String, String)>);

impl Params {
    pub fn of(uri: &Uri) -> Params {
        // Decoding is lossy (invalid UTF-8 becomes U+FFFD), so this cannot fail.
        Params(
            Query::<Vec<(String, String)>>::try_from_uri(uri)
                .map(|q| q.0)
                .unwrap_or_default(),
        )
    }

    /// The first value of `name`, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

/// A 1-based page of `size` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Page {
    pub number: usize,
    pub size: usize,
}

/// The parameter that is not a valid page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PageError {
    Number,
    Size,
}

impl Page {
    /// Reads `number_key` (default 1) and `size_key` (default
    /// `default_size`, at most `max_size`): whole numbers from 1.
    pub fn read(
        params: &Params,
        number_key: &str,
        size_key: &str,
        default_size: usize,
        max_size: usize,
    ) -> Result<Page, PageError> {
        let read = |key: &str, default: usize| match params.get(key) {
            None => Some(default),
            Some(text) => text.parse::<usize>().ok().filter(|&n| n >= 1),
        };
        let number = read(number_key, 1).ok_or(PageError::Number)?;
        let size = read(size_key, default_size)
            .filter(|&s| s <= max_size)
            .ok_or(PageError::Size)?;
        Ok(Page { number, size })
    }

    /// This page of `items`, and whether more follow.
    pub fn slice<T>(self, items: Vec<T>) -> (Vec<T>, bool) {
        let start = self.number.saturating_sub(1).saturating_mul(self.size);
        let total = items.len();
        let page: Vec<T> = items.into_iter().skip(start).take(self.size).collect();
        let more = start.saturating_add(page.len()) < total;
        (page, more)
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
pub(super) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        Params::of(&format!("/x?{query}").parse().unwrap())
    }

    #[test]
    fn pages_are_checked_and_sliced() {
        let read = |q: &str| Page::read(&params(q), "page", "limit", 20, 200);
        assert_eq!(
            read(""),
            Ok(Page {
                number: 1,
                size: 20
            })
        );
        assert_eq!(
            read("page=2&limit=200"),
            Ok(Page {
                number: 2,
                size: 200
            })
        );
        assert_eq!(read("limit=201"), Err(PageError::Size));
        assert_eq!(read("limit=0"), Err(PageError::Size));
        assert_eq!(read("page=-1"), Err(PageError::Number));
        assert_eq!(read("page=abc"), Err(PageError::Number));
        let page = Page { number: 2, size: 2 };
        assert_eq!(page.slice(vec![1, 2, 3, 4, 5]), (vec![3, 4], true));
        assert_eq!(page.slice(vec![1, 2, 3, 4]), (vec![3, 4], false));
        let far = Page {
            number: usize::MAX,
            size: usize::MAX,
        };
        assert_eq!(far.slice(vec![1]), (vec![], false));
    }

    #[test]
    fn bracketed_keys_and_plus_signs_decode() {
        let p = params("page%5Bnumber%5D=3&filter=phone%3A%2B5511971730783&q=a+b");
        assert_eq!(p.get("page[number]"), Some("3"));
        assert_eq!(p.get("filter"), Some("phone:+5511971730783"));
        assert_eq!(p.get("q"), Some("a b"));
        assert_eq!(p.get("missing"), None);
    }

    #[test]
    fn encoding_and_escaping() {
        assert_eq!(encode("phone:+55 11"), "phone%3A%2B55%2011");
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
