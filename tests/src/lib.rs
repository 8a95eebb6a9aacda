//! Test bed for cross-process tests.
