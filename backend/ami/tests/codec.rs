//! The codec against byte streams captured from a real Asterisk 22 (see `data/README.md`).

use bytes::BytesMut;
use disca_ami::{Action, AmiCodec, CodecError, Limits, Message, MessageKind};
use tokio_util::codec::{Decoder, Encoder};

const ANSWERED_CALL: &[u8] = include_bytes!("data/answered_call.ami");
const AGENT_BUSY: &[u8] = include_bytes!("data/agent_busy.ami");
const TRUNK_BUSY: &[u8] = include_bytes!("data/trunk_busy.ami");
const NO_ANSWER: &[u8] = include_bytes!("data/no_answer.ami");
const EVENT_LIST: &[u8] = include_bytes!("data/event_list.ami");
const LOGIN_FAILED: &[u8] = include_bytes!("data/login_failed.ami");

const FIXTURES: [(&str, &[u8]); 6] = [
    ("answered_call", ANSWERED_CALL),
    ("agent_busy", AGENT_BUSY),
    ("trunk_busy", TRUNK_BUSY),
    ("no_answer", NO_ANSWER),
    ("event_list", EVENT_LIST),
    ("login_failed", LOGIN_FAILED),
];

/// Decodes `chunks` fed one after the other, then the end of the stream.
fn decode_chunks<'a>(
    codec: &mut AmiCodec,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Message>, CodecError> {
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(message) = codec.decode(&mut buf)? {
            messages.push(message);
        }
    }
    while let Some(message) = codec.decode_eof(&mut buf)? {
        messages.push(message);
    }
    Ok(messages)
}

fn decode(bytes: &[u8]) -> Vec<Message> {
    decode_chunks(&mut AmiCodec::new(), [bytes]).expect("fixture decodes")
}

fn events<'a>(messages: &'a [Message], name: &str) -> Vec<&'a Message> {
    messages
        .iter()
        .filter(|m| m.event_name() == Some(name))
        .collect()
}

#[test]
fn fixtures_decode_into_the_messages_asterisk_sent() {
    let counts: Vec<_> = FIXTURES
        .iter()
        .map(|(name, bytes)| (*name, decode(bytes).len()))
        .collect();
    assert_eq!(
        counts,
        [
            ("answered_call", 94),
            ("agent_busy", 18),
            ("trunk_busy", 55),
            ("no_answer", 24),
            ("event_list", 106),
            ("login_failed", 2),
        ]
    );
}

#[test]
fn splitting_at_every_byte_boundary_gives_the_same_messages() {
    for (name, bytes) in [
        ("agent_busy", AGENT_BUSY),
        ("no_answer", NO_ANSWER),
        ("login_failed", LOGIN_FAILED),
    ] {
        let whole = decode(bytes);
        for split in 0..=bytes.len() {
            let (a, b) = bytes.split_at(split);
            let parts = decode_chunks(&mut AmiCodec::new(), [a, b]).unwrap();
            assert_eq!(parts, whole, "{name} split at {split}");
        }
    }
}

#[test]
fn byte_by_byte_and_odd_chunks_give_the_same_messages() {
    for (name, bytes) in FIXTURES {
        let whole = decode(bytes);
        let one_by_one = decode_chunks(&mut AmiCodec::new(), bytes.chunks(1)).unwrap();
        assert_eq!(one_by_one, whole, "{name} byte by byte");
        for size in [2, 3, 7, 64, 1000, 4096] {
            let chunked = decode_chunks(&mut AmiCodec::new(), bytes.chunks(size)).unwrap();
            assert_eq!(chunked, whole, "{name} in chunks of {size}");
        }
    }
}

#[test]
fn banner_is_kept_apart_and_the_first_message_follows() {
    let mut codec = AmiCodec::new();
    let messages = decode_chunks(&mut codec, [ANSWERED_CALL]).unwrap();
    assert_eq!(codec.banner(), Some("Asterisk Call Manager/11.0.0"));
    let challenge = &messages[0];
    assert_eq!(challenge.kind(), MessageKind::Response);
    assert_eq!(challenge.response(), Some("Success"));
    assert_eq!(challenge.action_id(), Some("cap-1"));
    assert!(challenge.get("Challenge").is_some());

    // A stream without banner starts right with a message.
    let body = &ANSWERED_CALL["Asterisk Call Manager/11.0.0\r\n".len()..];
    let mut codec = AmiCodec::new();
    assert_eq!(decode_chunks(&mut codec, [body]).unwrap(), messages);
    assert_eq!(codec.banner(), None);

    // The banner split over reads.
    let mut codec = AmiCodec::new();
    let split = decode_chunks(&mut codec, ANSWERED_CALL.chunks(5)).unwrap();
    assert_eq!(split, messages);
    assert_eq!(codec.banner(), Some("Asterisk Call Manager/11.0.0"));
}

