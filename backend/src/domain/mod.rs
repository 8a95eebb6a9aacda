//! Domain types: validated once at the edge, then trusted everywhere else.

pub mod call;
pub mod phone;
pub mod tenant;

pub use call::{Call, CallContext, CallId, CallState, HangupCause, Outcome};
pub use phone::{E164Number, InvalidNumber, NumberKind, Region};
pub use tenant::{
    DestinationPolicy, DestinationRefused, Extension, Role, Tenant, TenantSlug, User,
};
