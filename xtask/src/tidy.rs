//! Tests that fail when the documentation drifts from the tree
//! (rust-analyzer's `tidy` tests are the model). They run with
//! `cargo test -p xtask`, so in both test tiers:
//!
//! - every repository path written in backticks in README.md,
//!   ARCHITECTURE.md and `docs/architecture/*.md` exists, either from the
//!   repository's root or as the tail of a repository path (the detailed
//!   documents name a crate's files from its `src/`);
//! - every crate directory of the workspace is on the map in
//!   ARCHITECTURE.md.
//!
//! A "path" is an inline code span with no spaces that contains a `/` or
//! ends in a source or document extension; placeholders (`<id>`, `{id}`,
//! globs, `…`), URLs, absolute paths and paths in a home folder (`~/`) are
//! not repository paths and are skipped.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Extensions that make a code span a file name even without a `/`.
const PATH_EXTENSIONS: &[&str] = &[".rs", ".md", ".toml", ".js", ".json", ".conf"];

/// Characters only placeholders, globs, commands and URLs carry.
const PLACEHOLDER_CHARS: &[char] = &['<', '>', '{', '}', '*', '…', '|', '=', '?', '$', ':', ','];

/// Paths the documents name that are not in the repository: built or made
/// at run time, or names that merely look like paths. A folder (ending in
/// `/`) covers what is inside it.
const NOT_IN_REPOSITORY: &[&str] = &[
    // Built by `cargo xtask extension` and cargo.
    "dist/extension/",
    "disca_content_asm.js",
    "target/",
    // Made at run time.
    "./disca-data/",
    "host.toml",
    // A media type.
    "audio/wav",
];

/// Folders whose contents the documents never describe.
const SKIPPED_DIRS: &[&str] = &[".git", "target", "node_modules"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The documents the test reads, relative to the root.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs = vec![PathBuf::from("README.md"), PathBuf::from("ARCHITECTURE.md")];
    let detailed = root.join("docs/architecture");
    let mut more: Vec<PathBuf> = fs::read_dir(&detailed)
        .expect("docs/architecture/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| {
            path.strip_prefix(root)
                .expect("under the root")
                .to_path_buf()
        })
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

/// Every file and folder of the repository, relative to the root, with `/`
/// separators; folders end with `/`.
fn repository_entries(root: &Path) -> BTreeSet<String> {
    let mut entries = BTreeSet::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = fs::read_dir(root.join(&relative)).expect("readable folder");
        for entry in dir {
            let entry = entry.expect("readable entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = relative.join(&name);
            let text = path.to_string_lossy().replace('\\', "/");
            if entry.file_type().expect("file type").is_dir() {
                if SKIPPED_DIRS.contains(&name.as_str()) {
                    continue;
                }
                entries.insert(format!("{text}/"));
                pending.push(path);
            } else {
                entries.insert(text);
            }
        }
    }
    entries
}

/// The inline code spans of a Markdown text, outside fenced blocks; a span
/// may run over a line break, which counts as a space.
fn code_spans(markdown: &str) -> Vec<String> {
    let mut prose = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    prose
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|span| span.replace('\n', " ").trim().to_string())
        .collect()
}

/// Whether a code span names a repository path (see the module docs).
fn is_repository_path(span: &str) -> bool {
    let looks_like_path =
        span.contains('/') || PATH_EXTENSIONS.iter().any(|ext| span.ends_with(ext));
    looks_like_path
        && !span.contains(char::is_whitespace)
        && !span.contains(PLACEHOLDER_CHARS)
        && !span.starts_with(['/', '-', '~'])
}

/// Whether a path is one the repository does not hold (see
/// [`NOT_IN_REPOSITORY`]).
fn is_built_or_runtime(path: &str) -> bool {
    NOT_IN_REPOSITORY
        .iter()
        .any(|known| path == *known || (known.ends_with('/') && path.starts_with(known)))
}

/// Whether `path` is a repository entry, from the root or as the tail of
/// one; a path without a trailing `/` may be a file or a folder.
fn exists(entries: &BTreeSet<String>, path: &str) -> bool {
    let path = path.strip_prefix("./").unwrap_or(path);
    let candidates = if path.ends_with('/') {
        vec![path.to_string()]
    } else {
        vec![path.to_string(), format!("{path}/")]
    };
    candidates.iter().any(|candidate| {
        entries.contains(candidate)
            || entries
                .iter()
                .any(|entry| entry.ends_with(&format!("/{candidate}")))
    })
}

/// The workspace members, from the root `Cargo.toml`.
fn workspace_members(root: &Path) -> Vec<String> {
    let manifest = fs::read_to_string(root.join("Cargo.toml")).expect("root Cargo.toml");
    let manifest: toml::Table = manifest.parse().expect("valid Cargo.toml");
    manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members is a list")
        .iter()
        .map(|member| member.as_str().expect("a member is a path").to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_paths_exist() {
        let root = root();
        let entries = repository_entries(&root);
        let mut missing = Vec::new();
        for document in documents(&root) {
            let text = fs::read_to_string(root.join(&document)).expect("readable document");
            for span in code_spans(&text) {
                if is_repository_path(&span)
                    && !is_built_or_runtime(&span)
                    && !exists(&entries, &span)
                {
                    missing.push(format!("{}: `{span}`", document.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "paths in the documentation that are not in the repository \
             (fix the document, or list a built or run-time path in \
             NOT_IN_REPOSITORY):\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn every_crate_is_on_the_map() {
        let root = root();
        let map = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
        let missing: Vec<String> = workspace_members(&root)
            .into_iter()
            .filter(|member| !map.contains(&format!("`{member}/`")))
            .collect();
        assert!(
            missing.is_empty(),
            "workspace members ARCHITECTURE.md does not map (as `dir/`): {missing:?}"
        );
    }

    #[test]
    fn tells_paths_from_other_code() {
        for path in [
            "backend/src/server.rs",
            "worker.js",
            "extension/static/",
            "Cargo.toml",
        ] {
            assert!(is_repository_path(path), "{path}");
        }
        for other in [
            "GET /v1/events",
            "/openapi.json",
            "https://*.rdstation.com/*",
            "<data dir>/crm-worker.lock",
            "POST /deals/{id}/notes",
            "call.start",
            "--config",
            "DISCA_AMI__SECRET_FILE=/run/secrets/ami",
            "~/.config/disca/host.toml",
        ] {
            assert!(!is_repository_path(other), "{other}");
        }
    }

    #[test]
    fn knows_built_and_runtime_paths() {
        assert!(is_built_or_runtime("target/demo/backend/"));
        assert!(is_built_or_runtime("dist/extension/"));
        assert!(!is_built_or_runtime("targets/"));
        assert!(!is_built_or_runtime("backend/src/"));
    }

    #[test]
    fn reads_spans_across_lines_and_not_in_fences() {
        let text = "a `one/two` b `cargo xtask\nrun`\n```\n`fenced/path.rs`\n```\n";
        assert_eq!(code_spans(text), ["one/two", "cargo xtask run"]);
    }

    #[test]
    fn finds_paths_from_the_root_or_as_a_tail() {
        let entries: BTreeSet<String> = ["backend/", "backend/src/", "backend/src/server.rs"]
            .map(String::from)
            .into();
        assert!(exists(&entries, "backend/src/server.rs"));
        assert!(exists(&entries, "src/server.rs"));
        assert!(exists(&entries, "backend/src"));
        assert!(!exists(&entries, "rver.rs"));
        assert!(!exists(&entries, "server.rs/"));
        assert!(!exists(&entries, "backend/src/client.rs"));
    }
}
