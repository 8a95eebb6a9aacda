//! Actions sent to Asterisk, validated header by header before anything is written.
//!
//! Asterisk reads an action line by line and has no escaping at that level, so a CR or
//! LF inside a value would end the header (or the whole action) early and let the rest
//! of the value become headers or actions of its own. Every key and value is therefore
//! checked when it is added, and a bad one is refused with an [`InvalidValue`] that
//! names the header but never repeats the value.

use std::fmt;

/// Asterisk reads at most 1024 bytes a line, CRLF included (`manager.c`, `inbuf[1025]`).
pub const MAX_LINE_BYTES: usize = 1024;

/// Asterisk keeps at most 128 headers of one action (`AST_MAX_MANHEADERS`), counting
/// `Action` and `ActionID`.
pub const MAX_HEADERS: usize = 128;

/// An action: its name followed by ordered headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// `("Action", name)` first, then `("ActionID", id)` when set, then the rest.
    headers: Vec<(String, String)>,
}

impl Action {
    /// Starts an action named `name` (`Originate`, `Hangup`, `CoreShowChannels`...).
    pub fn new(name: &str) -> Result<Action, InvalidValue> {
        check_value("Action", name)?;
        if name.is_empty() {
            return Err(InvalidValue::new("Action", Problem::EmptyValue));
        }
        Ok(Action {
            headers: vec![("Action".to_owned(), name.to_owned())],
        })
    }

