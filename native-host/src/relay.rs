//! Follows the backend's event stream for the life of the port and relays
//! each `call.update` to the browser, reconnecting with backoff and resuming
//! with `Last-Event-ID` so no change is lost across a drop.

use std::time::Duration;

use disca_protocol::Call;
use futures::StreamExt;
use rand::Rng;

use crate::backend::BackendError;
use crate::session::Session;

const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);
/// How often a host without a usable token looks for a new login.
const LOGIN_RECHECK: Duration = Duration::from_secs(15);

/// Runs until the process ends.
pub async fn follow(session: &Session) {
    let mut last_event_id: Option<String> = None;
    let mut failures = 0u32;
    loop {
        let client = match session.client().await {
            Ok(client) => client,
            Err(_) => {
                tokio::time::sleep(LOGIN_RECHECK).await;
                continue;
            }
        };
        match client.events(last_event_id.as_deref()).await {
            Ok(mut stream) => {
                session.set_reachable();
                failures = 0;
                if last_event_id.is_none() {
                    // Nothing to resume from: learn the call in progress, if any.
                    match client.recent_calls(1).await {
                        Ok(calls) => {
                            if let Some(call) = calls.into_iter().find(Call::is_live) {
                                session.call_updated(call);
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot read the latest call"),
                    }
                }
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(event) if event.event == "call.update" => {
                            if !event.id.is_empty() {
                                last_event_id = Some(event.id);
                            }
                            match serde_json::from_str::<Call>(&event.data) {
                                Ok(call) => session.call_updated(call),
                                Err(e) => tracing::warn!(error = %e, "unreadable call.update"),
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "event stream broke");
                            break;
                        }
                    }
                }
                tracing::info!("event stream ended; reconnecting");
            }
            Err(BackendError::Unauthorized) => {
                session.token_refused().await;
                tokio::time::sleep(LOGIN_RECHECK).await;
            }
            Err(e) => {
                session.set_unreachable(&e.to_string());
                failures += 1;
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    }
}

/// 1 s, 2 s, 4 s... up to 30 s, each between half and all of that (jitter, so
/// a fleet of hosts does not reconnect in lockstep after a backend restart).
fn backoff(failures: u32) -> Duration {
    let full = FIRST_RETRY
        .saturating_mul(1 << failures.saturating_sub(1).min(5))
        .min(MAX_RETRY);
    full.mul_f64(rand::rng().random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_ceiling_with_jitter() {
        for (failures, max) in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 30.0), (40, 30.0)] {
            let d = backoff(failures).as_secs_f64();
            assert!(d >= max / 2.0 && d <= max, "{failures}: {d}");
        }
    }
}
