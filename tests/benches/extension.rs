//! The content script against libphonenumber-js, in real headless Chromium,
//! side by side in one run (BENCHMARKS.md §6):
//!
//! 1. precision, recall and F1 of Disca's finder (the wasm module's
//!    `find_numbers`) and of libphonenumber-js `findPhoneNumbersInText(text,
//!    {defaultCountry: 'BR'})` on the labelled corpora;
//! 2. finding and annotating every number of a 5,000-row deal list: the same
//!    page, each engine on a fresh copy, alternating, with the same idle-time
//!    slicing; total time, longest slice, long tasks (> 50 ms); and the
//!    floor: the same controls made with no finding at all;
//! 3. the content script's payload (wasm + glue + loader) beside
//!    libphonenumber-js's bundle;
//! 4. instantiate + first scan of the real extension on the deal page (run
//!    first, on a machine not yet busy with the list)
//!    (`boot.js` reports both at document_idle; `load.js` fetches,
//!    compiles and instantiates the wasm from document_start).
//!
//! Run: `cargo bench -p disca-tests --bench extension [-- SECTION...]`,
//! sections `accuracy`, `list`, `payload`, `startup` (default: all; needs
//! npm for libphonenumber-js, pinned in extension/bench/package-lock.json).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use disca_testkit::chromium::{Chromium, ChromiumOptions};
use disca_testkit::crm_pages::{CrmPages, DEAL_ID};
use disca_testkit::extension::{JS_FALLBACK, built};
use disca_testkit::instance::repository_dir;
use disca_testkit::machine;
use serde_json::Value;

const ROWS: u32 = 5000;
const REPEATS: usize = 3;
const LOADS: usize = 20;
const PATIENCE: Duration = Duration::from_secs(900);

const SECTIONS: [&str; 4] = ["accuracy", "list", "payload", "startup"];

#[tokio::main]
async fn main() {
    let asked: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with('-'))
        .collect();
    if let Some(unknown) = asked.iter().find(|a| !SECTIONS.contains(&a.as_str())) {
        eprintln!(
            "unknown section {unknown:?}; sections: {}",
            SECTIONS.join(", ")
        );
        std::process::exit(2);
    }
    let runs = |section: &str| asked.is_empty() || asked.iter().any(|a| a == section);
    let repository = repository_dir();
    let dist = built().to_path_buf();
    let npm_dir = repository.join("extension").join("bench");
    let against_lpjs = runs("accuracy") || runs("list");
    if against_lpjs
        && !npm_dir
            .join("node_modules")
            .join("libphonenumber-js")
            .exists()
    {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&npm_dir)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm ci failed");
    }
    let pages = CrmPages::start(vec![
        ("/dist", dist.clone()),
        ("/npm", npm_dir.join("node_modules")),
        (
            "/corpus",
            repository.join("extension").join("finder").join("tests"),
        ),
        (
            "/bench",
            repository.join("tests").join("fixtures").join("bench"),
        ),
    ])
    .await;
    println!("machine: {}", machine::cpu());
    println!("browser: {}\n", machine::chromium_version());
    // Start-up first, in a browser of its own: after the list's minutes of
    // work the machine takes a while to settle, and a 10 ms measure feels it.
    if runs("startup") {
        startup(&dist, &pages).await;
    }
    if against_lpjs {
        let profile = tempfile::tempdir().unwrap();
        let chromium = Chromium::launch(pages.browser(ChromiumOptions::new(profile.path())))
            .await
            .expect("chromium starts");
        if runs("accuracy") {
            accuracy(&chromium, &pages).await;
        }
        if runs("list") {
            list(&chromium, &pages).await;
        }
    }
    if runs("payload") {
        payload(&dist, &npm_dir);
    }
}

/// Precision, recall and F1 of both engines on the labelled corpora.
async fn accuracy(chromium: &Chromium, pages: &CrmPages) {
    println!("## Precision and recall (same corpora, same browser)\n");
    println!("| corpus | lines | engine | TP | FP | FN | precision | recall | F1 | time |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for file in ["corpus.tsv", "heldout.tsv"] {
        let page = chromium
            .open(&pages.url("/bench/list.html?rows=0"))
            .await
            .unwrap();
        let result = page
            .evaluate(&format!("window.runCorpus('{file}')"))
            .await
            .expect("corpus run");
        for engine in ["disca", "libphonenumber"] {
            let r = &result[engine];
            println!(
                "| {file} | {} | {engine} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.1} ms |",
                result["lines"],
                r["tp"],
                r["fp"],
                r["fn"],
                num(r, "precision"),
                num(r, "recall"),
                num(r, "f1"),
                num(r, "ms")
            );
        }
        page.close().await.unwrap();
    }
}

