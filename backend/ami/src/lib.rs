//! Asterisk Manager Interface (AMI) client for Disca.
//!
//! This crate owns everything between the backend and Asterisk's AMI TCP socket:
//!
//! - [`message`]: a received message, headers in order, keys case-insensitive, and its
//!   classification by first key ([`MessageKind`]);
//! - [`action`]: actions to send, refusing any header that could inject lines (CR, LF
//!   and other control characters) and escaping `Variable` values for Asterisk's
//!   argument splitter;
//! - [`codec`]: the framing of the byte stream for `tokio_util::codec`, with bounds
//!   on line length, headers and message size;
//! - [`client`]: a cheap-to-clone [`Client`] whose background task logs in with the
//!   MD5 challenge, pings, and reconnects with backoff (`backon`); it correlates answers by
//!   `ActionID`, collects event lists, and forwards every other event, in arrival
//!   order, to an unbounded channel of [`ClientEvent`]s.
//!
//! It knows nothing of calls, tenants or the dialplan: what events mean is the
//! backend's business.

pub mod action;
pub mod client;
pub mod codec;
mod error;
mod login;
pub mod message;
mod supervisor;

pub use action::{Action, InvalidValue, Problem};
pub use client::{Client, ClientEvent, Config, Originate};
pub use codec::{AmiCodec, CodecError, Limits};
pub use error::AmiError;
pub use message::{Message, MessageKind};
