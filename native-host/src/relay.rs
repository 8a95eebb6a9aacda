//! Follows the backend's event stream for the life of the port and relays
//! each `call.update` to the browser. The stream's first event
//! (`stream.start`) carries the resume point; after a drop the relay
//! reconnects with `Last-Event-ID`, so nothing that happened meanwhile is
//! lost. Reconnections back off (with jitter) when the backend is down or
//! keeps closing the stream; a change of login starts over from scratch.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use disca_protocol::Call;
use futures::StreamExt;

use crate::backend::BackendError;
use crate::session::Session;

/// Pauses before reconnecting: 1 s, 2 s, 4 s... up to 30 s, each between
/// half and all of that (jitter, so a fleet of hosts does not reconnect in
/// lockstep after a backend restart). backon's jitter adds up to the step
/// again, hence the halves.
const RECONNECT: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(500))
    .with_max_delay(Duration::from_secs(15))
    .with_jitter()
    .without_max_times();
/// The pause should the delays ever run out.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// How often a host without a usable login looks for a new one, and a
/// following host re-reads its settings (to notice a `logout`).
const LOGIN_RECHECK: Duration = Duration::from_secs(15);
/// A stream that lasted less than this before closing counts as a failure,
/// so a backend (or proxy) that keeps closing it is not hammered.
const STABLE_STREAM: Duration = Duration::from_secs(30);

/// Runs until the process ends.
pub async fn follow(session: &Session) {
    let mut login_changes = session.login_changes();
    let mut generation = *login_changes.borrow_and_update();
    let mut last_event_id: Option<String> = None;
    let mut delays = RECONNECT.build();
    loop {
        let current = *login_changes.borrow_and_update();
        if current != generation {
            generation = current;
            // Resume points belong to the previous login's backend.
            last_event_id = None;
            delays = RECONNECT.build();
        }
        let client = match session.client().await {
            Ok(client) => client,
            Err(_) => {
                pause(&mut login_changes, LOGIN_RECHECK).await;
                continue;
            }
        };
        let opened = Instant::now();
        match client.events(last_event_id.as_deref()).await {
            Ok(mut stream) => {
                session.set_reachable();
                if last_event_id.is_none() {
                    // A fresh start: learn the call in progress, if any.
                    let user = session.user_id().unwrap_or_default();
                    match client.recent_calls(1, &user).await {
                        Ok(calls) => {
                            if let Some(call) = calls.into_iter().find(Call::is_live) {
                                session.call_updated(call);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot read the latest call"),
                    }
                }
                let mut recheck = tokio::time::interval(LOGIN_RECHECK);
                recheck.reset();
                loop {
                    tokio::select! {
                        item = stream.next() => match item {
                            Some(Ok(event)) => {
                                session.set_reachable();
                                if !event.id.is_empty() {
                                    last_event_id = Some(event.id);
                                }
                                if event.event == "call.update" {
                                    match serde_json::from_str::<Call>(&event.data) {
                                        Ok(call) => session.call_updated(call),
                                        Err(e) => tracing::warn!(error = %e, "unreadable call.update"),
                                    }
                                }
                            }
                            Some(Err(e)) => {
                                tracing::warn!(error = %e, "event stream broke");
                                break;
                            }
                            None => {
                                tracing::info!("event stream ended");
                                break;
                            }
                        },
                        _ = login_changes.changed() => {
                            tracing::info!("login changed; following the new one");
                            break;
                        }
                        _ = recheck.tick() => {
                            session.refresh_login().await;
                        }
                    }
                }
                if opened.elapsed() < STABLE_STREAM {
                    let delay = delays.next().unwrap_or(MAX_RETRY);
                    pause(&mut login_changes, delay).await;
                } else {
                    delays = RECONNECT.build();
                }
            }
            Err(BackendError::Unauthorized) => {
                session.token_refused().await;
                pause(&mut login_changes, LOGIN_RECHECK).await;
            }
            Err(e @ BackendError::Api { .. }) => {
                // The backend answers but refuses the stream: not a network
                // problem; retry slowly.
                session.set_reachable();
                tracing::error!(error = %e, "the backend refused the event stream");
                let delay = delays.next().unwrap_or(MAX_RETRY);
                pause(&mut login_changes, delay.max(LOGIN_RECHECK)).await;
            }
            Err(e) => {
                session.set_unreachable(&e.to_string());
                let delay = delays.next().unwrap_or(MAX_RETRY);
                pause(&mut login_changes, delay).await;
            }
        }
    }
}

/// Sleeps `duration`, or less if the login changes meanwhile.
async fn pause(login_changes: &mut tokio::sync::watch::Receiver<u64>, duration: Duration) {
    let _ = tokio::time::timeout(duration, login_changes.changed()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_grow_to_a_ceiling_with_jitter() {
        let delays: Vec<f64> = RECONNECT
            .build()
            .take(40)
            .map(|d| d.as_secs_f64())
            .collect();
        for (failures, max) in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (40, 30.0)] {
            let d = delays[failures - 1];
            // backon computes in f32 seconds: a microsecond either way.
            assert!(d >= max / 2.0 - 1e-6 && d <= max + 1e-6, "{failures}: {d}");
        }
    }
}
