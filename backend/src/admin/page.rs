//! The console's files, embedded in the binary: `backend/static/admin/`.
//! The HTML holds only fixed words; `admin.js` fetches the data and sets
//! every text with DOM calls (no inline script or style: the manager
//! page's Content-Security-Policy holds).

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

use super::PageAdmin;
use crate::api::ApiError;

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
