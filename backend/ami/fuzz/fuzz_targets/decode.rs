//! Fuzzes the AMI decoder: it must never panic, must stay within its limits, and must
//! give the same messages whatever way the bytes are cut into reads.
#![no_main]

use bytes::BytesMut;
use disca_ami::{AmiCodec, CodecError, Limits, Message};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

/// Small limits, so that the fuzzer reaches them.
const LIMITS: Limits = Limits {
    max_line_bytes: 64,
    max_headers: 16,
    max_message_bytes: 512,
};

fn decode<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Result<Vec<Message>, CodecError> {
    let mut codec = AmiCodec::with_limits(LIMITS);
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(message) = codec.decode(&mut buf)? {
            messages.push(message);
        }
        // What waits in the buffer is one partial message at most.
        assert!(buf.len() <= LIMITS.max_message_bytes + LIMITS.max_line_bytes + 2);
    }
    while let Some(message) = codec.decode_eof(&mut buf)? {
        messages.push(message);
    }
    Ok(messages)
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses how the rest is cut into reads.
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let whole = decode(std::iter::once(stream));
    let chunked = decode(stream.chunks(usize::from(cut % 17) + 1));
    match (&whole, &chunked) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        _ => panic!("cutting changed the outcome: whole {whole:?}, chunked {chunked:?}"),
    }
    for message in whole.iter().flatten() {
        assert!(!message.headers().is_empty());
        assert!(message.headers().len() <= LIMITS.max_headers);
        let _ = (message.kind(), message.event_name(), message.action_id());
        for (key, value) in message.headers() {
            assert!(!key.contains('\n') && !value.contains('\n'));
            assert!(message.get(key).is_some());
        }
    }
});
