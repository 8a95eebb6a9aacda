//! `GET /manager/api/live`: the live board, who is on a call right now —
//! ringing or talking, for how long, to which contact and deal — as
//! Server-Sent Events on the manager's session.
//!
//! The stream starts with the whole board (the tenant's calls not yet
//! ended, read in one snapshot with the id of the last change they
//! reflect), then follows the tenant's changes after that id through the
//! same follower as `/v1/events` ([`crate::api::events::Following`]): each
//! change is a row that moved on, or a call that ended and leaves. A
//! reconnection starts again from a whole board, so nothing needs resuming.
//! Events carry no name (the page reads them as plain messages) and are
//! JSON whose one key says what they are: `board`, `row` or `ended`.
//!
//! The stream counts against the same caps as `/v1/events`, and ends when
//! the session does: at logout or when access is taken away (at once on
//! this backend), or when the session expires (within [`SESSION_RECHECK`]).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Serialize;
use time::OffsetDateTime;

use super::session::{Manager, session_hash};
use super::view::{Team, deal};
use crate::api::events::Following;
use crate::api::{ApiError, AppState};
use crate::domain::phone::national_format;
use crate::domain::{Call, CallState};
use crate::storage::StoreError;

/// How often an open board checks that its session is still live.
pub const SESSION_RECHECK: Duration = Duration::from_secs(30);

/// How soon the browser reconnects after the stream drops.
const RECONNECT: Duration = Duration::from_secs(1);

/// A call on the board.
#[derive(Debug, Clone, Serialize)]
pub struct LiveRow {
    pub id: String,
    pub user_id: String,
    pub salesperson: String,
    /// `(11) 98765-4321`.
    pub number: String,
    pub contact: Option<String>,
    pub deal_url: Option<String>,
    /// Where the call is: `Chamando o vendedor`, `Chamando o cliente`,
    /// `Em conversa`...
    pub phase: &'static str,
    /// Both sides are talking.
    pub talking: bool,
    /// Seconds in this phase when the row was sent (the page counts on
    /// from there, so its clock need not agree with the server's).
    pub phase_seconds: i64,
    /// Seconds since the call was asked for.
    pub call_seconds: i64,
}

/// One message of the board's stream.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BoardUpdate {
    /// Every live call, oldest first: the board is replaced.
    Board(Vec<LiveRow>),
    /// A call is new, or moved on.
    Row(LiveRow),
    /// The call with this id ended: its row leaves.
    Ended(String),
}

/// `call` on the board at `now`.
pub fn live_row(call: &Call, team: &Team, now: OffsetDateTime) -> LiveRow {
    let phase_start = match call.state {
        CallState::Queued | CallState::RingingAgent | CallState::Ended => call.created_at,
        CallState::DialingLead | CallState::RingingLead => call
            .lead_dialed_at
            .or(call.agent_answered_at)
            .unwrap_or(call.created_at),
        CallState::Connected => call
            .lead_answered_at
            .or(call.lead_dialed_at)
            .unwrap_or(call.created_at),
    };
    let seconds = |since: OffsetDateTime| (now - since).whole_seconds().max(0);
    LiveRow {
        id: call.id.clone(),
        user_id: call.user_id.clone(),
        salesperson: team.name(&call.user_id),
        number: national_format(&call.to),
        contact: call.context.contact_name.clone(),
        deal_url: deal(call).1,
        phase: call.state.for_manager(),
        talking: call.state == CallState::Connected,
        phase_seconds: seconds(phase_start),
        call_seconds: seconds(call.created_at),
    }
}

