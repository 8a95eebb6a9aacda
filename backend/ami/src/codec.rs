//! Framing of the AMI byte stream: [`Message`]s in, [`Action`]s out.
//!
//! Asterisk opens with one banner line (`Asterisk Call Manager/11.0.0`), then sends
//! messages made of `Key: Value` lines, each message ended by an empty line. Lines end
//! with CRLF; a bare LF is accepted too. The decoder bounds what one line and one
//! message may hold, so a hostile or broken peer cannot make it buffer without end.

use std::io;

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::action::Action;
use crate::message::Message;

/// Bounds the decoder enforces on incoming data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest line, without its line ending.
    pub max_line_bytes: usize,
    /// Most headers in one message.
    pub max_headers: usize,
    /// Most bytes in one message, line endings excluded.
    pub max_message_bytes: usize,
}

impl Default for Limits {
    /// 16 KiB a line, 1024 headers and 1 MiB a message: far above anything Asterisk 22
    /// sends for calls and event lists (a `Command` action's output is one header per
    /// output line), and small enough to bound memory.
    fn default() -> Limits {
        Limits {
            max_line_bytes: 16 * 1024,
            max_headers: 1024,
            max_message_bytes: 1024 * 1024,
        }
    }
}

/// A violation of the protocol or of the [`Limits`], or an I/O error underneath.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A line is longer than [`Limits::max_line_bytes`].
    #[error("AMI line longer than {limit} bytes")]
    LineTooLong {
        /// The limit in force.
        limit: usize,
    },
    /// A message has more than [`Limits::max_headers`] headers.
    #[error("AMI message with more than {limit} headers")]
    TooManyHeaders {
        /// The limit in force.
        limit: usize,
    },
    /// A message is larger than [`Limits::max_message_bytes`].
    #[error("AMI message larger than {limit} bytes")]
    MessageTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The stream ended in the middle of a message.
    #[error("AMI stream ended inside a message")]
    Truncated,
    /// Reading or writing the socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Decoder of [`Message`]s and encoder of [`Action`]s for `tokio_util::codec::Framed`.
#[derive(Debug, Default)]
pub struct AmiCodec {
    limits: Limits,
    /// The first line has been seen (it may be the banner).
    started: bool,
    banner: Option<String>,
    /// Headers of the message being decoded.
    headers: Vec<(String, String)>,
    /// Bytes of the message being decoded.
    message_bytes: usize,
    /// Bytes at the front of the buffer already searched for a line end.
    scanned: usize,
}

impl AmiCodec {
    /// A codec with the default [`Limits`].
    pub fn new() -> AmiCodec {
        AmiCodec::default()
    }

    /// A codec enforcing `limits`.
    pub fn with_limits(limits: Limits) -> AmiCodec {
        AmiCodec {
            limits,
            ..AmiCodec::default()
        }
    }

    /// The banner line (`Asterisk Call Manager/11.0.0`) once it has been read.
    pub fn banner(&self) -> Option<&str> {
        self.banner.as_deref()
    }

    /// Takes the line `line` (without its ending) into the message being decoded;
    /// returns the message when `line` is the empty line that ends it.
    fn take_line(&mut self, line: &[u8]) -> Result<Option<Message>, CodecError> {
        if !self.started {
            self.started = true;
            // The banner is the only line without a colon Asterisk ever starts with.
            if !line.is_empty() && !line.contains(&b':') {
                self.banner = Some(String::from_utf8_lossy(line).into_owned());
                return Ok(None);
            }
        }
        if line.is_empty() {
            if self.headers.is_empty() {
                // Stray empty lines between messages carry nothing.
                return Ok(None);
            }
            self.message_bytes = 0;
            return Ok(Some(Message::new(std::mem::take(&mut self.headers))));
        }
        if self.headers.len() >= self.limits.max_headers {
            return Err(CodecError::TooManyHeaders {
                limit: self.limits.max_headers,
            });
        }
        self.message_bytes += line.len();
        if self.message_bytes > self.limits.max_message_bytes {
            return Err(CodecError::MessageTooLarge {
                limit: self.limits.max_message_bytes,
            });
        }
        self.headers.push(split_header(line));
        Ok(None)
    }
}

/// `Key: Value` into its two halves: the key trimmed, one space after the colon dropped.
/// A line without a colon becomes a key with an empty value.
fn split_header(line: &[u8]) -> (String, String) {
    match line.iter().position(|&b| b == b':') {
        Some(colon) => {
            let key = line[..colon].trim_ascii();
            let value = &line[colon + 1..];
            let value = value.strip_prefix(b" ").unwrap_or(value);
            (text(key), text(value))
        }
        None => (text(line.trim_ascii()), String::new()),
    }
}

/// Asterisk passes through whatever bytes a channel gave it (a caller name in Latin-1,
/// say): invalid UTF-8 becomes U+FFFD rather than an error.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Decoder for AmiCodec {
    type Item = Message;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        loop {
            let Some(offset) = buf[self.scanned..].iter().position(|&b| b == b'\n') else {
                self.scanned = buf.len();
                // One byte of slack for the CR of a CRLF that has not arrived whole.
                if buf.len() > self.limits.max_line_bytes + 1 {
                    return Err(CodecError::LineTooLong {
                        limit: self.limits.max_line_bytes,
                    });
                }
                return Ok(None);
            };
            let newline = self.scanned + offset;
            self.scanned = 0;
            let line = &buf[..newline];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > self.limits.max_line_bytes {
                return Err(CodecError::LineTooLong {
                    limit: self.limits.max_line_bytes,
                });
            }
            let message = self.take_line(line)?;
            buf.advance(newline + 1);
            if message.is_some() {
                return Ok(message);
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        match self.decode(buf)? {
            Some(message) => Ok(Some(message)),
            None if buf.is_empty() && self.headers.is_empty() => Ok(None),
            None => Err(CodecError::Truncated),
        }
    }
}

impl Encoder<&Action> for AmiCodec {
    type Error = CodecError;

    fn encode(&mut self, action: &Action, dst: &mut BytesMut) -> Result<(), CodecError> {
        let size: usize = action
            .headers()
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum();
        dst.reserve(size + 2);
        for (key, value) in action.headers() {
            dst.put_slice(key.as_bytes());
            dst.put_slice(b": ");
            dst.put_slice(value.as_bytes());
            dst.put_slice(b"\r\n");
        }
        dst.put_slice(b"\r\n");
        Ok(())
    }
}

impl Encoder<Action> for AmiCodec {
    type Error = CodecError;

    fn encode(&mut self, action: Action, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode(&action, dst)
    }
}
