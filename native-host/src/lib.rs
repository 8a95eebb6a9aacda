//! `disca-host`, Disca's native messaging host: the browser extension's only
//! way to the backend, so the salesperson's token never enters the browser.
//!
//! Chrome starts it with the extension's origin as its first argument and
//! talks to it over stdin/stdout ([`serve`]); people run its commands
//! ([`cli`]) to log in and to register it with their browsers.
//!
//! What each module owns:
//! - [`framing`]: the native messaging codec (length-prefixed JSON, limits,
//!   malformed frames as items, never as stream errors).
//! - [`serve`]: one port: the origin check, the read loop, the frame writer.
//! - [`session`]: request handling, the backend and login state, the live
//!   call, double-click protection.
//! - [`sign_in`]: signing in from the popup (RFC 8252: PKCE, a one-shot
//!   loopback listener, the code exchanged for a device token).
//! - [`relay`]: the backend's event stream relayed as `call.update` events.
//! - [`backend`]: the HTTP client (rustls, timeouts, retries for idempotent
//!   requests, error mapping).
//! - [`credentials`]: the token in the OS credential store.
//! - [`config`]: the host's folders and `host.toml` (no secrets).
//! - [`install`]: the browser manifests (and registry keys on Windows).
//! - [`telemetry`]: logs to a file, never to stdout.
//!
//! Invariants: stdout carries only frames; the token is only in the
//! credential store and in memory (never in a file, a log, an argument or a
//! message); every malformed input gets an error reply and the host keeps
//! serving.

pub mod backend;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod framing;
pub mod install;
pub mod relay;
pub mod serve;
pub mod session;
pub mod sign_in;
pub mod telemetry;
