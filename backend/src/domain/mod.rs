//! Domain types: validated once at the edge, then trusted everywhere else.

pub mod call;
pub mod phone;
pub mod tenant;

pub use call::{CallId, NewCall};
pub use disca_protocol::call::UnknownValue;
pub use disca_protocol::{Call, CallContext, CallState, HangupCause, Outcome, Role};
pub use phone::{E164Number, InvalidNumber, NumberKind, Region};
pub use tenant::{DestinationPolicy, DestinationRefused, Extension, Tenant, TenantSlug, User};
