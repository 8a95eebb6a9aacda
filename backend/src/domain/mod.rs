//! Domain types: validated once at the edge, then trusted everywhere else.

pub mod call;
pub mod deal;
pub mod dialing;
pub mod pbx_name;
pub mod person;
pub mod phone;
pub mod sao_paulo;
pub mod tenant;

pub use call::{CallId, NewCall};
pub use deal::{CrmUserId, DealId, InvalidCrmId};
pub use dialing::{
    AreaCode, CallerId, InvalidDialing, NumberFormat, SipUser, TrunkHost, TrunkSettings,
    check_trunk_password, dial_rule,
};
pub use disca_protocol::call::UnknownValue;
pub use disca_protocol::phone::PhoneKind;
pub use disca_protocol::{
    Call, CallContext, CallState, CrmDelivery, CrmState, HangupCause, Outcome, Role,
};
pub use pbx_name::{DEFAULT_PBX, InvalidPbxName, PbxName};
pub use person::{InvalidPersonField, email_address, person_name};
pub use phone::{E164Number, InvalidNumber, NumberKind, Region};
pub use tenant::{DestinationPolicy, DestinationRefused, Extension, Tenant, TenantSlug, User};
