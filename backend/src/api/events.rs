//! `GET /v1/events`: every state change of the caller's calls (a manager's:
//! the whole tenant's) as Server-Sent Events, resumable with `Last-Event-ID`.
//!
//! The stream subscribes to live changes first, then replays the stored log
//! after the client's last id, then follows live changes, skipping any `seq`
//! already sent; a subscriber that falls behind catches up from the log. So
//! every change is delivered once, in order.
//!
//! Event ids count the tenant's events only ([`Store::resume_point`]), so a
//! stream does not show how busy other tenants are. Open streams are capped
//! per user and per tenant ([`super::streams`]); a stream writes a comment
//! every `keep_alive` so proxies (and the server's own idle timeout) never
//! take it for idle, and ends at shutdown.
//!
//! [`Store::resume_point`]: crate::storage::Store::resume_point

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::auth::CurrentToken;
use super::error::ApiError;
use crate::domain::Role;
use crate::storage::StoreError;

use disca_protocol::ErrorBody;

const REPLAY_PAGE: u32 = 500;

/// How often an idle stream writes a keep-alive comment, by default.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Live call changes (`event: call.update`, `id: <seq>`, `data: <call JSON>`),
/// after a first `event: stream.start` whose `id` is the resume point.
#[utoipa::path(
    get, path = "/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id")),
    responses(
        (status = 200, description = "text/event-stream: `stream.start` (its id is the resume point), then `call.update` events whose data is a Call", content_type = "text/event-stream"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, description = "`too_many_streams`: the user's or the tenant's cap of open streams is reached (`Retry-After`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn stream_events(
    State(state): State<AppState>,
    CurrentToken { hash, user }: CurrentToken,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| ApiError::malformed("Last-Event-ID inválido"))?,
        ),
    };
    let tenant = user.tenant.slug.to_string();
    let slot = state.streams.acquire(&user.id, &tenant)?;
    let mut closing = state.streams.closing();
    let mut live = state.store.subscribe();
    let store = state.store.clone();
    let only_user = (user.role == Role::Agent).then(|| user.id.clone());
    let user_id = user.id.clone();
    // Whoever loses access (disabled, token revoked) loses the stream as
    // soon as this backend learns of it (see `Revocations`).
    let mut revoked = state.revocations.subscribe();
    // Without Last-Event-ID the stream starts now: nothing is replayed.
    let start = store.resume_point(&tenant, last_event_id).await?;
    let stream = async_stream::stream! {
        // Held while the stream is open.
        let _slot = slot;
        // The resume point, so a client that connected without one can
        // resume after a drop without missing what happened meanwhile.
        yield Ok(Event::default().event("stream.start").id(start.to_string()).data("{}"));
        let mut sent = start;
        'replay: loop {
            loop {
                match store.events_after(&tenant, only_user.as_deref(), sent, REPLAY_PAGE).await {
                    Ok(page) => {
                        let full = page.len() == REPLAY_PAGE as usize;
                        for (id, payload) in page {
                            sent = id;
                            yield Ok(call_event(id, payload));
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
                let received = tokio::select! {
                    biased;
                    _ = async { closing.wait_for(|c| *c).await.map(|_| ()) } => break 'replay,
                    changed = revoked.changed() => {
                        if changed.is_err() {
                            break 'replay;
                        }
                        if matches!(store.user_by_token_hash(&hash).await, Err(StoreError::NotFound)) {
                            tracing::info!(user = %user_id, "access taken away; closing the event stream");
                            break 'replay;
                        }
                        continue;
                    }
                    received = live.recv() => received,
                };
                match received {
                    Ok(event) => {
                        let visible = event.call.tenant == tenant
                            && only_user.as_ref().is_none_or(|u| *u == event.call.user_id);
                        if !visible || event.tenant_seq <= sent {
                            continue;
                        }
                        sent = event.tenant_seq;
                        match serde_json::to_string(&event.call) {
                            Ok(payload) => yield Ok(call_event(event.tenant_seq, payload)),
                            Err(e) => tracing::error!(error = %e, "cannot encode call"),
                        }
                    }
                    Err(RecvError::Lagged(_)) => continue 'replay,
                    Err(RecvError::Closed) => break 'replay,
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(state.sse_keep_alive)))
}

fn call_event(id: i64, payload: String) -> Event {
    Event::default()
        .event("call.update")
        .id(id.to_string())
        .data(payload)
}