/// The board, then its changes.
pub async fn live(
    State(state): State<AppState>,
    Manager(user): Manager,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let session = session_hash(&headers).ok_or_else(ApiError::session_required)?;
    let tenant = user.tenant.slug.to_string();
    let slot = state.streams.acquire(&user.id, &tenant)?;
    let following =
        Following::subscribe(&state, tenant.clone(), None).rechecking_every(SESSION_RECHECK);
    let (start, calls) = state.store.live_board(&tenant).await?;
    let mut team = Team::new(&state.store.team(&tenant).await?);
    let store = state.store.clone();
    let changes = following.after(start, move || {
        let (store, session) = (store.clone(), session.clone());
        async move {
            match store
                .manager_session(&session, OffsetDateTime::now_utc())
                .await
            {
                Ok(_) => true,
                Err(StoreError::NotFound) => false,
                // The database is busy or down: the stream stays; the next
                // check decides.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check a live board's session");
                    true
                }
            }
        }
    });
    let store = state.store.clone();
    let stream = async_stream::stream! {
        // Held while the stream is open.
        let _slot = slot;
        let now = OffsetDateTime::now_utc();
        let board = calls.iter().map(|call| live_row(call, &team, now)).collect();
        yield Ok(message(&BoardUpdate::Board(board)).retry(RECONNECT));
        for await change in changes {
            let call = match change.call() {
                Ok(call) => call,
                Err(e) => {
                    tracing::error!(error = %e, "a stored call event does not parse");
                    continue;
                }
            };
            if !call.is_live() {
                yield Ok(message(&BoardUpdate::Ended(call.id)));
                continue;
            }
            if !team.knows(&call.user_id) {
                match store.team(&tenant).await {
                    Ok(users) => team = Team::new(&users),
                    Err(e) => tracing::warn!(error = %e, "cannot read the team's names"),
                }
            }
            let row = live_row(&call, &team, OffsetDateTime::now_utc());
            yield Ok(message(&BoardUpdate::Row(row)));
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(state.sse_keep_alive)))
}

fn message(update: &BoardUpdate) -> Event {
    match serde_json::to_string(update) {
        Ok(json) => Event::default().data(json),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode a board update");
            Event::default().comment("unencodable update")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CallContext;
    use time::macros::datetime;

    fn call(state: CallState) -> Call {
        serde_json::from_value(serde_json::json!({
            "id": "01JDISCACALL0000000000000A",
            "tenant": "acme",
            "user_id": "u1",
            "agent_endpoint": "acme-1001",
            "to": "+5511987654321",
            "state": state,
            "created_at": "2026-12-04T13:00:00Z",
            "context": CallContext {
                contact_name: Some("<b>Maria</b>".into()),
                deal_id: Some("64b7f0c2a1e4d30000000d01".into()),
                ..CallContext::default()
            },
        }))
        .unwrap()
    }

    fn team() -> Team {
        Team::from_names([("u1".to_owned(), "Ana Souza".to_owned())])
    }

    #[test]
    fn a_ringing_call_counts_from_the_click_and_a_talk_from_the_answer() {
        let now = datetime!(2026-12-04 13:01:30 UTC);
        let ringing = live_row(&call(CallState::RingingAgent), &team(), now);
        assert_eq!(ringing.phase, "Chamando o vendedor");
        assert_eq!((ringing.phase_seconds, ringing.call_seconds), (90, 90));
        assert!(!ringing.talking);
        assert_eq!(ringing.salesperson, "Ana Souza");
        assert_eq!(ringing.number, "(11) 98765-4321");
        assert_eq!(ringing.contact.as_deref(), Some("<b>Maria</b>"));
        assert_eq!(
            ringing.deal_url.as_deref(),
            Some("https://crm.rdstation.com/app/deals/64b7f0c2a1e4d30000000d01")
        );

        let mut talking = call(CallState::Connected);
        talking.agent_answered_at = Some(datetime!(2026-12-04 13:00:05 UTC));
        talking.lead_dialed_at = Some(datetime!(2026-12-04 13:00:05 UTC));
        talking.lead_answered_at = Some(datetime!(2026-12-04 13:00:20 UTC));
        let row = live_row(&talking, &team(), now);
        assert_eq!((row.phase, row.talking), ("Em conversa", true));
        assert_eq!((row.phase_seconds, row.call_seconds), (70, 90));
    }

    #[test]
    fn the_board_s_messages_say_what_they_are() {
        let now = datetime!(2026-12-04 13:00:00 UTC);
        let row = live_row(&call(CallState::Queued), &team(), now);
        let board = serde_json::to_value(BoardUpdate::Board(vec![row.clone()])).unwrap();
        assert_eq!(board["board"][0]["phase"], "Na fila");
        let moved = serde_json::to_value(BoardUpdate::Row(row)).unwrap();
        assert_eq!(moved["row"]["salesperson"], "Ana Souza");
        let ended = serde_json::to_value(BoardUpdate::Ended("x".into())).unwrap();
        assert_eq!(ended, serde_json::json!({ "ended": "x" }));
    }
}
