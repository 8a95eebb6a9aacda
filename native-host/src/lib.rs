//! `disca-host`, Disca's native messaging host (work in progress, issue 3).
//!
//! What exists so far: [`framing`], the native messaging codec (a 32-bit
//! native-endian length, then UTF-8 JSON) with its limits and its errors,
//! which never stop the stream.

pub mod framing;
