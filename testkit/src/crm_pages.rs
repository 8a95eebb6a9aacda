//! Pages shaped like RD Station's, served on loopback for the browser tests
//! and benchmarks (`tests/fixtures/rdstation/`), over HTTPS with a
//! self-signed certificate for RD Station's host names
//! (`tests/fixtures/tls/`), and reached under RD Station's own host name
//! through Chromium's `--host-resolver-rules` with that certificate's key
//! accepted ([`CrmPages::browser`]), so the shipped manifest's match
//! patterns (`https://` only) are the ones tested.
//!
//! Routes: `/app/deals/<id>` a deal page with contact cards, notes, editors;
//! `/app/deals?rows=N` a deal list; `/app/contacts/strict` a contact page
//! served with a strict Content-Security-Policy; `/app/contacts/disguised`
//! a contact page that disguises numbers (the pen test's attacks); `/static/<file>` the
//! fixtures' scripts and styles; `/bench/<file>` and `/dist/<path>` for the
//! benchmark page, which loads the built content script and libphonenumber-js.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;

use crate::chromium::ChromiumOptions;
use crate::instance::repository_dir;

/// The host name the pages are served under.
pub const CRM_HOST: &str = "crm.rdstation.com";
/// The deal of the deal page.
pub const DEAL_ID: &str = "5f1e7a9b2c3d4e5f6a7b8c9d";
/// The policy of the strict page: nothing but its own styles.
pub const STRICT_CSP: &str =
    "default-src 'none'; style-src 'self'; script-src 'none'; connect-src 'none'; img-src 'none'";

/// The base64 SHA-256 of the public key (SPKI) of the pages' certificate
/// (`tests/fixtures/tls/cert.der`), for Chromium's
/// `--ignore-certificate-errors-spki-list`: that certificate, and no other,
/// is accepted without a CA.
pub const CERTIFICATE_SPKI_SHA256: &str = "jmW68gxI7RAxhAMkON/35+kvZwhaeK+zPZKD6UASFFs=";

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

/// `tests/fixtures/`: the pages belong with the tests that read them.
fn tests_fixtures() -> PathBuf {
    repository_dir().join("tests").join("fixtures")
}

fn fixtures_dir() -> PathBuf {
    tests_fixtures().join("rdstation")
}

fn tls_dir() -> PathBuf {
    tests_fixtures().join("tls")
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
            .route(
                "/app/contacts/disguised",
                get(|| page("disguised.html", None)),
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
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(TlsListener::start(listener, addr), app).await;
        });
        CrmPages { addr, server }
    }

    /// `--host-resolver-rules` sending RD Station's host here.
    pub fn resolver_rules(&self) -> String {
        format!("MAP {CRM_HOST} {}", self.addr)
    }

    /// `options` that reach these pages: RD Station's host sent here, and
    /// the pages' certificate accepted (by its key: no other certificate
    /// is).
    pub fn browser(&self, options: ChromiumOptions) -> ChromiumOptions {
        options
            .host_resolver_rules(self.resolver_rules())
            .arg(format!(
                "--ignore-certificate-errors-spki-list={CERTIFICATE_SPKI_SHA256}"
            ))
    }

    /// An address on the RD Station host, e.g. `url("/app/deals")`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{CRM_HOST}{path}")
    }
}

/// How long a client may take over the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS over a TCP listener, for `axum::serve`: each connection's handshake
/// runs in a task of its own (a slow client does not hold up the others);
/// those that succeed are handed to the server.
struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl TlsListener {
    fn start(listener: TcpListener, addr: SocketAddr) -> TlsListener {
        let acceptor = TlsAcceptor::from(Arc::new(server_config()));
        let (sender, ready) = mpsc::channel(64);
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                    {
                        let _ = sender.send((tls, peer)).await;
                    }
                });
            }
        });
        TlsListener {
            ready,
            addr,
            accepting,
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task ended (it does not, but for the server's
            // end, waiting forever is right).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// The pages' TLS configuration: the fixture certificate, HTTP/1.1.
fn server_config() -> ServerConfig {
    let read = |name: &str| {
        std::fs::read(tls_dir().join(name))
            .unwrap_or_else(|error| panic!("reading tests/fixtures/tls/{name}: {error}"))
    };
    let certificate = CertificateDer::from(read("cert.der"));
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(read("key.der")));
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![certificate], key)
            .expect("the fixture certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
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
