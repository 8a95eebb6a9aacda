//! `GET /v1/events`: every state change of the caller's calls (a manager's:
//! the whole tenant's) as Server-Sent Events, resumable with `Last-Event-ID`.
//!
//! The stream subscribes to live changes first, then replays the stored log
//! after the client's last id, then follows live changes, skipping any `seq`
//! already sent; a subscriber that falls behind catches up from the log. So
//! every change is delivered once, in order.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::auth::CurrentUser;
use super::error::ApiError;
use crate::domain::Role;
use disca_protocol::ErrorBody;

const REPLAY_PAGE: u32 = 500;

/// Live call changes (`event: call.update`, `id: <seq>`, `data: <call JSON>`),
/// after a first `event: stream.start` whose `id` is the resume point.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "text/event-stream: `stream.start` (its id is the resume point), then `call.update` events whose data is a Call", content_type = "text/event-stream"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn stream_events(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last_seq = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::malformed("Last-Event-ID inválido"))?,
        ),
    };
    let mut live = state.store.subscribe();
    let store = state.store.clone();
    let tenant = user.tenant.slug.to_string();
    let only_user = (user.role == Role::Agent).then(|| user.id.clone());
    // Without Last-Event-ID the stream starts now: nothing is replayed.
    let start = match last_seq {
        Some(seq) => seq,
        None => store.latest_seq().await?,
    };
    let stream = async_stream::stream! {
        // The resume point, so a client that connected without one can
        // resume after a drop without missing what happened meanwhile.
        yield Ok(Event::default().event("stream.start").id(start.to_string()).data("{}"));
        let mut sent = start;
        'replay: loop {
            loop {
                match store.events_after(&tenant, only_user.as_deref(), sent, REPLAY_PAGE).await {
                    Ok(page) => {
                        let full = page.len() == REPLAY_PAGE as usize;
                        for (seq, payload) in page {
                            sent = seq;
                            yield Ok(call_event(seq, payload));
                        }
                        if !full { break; }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event replay failed; closing stream");
                        break 'replay;
                    }
                }
            }
            loop {
                match live.recv().await {
                    Ok(event) => {
                        let visible = event.call.tenant == tenant
                            && only_user.as_ref().is_none_or(|u| *u == event.call.user_id);
                        if event.seq <= sent || !visible {
                            continue;
                        }
                        sent = event.seq;
                        match serde_json::to_string(&event.call) {
                            Ok(payload) => yield Ok(call_event(event.seq, payload)),
                            Err(e) => tracing::error!(error = %e, "cannot encode call"),
                        }
                    }
                    Err(RecvError::Lagged(_)) => continue 'replay,
                    Err(RecvError::Closed) => break 'replay,
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn call_event(seq: i64, payload: String) -> Event {
    Event::default()
        .event("call.update")
        .id(seq.to_string())
        .data(payload)
}
