//! `/downloads`: the installers in `[downloads] dir`, and nothing else.

use disca_testkit::TestApp;
use reqwest::StatusCode;

#[tokio::test]
async fn only_the_installers_themselves_are_served() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("disca-host_0.1.0_amd64.deb"), b"a package").unwrap();
    std::fs::write(dir.path().join("extension-key.pem"), b"a secret").unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, b"not for download").unwrap();
    std::os::unix::fs::symlink(&secret, dir.path().join("link.deb")).unwrap();
    let served = dir.path().to_path_buf();
    let app = TestApp::builder()
        .configure(move |s| s.downloads.dir = Some(served))
        .start()
        .await;
    let get = |path: &str| app.http.get(app.url(path)).send();
    let deb = get("/downloads/disca-host_0.1.0_amd64.deb").await.unwrap();
    assert_eq!(deb.status(), StatusCode::OK);
    assert_eq!(
        deb.headers()["content-disposition"],
        "attachment; filename=\"disca-host_0.1.0_amd64.deb\""
    );
    assert_eq!(deb.bytes().await.unwrap().as_ref(), b"a package");
    for path in [
        "/downloads/extension-key.pem",
        "/downloads/link.deb",
        "/downloads/..%2Fsecret.txt",
        "/downloads/secret.txt",
    ] {
        assert_eq!(
            get(path).await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let list: serde_json::Value = get("/downloads/files.json")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list,
        serde_json::json!([{"name": "disca-host_0.1.0_amd64.deb", "kind": "deb", "bytes": 9}])
    );
    let page = get("/downloads").await.unwrap();
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
}