#[test]
fn bare_lf_and_mixed_line_endings_decode_like_crlf() {
    for (name, bytes) in FIXTURES {
        let crlf = decode(bytes);
        let text = std::str::from_utf8(bytes).unwrap();
        let lf = text.replace("\r\n", "\n");
        assert_eq!(decode(lf.as_bytes()), crlf, "{name} with LF");
        let mut mixed = String::new();
        for (n, line) in text.split("\r\n").enumerate() {
            if n > 0 {
                mixed.push_str(if n % 2 == 0 { "\r\n" } else { "\n" });
            }
            mixed.push_str(line);
        }
        assert_eq!(decode(mixed.as_bytes()), crlf, "{name} mixed");
    }
}

#[test]
fn classification_is_by_first_key_so_originate_response_is_an_event() {
    let messages = decode(ANSWERED_CALL);
    let originate = events(&messages, "OriginateResponse");
    assert_eq!(originate.len(), 1);
    let originate = originate[0];
    assert_eq!(originate.kind(), MessageKind::Event);
    assert_eq!(originate.get("Response"), Some("Success"));
    assert_eq!(originate.action_id(), Some("cap-3"));
    assert_eq!(originate.get("Reason"), Some("4"));
    assert_eq!(originate.get("Uniqueid"), Some("disca-call-1"));

    let queued = messages
        .iter()
        .find(|m| m.action_id() == Some("cap-3") && m.kind() == MessageKind::Response)
        .unwrap();
    assert_eq!(queued.get("Message"), Some("Originate successfully queued"));

    let failed = decode(LOGIN_FAILED);
    assert_eq!(failed[1].kind(), MessageKind::Response);
    assert_eq!(failed[1].response(), Some("Error"));
    assert_eq!(failed[1].get("message"), Some("Authentication failed"));
}

#[test]
fn real_calls_show_the_expected_outcomes() {
    let busy_agent = decode(AGENT_BUSY);
    let originate = events(&busy_agent, "OriginateResponse")[0];
    assert_eq!(originate.get("Response"), Some("Failure"));

    let no_answer = decode(NO_ANSWER);
    let originate = events(&no_answer, "OriginateResponse")[0];
    assert_eq!(originate.get("Reason"), Some("3"));

    let trunk_busy = decode(TRUNK_BUSY);
    assert!(
        events(&trunk_busy, "DialEnd")
            .iter()
            .any(|m| m.get("DialStatus") == Some("BUSY"))
    );

    // `Variable: V2=x,V3=y` was split by Asterisk into two variables, while
    // `Variable: V1=a\,b` kept its comma: what `Action::variable` relies on.
    let answered = decode(ANSWERED_CALL);
    let var = |name: &str| {
        events(&answered, "VarSet")
            .into_iter()
            .find(|m| m.get("Variable") == Some(name))
            .and_then(|m| m.get("Value"))
    };
    assert_eq!(var("V1"), Some("a,b"));
    assert_eq!(var("V2"), Some("x"));
    assert_eq!(var("V3"), Some("y"));
}

#[test]
fn keys_are_case_insensitive_and_repeated_keys_are_kept() {
    let messages = decode(ANSWERED_CALL);
    // Asterisk itself repeats `State` in this TestEvent.
    let callid = messages
        .iter()
        .find(|m| m.get("type") == Some("StateChange") && m.get("STATE") == Some("CallIDChange"))
        .unwrap();
    assert_eq!(
        callid.get_all("state").collect::<Vec<_>>(),
        ["CallIDChange", "CallIDChange"]
    );
    // An empty value (`PriorCallID: `) stays empty.
    assert_eq!(callid.get("PriorCallID"), Some(""));
    // Original spelling is kept in the headers.
    assert_eq!(callid.headers()[0], ("Event".into(), "TestEvent".into()));

    let decoded = decode(b"eVeNt: X\r\nvariable: A=1\r\nVARIABLE: B=2\r\n\r\n");
    assert_eq!(decoded[0].kind(), MessageKind::Event);
    assert_eq!(decoded[0].event_name(), Some("X"));
    assert_eq!(
        decoded[0].get_all("Variable").collect::<Vec<_>>(),
        ["A=1", "B=2"]
    );
}

#[test]
fn odd_lines_are_kept_rather_than_refused() {
    let decoded =
        decode(b"Response: Follows\r\nno colon here\r\nKey:NoSpace\r\nKey2:  two\r\n\r\n");
    assert_eq!(
        decoded[0].headers(),
        [
            ("Response".into(), "Follows".into()),
            ("no colon here".into(), String::new()),
            ("Key".into(), "NoSpace".into()),
            ("Key2".into(), " two".into()),
        ]
    );
    // Invalid UTF-8 (a Latin-1 caller name) is replaced, not an error.
    let decoded = decode(b"Event: Newchannel\r\nCallerIDName: Jos\xe9\r\n\r\n");
    assert_eq!(decoded[0].get("CallerIDName"), Some("Jos\u{fffd}"));
    // Asterisk 22 itself sends a stray empty line after the MIXMONITOR_END TestEvent:
    // it makes no message of its own.
    let stray = ANSWERED_CALL.windows(6).position(|w| w == b"\r\n\r\n\r\n");
    assert!(stray.is_some(), "the capture has the stray empty line");
    assert!(
        decode(ANSWERED_CALL)
            .iter()
            .all(|m| !m.headers().is_empty())
    );
    // Empty lines between messages are skipped.
    assert_eq!(
        decode(b"\r\n\r\nEvent: A\r\n\r\n\r\n\r\nEvent: B\n\n").len(),
        2
    );
}