/// Both engines on the long list, alternating, then the floor.
async fn list(chromium: &Chromium, pages: &CrmPages) {
    println!("\n## {ROWS}-row deal list: find and annotate every number\n");
    println!(
        "| run | engine | numbers | total (wall) | busy (sum of slices) | longest slice | long tasks (>50 ms) | longest task |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut totals: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for run in 0..REPEATS {
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for index in order {
            let engine = ["disca", "libphonenumber"][index];
            totals[index].push(list_run(chromium, pages, run, engine, engine).await);
        }
    }
    // The floor: the DOM work alone (no finding), as often.
    let mut floor = Vec::new();
    for run in 0..REPEATS {
        floor.push(list_run(chromium, pages, run, "floor", "floor (DOM work only)").await);
    }
    println!("\nmedian floor: {:.0} ms", median(&mut floor));
    let (disca, lpjs) = (median(&mut totals[0]), median(&mut totals[1]));
    println!(
        "\nmedian: disca {disca:.0} ms, libphonenumber-js {lpjs:.0} ms: {:.1}× faster\n",
        lpjs / disca
    );
}

/// The content script's files beside libphonenumber-js's bundle.
fn payload(dist: &Path, npm_dir: &Path) {
    println!("## Payload\n");
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let content = dist.join("content");
    let wasm = size(&content.join("disca_content_bg.wasm"));
    let glue = size(&content.join("disca_content.js"));
    let boot = size(&content.join("boot.js")) + size(&content.join("load.js"));
    let lpjs_bundle =
        size(&npm_dir.join("node_modules/libphonenumber-js/bundle/libphonenumber-min.js"));
    println!("| file | bytes |\n|---|---|");
    println!(
        "| disca_content_bg.wasm | {wasm} |\n| disca_content.js (glue) | {glue} |\n| boot.js + load.js | {boot} |"
    );
    println!(
        "| **content script total** | **{}** ({:.1} KB) |",
        wasm + glue + boot,
        (wasm + glue + boot) as f64 / 1024.0
    );
    println!(
        "| {JS_FALLBACK} (strict-CSP pages only) | {} |",
        size(&content.join(JS_FALLBACK))
    );
    println!("| libphonenumber-js bundle/libphonenumber-min.js | {lpjs_bundle} |\n");
}

/// Instantiate + first scan of the real extension on the deal page.
async fn startup(dist: &Path, pages: &CrmPages) {
    println!("## Instantiate + first scan (real extension, deal page, {LOADS} loads)\n");
    let home = tempfile::tempdir().unwrap();
    let chromium =
        Chromium::launch(pages.browser(ChromiumOptions::new(home.path()).extension(dist)))
            .await
            .expect("chromium starts");
    // Per load: the rehearsal (document_start, while the page loads), then
    // at document_idle instantiate (waiting for load.js) and the first
    // scan (the measured start), and when every number was annotated
    // (the first slice, or the idle slices after it).
    let mut rows: Vec<[f64; 5]> = Vec::new();
    for _ in 0..LOADS {
        let page = chromium
            .open(&pages.url(&format!("/app/deals/{DEAL_ID}")))
            .await
            .unwrap();
        let r = page
            .wait_for("window.ready", Duration::from_secs(20))
            .await
            .expect("content script ready");
        let drained = page
            .wait_for(
                "window.scans.length && window.scans[0].drained_ms",
                Duration::from_secs(20),
            )
            .await
            .expect("first scan drains");
        let (instantiate, first) = (num(&r, "instantiate_ms"), num(&r, "first_scan_ms"));
        rows.push([
            num(&r, "rehearsal_ms"),
            instantiate,
            first,
            instantiate + first,
            drained.as_f64().unwrap_or(f64::NAN),
        ]);
        page.close().await.unwrap();
    }
    let first_load = rows[0][3];
    println!("| measure | median | max |\n|---|---|---|");
    for (index, name) in [
        "rehearsal (document_start, before the page is ready)",
        "instantiate (waiting for load.js)",
        "first scan",
        "**instantiate + first scan**",
        "every number annotated (from start)",
    ]
    .into_iter()
    .enumerate()
    {
        let mut values: Vec<f64> = rows.iter().map(|row| row[index]).collect();
        let max = values.iter().cloned().fold(0.0, f64::max);
        println!("| {name} | {:.2} ms | {max:.2} ms |", median(&mut values));
    }
    println!("\n(first load of the session: {first_load:.2} ms)");
}

/// One engine on a fresh copy of the list: prints its row of the table and
/// returns its wall time in milliseconds.
async fn list_run(
    chromium: &Chromium,
    pages: &CrmPages,
    run: usize,
    engine: &str,
    label: &str,
) -> f64 {
    let page = chromium
        .open(&pages.url(&format!("/bench/list.html?rows={ROWS}")))
        .await
        .unwrap();
    // Started, then polled: a run may outlast one DevTools command.
    page.evaluate(&format!(
        "window.runList('{engine}').then((r) => (window.result = r)); 0"
    ))
    .await
    .expect("list run starts");
    let r = page
        .wait_for("window.result", PATIENCE)
        .await
        .expect("list run ends");
    println!(
        "| {run} | {label} | {} | {:.0} ms | {:.0} ms | {:.1} ms | {} | {:.0} ms |",
        r["numbers"],
        num(&r, "ms"),
        num(&r, "busy_ms"),
        num(&r, "longest_slice_ms"),
        r["long_tasks"],
        num(&r, "longest_task_ms")
    );
    page.close().await.unwrap();
    num(&r, "ms")
}

fn num(value: &Value, key: &str) -> f64 {
    value[key].as_f64().unwrap_or(f64::NAN)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
