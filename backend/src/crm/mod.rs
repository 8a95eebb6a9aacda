//! CRM write-back: every ended call becomes a note on its RD Station deal,
//! exactly once.
//!
//! The call's note joins the outbox (`crm_deliveries`) in the transaction
//! that ends the call ([`crate::storage`]); the [`worker`] delivers it
//! through the tenant's connection ([`connections`], [`client`]: API v1 with
//! an instance token or v2 with OAuth2 and rotating refresh tokens,
//! [`oauth`]), within RD Station's 120 requests per minute
//! ([`rate_limit`]). The note's words are in [`note`]; which deal a call
//! without one goes to, in [`lookup`]; how errors are read, in [`error`];
//! secrets at rest, in [`secrets`]; setting a tenant's connection up, in
//! [`connect`]; which backend delivers which tenant's notes, in
//! [`partition`].

pub mod client;
pub mod connect;
pub mod connections;
pub mod error;
pub mod lookup;
pub mod note;
pub mod oauth;
pub mod partition;
pub mod rate_limit;
pub mod secrets;
pub mod worker;

use std::time::Duration;

pub use client::CrmClient;
pub use error::CrmError;
pub use secrets::{Secret, SecretKey};

/// How long a 429 without `Retry-After` stops a connection.
pub const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(10);
