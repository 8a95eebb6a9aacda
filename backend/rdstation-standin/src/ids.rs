//! Identifiers as RD Station makes them: 24 lowercase hex characters
//! (MongoDB ObjectIds) for records, long random hex strings for secrets.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `^[0-9a-f]{24}$`.
pub fn is_object_id(text: &str) -> bool {
    text.len() == 24 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A fresh ObjectId: the creation second, five random bytes, a counter.
pub fn new_object_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&((secs & 0xffff_ffff) as u32).to_be_bytes());
    bytes[4..9].copy_from_slice(&rand::random::<[u8; 5]>());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    bytes[9..].copy_from_slice(&n.to_be_bytes()[1..]);
    hex::encode(bytes)
}

/// An unguessable token: 32 random bytes in hex.
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_24_lowercase_hex_and_distinct() {
        let a = new_object_id();
        let b = new_object_id();
        assert!(is_object_id(&a) && is_object_id(&b), "{a} {b}");
        assert_ne!(a, b);
        assert!(!is_object_id("64B7F0C2A1E4D30000000D01"));
        assert!(!is_object_id("64b7f0c2a1e4d30000000d0"));
        assert!(!is_object_id("64b7f0c2a1e4d30000000d0g"));
    }
}
