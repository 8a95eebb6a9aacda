//! The README's screenshots, made by the browser tests: each is taken on
//! every run (into a temporary folder, checked to be a PNG) and written to
//! `docs/screenshots/` when `DISCA_UPDATE_SCREENSHOTS` is set.

use std::path::{Path, PathBuf};

use crate::chromium::Page;

/// Asks for the screenshots to be written to `docs/screenshots/`.
const UPDATE_ENV: &str = "DISCA_UPDATE_SCREENSHOTS";

pub struct ReadmeScreenshots {
    dir: tempfile::TempDir,
}

impl ReadmeScreenshots {
    pub fn new() -> ReadmeScreenshots {
        ReadmeScreenshots {
            dir: tempfile::tempdir().expect("a temporary folder"),
        }
    }

    /// A PNG of `page`'s viewport, as `name` in the README's folder.
    pub async fn take(&self, page: &Page, name: &str) {
        let path = self.dir.path().join(name);
        page.screenshot(&path).await.expect("a screenshot");
        let png = std::fs::read(&path).expect("the screenshot is written");
        assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
        if std::env::var_os(UPDATE_ENV).is_some() {
            let docs = docs_dir();
            std::fs::create_dir_all(&docs).expect("docs/screenshots/");
            std::fs::copy(&path, docs.join(name)).expect("the screenshot is copied");
        }
    }
}

impl Default for ReadmeScreenshots {
    fn default() -> ReadmeScreenshots {
        ReadmeScreenshots::new()
    }
}

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
}
