//! The messages that cross Disca's process boundaries, in one place so both
//! ends of every boundary agree by construction:
//!
//! - [`call`]: a call as the backend reports it (states, outcomes, the CRM
//!   context of the click). The backend stores and serves it, `disca-host`
//!   relays it, the extension shows it.
//! - [`crm`]: where a finished call's note to the CRM stands.
//! - [`api`]: the other bodies of the backend's HTTP API that clients read or
//!   write (`POST /v1/calls`, `GET /v1/me`, error bodies, pages of calls).
//! - [`native`]: the versioned native messaging protocol between the browser
//!   extension and `disca-host`: requests with ids, replies echoing them, and
//!   events pushed while a port is open.
//! - [`phone`]: the salesperson's phone (`GET /v1/phone`), the SIP header
//!   marking Disca's calls, and the messages between the extension's service
//!   worker and its softphone document.
//! - [`report`]: what the salesperson says about an ended call (outcome,
//!   note, follow-up) and the tenant's list of outcomes.
//! - [`words`]: what salespeople and managers read about calls, states and
//!   CRM notes, in Portuguese (the extension's copy is generated from it).
//!
//! Plain data and validation only: no I/O, no clock, no randomness, so the
//! crate compiles natively and to `wasm32-unknown-unknown` alike.

pub mod api;
pub mod call;
pub mod crm;
pub mod native;
pub mod phone;
pub mod report;
pub mod words;

pub use api::{ApiErrorCode, ErrorBody, ErrorDetail, InvalidNumberReason, Me, Role};
pub use call::{Call, CallContext, CallState, HangupCause, InvalidContext, Outcome};
pub use crm::{CrmDelivery, CrmState};
pub use report::{CallReport, Disposition, Dispositions, ReportNote, ReportSaved, ReportTask};