#[test]
fn over_long_line_is_an_error_even_before_its_end_arrives() {
    let limits = Limits {
        max_line_bytes: 100,
        ..Limits::default()
    };
    let long = format!("Event: {}\r\n\r\n", "x".repeat(93));
    assert_eq!(
        decode_chunks(&mut AmiCodec::with_limits(limits), [long.as_bytes()])
            .unwrap()
            .len(),
        1
    );

    let too_long = format!("Event: {}\r\n\r\n", "x".repeat(94));
    let err = decode_chunks(&mut AmiCodec::with_limits(limits), [too_long.as_bytes()]).unwrap_err();
    assert!(
        matches!(err, CodecError::LineTooLong { limit: 100 }),
        "{err}"
    );

    // No line end ever: refused once the buffer is past the limit, not at the end.
    let mut codec = AmiCodec::with_limits(limits);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[b'a'; 101]);
    assert!(codec.decode(&mut buf).unwrap().is_none());
    buf.extend_from_slice(b"a");
    assert!(matches!(
        codec.decode(&mut buf),
        Err(CodecError::LineTooLong { .. })
    ));

    // The default limit holds against a huge line with no end.
    let mut codec = AmiCodec::new();
    let mut buf = BytesMut::from(&b"Event: "[..]);
    let err = loop {
        buf.extend_from_slice(&[b'x'; 4096]);
        match codec.decode(&mut buf) {
            Ok(None) => assert!(buf.len() < 64 * 1024, "buffered {} bytes", buf.len()),
            Ok(Some(_)) => panic!("no message expected"),
            Err(err) => break err,
        }
    };
    assert!(matches!(err, CodecError::LineTooLong { .. }));
}

#[test]
fn too_many_headers_or_bytes_in_a_message_is_an_error() {
    let limits = Limits {
        max_headers: 10,
        ..Limits::default()
    };
    let message = |headers: usize| {
        let mut text = String::from("Event: Big\r\n");
        for n in 1..headers {
            text.push_str(&format!("H{n}: v\r\n"));
        }
        text + "\r\n"
    };
    let ok = message(10);
    assert_eq!(
        decode_chunks(&mut AmiCodec::with_limits(limits), [ok.as_bytes()])
            .unwrap()
            .len(),
        1
    );
    let bad = message(11);
    let err = decode_chunks(&mut AmiCodec::with_limits(limits), [bad.as_bytes()]).unwrap_err();
    assert!(
        matches!(err, CodecError::TooManyHeaders { limit: 10 }),
        "{err}"
    );

    // The default limit: an endless message is refused.
    let endless = message(5000);
    let err = decode_chunks(&mut AmiCodec::new(), [endless.as_bytes()]).unwrap_err();
    assert!(
        matches!(err, CodecError::TooManyHeaders { limit: 1024 }),
        "{err}"
    );

    let limits = Limits {
        max_message_bytes: 1000,
        ..Limits::default()
    };
    let big = format!(
        "Event: Big\r\nA: {}\r\nB: {}\r\n\r\n",
        "x".repeat(500),
        "y".repeat(500)
    );
    let err = decode_chunks(&mut AmiCodec::with_limits(limits), [big.as_bytes()]).unwrap_err();
    assert!(
        matches!(err, CodecError::MessageTooLarge { limit: 1000 }),
        "{err}"
    );
}

#[test]
fn stream_ending_inside_a_message_is_an_error() {
    let cut = &ANSWERED_CALL[..ANSWERED_CALL.len() - 30];
    let err = decode_chunks(&mut AmiCodec::new(), [cut]).unwrap_err();
    assert!(matches!(err, CodecError::Truncated), "{err}");
    // A stream ending right after a message is fine.
    assert!(decode_chunks(&mut AmiCodec::new(), [&b"Event: A\r\n\r\n"[..]]).is_ok());
}

#[test]
fn encoder_writes_exact_bytes() {
    let action = Action::new("Originate")
        .unwrap()
        .action_id("disca-1")
        .unwrap()
        .header("Channel", "PJSIP/agent-1001")
        .unwrap()
        .header("Async", "true")
        .unwrap()
        .variable("V1", "a,b")
        .unwrap();
    let mut codec = AmiCodec::new();
    let mut out = BytesMut::new();
    codec.encode(&action, &mut out).unwrap();
    codec
        .encode(Action::new("Ping").unwrap(), &mut out)
        .unwrap();
    assert_eq!(
        &out[..],
        b"Action: Originate\r\nActionID: disca-1\r\nChannel: PJSIP/agent-1001\r\n\
          Async: true\r\nVariable: V1=a\\,b\r\n\r\nAction: Ping\r\n\r\n"
    );

    // What is written decodes back to the same headers.
    let decoded = decode(&out);
    assert_eq!(decoded[0].headers(), action.headers());
}
