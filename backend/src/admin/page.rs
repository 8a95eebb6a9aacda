//! The console's files, embedded in the binary: `backend/static/admin/`.
//! The HTML holds only fixed words; `admin.js` fetches the data and sets
//! every text with DOM calls (no inline script or style: the manager
//! page's Content-Security-Policy holds).

use axum::extract::Path;
use axum::response::{Html, Response};

use super::PageAdmin;

const INDEX_HTML: &str = include_str!("../../static/admin/index.html");

/// `/manager/admin/static/{name}`: name, content type, content.
const FILES: [(&str, &str, &str); 2] = [
    (
        "admin.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/admin/admin.js"),
    ),
    (
        "admin.css",
        "text/css; charset=utf-8",
        include_str!("../../static/admin/admin.css"),
    ),
];

/// `GET /manager/admin`: the console (for a signed-in admin).
pub async fn index(PageAdmin(_): PageAdmin) -> Html<&'static str> {
    Html(INDEX_HTML)
}

/// `GET /manager/admin/static/{name}`.
pub async fn asset(Path(name): Path<String>) -> Response {
    crate::manager::page::serve(&FILES, &name)
}
