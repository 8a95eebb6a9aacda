//! Pages shaped like RD Station's, served on loopback for the browser tests
//! and benchmarks (`tests/fixtures/rdstation/`), and reached under RD
//! Station's own host name through Chromium's `--host-resolver-rules`, so the
//! shipped manifest's match patterns are the ones tested.
//!
//! Routes: `/app/deals/<id>` a deal page with contact cards, notes, editors;
//! `/app/deals?rows=N` a deal list; `/app/contacts/strict` a contact page
//! served with a strict Content-Security-Policy; `/static/<file>` the
//! fixtures' scripts and styles; `/bench/<file>` and `/dist/<path>` for the
//! benchmark page, which loads the built content script and libphonenumber-js.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The host name the pages are served under.
pub const CRM_HOST: &str = "crm.rdstation.com";
/// The deal of the deal page.
pub const DEAL_ID: &str = "5f1e7a9b2c3d4e5f6a7b8c9d";
/// The policy of the strict page: nothing but its own styles.
pub const STRICT_CSP: &str =
    "default-src 'none'; style-src 'self'; script-src 'none'; connect-src 'none'; img-src 'none'";

/// The fixture server, running until dropped.
pub struct CrmPages {
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for CrmPages {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("rdstation")
}

impl CrmPages {
    /// Serves the fixtures; `extra` directories are served under their
    /// prefix (e.g. `("/dist", dist/extension)`).
    pub async fn start(extra: Vec<(&'static str, PathBuf)>) -> CrmPages {
        let mut app = Router::new()
            .route("/app/deals", get(|| page("deals.html", None)))
            .route("/app/deals/{id}", get(|| page("deal.html", None)))
            .route(
                "/app/contacts/strict",
                get(|| page("strict.html", Some(STRICT_CSP))),
            )
            .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
            .route(
                "/static/{file}",
                get(|UrlPath(file): UrlPath<String>| async move {
                    file_response(&fixtures_dir(), &file)
                }),
            );
        for (prefix, dir) in extra {
            app = app.route(
                &format!("{prefix}/{{*path}}"),
                get(move |UrlPath(path): UrlPath<String>| {
                    let dir = dir.clone();
                    async move { file_response(&dir, &path) }
                }),
            );
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        CrmPages { addr, server }
    }

    /// `--host-resolver-rules` sending RD Station's host here.
    pub fn resolver_rules(&self) -> String {
        format!("MAP {CRM_HOST} {}", self.addr)
    }

    /// An address on the RD Station host, e.g. `url("/app/deals")`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{CRM_HOST}{path}")
    }
}

async fn page(file: &str, policy: Option<&'static str>) -> Response {
    let mut response = file_response(&fixtures_dir(), file);
    if let Some(policy) = policy
        && let Ok(value) = policy.parse()
    {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// A file under `dir`, refusing paths that climb out of it.
fn file_response(dir: &Path, path: &str) -> Response {
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let file = dir.join(path);
    let Ok(body) = std::fs::read(&file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let kind = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}
