//! One message received from Asterisk: an ordered list of `Key: Value` headers.

/// What a message is, decided by its first header key (compared case-insensitively).
///
/// `OriginateResponse` starts with `Event:` and is therefore an [`MessageKind::Event`],
/// even though it also carries `Response:` and `ActionID:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// First key is `Response`: the answer to an action.
    Response,
    /// First key is `Event`.
    Event,
    /// Anything else (an empty message, or a first key Asterisk does not normally send).
    Other,
}

/// A message from Asterisk.
///
/// Headers keep their order and their original spelling; lookups compare keys
/// case-insensitively and repeated keys (`Variable`, `ChanVariable`, `Output`) are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    headers: Vec<(String, String)>,
}

impl Message {
    /// Builds a message from headers in wire order.
    pub fn new(headers: Vec<(String, String)>) -> Message {
        Message { headers }
    }

    /// Classifies the message by its first key.
    pub fn kind(&self) -> MessageKind {
        match self.headers.first() {
            Some((key, _)) if key.eq_ignore_ascii_case("Response") => MessageKind::Response,
            Some((key, _)) if key.eq_ignore_ascii_case("Event") => MessageKind::Event,
            _ => MessageKind::Other,
        }
    }

    /// The first value of `key`, compared case-insensitively.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` in wire order, compared case-insensitively.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// All headers in wire order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The `Event` value when the message is an event.
    pub fn event_name(&self) -> Option<&str> {
        match self.kind() {
            MessageKind::Event => self.headers.first().map(|(_, v)| v.as_str()),
            MessageKind::Response | MessageKind::Other => None,
        }
    }

    /// The `ActionID` value, if any.
    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }

    /// The `Response` value of a response (`Success`, `Error`, `Goodbye`...).
    pub fn response(&self) -> Option<&str> {
        match self.kind() {
            MessageKind::Response => self.headers.first().map(|(_, v)| v.as_str()),
            MessageKind::Event | MessageKind::Other => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(headers: &[(&str, &str)]) -> Message {
        Message::new(
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn classifies_by_first_key_only() {
        let originate_response = message(&[
            ("Event", "OriginateResponse"),
            ("ActionID", "7"),
            ("Response", "Failure"),
        ]);
        assert_eq!(originate_response.kind(), MessageKind::Event);
        assert_eq!(originate_response.event_name(), Some("OriginateResponse"));
        assert_eq!(originate_response.response(), None);

        let response = message(&[("response", "Success"), ("Event", "Odd")]);
        assert_eq!(response.kind(), MessageKind::Response);
        assert_eq!(response.event_name(), None);
        assert_eq!(response.response(), Some("Success"));

        assert_eq!(message(&[("Foo", "x")]).kind(), MessageKind::Other);
        assert_eq!(Message::default().kind(), MessageKind::Other);
    }

    #[test]
    fn keys_are_case_insensitive_and_repeats_are_kept() {
        let m = message(&[
            ("Event", "VarSet"),
            ("ActionId", "abc"),
            ("ChanVariable", "A=1"),
            ("CHANVARIABLE", "B=2"),
        ]);
        assert_eq!(m.action_id(), Some("abc"));
        assert_eq!(m.get("actionid"), Some("abc"));
        assert_eq!(m.get("chanvariable"), Some("A=1"));
        assert_eq!(
            m.get_all("ChanVariable").collect::<Vec<_>>(),
            ["A=1", "B=2"]
        );
        assert_eq!(m.get("Missing"), None);
        assert_eq!(m.headers()[3], ("CHANVARIABLE".into(), "B=2".into()));
    }
}
