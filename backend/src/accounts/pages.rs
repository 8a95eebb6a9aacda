//! The account pages' files, embedded in the binary:
//! `backend/static/account/`. The HTML holds only fixed words;
//! `account.js` sets every other text with DOM calls. No inline script or
//! style, so the manager page's Content-Security-Policy holds here too.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use crate::api::ApiError;

pub const SIGN_IN_HTML: &str = include_str!("../../static/account/sign-in.html");
const PASSWORD_HTML: &str = include_str!("../../static/account/password.html");
const FORGOT_HTML: &str = include_str!("../../static/account/forgot.html");
const ERROR_HTML: &str = include_str!("../../static/account/error.html");

/// `/account/static/{name}`: name, content type, content.
const FILES: [(&str, &str, &str); 3] = [
    (
        "account.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/account/account.js"),
    ),
    (
        "account.css",
        "text/css; charset=utf-8",
        include_str!("../../static/account/account.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../static/account/icon.svg"),
    ),
];

/// `GET /account/password`: set a password from a link (the secret is in
/// the fragment; the page posts it).
pub async fn password() -> Html<&'static str> {
    Html(PASSWORD_HTML)
}

/// `GET /account/forgot`: ask for a reset link.
pub async fn forgot() -> Html<&'static str> {
    Html(FORGOT_HTML)
}

/// A page that only says `message` (escaped).
pub fn error_page(message: &str) -> String {
    ERROR_HTML.replace("{message}", &escape_html(message))
}

/// `GET /account/static/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(file, ..)| *file == name) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::route_not_found().into_response(),
    }
}

fn escape_html(text: &str) -> String {
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

    #[test]
    fn error_pages_escape_their_message() {
        let page = error_page("<script>alert(1)</script> & \"x\"");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"));
        assert!(!page.contains("<script>"));
    }
}
