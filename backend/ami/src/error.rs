//! Errors of the client.

use std::io;

use crate::action::InvalidValue;
use crate::codec::CodecError;

/// Why an action (or a connection attempt) failed.
#[derive(Debug, thiserror::Error)]
pub enum AmiError {
    /// Not logged in to Asterisk right now; nothing was sent.
    #[error("not connected to Asterisk")]
    NotConnected,
    /// Asterisk did not answer within `Config::response_timeout`.
    #[error("no answer from Asterisk in time")]
    Timeout,
    /// The connection was lost before the answer came.
    #[error("connection to Asterisk lost")]
    Disconnected,
    /// Asterisk answered `Response: Error`.
    #[error("Asterisk refused the action: {message}")]
    Rejected {
        /// Its `Message` header.
        message: String,
    },
    /// A header could not be sent safely; nothing was sent.
    #[error(transparent)]
    InvalidValue(#[from] InvalidValue),
    /// The socket failed.
    #[error("AMI I/O error: {0}")]
    Io(#[from] io::Error),
    /// Asterisk sent something the protocol does not allow here.
    #[error("AMI protocol error: {0}")]
    Protocol(String),
}

impl From<CodecError> for AmiError {
    fn from(err: CodecError) -> AmiError {
        match err {
            CodecError::Io(err) => AmiError::Io(err),
            other => AmiError::Protocol(other.to_string()),
        }
    }
}
