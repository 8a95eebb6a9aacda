//! Fuzzes the phone finder on arbitrary text: it never panics, its spans are
//! in order, do not overlap and fall on character boundaries, each span
//! holds digits, and each number found is E.164 (`+` and 8 to 15 digits).
#![no_main]

use disca_finder::{Region, find};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for region in [Region::Brazil, Region::InternationalOnly] {
        let mut last_end = 0;
        for found in find(text, region) {
            assert!(found.start >= last_end && found.start < found.end && found.end <= text.len());
            assert!(text.is_char_boundary(found.start) && text.is_char_boundary(found.end));
            assert!(text[found.start..found.end].bytes().any(|b| b.is_ascii_digit()));
            let digits = &found.e164[1..];
            assert!(found.e164.starts_with('+') && (8..=15).contains(&digits.len()));
            assert!(digits.bytes().all(|b| b.is_ascii_digit()));
            last_end = found.end;
        }
    }
});
