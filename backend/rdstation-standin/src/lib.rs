//! A local stand-in for RD Station CRM, for tests and for demos without the
//! internet: the instance-token API v1 (`/api/v1`), the OAuth2 API v2
//! (`/crm/v2`) and its token endpoint (`/oauth2/token`), answering with the
//! shapes, status codes and limits that `shared/reference/rdstation.md`
//! describes, over real HTTP on a loopback port.
//!
//! It owns: the seeded accounts (companies, users, tokens, contacts, deals),
//! the notes and tasks written to deals (kept in memory, in order), the OAuth2 grants
//! with refresh-token rotation, the per-token rate limit, and fault
//! injection (down, slow, 429, HTML 500, hang after storing a note), all
//! controllable in-process ([`Running`]) or over `/_standin/…`.
//!
//! Module map:
//! - [`seed`]: what the CRM contains at start (file or struct), and the demo.
//! - [`configuration`]: lifetimes, limits, the listen address, seed files.
//! - [`startup`]: [`StandIn::start`] and the [`Running`] handle.
//! - [`faults`]: the fault modes and their switch.
//! - [`notes`]: the notes as stored; [`tasks`], the tasks.
//! - [`requests`]: requests received, per endpoint and per token.
//! - `crm`, `oauth`, `rate_limit`, `net`, `api`: the CRM records and queries,
//!   OAuth2 grants, the limiter, the connection layer that can cut
//!   connections, and the HTTP routes.
//! - [`telemetry`], [`cli`]: logs (tokens only as fingerprints), the
//!   `rdstation-standin` command line.

mod api;
pub mod cli;
mod clock;
pub mod configuration;
mod crm;
pub mod faults;
mod ids;
mod net;
pub mod notes;
mod oauth;
mod rate_limit;
pub mod requests;
pub mod seed;
pub mod startup;
pub mod tasks;
pub mod telemetry;

pub use configuration::{Config, RateLimit};
pub use faults::{Api, Fault, FaultSpec, FaultState, Faults, Scope};
pub use notes::Note;
pub use requests::RequestCounts;
pub use seed::Seed;
pub use startup::{Running, StandIn, StartError};
pub use tasks::Task;
