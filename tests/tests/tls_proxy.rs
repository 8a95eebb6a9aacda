//! TLS in front of the backend with Caddy (Debian's `caddy` package), as
//! `packaging/caddy/Caddyfile` sets it up: HTTPS with a certificate from
//! Caddy's own authority (trusted by this test's client only), requests
//! passed to the backend, and the event stream streamed through the proxy
//! — a call's change reaches the client while the stream stays open, not
//! when it closes.

use std::time::Duration;

use disca_backend::domain::{CallContext, Role};
use disca_testkit::TestApp;
use disca_testkit::crm::{add_tenant, add_user, new_call};
use futures::StreamExt;

const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn sse_streams_through_caddy_over_tls() {
    let app = TestApp::spawn().await;
    add_tenant(&app.store, "acme", "Acme").await;
    let (ana, token) = add_user(&app.store, "acme", ("Ana", "1001", Role::Agent), None).await;
    let backend = app.base.trim_start_matches("http://").to_owned();

    // The shipped Caddyfile's proxy block, on a free loopback port with
    // Caddy's internal authority instead of a public one.
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/caddy/Caddyfile"),
    )
    .unwrap();
    let proxy_block = shipped
        .split_once("reverse_proxy")
        .map(|(_, rest)| format!("reverse_proxy{rest}"))
        .unwrap();
    let proxy_block = proxy_block
        .replace("127.0.0.1:8080", &backend)
        .trim_end()
        .trim_end_matches('}')
        .to_owned();
    let caddyfile = dir.path().join("Caddyfile");
    std::fs::write(
        &caddyfile,
        format!(
            "{{\n\tadmin off\n\tauto_https disable_redirects\n\tskip_install_trust\n\
             \tstorage file_system {storage}\n}}\n\
             https://127.0.0.1:{port} {{\n\ttls internal\n\t{proxy_block}}}\n",
            storage = dir.path().join("data").display(),
        ),
    )
    .unwrap();
    let mut caddy = tokio::process::Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&caddyfile)
        .env("HOME", dir.path())
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("caddy runs (Debian's caddy package)");

    // Caddy's root certificate, once it made it: the only one trusted.
    let root = dir.path().join("data/pki/authorities/local/root.crt");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !root.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "caddy made no certificate authority"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pem = std::fs::read(&root).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let live = loop {
        match client.get(format!("{base}/livez")).send().await {
            Ok(r) => break r,
            Err(e) => {
                assert!(tokio::time::Instant::now() < deadline, "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(live.status(), 200);

    let stream = client
        .get(format!("{base}/v1/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let mut body = stream.bytes_stream();
    let mut seen = String::new();
    let mut placed = None;
    let found = tokio::time::timeout(PATIENCE, async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if placed.is_none() && seen.contains("stream.start") {
                // The stream is open: a call now must come through it.
                let call =
                    new_call(&app.store, &ana, "(11) 98765-4321", &CallContext::default()).await;
                placed = Some(call.id);
            }
            if let Some(id) = &placed
                && seen.contains("event: call.update")
                && seen.contains(id.as_str())
            {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "through caddy: {seen}");
    caddy.start_kill().unwrap();
    let _ = caddy.wait().await;
}
