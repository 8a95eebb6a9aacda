//! `GET /v1/events`: every state change of the caller's calls (a manager's:
//! the whole tenant's) as Server-Sent Events, resumable with `Last-Event-ID`.
//!
//! [`follow`] is the part every call stream shares (this one and the
//! manager page's live board): it subscribes to live changes first, then
//! replays the stored log after the client's last id, then follows live
//! changes, skipping any `seq` already sent; a subscriber that falls behind
//! catches up from the log. So every change is delivered once, in order.
//!
//! Event ids count the tenant's events only ([`Store::resume_point`]), so a
//! stream does not show how busy other tenants are. Open streams are capped
//! per user and per tenant ([`super::streams`]); a stream writes a comment
//! every `keep_alive` so proxies (and the server's own idle timeout) never
//! take it for idle, and ends at shutdown.
//!
//! [`Store::resume_point`]: crate::storage::Store::resume_point

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use super::AppState;
use super::auth::CurrentToken;
use super::error::ApiError;
use crate::domain::Role;
use crate::storage::{CallEvent, Store, StoreError};

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
    let only_user = (user.role == Role::Agent).then(|| user.id.clone());
    let following = Following::subscribe(&state, tenant.clone(), only_user);
    // Without Last-Event-ID the stream starts now: nothing is replayed.
    let start = state.store.resume_point(&tenant, last_event_id).await?;
    let store = state.store.clone();
    let user_id = user.id.clone();
    // Whoever loses access (disabled, token revoked) loses the stream as
    // soon as this backend learns of it (see `Revocations`).
    let changes = following.after(start, move || {
        let (store, hash, user_id) = (store.clone(), hash.clone(), user_id.clone());
        async move {
            let gone = matches!(
                store.user_by_token_hash(&hash).await,
                Err(StoreError::NotFound)
            );
            if gone {
                tracing::info!(user = %user_id, "access taken away; closing the event stream");
            }
            !gone
        }
    });
    let stream = async_stream::stream! {
        // Held while the stream is open.
        let _slot = slot;
        // The resume point, so a client that connected without one can
        // resume after a drop without missing what happened meanwhile.
        yield Ok(Event::default().event("stream.start").id(start.to_string()).data("{}"));
        for await change in changes {
            yield Ok(call_event(change.seq(), change.payload()));
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(state.sse_keep_alive)))
}

fn call_event(id: i64, payload: &str) -> Event {
    Event::default()
        .event("call.update")
        .id(id.to_string())
        .data(payload)
}

/// What a call stream follows: the tenant's changes (only `only_user`'s
/// when set). Made before the stream's start is read, so no change falls
/// between the two.
pub(crate) struct Following {
    store: Store,
    live: tokio::sync::broadcast::Receiver<Arc<CallEvent>>,
    closing: watch::Receiver<bool>,
    revoked: watch::Receiver<i64>,
    tenant: String,
    only_user: Option<String>,
    recheck: Option<Duration>,
}

impl Following {
    /// Subscribes to live changes, to shutdown and to access being taken away.
    pub fn subscribe(state: &AppState, tenant: String, only_user: Option<String>) -> Following {
        Following {
            store: state.store.clone(),
            live: state.store.subscribe(),
            closing: state.streams.closing(),
            revoked: state.revocations.subscribe(),
            tenant,
            only_user,
            recheck: None,
        }
    }

    /// Also asks whether access still holds this often (for credentials
    /// that expire), besides whenever access is taken away somewhere.
    pub fn rechecking_every(mut self, every: Duration) -> Following {
        self.recheck = Some(every);
        self
    }

    /// Every change after `start` (an id from
    /// [`Store::resume_point`]), once and in order, until shutdown, until
    /// the log cannot be read, or until `allowed` (asked whenever access
    /// is taken away, and every recheck) says no.
    pub fn after<A, F>(self, start: i64, mut allowed: A) -> impl Stream<Item = Change> + use<A, F>
    where
        A: FnMut() -> F + Send + 'static,
        F: Future<Output = bool> + Send,
    {
        let Following {
            store,
            mut live,
            mut closing,
            mut revoked,
            tenant,
            only_user,
            recheck,
        } = self;
        let mut recheck = recheck.map(|every| {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        async_stream::stream! {
            let mut sent = start;
            'replay: loop {
                loop {
                    match store.events_after(&tenant, only_user.as_deref(), sent, REPLAY_PAGE).await {
                        Ok(page) => {
                            let full = page.len() == REPLAY_PAGE as usize;
                            for (seq, payload) in page {
                                sent = seq;
                                yield Change::Stored { seq, payload };
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
                            if changed.is_err() || !allowed().await {
                                break 'replay;
                            }
                            continue;
                        }
                        _ = async {
                            match recheck.as_mut() {
                                Some(tick) => { tick.tick().await; }
                                None => std::future::pending::<()>().await,
                            }
                        } => {
                            if !allowed().await {
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
                            yield Change::Live(event);
                        }
                        Err(RecvError::Lagged(_)) => continue 'replay,
                        Err(RecvError::Closed) => break 'replay,
                    }
                }
            }
        }
    }
}

/// One change of a call, in the tenant's order.
pub(crate) enum Change {
    /// Replayed from the log: the call as stored JSON.
    Stored { seq: i64, payload: String },
    /// Just committed.
    Live(Arc<CallEvent>),
}

impl Change {
    pub fn seq(&self) -> i64 {
        match self {
            Change::Stored { seq, .. } => *seq,
            Change::Live(event) => event.tenant_seq,
        }
    }

    /// The call as JSON (`call.update`'s data), as stored.
    pub fn payload(&self) -> &str {
        match self {
            Change::Stored { payload, .. } => payload,
            Change::Live(event) => &event.payload,
        }
    }

    /// The call itself.
    pub fn call(&self) -> Result<crate::domain::Call, serde_json::Error> {
        match self {
            Change::Stored { payload, .. } => serde_json::from_str(payload),
            Change::Live(event) => Ok(event.call.clone()),
        }
    }
}
