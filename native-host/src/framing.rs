//! Native messaging framing: each message is a 32-bit length in native byte
//! order followed by that many bytes of UTF-8 JSON.
//!
//! Decoding never fails the stream for what the browser (or anything else
//! writing to stdin) sends: a frame that is too large, not UTF-8 or not JSON
//! becomes an [`Incoming::Invalid`] item naming the problem, and the next
//! frame is read normally. Only an I/O error ends the stream. Encoding
//! refuses messages over Chrome's 1 MB limit (Chrome closes the port past
//! it), so the caller can answer with a small error instead.

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Largest message Chrome accepts from a host.
pub const MAX_OUTGOING: usize = 1024 * 1024;
/// Largest message the host accepts from the browser: requests are small.
pub const DEFAULT_MAX_INCOMING: usize = 64 * 1024;

const LENGTH_BYTES: usize = 4;

/// One frame read from the browser.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    Message(serde_json::Value),
    Invalid(FrameProblem),
}

/// Why a frame was not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameProblem {
    #[error("message of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("message is not valid UTF-8 (at byte {valid_up_to})")]
    InvalidUtf8 { valid_up_to: usize },
    #[error("message is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("input ended inside a frame ({got} of {expected} bytes)")]
    Truncated { got: usize, expected: usize },
}

