//! The finder on two labelled corpora of CRM text: `corpus.tsv` (true
//! numbers in their Brazilian writings beside look-alikes that must not
//! fire; every case must match) and `heldout.tsv` (written blind by someone
//! who read neither the finder nor `corpus.tsv`, see `heldout.md`; it must
//! reach F1 0.99 with precision 0.99). Prints precision, recall and F1 for
//! each file, and every line found wrong.

use disca_finder::{Region, find};

/// How the finder does on one labelled file.
struct Score {
    true_pos: usize,
    false_pos: usize,
    false_neg: usize,
    /// Each line whose numbers differ from its label.
    wrong: Vec<String>,
}

impl Score {
    fn precision(&self) -> f64 {
        self.true_pos as f64 / (self.true_pos + self.false_pos).max(1) as f64
    }

    fn recall(&self) -> f64 {
        self.true_pos as f64 / (self.true_pos + self.false_neg).max(1) as f64
    }

    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

/// Runs the finder on each `<text> TAB <E.164,...>` line of `corpus`
/// (`#` lines are comments), prints the scores and the wrong lines.
fn score(name: &str, corpus: &str) -> Score {
    let mut score = Score {
        true_pos: 0,
        false_pos: 0,
        false_neg: 0,
        wrong: Vec::new(),
    };
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
        // Each expected number matches at most one number found.
        let mut unmatched = expected.clone();
        for f in &found {
            if let Some(i) = unmatched.iter().position(|e| e == f) {
                unmatched.swap_remove(i);
                score.true_pos += 1;
            } else {
                score.false_pos += 1;
            }
        }
        score.false_neg += unmatched.len();
        if found != expected {
            score
                .wrong
                .push(format!("{text:?}: found {found:?}, expected {expected:?}"));
        }
    }
    println!(
        "{name}: precision {:.3}, recall {:.3}, F1 {:.3} ({} true, {} false, {} missed)",
        score.precision(),
        score.recall(),
        score.f1(),
        score.true_pos,
        score.false_pos,
        score.false_neg
    );
    for w in &score.wrong {
        println!("  wrong: {w}");
    }
    score
}

#[test]
fn the_labelled_corpus_is_found_exactly() {
    let score = score("corpus.tsv", include_str!("corpus.tsv"));
    assert!(
        score.wrong.is_empty(),
        "{} cases wrong:\n{}",
        score.wrong.len(),
        score.wrong.join("\n")
    );
}

#[test]
fn the_held_out_corpus_scores_f1_0_99() {
    let score = score("heldout.tsv", include_str!("heldout.tsv"));
    assert!(
        score.f1() >= 0.99 && score.precision() >= 0.99,
        "F1 {:.3}, precision {:.3}; {} cases wrong:\n{}",
        score.f1(),
        score.precision(),
        score.wrong.len(),
        score.wrong.join("\n")
    );
}

/// The texts of a labelled file, comments left out.
fn texts(corpus: &str) -> impl Iterator<Item = &str> {
    corpus
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_once('\t').map_or(l, |(text, _)| text))
}

#[test]
fn a_page_of_lines_has_the_numbers_of_its_lines() {
    // A label or a glued run at the end of one line does not reach into
    // the next one: a page is its lines.
    for corpus in [include_str!("corpus.tsv"), include_str!("heldout.tsv")] {
        let page: Vec<&str> = texts(corpus).collect();
        let by_line: Vec<String> = page
            .iter()
            .flat_map(|text| find(text, Region::Brazil))
            .map(|f| f.e164)
            .collect();
        let whole: Vec<String> = find(&page.join("\n"), Region::Brazil)
            .into_iter()
            .map(|f| f.e164)
            .collect();
        assert_eq!(whole, by_line);
    }
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
        // A run cut in two before a `/(` (found by the fuzzer).
        "(11) 98765-4321 (21) 2345-6789/(11) 3456-7890",
        "1'".repeat(10_000).as_str(),
    ] {
        let _ = find(text, Region::Brazil);
    }
}
