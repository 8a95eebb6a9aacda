//! The page's files, embedded in the binary: `backend/static/manager/`.
//! The HTML holds only fixed words; `manager.js` fetches the data and sets
//! every text with DOM calls. No inline script or style anywhere, so the
//! policy of [`super::CONTENT_SECURITY_POLICY`] holds.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::session::PageManager;
use crate::api::ApiError;

const INDEX_HTML: &str = include_str!("../../static/manager/index.html");
const LOGIN_HTML: &str = include_str!("../../static/manager/login.html");

/// `/manager/static/{name}`: name, content type, content.
const FILES: [(&str, &str, &str); 6] = [
    (
        "page.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/manager/page.js"),
    ),
    (
        "manager.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/manager/manager.js"),
    ),
    (
        "board.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/manager/board.js"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/manager/login.js"),
    ),
    (
        "manager.css",
        "text/css; charset=utf-8",
        include_str!("../../static/manager/manager.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_str!("../../static/manager/icon.svg"),
    ),
];

/// `GET /manager`: the team's calls (for a logged-in manager).
pub async fn index(PageManager(_): PageManager) -> Html<&'static str> {
    Html(INDEX_HTML)
}

/// `GET /manager/login`: the form.
pub async fn login() -> Html<&'static str> {
    Html(LOGIN_HTML)
}

/// `GET /manager/static/{name}`: scripts, style, icon (no data in them).
pub async fn asset(Path(name): Path<String>) -> Response {
    serve(&FILES, &name)
}

/// The file `name` of `files` (name, content type, content), or 404.
pub(crate) fn serve(files: &[(&str, &'static str, &'static str)], name: &str) -> Response {
    match files.iter().find(|(file, ..)| *file == name) {
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

/// A page that only says something (a result, a recording gone): fixed
/// words only — `title`, `text` and the link are never from a request.
pub(crate) fn notice(
    status: StatusCode,
    title: &'static str,
    text: &'static str,
    (href, label): (&'static str, &'static str),
) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"pt-BR\">\n<head><meta charset=\"utf-8\"><title>Disca · {title}</title>\
         <link rel=\"icon\" href=\"/manager/static/icon.svg\" type=\"image/svg+xml\">\
         <link rel=\"stylesheet\" href=\"/manager/static/manager.css\"></head>\n<body><main>\
         <h1 id=\"resultado\">{title}</h1><p>{text}</p><p><a class=\"botao\" href=\"{href}\">{label}</a></p>\
         </main></body>\n</html>\n"
    );
    (status, Html(html)).into_response()
}
