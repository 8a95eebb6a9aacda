//! Can the agent's phone ring? Asked before a click is stored, so that a
//! phone that is not connected gets a clear refusal and nothing rings.
//!
//! Everything is read with AMI `Getvar` of dialplan functions (write class
//! `call`/`reporting`, which the AMI user already has: no read class and no
//! event is added):
//!
//! 1. `DEVICE_STATE(PJSIP/<endpoint>)`: anything but `UNAVAILABLE` or
//!    `INVALID` means the phone can ring (one round trip, the usual case).
//!    `INVALID` means no such endpoint: offline.
//! 2. `UNAVAILABLE` also covers a phone that has just registered and has
//!    not answered its first qualify yet, so the registrations are read:
//!    `PJSIP_ENDPOINT(<endpoint>,aors)`, each AOR's
//!    `PJSIP_AOR(<aor>,contact)`, each contact's
//!    `PJSIP_CONTACT(<contact>,status)`. Offline only when no contact is
//!    left that is not `Unreachable`.
//!
//! The check answers "offline" only when Asterisk said so: an error or no
//! answer within [`REACHABILITY_TIMEOUT`] lets the call go on, and the
//! Originate reports what happens.

use std::time::Duration;

use disca_ami::{Action, AmiError, Client};

/// The longest a click waits for the answer.
pub const REACHABILITY_TIMEOUT: Duration = Duration::from_secs(1);

/// Whether `device` (`PJSIP/<endpoint>`) certainly cannot ring.
pub async fn offline(client: &Client, endpoint: &str) -> bool {
    match tokio::time::timeout(REACHABILITY_TIMEOUT, ask(client, endpoint)).await {
        Ok(Ok(offline)) => offline,
        Ok(Err(error)) => {
            tracing::warn!(%error, endpoint, "the phone's reachability was not read");
            false
        }
        Err(_) => {
            tracing::warn!(
                endpoint,
                "the phone's reachability was not answered in time"
            );
            false
        }
    }
}

async fn ask(client: &Client, endpoint: &str) -> Result<bool, AmiError> {
    let state = getvar(client, &format!("DEVICE_STATE(PJSIP/{endpoint})")).await?;
    tracing::debug!(endpoint, state, "agent device state");
    match state.as_str() {
        "INVALID" => return Ok(true),
        "UNAVAILABLE" => {}
        _ => return Ok(false),
    }
    let aors = getvar(client, &format!("PJSIP_ENDPOINT({endpoint},aors)")).await?;
    for aor in list(&aors) {
        let contacts = getvar(client, &format!("PJSIP_AOR({aor},contact)")).await?;
        for contact in list(&contacts) {
            let status = getvar(client, &format!("PJSIP_CONTACT({contact},status)")).await?;
            tracing::debug!(endpoint, contact, status, "agent contact");
            if status != "Unreachable" {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

/// The names in a comma-separated list Asterisk returned, keeping only
/// those safe to put back into a function's argument (no comma, no
/// parenthesis, nothing outside printable ASCII).
fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|name| {
        !name.is_empty()
            && name.bytes().all(|b| {
                b.is_ascii_graphic() && !matches!(b, b'(' | b')' | b',' | b'$' | b'{' | b'}')
            })
    })
}

async fn getvar(client: &Client, variable: &str) -> Result<String, AmiError> {
    let action = Action::new("Getvar")?.header("Variable", variable)?;
    let answer = client.send(action).await?;
    Ok(answer.get("Value").unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_only_names_safe_to_ask_about() {
        let names: Vec<&str> =
            list("acme-1005;@0f584a17d2, evil)(x ,${X},  ,acme-1005;@abc").collect();
        assert_eq!(names, ["acme-1005;@0f584a17d2", "acme-1005;@abc"]);
        assert_eq!(list("").count(), 0);
    }
}