/// Why a message could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("message of {len} bytes is over Chrome's {MAX_OUTGOING}-byte limit")]
    TooLarge { len: usize },
    #[error("message cannot be serialized: {0}")]
    Serialize(serde_json::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The codec; see the module docs.
#[derive(Debug)]
pub struct NativeMessagingCodec {
    max_incoming: usize,
    /// Bytes of an oversized frame still to be thrown away.
    discarding: usize,
}

impl Default for NativeMessagingCodec {
    fn default() -> Self {
        NativeMessagingCodec::new(DEFAULT_MAX_INCOMING)
    }
}

impl NativeMessagingCodec {
    pub fn new(max_incoming: usize) -> NativeMessagingCodec {
        NativeMessagingCodec {
            max_incoming,
            discarding: 0,
        }
    }
}

impl Decoder for NativeMessagingCodec {
    type Item = Incoming;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Incoming>, std::io::Error> {
        if self.discarding > 0 {
            let n = self.discarding.min(src.len());
            src.advance(n);
            self.discarding -= n;
            if self.discarding > 0 {
                return Ok(None);
            }
        }
        if src.len() < LENGTH_BYTES {
            return Ok(None);
        }
        let mut length = [0u8; LENGTH_BYTES];
        length.copy_from_slice(&src[..LENGTH_BYTES]);
        let len = u32::from_ne_bytes(length) as usize;
        if len > self.max_incoming {
            // Reported now; its bytes are skipped as they arrive.
            src.advance(LENGTH_BYTES);
            self.discarding = len;
            let n = self.discarding.min(src.len());
            src.advance(n);
            self.discarding -= n;
            return Ok(Some(Incoming::Invalid(FrameProblem::TooLarge {
                len,
                max: self.max_incoming,
            })));
        }
        if src.len() < LENGTH_BYTES + len {
            src.reserve(LENGTH_BYTES + len - src.len());
            return Ok(None);
        }
        src.advance(LENGTH_BYTES);
        let payload = src.split_to(len);
        Ok(Some(parse(&payload)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Incoming>, std::io::Error> {
        if let Some(item) = self.decode(src)? {
            return Ok(Some(item));
        }
        if src.is_empty() || self.discarding > 0 {
            src.clear();
            self.discarding = 0;
            return Ok(None);
        }
        let got = src.len();
        let expected = if got >= LENGTH_BYTES {
            let mut length = [0u8; LENGTH_BYTES];
            length.copy_from_slice(&src[..LENGTH_BYTES]);
            u32::from_ne_bytes(length) as usize + LENGTH_BYTES
        } else {
            LENGTH_BYTES
        };
        src.clear();
        Ok(Some(Incoming::Invalid(FrameProblem::Truncated {
            got,
            expected,
        })))
    }
}

fn parse(payload: &[u8]) -> Incoming {
    let text = match std::str::from_utf8(payload) {
        Ok(text) => text,
        Err(e) => {
            return Incoming::Invalid(FrameProblem::InvalidUtf8 {
                valid_up_to: e.valid_up_to(),
            });
        }
    };
    match serde_json::from_str(text) {
        Ok(value) => Incoming::Message(value),
        Err(e) => Incoming::Invalid(FrameProblem::InvalidJson(e.to_string())),
    }
}

impl<T: serde::Serialize + ?Sized> Encoder<&T> for NativeMessagingCodec {
    type Error = EncodeError;

    fn encode(&mut self, message: &T, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let json = serde_json::to_vec(message).map_err(EncodeError::Serialize)?;
        if json.len() > MAX_OUTGOING {
            return Err(EncodeError::TooLarge { len: json.len() });
        }
        dst.reserve(LENGTH_BYTES + json.len());
        // Fits: json.len() <= MAX_OUTGOING < u32::MAX.
        dst.put_slice(&(json.len() as u32).to_ne_bytes());
        dst.put_slice(&json);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_ne_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    fn decode_all(bytes: &[u8], chunk: usize) -> Vec<Incoming> {
        let mut codec = NativeMessagingCodec::new(64);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                out.push(item);
            }
        }
        while let Some(item) = codec.decode_eof(&mut buf).unwrap() {
            out.push(item);
        }
        out
    }

    #[test]
    fn round_trip_in_any_chunking() {
        let messages = [
            json!({"type": "status.get", "id": "1"}),
            json!({"type": "call.start", "id": "2", "number": "(11) 98765-4321"}),
        ];
        let mut bytes = BytesMut::new();
        let mut codec = NativeMessagingCodec::default();
        for m in &messages {
            codec.encode(m, &mut bytes).unwrap();
        }
        for chunk in 1..=bytes.len() {
            let got = decode_all(&bytes, chunk);
            let want: Vec<Incoming> = messages.iter().cloned().map(Incoming::Message).collect();
            assert_eq!(got, want, "chunk size {chunk}");
        }
    }

    #[test]
    fn every_bad_frame_is_reported_and_the_next_one_still_read() {
        let good = frame(br#"{"type":"status.get","id":"9"}"#);
        let mut bytes = Vec::new();
        bytes.extend(frame(&[b'x'; 100])); // over the 64-byte cap
        bytes.extend(frame(b"\xff\xfe{}"));
        bytes.extend(frame(b"{not json"));
        bytes.extend(&good);
        bytes.extend(&[7, 0]); // a truncated length at the end
        for chunk in [1, 3, 7, 1000] {
            let got = decode_all(&bytes, chunk);
            assert_eq!(got.len(), 5, "chunk {chunk}: {got:?}");
            assert_eq!(
                got[0],
                Incoming::Invalid(FrameProblem::TooLarge { len: 100, max: 64 })
            );
            assert_eq!(
                got[1],
                Incoming::Invalid(FrameProblem::InvalidUtf8 { valid_up_to: 0 })
            );
            assert!(matches!(
                &got[2],
                Incoming::Invalid(FrameProblem::InvalidJson(_))
            ));
            assert_eq!(
                got[3],
                Incoming::Message(json!({"type": "status.get", "id": "9"}))
            );
            assert_eq!(
                got[4],
                Incoming::Invalid(FrameProblem::Truncated {
                    got: 2,
                    expected: 4
                })
            );
        }
    }

    #[test]
    fn a_frame_cut_short_is_truncated() {
        let mut bytes = frame(br#"{"type":"status.get"}"#);
        bytes.truncate(10);
        assert_eq!(
            decode_all(&bytes, 4),
            [Incoming::Invalid(FrameProblem::Truncated {
                got: 10,
                expected: 25
            })]
        );
    }

    #[test]
    fn outgoing_messages_over_one_megabyte_are_refused() {
        let mut codec = NativeMessagingCodec::default();
        let mut dst = BytesMut::new();
        let big = json!({"calls": "x".repeat(MAX_OUTGOING)});
        assert!(matches!(
            codec.encode(&big, &mut dst),
            Err(EncodeError::TooLarge { .. })
        ));
        assert!(dst.is_empty(), "nothing written");
        let fits = json!("x".repeat(MAX_OUTGOING - 2));
        codec.encode(&fits, &mut dst).unwrap();
        assert_eq!(dst.len(), 4 + MAX_OUTGOING);
    }
}
