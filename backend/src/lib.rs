//! Disca backend: places click-to-call calls through Asterisk over AMI,
//! follows them through AMI events, keeps every call in SQLite, and serves
//! the REST API, the live event stream (SSE), health and metrics.
//!
//! Module map (docs/architecture/backend.md has the invariants):
//! - [`domain`]: validated types (numbers, calls, tenants, users, policy).
//! - [`storage`]: SQLite, migrations, the ordered call event log.
//! - [`pbx`]: Originate/Hangup over AMI and the call tracker.
//! - [`crm`]: every ended call as a note on its RD Station deal (the
//!   outbox worker, the v1/v2 client, OAuth2, the note's words).
//! - [`phones`]: browser phones (the PJSIP realtime directory Asterisk
//!   reads, SIP passwords, TURN credentials).
//! - [`recordings`]: each tenant's recording rules (on/off, the
//!   announcement, retention) for the dialplan, and the retention sweep.
//! - [`api`]: the HTTP API (axum), SSE, OpenAPI document.
//! - [`manager`]: the manager page (login sessions, the team's calls,
//!   recordings, CSV export).
//! - [`admin`]: the admin console (people, CSV import, destination
//!   policy, audit log), for a tenant's admins.
//! - [`server`]: the accept loop (connection cap, reserve for `/healthz`,
//!   timeouts, the open file limit).
//! - [`accounts`]: passwords, invitation and reset links, the sign-in
//!   with lockout, the OAuth 2.0 + PKCE flow that gives each disca-host a
//!   device token.
//! - [`mail`]: outgoing e-mail (SMTP) for those links.
//! - [`downloads`]: the installers offered at `/downloads`.
//! - [`auth`]: bearer tokens and their hashes.
//! - [`configuration`], [`telemetry`], [`startup`]: settings, logs and
//!   metrics, and wiring it all together.
//! - [`cli`]: the `disca-backend` command line.

pub mod accounts;
pub mod admin;
pub mod api;
pub mod auth;
pub mod cli;
pub mod configuration;
pub mod crm;
pub mod domain;
pub mod downloads;
pub mod mail;
pub mod manager;
pub mod pbx;
pub mod phones;
pub mod recordings;
pub mod server;
pub mod startup;
pub mod storage;
pub mod telemetry;
