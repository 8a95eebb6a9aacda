//! The finder on a labelled corpus of CRM text (`corpus.tsv`): true numbers
//! in their Brazilian writings beside look-alikes that must not fire. Prints
//! precision and recall; every case must match.

use disca_finder::{Region, find};

#[test]
fn the_labelled_corpus_is_found_exactly() {
    let corpus = include_str!("corpus.tsv");
    let (mut true_pos, mut false_pos, mut false_neg) = (0usize, 0usize, 0usize);
    let mut wrong = Vec::new();
    for line in corpus
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (text, expected) = line.split_once('\t').unwrap_or((line, ""));
        let expected: Vec<&str> = expected.split(',').filter(|e| !e.is_empty()).collect();
        let found: Vec<String> = find(text, Region::Brazil)
            .into_iter()
            .map(|f| f.e164)
            .collect();
        let hits = found
            .iter()
            .filter(|f| expected.contains(&f.as_str()))
            .count();
        true_pos += hits;
        false_pos += found.len() - hits;
        false_neg += expected.len() - hits;
        if found != expected {
            wrong.push(format!("{text:?}: found {found:?}, expected {expected:?}"));
        }
    }
    let precision = true_pos as f64 / (true_pos + false_pos).max(1) as f64;
    let recall = true_pos as f64 / (true_pos + false_neg).max(1) as f64;
    println!("precision {precision:.3}, recall {recall:.3}");
    assert!(
        wrong.is_empty(),
        "{} cases wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn spans_point_at_the_number_as_written() {
    let text = "Maria — (11) 98765-4321, ou 0800 123 4567.";
    let found = find(text, Region::Brazil);
    let written: Vec<&str> = found.iter().map(|f| &text[f.start..f.end]).collect();
    assert_eq!(written, vec!["(11) 98765-4321", "0800 123 4567"]);
}

#[test]
fn other_regions_see_only_international_numbers() {
    let found = find(
        "(11) 98765-4321 or +1 415 555 2671",
        Region::InternationalOnly,
    );
    let e164: Vec<&str> = found.iter().map(|f| f.e164.as_str()).collect();
    assert_eq!(e164, vec!["+14155552671"]);
}

#[test]
fn hostile_text_never_panics() {
    for text in [
        "",
        "(",
        "+",
        "((((11",
        "0xx",
        "0x",
        "+55",
        "\u{a0}11\u{a0}98765\u{2011}4321",
        "١٢٣٤٥٦٧٨٩٠",
        "𝟙𝟙 𝟡𝟠𝟟𝟞𝟝-𝟜𝟛𝟚𝟙",
        "9".repeat(10_000).as_str(),
        "(11) 98765-4321".repeat(1000).as_str(),
    ] {
        let _ = find(text, Region::Brazil);
    }
}
