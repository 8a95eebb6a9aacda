//! Completes Asterisk's removals of registrations in the phone directory.
//!
//! Asterisk 22's `res_config_sqlite3` deletes nothing when PJSIP removes a
//! contact (see [`super::directory`]): after an un-REGISTER (a softphone
//! signing out) or a closed WebSocket, Asterisk forgets the registration
//! but its row stays, and Asterisk then lists it again as `NonQualified`,
//! which cannot be told from a registration waiting for its first qualify:
//! a click for that salesperson would pass the reachability check and
//! ring a phone that is gone. Asterisk does announce each removal, as the
//! AMI event `ContactStatus` with `ContactStatus: Removed` (read class
//! `system`, only that event let through by the AMI user's filter); this
//! module deletes the row it names, for browser phones only (see
//! [`Directory::forget`] for why not desk phones).
//!
//! Removals while the backend is not connected are not seen; the
//! directory's trigger still replaces such a row when the phone registers
//! again, and Asterisk stops listing it when it expires.

use disca_ami::{ClientEvent, Message};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::Directory;

/// The AMI event read here.
pub const EVENT: &str = "ContactStatus";

/// Passes every event of `events` on, in order and at once, to the
/// receiver it returns; each `ContactStatus: Removed` also goes to a task
/// of its own that deletes the registration from `directory`, so a slow
/// directory (Asterisk holding its lock) never delays the call tracker.
pub fn follow(
    mut events: mpsc::UnboundedReceiver<ClientEvent>,
    directory: Directory,
) -> mpsc::UnboundedReceiver<ClientEvent> {
    let (forward, forwarded) = mpsc::unbounded_channel();
    let (removed_tx, mut removed_rx) = mpsc::unbounded_channel::<(String, String)>();
    tokio::spawn(async move {
        while let Some((aor, uri)) = removed_rx.recv().await {
            match directory.forget(&aor, &uri).await {
                Ok(rows) => debug!(aor, rows, "registration removed by Asterisk forgotten"),
                Err(error) => {
                    warn!(%error, aor, "a registration Asterisk removed stays in the directory")
                }
            }
        }
    });
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let ClientEvent::Message(message) = &event
                && let Some((aor, uri)) = removed(message)
            {
                // The deleting task ends only with this one.
                let _ = removed_tx.send((aor.to_owned(), uri.to_owned()));
            }
            if forward.send(event).is_err() {
                return;
            }
        }
    });
    forwarded
}

/// The AOR and contact URI of a `ContactStatus: Removed` event.
fn removed(message: &Message) -> Option<(&str, &str)> {
    if message.event_name() != Some(EVENT) || message.get("ContactStatus") != Some("Removed") {
        return None;
    }
    Some((message.get("AOR")?, message.get("URI")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(headers: &[(&str, &str)]) -> Message {
        Message::new(
            headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn only_a_removal_names_a_registration() {
        let removal = message(&[
            ("Event", "ContactStatus"),
            ("URI", "sip:ab@127.0.0.1:5;transport=WS"),
            ("ContactStatus", "Removed"),
            ("AOR", "acme-1005"),
            ("EndpointName", "acme-1005"),
        ]);
        assert_eq!(
            removed(&removal),
            Some(("acme-1005", "sip:ab@127.0.0.1:5;transport=WS"))
        );
        let reachable = message(&[
            ("Event", "ContactStatus"),
            ("URI", "sip:ab@127.0.0.1:5"),
            ("ContactStatus", "Reachable"),
            ("AOR", "acme-1005"),
        ]);
        assert_eq!(removed(&reachable), None);
        let hangup = message(&[
            ("Event", "Hangup"),
            ("ContactStatus", "Removed"),
            ("AOR", "x"),
            ("URI", "y"),
        ]);
        assert_eq!(removed(&hangup), None);
    }

    #[tokio::test]
    async fn every_event_is_passed_on_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let directory = Directory::open(&dir.path().join("phones.sqlite3"))
            .await
            .unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut passed = follow(rx, directory);
        let removal = message(&[
            ("Event", "ContactStatus"),
            ("ContactStatus", "Removed"),
            ("AOR", "acme-1005"),
            ("URI", "sip:ab@127.0.0.1:5"),
        ]);
        let hangup = message(&[("Event", "Hangup"), ("Uniqueid", "1")]);
        tx.send(ClientEvent::Connected).unwrap();
        tx.send(ClientEvent::Message(removal)).unwrap();
        tx.send(ClientEvent::Message(hangup)).unwrap();
        drop(tx);
        let mut names = Vec::new();
        while let Some(event) = passed.recv().await {
            names.push(match event {
                ClientEvent::Connected => "connected".to_owned(),
                ClientEvent::Disconnected { .. } => "disconnected".to_owned(),
                ClientEvent::Message(m) => m.event_name().unwrap_or_default().to_owned(),
            });
        }
        assert_eq!(names, ["connected", "ContactStatus", "Hangup"]);
    }
}
