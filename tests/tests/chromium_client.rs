//! The DevTools client of `disca_testkit::chromium` against the real headless
//! Chromium: trusted clicks, exceptions, waiting, navigation, screenshots,
//! console capture, an extension's service worker, environment variables and
//! host resolver rules.

use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use disca_testkit::chromium::{Chromium, ChromiumOptions, ConsoleMessage, ConsoleSource, Error};
use serde_json::json;

const PAGE: &str = r#"<!doctype html>
<html><head><title>probe</title><link rel="icon" href="data:,"></head>
<body style="margin: 0">
  <p id="state">waiting</p>
  <div style="height: 3000px">tall, so the button starts out of view</div>
  <button id="go" style="width: 120px; height: 40px">Call</button>
  <script>
    window.clicks = [];
    document.getElementById("go").addEventListener("click", (event) => {
      window.clicks.push({ trusted: event.isTrusted });
    });
    setTimeout(() => { document.getElementById("state").textContent = "ready"; }, 300);
    console.log("page up", 42);
  </script>
</body></html>"#;

/// Serves the probe page at `/` and a second page at `/other`.
async fn serve() -> std::net::SocketAddr {
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/other",
            get(|| async {
                Html(r#"<title>other</title><link rel="icon" href="data:,"><p>second page</p>"#)
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// What `console` returns once `done` holds for it (or after 5 s).
async fn settled(
    console: impl Fn() -> Vec<ConsoleMessage>,
    done: impl Fn(&[ConsoleMessage]) -> bool,
) -> Vec<ConsoleMessage> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done(&console()) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    console()
}

fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

#[tokio::test]
async fn drives_a_page_with_trusted_clicks_waits_and_screenshots() {
    let addr = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let chromium = Chromium::launch(ChromiumOptions::new(dir.path().join("profile")))
        .await
        .unwrap();
    let page = chromium.open(&format!("http://{addr}/")).await.unwrap();

    let ready = page
        .wait_for(
            r#"document.getElementById("state").textContent === "ready" && "yes""#,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(ready, "yes");

    // A synthetic event is untrusted; the client's click is a real one.
    page.evaluate(r#"document.getElementById("go").click()"#)
        .await
        .unwrap();
    page.click("#go").await.unwrap();
    assert_eq!(
        page.evaluate("window.clicks").await.unwrap(),
        json!([{"trusted": false}, {"trusted": true}])
    );
    let Err(Error::Click { reason, .. }) = page.click("#missing").await else {
        panic!("clicking a missing element must fail");
    };
    assert!(reason.contains("no element"), "{reason}");

    let Err(Error::Exception(text)) = page.evaluate(r#"throw new Error("boom")"#).await else {
        panic!("a throw must be an exception");
    };
    assert!(text.contains("Error: boom"), "{text}");
    let Err(Error::Exception(text)) = page
        .evaluate(
            r#"new Promise((_, reject) => setTimeout(() => reject(new TypeError("later")), 10))"#,
        )
        .await
    else {
        panic!("a rejected promise must be an exception");
    };
    assert!(text.contains("TypeError: later"), "{text}");
    assert_eq!(
        page.evaluate("new Promise(r => setTimeout(() => r(1 + 1), 10))")
            .await
            .unwrap(),
        2
    );
    assert_eq!(page.evaluate("undefined").await.unwrap(), json!(null));

    let Err(Error::Timeout { what, .. }) = page
        .wait_for("window.never", Duration::from_millis(300))
        .await
    else {
        panic!("wait_for must time out");
    };
    assert!(what.contains("last value: undefined"), "{what}");
    let Err(Error::Timeout { what, .. }) = page
        .wait_for("missing.thing", Duration::from_millis(300))
        .await
    else {
        panic!("wait_for must time out");
    };
    assert!(what.contains("missing is not defined"), "{what}");

    page.set_viewport(640, 480).await.unwrap();
    let shot = dir.path().join("page.png");
    page.screenshot(&shot).await.unwrap();
    assert_eq!(png_size(&std::fs::read(&shot).unwrap()), (640, 480));

    page.evaluate(
        r#"setTimeout(() => { throw new Error("uncaught later") }, 0);
           console.error("bad", {a: 1});
           document.body.append(Object.assign(new Image(), { src: "/missing.png" }));"#,
    )
    .await
    .unwrap();
    let console = settled(
        || page.console(),
        |c| c.iter().filter(|m| m.is_error()).count() >= 3,
    )
    .await;
    let first = &console[0];
    assert_eq!(
        (first.source, first.level.as_str(), first.text.as_str()),
        (ConsoleSource::Console, "log", "page up 42"),
        "{console:#?}"
    );
    let errors: Vec<String> = console
        .iter()
        .filter(|m| m.is_error())
        .map(|m| m.to_string())
        .collect();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    for expected in [
        "[Console error] bad Object",
        "[Exception error] Uncaught Error: uncaught later",
        "[Log error] Failed to load resource: the server responded with a status of 404",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(expected)),
            "{expected}: {errors:#?}"
        );
    }

    page.navigate(&format!("http://{addr}/other"))
        .await
        .unwrap();
    assert_eq!(page.evaluate("document.title").await.unwrap(), "other");
    let closed_port = format!("http://127.0.0.1:{}/", disca_testkit::free_tcp_port());
    let Err(Error::Navigation { error, .. }) = page.navigate(&closed_port).await else {
        panic!("a refused connection must fail the navigation");
    };
    assert!(error.contains("ERR_CONNECTION_REFUSED"), "{error}");
    page.close().await.unwrap();
}

#[tokio::test]
async fn reaches_an_extension_worker_with_envs_and_resolver_rules() {
    let addr = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let extension = dir.path().join("extension");
    std::fs::create_dir_all(&extension).unwrap();
    std::fs::write(
        extension.join("manifest.json"),
        json!({
            "manifest_version": 3,
            "name": "chromium client probe",
            "version": "0.1.0",
            "background": {"service_worker": "worker.js"},
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        extension.join("worker.js"),
        "self.marker = 42; console.log('worker up');",
    )
    .unwrap();

    let options = ChromiumOptions::new(dir.path().join("profile"))
        .extension(&extension)
        .envs([("TZ", "America/Sao_Paulo")])
        .host_resolver_rules("MAP disca.test 127.0.0.1");
    let chromium = Chromium::launch(options).await.unwrap();

    let worker = chromium
        .worker("chrome-extension://", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(worker.url().ends_with("/worker.js"), "{}", worker.url());
    // The worker may be listed while its script still runs: wait for it.
    worker
        .wait_for("self.marker", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(worker.evaluate("self.marker + 1").await.unwrap(), 43);
    assert_eq!(
        worker
            .wait_for("chrome.runtime.id", Duration::from_secs(2))
            .await
            .unwrap()
            .as_str()
            .map(str::len),
        Some(32)
    );
    worker
        .evaluate("console.warn('from the test')")
        .await
        .unwrap();
    // Chromium replays what the worker logged before the client attached.
    let console = settled(|| worker.console(), |c| c.len() >= 2).await;
    let logged: Vec<(&str, &str)> = console
        .iter()
        .map(|m| (m.level.as_str(), m.text.as_str()))
        .collect();
    assert_eq!(
        logged,
        [("log", "worker up"), ("warning", "from the test")],
        "{console:#?}"
    );

    let page = chromium
        .open(&format!("http://disca.test:{}/other", addr.port()))
        .await
        .unwrap();
    assert_eq!(page.evaluate("document.title").await.unwrap(), "other");
    assert_eq!(
        page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
            .await
            .unwrap(),
        "America/Sao_Paulo"
    );
}

#[tokio::test]
async fn a_missing_executable_fails_the_launch_with_chromiums_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let options = ChromiumOptions::new(dir.path()).binary("/nonexistent/chromium");
    let Err(error) = Chromium::launch(options).await else {
        panic!("launching a missing executable must fail");
    };
    let text = error.to_string();
    assert!(matches!(error, Error::Launch { .. }), "{text}");
    assert!(text.contains("not found"), "{text}");
    assert!(text.contains("/nonexistent/chromium"), "{text}");
}
