//! Disca backend.
