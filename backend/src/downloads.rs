//! `/downloads`: the installers a company puts on its Disca server (what
//! `cargo xtask dist` makes: the host's `.msi`, `.pkg`, `.deb`, `.rpm`, the
//! extension's CRX and `update.xml`), from `[downloads] dir`, with a page
//! that says in one sentence per step how to install on the visitor's
//! system. The popup links here when the host is missing. Only plain files
//! directly in the folder (never links), with plain names, are listed and
//! served, streamed, at most `CONCURRENT_DOWNLOADS` at once.

use std::path::{Path, PathBuf};

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::api::{ApiError, AppState};

const PAGE_HTML: &str = include_str!("../static/downloads/index.html");
const PAGE_JS: &str = include_str!("../static/downloads/downloads.js");

/// Longest file name served.
const MAX_NAME: usize = 128;
/// Downloads served at once: each holds an open file and a connection.
const CONCURRENT_DOWNLOADS: usize = 16;

/// The cap on downloads in progress.
static DOWNLOADS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONCURRENT_DOWNLOADS);

/// A file offered for download.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Download {
    pub name: String,
    /// `windows`, `macos`, `deb`, `rpm`, `extension`.
    pub kind: &'static str,
    pub bytes: u64,
}

/// What a file is for, by its name; `None`: not offered.
fn kind_of(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    match lower.rsplit_once('.').map(|(_, ext)| ext) {
        Some("msi") => Some("windows"),
        Some("pkg") => Some("macos"),
        Some("deb") => Some("deb"),
        Some("rpm") => Some("rpm"),
        Some("crx") => Some("extension"),
        _ if lower == "update.xml" => Some("extension"),
        _ => None,
    }
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The files of `dir` that are offered, by name.
pub fn list(dir: &Path) -> Vec<Download> {
    let mut files: Vec<Download> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let kind = kind_of(&name).filter(|_| is_plain_name(&name))?;
            // `DirEntry::metadata` does not follow links: a link is not a file.
            let meta = entry.metadata().ok().filter(std::fs::Metadata::is_file)?;
            Some(Download {
                name,
                kind,
                bytes: meta.len(),
            })
        })
        .collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

/// The routes, under the manager page's security headers.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/downloads", get(page))
        .route("/downloads/downloads.js", get(script))
        .route("/downloads/files.json", get(files))
        .route("/downloads/{file}", get(file))
        .layer(axum::middleware::map_response(
            crate::manager::security_headers,
        ))
}

/// `GET /downloads`: the page.
pub async fn page() -> Html<&'static str> {
    Html(PAGE_HTML)
}

/// `GET /downloads/downloads.js`.
pub async fn script() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        PAGE_JS,
    )
        .into_response()
}

/// `GET /downloads/files.json`: what is offered (empty without a folder).
pub async fn files(State(state): State<AppState>) -> Json<Vec<Download>> {
    Json(state.downloads.as_deref().map(list).unwrap_or_default())
}

/// `GET /downloads/{file}`.
pub async fn file(State(state): State<AppState>, UrlPath(name): UrlPath<String>) -> Response {
    let Some(dir) = state.downloads.as_deref() else {
        return ApiError::route_not_found().into_response();
    };
    let Some(kind) = kind_of(&name).filter(|_| is_plain_name(&name)) else {
        return ApiError::route_not_found().into_response();
    };
    let path: PathBuf = dir.join(&name);
    // A plain file, never a link (which could lead out of the folder).
    let is_file = tokio::fs::symlink_metadata(&path)
        .await
        .is_ok_and(|meta| meta.file_type().is_file());
    if !is_file {
        return ApiError::route_not_found().into_response();
    }
    let Ok(permit) = DOWNLOADS.try_acquire() else {
        return ApiError::server_busy().into_response();
    };
    let Ok(file) = tokio::fs::File::open(&path).await else {
        return ApiError::route_not_found().into_response();
    };
    let content_type = match (kind, name.ends_with(".xml")) {
        (_, true) => "text/xml; charset=utf-8",
        ("extension", false) => "application/x-chrome-extension",
        _ => "application/octet-stream",
    };
    // Streamed, the permit held until the body is sent.
    let stream = tokio_util::io::ReaderStream::new(file);
    let body = axum::body::Body::from_stream(futures::StreamExt::map(stream, move |chunk| {
        let _held = &permit;
        chunk
    }));
    let mut response = (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response();
    if !name.ends_with(".xml") && !name.ends_with(".crx") {
        // A plain name: a valid header value.
        if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            response
                .headers_mut()
                .insert(header::CONTENT_DISPOSITION, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_installers_with_plain_names_are_offered() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "disca-host_0.1.0_amd64.deb",
            "disca-host-0.1.0.msi",
            "update.xml",
            "extension-key.pem",
            ".hidden.deb",
            "notes.txt",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("folder.deb")).unwrap();
        let names: Vec<String> = list(dir.path()).into_iter().map(|d| d.name).collect();
        assert_eq!(
            names,
            [
                "disca-host-0.1.0.msi",
                "disca-host_0.1.0_amd64.deb",
                "update.xml"
            ]
        );
        assert!(!is_plain_name("../disca.deb"));
        assert!(!is_plain_name("a b.deb"));
        assert_eq!(kind_of("extension-key.pem"), None);
    }
}
