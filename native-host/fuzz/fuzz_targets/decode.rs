//! Fuzzes what the browser (or anything on stdin) can send the host: the
//! native messaging decoder, then the request parser on every message. Neither
//! may panic; the decoder must give the same items however the bytes are cut
//! into reads, keep at most one frame buffered, and every message it yields
//! must survive an encode/decode round trip.
#![no_main]

use bytes::BytesMut;
use disca_host::framing::{Incoming, NativeMessagingCodec};
use disca_protocol::native::Request;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::{Decoder, Encoder};

/// Small, so that the fuzzer reaches it.
const MAX_INCOMING: usize = 256;

fn decode<'a>(chunks: impl Iterator<Item = &'a [u8]>) -> Vec<Incoming> {
    let mut codec = NativeMessagingCodec::new(MAX_INCOMING);
    let mut buf = BytesMut::new();
    let mut items = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(item) = codec.decode(&mut buf).expect("decoding never fails") {
            items.push(item);
        }
        assert!(buf.len() <= MAX_INCOMING + 4, "more than one frame buffered");
    }
    while let Some(item) = codec.decode_eof(&mut buf).expect("decoding never fails") {
        items.push(item);
    }
    items
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses how the rest is cut into reads.
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let whole = decode(std::iter::once(stream));
    let step = usize::from(cut % 16) + 1;
    let pieces = decode(stream.chunks(step));
    assert_eq!(whole, pieces, "chunking changed the decoded items");
    for item in whole {
        if let Incoming::Message(value) = item {
            let mut codec = NativeMessagingCodec::new(usize::MAX);
            let mut frame = BytesMut::new();
            codec.encode(&value, &mut frame).expect("a decoded message re-encodes");
            let again = codec.decode(&mut frame).expect("decoding never fails");
            assert_eq!(again, Some(Incoming::Message(value.clone())));
            let _ = Request::parse(value);
        }
    }
});
