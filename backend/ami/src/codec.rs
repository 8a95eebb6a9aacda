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
    /// Most bytes in one message, line endings included.
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
///
/// A message stays in the buffer until its closing empty line has arrived; it is then
/// checked as UTF-8 in one go and cut into headers at the line ends noted meanwhile.
#[derive(Debug, Default)]
pub struct AmiCodec {
    limits: Limits,
    /// The first line has been seen (it may be the banner).
    started: bool,
    banner: Option<String>,
    /// Offsets of the `\n` ending each header line of the message at the front of the
    /// buffer; reused from message to message.
    line_ends: Vec<usize>,
    /// Bytes at the front of the buffer already searched for line ends.
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

    fn line_too_long(&self) -> CodecError {
        CodecError::LineTooLong {
            limit: self.limits.max_line_bytes,
        }
    }

    /// The message whose header lines end at `self.line_ends`, all within `bytes`.
    fn message(&self, bytes: &[u8]) -> Message {
        let mut headers = Vec::with_capacity(self.line_ends.len());
        let mut start = 0;
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                for &end in &self.line_ends {
                    headers.push(split_header(without_cr(&text[start..end])));
                    start = end + 1;
                }
            }
            // Asterisk passes through whatever bytes a channel gave it (a caller name in
            // Latin-1, say): invalid UTF-8 becomes U+FFFD rather than an error.
            Err(_) => {
                for &end in &self.line_ends {
                    let line = String::from_utf8_lossy(&bytes[start..end]);
                    headers.push(split_header(without_cr(&line)));
                    start = end + 1;
                }
            }
        }
        Message::new(headers)
    }
}

fn without_cr(line: &str) -> &str {
    line.strip_suffix('\r').unwrap_or(line)
}

/// `Key: Value` into its two halves: the key trimmed, one space after the colon dropped.
/// A line without a colon becomes a key with an empty value.
fn split_header(line: &str) -> (String, String) {
    // Keys are short: a plain loop finds the colon sooner than a vectorised search.
    match line.bytes().position(|b| b == b':') {
        Some(colon) => {
            let key = &line[..colon];
            let value = &line[colon + 1..];
            let value = value.strip_prefix(' ').unwrap_or(value);
            (key.trim_ascii().to_owned(), value.to_owned())
        }
        None => (line.trim_ascii().to_owned(), String::new()),
    }
}

impl Decoder for AmiCodec {
    type Item = Message;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        loop {
            let line_start = self.line_ends.last().map_or(0, |&end| end + 1);
            let Some(offset) = memchr::memchr(b'\n', &buf[self.scanned..]) else {
                self.scanned = buf.len();
                // One byte of slack for the CR of a CRLF that has not arrived whole.
                if buf.len() - line_start > self.limits.max_line_bytes + 1 {
                    return Err(self.line_too_long());
                }
                return Ok(None);
            };
            let end = self.scanned + offset;
            self.scanned = end + 1;
            let line = &buf[line_start..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > self.limits.max_line_bytes {
                return Err(self.line_too_long());
            }
            if !self.started {
                self.started = true;
                // The banner is the only line without a colon Asterisk ever starts with.
                if !line.is_empty() && !line.contains(&b':') {
                    self.banner = Some(String::from_utf8_lossy(line).into_owned());
                    buf.advance(end + 1);
                    self.scanned = 0;
                    continue;
                }
            }
            if line.is_empty() {
                let message = (!self.line_ends.is_empty()).then(|| self.message(&buf[..end]));
                // Without headers it is a stray empty line between messages (Asterisk 22
                // sends one after the `MIXMONITOR_END` TestEvent): it carries nothing.
                buf.advance(end + 1);
                self.scanned = 0;
                self.line_ends.clear();
                match message {
                    Some(message) => return Ok(Some(message)),
                    None => continue,
                }
            }
            if self.line_ends.len() >= self.limits.max_headers {
                return Err(CodecError::TooManyHeaders {
                    limit: self.limits.max_headers,
                });
            }
            if end > self.limits.max_message_bytes {
                return Err(CodecError::MessageTooLarge {
                    limit: self.limits.max_message_bytes,
                });
            }
            self.line_ends.push(end);
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        match self.decode(buf)? {
            Some(message) => Ok(Some(message)),
            None if buf.is_empty() => Ok(None),
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