    /// Appends `key: value`.
    ///
    /// Refuses an empty key, a key with anything but visible ASCII other than `:`, a
    /// value with any control character (CR, LF, NUL, TAB, DEL...), a line longer than
    /// [`MAX_LINE_BYTES`], more than [`MAX_HEADERS`] headers (one is kept for the
    /// `ActionID`), and the keys `Action` and `ActionID` (set them with [`Action::new`]
    /// and [`Action::action_id`]).
    pub fn header(mut self, key: &str, value: &str) -> Result<Action, InvalidValue> {
        check_key(key)?;
        if key.eq_ignore_ascii_case("Action") || key.eq_ignore_ascii_case("ActionID") {
            return Err(InvalidValue::new(key, Problem::ReservedKey));
        }
        check_value(key, value)?;
        let reserved_for_action_id = usize::from(self.action_id_value().is_none());
        if self.headers.len() + reserved_for_action_id >= MAX_HEADERS {
            return Err(InvalidValue::new(key, Problem::TooManyHeaders));
        }
        self.headers.push((key.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Appends one `Variable: name=value` header.
    ///
    /// Asterisk splits a `Variable` value at commas into several variables and gives
    /// `\`, `"`, parentheses and brackets a meaning (`V2=x,V3=y` sets `V3` too), so those
    /// characters are escaped with a backslash here and arrive unchanged in the
    /// channel variable. The name must be non-empty and hold no `=` and no whitespace.
    pub fn variable(self, name: &str, value: &str) -> Result<Action, InvalidValue> {
        if name.is_empty() {
            return Err(InvalidValue::new("Variable", Problem::EmptyVariableName));
        }
        if name.chars().any(|c| c == '=' || c.is_whitespace()) {
            return Err(InvalidValue::new("Variable", Problem::VariableName));
        }
        check_value("Variable", name)?;
        check_value("Variable", value)?;
        let mut escaped = String::with_capacity(name.len() + value.len() + 8);
        escape_argument(name, &mut escaped);
        escaped.push('=');
        escape_argument(value, &mut escaped);
        self.header("Variable", &escaped)
    }

    /// Sets the `ActionID` (replacing any earlier one); it goes right after `Action`.
    pub fn action_id(mut self, id: &str) -> Result<Action, InvalidValue> {
        check_value("ActionID", id)?;
        if id.is_empty() {
            return Err(InvalidValue::new("ActionID", Problem::EmptyValue));
        }
        match self.headers.get_mut(1) {
            Some((key, value)) if key == "ActionID" => *value = id.to_owned(),
            _ => self
                .headers
                .insert(1, ("ActionID".to_owned(), id.to_owned())),
        }
        Ok(self)
    }

    /// The action name.
    pub fn name(&self) -> &str {
        &self.headers[0].1
    }

    /// All headers in the order they are written, `Action` first.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    fn action_id_value(&self) -> Option<&str> {
        match self.headers.get(1) {
            Some((key, value)) if key == "ActionID" => Some(value),
            _ => None,
        }
    }
}

/// Escapes the characters that Asterisk's argument splitter (`AST_STANDARD_APP_ARGS`)
/// interprets, so that the value comes out of it unchanged.
fn escape_argument(raw: &str, out: &mut String) {
    for c in raw.chars() {
        if matches!(c, '\\' | ',' | '"' | '(' | ')' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
}

fn check_key(key: &str) -> Result<(), InvalidValue> {
    if key.is_empty() {
        return Err(InvalidValue::new(key, Problem::EmptyKey));
    }
    if let Some((at, c)) = key
        .char_indices()
        .find(|&(_, c)| !c.is_ascii_graphic() || c == ':')
    {
        return Err(InvalidValue::new(
            key,
            Problem::KeyCharacter {
                code: u32::from(c),
                at,
            },
        ));
    }
    Ok(())
}

fn check_value(key: &str, value: &str) -> Result<(), InvalidValue> {
    if let Some((at, c)) = value.char_indices().find(|&(_, c)| c.is_control()) {
        return Err(InvalidValue::new(
            key,
            Problem::ControlCharacter {
                code: u32::from(c),
                at,
            },
        ));
    }
    // `Key: Value\r\n`
    let line = key.len() + 2 + value.len() + 2;
    if line > MAX_LINE_BYTES {
        return Err(InvalidValue::new(key, Problem::LineTooLong { bytes: line }));
    }
    Ok(())
}

/// A key or value that cannot be sent to Asterisk safely.
///
/// Its message names the header and the problem (for a control character: its code
/// point and byte offset), never the value itself.
#[derive(Debug, thiserror::Error)]
#[error("invalid AMI header `{header}`: {problem}")]
pub struct InvalidValue {
    header: String,
    problem: Problem,
}

impl InvalidValue {
    pub(crate) fn new(key: &str, problem: Problem) -> InvalidValue {
        // A refused key may itself hold control characters: keep an escaped, short form.
        let header = key.chars().take(64).flat_map(char::escape_debug).collect();
        InvalidValue { header, problem }
    }

    /// The header concerned, with control characters escaped.
    pub fn header(&self) -> &str {
        &self.header
    }

    /// Why it was refused.
    pub fn problem(&self) -> Problem {
        self.problem
    }
}

/// Why an [`InvalidValue`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The key is empty.
    EmptyKey,
    /// The key holds something other than visible ASCII, or a `:`.
    KeyCharacter {
        /// Unicode code point of the character.
        code: u32,
        /// Byte offset in the key.
        at: usize,
    },
    /// `Action` and `ActionID` are set through [`Action::new`] and [`Action::action_id`].
    ReservedKey,
    /// The value holds a control character (CR, LF, NUL, TAB, DEL, C1...).
    ControlCharacter {
        /// Unicode code point of the character.
        code: u32,
        /// Byte offset in the value.
        at: usize,
    },
    /// The value must not be empty.
    EmptyValue,
    /// `Key: Value\r\n` would be longer than [`MAX_LINE_BYTES`].
    LineTooLong {
        /// Length of the line.
        bytes: usize,
    },
    /// The action would have more than [`MAX_HEADERS`] headers.
    TooManyHeaders,
    /// A variable name is empty.
    EmptyVariableName,
    /// A variable name holds `=` or whitespace.
    VariableName,
    /// A channel name starting with `/` would be read by `Hangup` as a regular
    /// expression matching any number of channels.
    ChannelPattern,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::EmptyKey => f.write_str("empty key"),
            Problem::KeyCharacter { code, at } => {
                write!(f, "key holds character U+{code:04X} at byte {at}")
            }
            Problem::ReservedKey => f.write_str("key is set by the action itself"),
            Problem::ControlCharacter { code, at } => {
                write!(f, "value holds control character U+{code:04X} at byte {at}")
            }
            Problem::EmptyValue => f.write_str("empty value"),
            Problem::LineTooLong { bytes } => write!(
                f,
                "line of {bytes} bytes is longer than Asterisk reads ({MAX_LINE_BYTES})"
            ),
            Problem::TooManyHeaders => {
                write!(f, "more than {MAX_HEADERS} headers in one action")
            }
            Problem::EmptyVariableName => f.write_str("empty variable name"),
            Problem::VariableName => f.write_str("variable name holds `=` or whitespace"),
            Problem::ChannelPattern => {
                f.write_str("channel name starts with `/` (a regular expression)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_headers_in_order_with_action_id_second() {
        let action = Action::new("Originate")
            .unwrap()
            .header("Channel", "PJSIP/agent-1001")
            .unwrap()
            .action_id("id-1")
            .unwrap()
            .action_id("id-2")
            .unwrap();
        assert_eq!(action.name(), "Originate");
        let keys: Vec<_> = action.headers().iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            keys,
            [
                ("Action", "Originate"),
                ("ActionID", "id-2"),
                ("Channel", "PJSIP/agent-1001"),
            ]
        );
    }

    #[test]
    fn refuses_control_characters_in_values() {
        for bad in [
            "a\rb",
            "a\nb",
            "a\r\nAction: Hangup",
            "a\0b",
            "a\tb",
            "\x1b[31m",
            "a\x7fb",
            "a\u{85}b",
        ] {
            let err = Action::new("Ping").unwrap().header("Foo", bad).unwrap_err();
            assert!(
                matches!(err.problem(), Problem::ControlCharacter { .. }),
                "{bad:?}"
            );
            assert_eq!(err.header(), "Foo");
            let shown = err.to_string();
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
        }
        let err = Action::new("Ping")
            .unwrap()
            .header("Foo", "ab\ncd")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid AMI header `Foo`: value holds control character U+000A at byte 2"
        );
        assert!(Action::new("Ping\r\nAction: Hangup").is_err());
        assert!(Action::new("").is_err());
        assert!(Action::new("Ping").unwrap().variable("A", "x\ny").is_err());
        assert!(Action::new("Ping").unwrap().variable("A\r", "x").is_err());
    }

    #[test]
    fn refuses_bad_keys_without_echoing_control_characters() {
        let ping = || Action::new("Ping").unwrap();
        assert_eq!(
            ping().header("", "x").unwrap_err().problem(),
            Problem::EmptyKey
        );
        for bad in ["Ke:y", "Key ", "K\ney", "K\0", "Kéy"] {
            let err = ping().header(bad, "x").unwrap_err();
            assert!(
                matches!(err.problem(), Problem::KeyCharacter { .. }),
                "{bad:?}"
            );
            assert!(!err.to_string().chars().any(char::is_control));
        }
        assert_eq!(ping().header("K\ney", "x").unwrap_err().header(), "K\\ney");
        for reserved in ["Action", "actionid", "ACTIONID"] {
            assert_eq!(
                ping().header(reserved, "x").unwrap_err().problem(),
                Problem::ReservedKey
            );
        }
    }

    #[test]
    fn enforces_asterisk_line_and_header_limits() {
        let fits = "v".repeat(MAX_LINE_BYTES - "Key: \r\n".len());
        assert!(Action::new("Ping").unwrap().header("Key", &fits).is_ok());
        let long = format!("{fits}v");
        assert_eq!(
            Action::new("Ping")
                .unwrap()
                .header("Key", &long)
                .unwrap_err()
                .problem(),
            Problem::LineTooLong { bytes: 1025 }
        );

        let mut action = Action::new("Ping").unwrap();
        for n in 0..MAX_HEADERS - 2 {
            action = action.header(&format!("H{n}"), "x").unwrap();
        }
        assert_eq!(
            action.clone().header("One", "more").unwrap_err().problem(),
            Problem::TooManyHeaders
        );
        let action = action.action_id("id").unwrap();
        assert_eq!(action.headers().len(), MAX_HEADERS);
        assert_eq!(
            action.header("One", "more").unwrap_err().problem(),
            Problem::TooManyHeaders
        );
    }

    #[test]
    fn variables_are_one_header_each_and_escaped_for_asterisk() {
        let action = Action::new("Originate")
            .unwrap()
            .variable("V1", "a,b")
            .unwrap()
            .variable("CALLERID(name)", r#"x\y"(z)[w]=1"#)
            .unwrap()
            .variable("PLAIN", "")
            .unwrap();
        let values: Vec<_> = action.headers()[1..]
            .iter()
            .map(|(k, v)| (&**k, &**v))
            .collect();
        assert_eq!(
            values,
            [
                ("Variable", r"V1=a\,b"),
                ("Variable", r#"CALLERID\(name\)=x\\y\"\(z\)\[w\]=1"#),
                ("Variable", "PLAIN="),
            ]
        );
        let ping = || Action::new("Ping").unwrap();
        assert_eq!(
            ping().variable("", "x").unwrap_err().problem(),
            Problem::EmptyVariableName
        );
        assert_eq!(
            ping().variable("A=B", "x").unwrap_err().problem(),
            Problem::VariableName
        );
        assert_eq!(
            ping().variable("A B", "x").unwrap_err().problem(),
            Problem::VariableName
        );
    }
}
