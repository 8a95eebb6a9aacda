//! Registration trunks at the PBX: a carrier that wants the PBX to
//! register (instead of knowing it by its address) gets a `registration`
//! row in the phone directory, and Asterisk is told about it with the
//! AMI user's existing rights.
//!
//! `res_pjsip_outbound_registration` holds a registration's state (and its
//! timer) in memory. It creates or replaces that state whenever the
//! registration object is retrieved — its sorcery apply handler runs on
//! every realtime read — and only a reload or such a read looks at the
//! table. So, without a reload (which needs the `system` or `config`
//! class, and `config` also writes configuration files):
//! - a new or changed registration: `PJSIPShowRegistrationsOutbound` reads
//!   every registration, which makes the new state (a changed one replaces
//!   the old, which unregisters); `PJSIPRegister` then registers at once
//!   (a new state would wait a random 1–10 s), and starts again a state
//!   that an earlier removal stopped and the read reused unchanged;
//! - a removed one: `PJSIPUnregister` unregisters it and stops its timer
//!   (its state stays in memory, stopped, until Asterisk next reloads).
//!
//! The three actions are registered with the `system` and `reporting`
//! classes, and Asterisk runs an action for a user with any one of them:
//! the AMI user's `reporting` right (already there for `CoreShowChannels`)
//! suffices.

use disca_ami::{Action, AmiError, Client};

use crate::phones::directory::RegistrationChange;

/// The AMI action that lists (and so applies) every registration.
pub const LIST: &str = "PJSIPShowRegistrationsOutbound";

/// Tells Asterisk what writing the registration `trunk` (the trunk's
/// endpoint name, which is also the registration's) did.
pub async fn apply(
    client: &Client,
    trunk: &str,
    change: RegistrationChange,
) -> Result<(), AmiError> {
    match change {
        RegistrationChange::Unchanged => Ok(()),
        RegistrationChange::Added | RegistrationChange::Changed => {
            client.send_list(Action::new(LIST)?).await?;
            register(client, trunk).await
        }
        RegistrationChange::Removed => {
            let unregister = Action::new("PJSIPUnregister")?.header("Registration", trunk)?;
            match client.send(unregister).await {
                // Asterisk never knew it (it restarted since): nothing to stop.
                Err(AmiError::Rejected { message }) => {
                    tracing::info!(trunk, message, "no registration to stop");
                    Ok(())
                }
                other => other.map(drop),
            }
        }
    }
}

/// Starts `trunk`'s registration now.
async fn register(client: &Client, trunk: &str) -> Result<(), AmiError> {
    let action = Action::new("PJSIPRegister")?.header("Registration", trunk)?;
    client.send(action).await.map(drop)
}

/// The registration's status as Asterisk reports it (`Registered`,
/// `Unregistered`, `Rejected`, `Stopped`...), `None` when Asterisk does not
/// know it.
pub async fn status(client: &Client, trunk: &str) -> Result<Option<String>, AmiError> {
    let items = client.send_list(Action::new(LIST)?).await?;
    Ok(items
        .iter()
        .find(|item| {
            item.event_name() == Some("OutboundRegistrationDetail")
                && item.get("ObjectName") == Some(trunk)
        })
        .and_then(|item| item.get("Status"))
        .map(str::to_owned))
}

/// Stops `trunk`'s registration if Asterisk still runs it (a removal it
/// was not told about: the PBX was unreachable when the console saved).
pub async fn stop_if_running(client: &Client, trunk: &str) -> Result<(), AmiError> {
    match status(client, trunk).await? {
        Some(status) if status != "Stopped" => {
            apply(client, trunk, RegistrationChange::Removed).await
        }
        _ => Ok(()),
    }
}

/// Stops `trunk`'s registration after its row left this PBX's directory
/// (its tenant moved to another PBX). Asterisk no longer lists it then, but
/// may still run it from memory: it is unregistered by name. A
/// registration Asterisk still lists comes from a site file of the same
/// name, and is left alone.
pub async fn stop_removed(client: &Client, trunk: &str) -> Result<(), AmiError> {
    let items = client.send_list(Action::new(LIST)?).await?;
    let listed = items.iter().any(|item| {
        item.event_name() == Some("OutboundRegistrationDetail")
            && item.get("ObjectName") == Some(trunk)
    });
    if listed {
        return Ok(());
    }
    apply(client, trunk, RegistrationChange::Removed).await
}

/// Brings Asterisk in line with the directory, once connected after the
/// backend starts: every registration is read (so a new or changed one the
/// PBX was not told about is applied), and one Asterisk still runs for a
/// console trunk that no longer registers (`stale`) is stopped.
pub async fn reconcile(client: &Client, stale: &[String]) -> Result<(), AmiError> {
    let items = client.send_list(Action::new(LIST)?).await?;
    for item in &items {
        let (Some("OutboundRegistrationDetail"), Some(name)) =
            (item.event_name(), item.get("ObjectName"))
        else {
            continue;
        };
        if stale.iter().any(|t| t == name) && item.get("Status") != Some("Stopped") {
            apply(client, name, RegistrationChange::Removed).await?;
        }
    }
    Ok(())
}
