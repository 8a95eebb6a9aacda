//! Several backends sharing a PostgreSQL database: for each PBX, each places
//! calls and asks for hang-ups through its own AMI connection, but one
//! follows the PBX's calls — the one holding the PBX's [`follower_lock`], a
//! session advisory lock (`storage::SessionLock`). The others wait to take it
//! over: when the follower dies, or its lock's connection fails, another
//! takes the lock within seconds and starts a [`Tracker`] afresh, which
//! loads the calls left live from the database and reconciles them with a
//! channel listing; their events then reach it on its own AMI connection
//! (Asterisk sends every event to every session). Only a backend logged in
//! to AMI takes the lock, and a follower whose link stays down 10 s lets
//! it go.
//!
//! The follower learns the calls other backends place from the store's
//! stream of changes (`Tracker::learning_from_the_store`). A backend that
//! does not follow answers its own Originate failures from the database,
//! and passes a hang-up asked through it to the follower
//! (`Store::ask_follower_to_hang_up`), which knows the call's channels and
//! that its user asked: a call the lead has not answered ends `canceled`,
//! as through the follower itself. When nobody follows now, or the call is
//! still live well after (the ask was lost), it hangs up the call's agent
//! leg itself, by its channel id (the leg's `Uniqueid` is the call's id). On SQLite there is one backend per database, and it always
//! follows (`Pbx::start`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use disca_ami::{Action, Client, ClientEvent, Message};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::progress::Progress;
use super::tracker::{Command, Stamped, Tracker};
use crate::domain::{CallState, PbxName, call};
use crate::storage::{SessionLock, Store};
use crate::telemetry::Metrics;
use sha2::{Digest, Sha256};

/// The session advisory lock of the backend that follows the default PBX's
/// calls (an arbitrary key, "pbxtrack" in ASCII, used for nothing else).
pub const TRACKER_LOCK: i64 = 0x7062_7874_7261_636b;

/// The lock of the backend that follows `pbx`'s calls: [`TRACKER_LOCK`] for
/// the default PBX (as before there were several), else the first eight
/// bytes of a SHA-256 of its name, the same on every backend.
pub fn follower_lock(pbx: &PbxName) -> i64 {
    if pbx.is_default() {
        return TRACKER_LOCK;
    }
    let digest = Sha256::digest(format!("disca pbx follower {pbx}").as_bytes());
    let mut key = [0; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}
/// How often a backend that does not follow tries to take the lock.
const TAKE_EVERY: Duration = Duration::from_secs(1);
/// How long the follower's AMI link may stay down before it lets another
/// backend (whose link may work) follow the calls.
const STEP_DOWN_AFTER: Duration = Duration::from_secs(10);
/// How far back a backend keeps the AMI events it received, following or
/// not, for when it takes over: longer than a former follower takes to be
/// noticed gone (its lock's session ends, a try every `TAKE_EVERY`, the
/// 3 s fence), and than a restart of PostgreSQL (during which the
/// follower, losing its lock's session, stands by too, and what it had
/// applied but not stored is gone with its tracker: the calls that end
/// meanwhile are stored with their true ends once it follows again).
const RECENT_KEPT: time::Duration = time::Duration::minutes(2);
/// Most events kept: two minutes up to about 70 calls a second, less
/// beyond.
const RECENT_MAX: usize = 100_000;
/// How long a hang-up passed to the follower may take before the standby
/// hangs the call up itself: longer than the follower may be held up
/// storing changes (a write waits up to the 5 s lock timeout).
const FOLLOWER_HANGS_UP_WITHIN: Duration = Duration::from_secs(10);

/// The AMI events this backend received lately, in the order it took them
/// in, with their arrival times: every one, whether a tracker or the
/// standby loop took it, so that a new term of following applies again
/// whatever the last one may not have stored.
#[derive(Default)]
pub(super) struct Recent(VecDeque<(OffsetDateTime, Message)>);

impl Recent {
    /// Keeps `message`, which arrived `at`; forgets what is too old.
    pub(super) fn keep(&mut self, at: OffsetDateTime, message: Message) {
        let oldest = at - RECENT_KEPT;
        while self.0.front().is_some_and(|(kept, _)| *kept < oldest) || self.0.len() >= RECENT_MAX {
            self.0.pop_front();
        }
        self.0.push_back((at, message));
    }

    fn all(&self) -> Vec<(OffsetDateTime, Message)> {
        self.0.iter().cloned().collect()
    }
}

/// [`Recent`], shared by the standby loop and each term's tracker.
pub(super) type SharedRecent = Arc<Mutex<Recent>>;

/// Locks `recent`; a panic elsewhere while it was held leaves the events
/// usable.
pub(super) fn lock_recent(recent: &SharedRecent) -> std::sync::MutexGuard<'_, Recent> {
    recent
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a term of following needs.
pub(super) struct Parts {
    pub pbx: PbxName,
    pub store: Store,
    pub client: Client,
    pub metrics: Metrics,
    pub commands: mpsc::UnboundedSender<Command>,
    pub reconcile_every: Duration,
}

/// Follows the PBX's calls whenever this backend holds the lock; until
/// then (and between terms) waits for it, answering commands itself.
pub(super) async fn run(
    parts: Parts,
    mut events: mpsc::UnboundedReceiver<Stamped>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) {
    let recent = SharedRecent::default();
    loop {
        let Some(lock) = wait_for_the_lock(&parts, &recent, &mut events, &mut commands).await
        else {
            return;
        };
        let backlog = lock_recent(&recent).all();
        parts.metrics.set_pbx_following(&parts.pbx, true);
        info!(pbx = %parts.pbx, "this backend now follows the PBX's calls");
        let tracker = Tracker::new(
            parts.pbx.clone(),
            parts.store.clone(),
            parts.client.clone(),
            parts.metrics.clone(),
            parts.commands.clone(),
        )
        .learning_from_the_store()
        .with_backlog(backlog)
        .keeping_recent(recent.clone());
        tokio::select! {
            () = tracker.run(&mut events, &mut commands, parts.reconcile_every) => return,
            () = lock.lost() => {
                warn!(pbx = %parts.pbx, "this backend no longer follows the PBX's calls: its lock's connection failed");
            }
            () = link_down_for(&parts.client, STEP_DOWN_AFTER) => {
                warn!(pbx = %parts.pbx, "this backend no longer follows the PBX's calls: its AMI link is down");
            }
        }
        // The lock is released here, for a backend whose link works.
        drop(lock);
        parts.metrics.set_pbx_following(&parts.pbx, false);
        // The follower counts the live calls; this backend no longer does.
        parts.metrics.set_live_calls(&parts.pbx, 0);
    }
}

/// Waits until this backend holds the lock (`None`: the AMI client is
/// gone, the backend stopping); meanwhile keeps the AMI events in `recent`
/// (the follower applies them; a new follower applies them again, with
/// their arrival times, for what happened while nobody followed) and
/// answers commands from the database.
async fn wait_for_the_lock(
    parts: &Parts,
    recent: &SharedRecent,
    events: &mut mpsc::UnboundedReceiver<Stamped>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Option<SessionLock> {
    let mut take = tokio::time::interval(TAKE_EVERY);
    take.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut said = false;
    loop {
        tokio::select! {
            // Only a backend logged in to the PBX may follow its calls.
            _ = take.tick(), if parts.client.is_connected() => match parts.store.try_session_lock(follower_lock(&parts.pbx)).await {
                Ok(Some(lock)) => return Some(lock),
                Ok(None) => {
                    if !said {
                        info!("another backend follows the PBX's calls; standing by");
                        said = true;
                    }
                }
                Err(e) => warn!(error = %e, "cannot ask for the PBX's follower lock"),
            },
            event = events.recv() => match event {
                Some((_, ClientEvent::Connected)) => parts.metrics.set_ami_connected(&parts.pbx, true),
                Some((_, ClientEvent::Disconnected { .. })) => parts.metrics.set_ami_connected(&parts.pbx, false),
                Some((at, ClientEvent::Message(message))) => lock_recent(recent).keep(at, message),
                None => return None,
            },
            Some(command) = commands.recv() => answer_without_following(parts, command).await,
        }
    }
}

/// A command of this backend's `Pbx` while another backend follows.
async fn answer_without_following(parts: &Parts, command: Command) {
    match command {
        // The follower learns the call from the store's stream.
        Command::Track(_) | Command::Channels { .. } => {}
        Command::OriginateFailed { call_id, reply } => {
            let _ = reply.send(end_not_placed(&parts.store, &call_id).await);
        }
        // Its events would be the follower's to see: ended as not placed
        // at once, and the follower hangs up any channel of it that shows
        // up (it abandons a call it learns ended as not placed).
        Command::OriginateUnconfirmed { call_id, reply } => {
            end_not_placed(&parts.store, &call_id).await;
            let _ = reply.send(true);
        }
        Command::Hangup { call_id, reply } => {
            let call = match parts.store.call(&call_id).await {
                Ok(call) if call.state != CallState::Ended => Some(call),
                _ => None,
            };
            if call.is_some() {
                tokio::spawn(hang_up_through_the_follower(
                    parts.store.clone(),
                    parts.client.clone(),
                    follower_lock(&parts.pbx),
                    call_id,
                ));
            }
            let _ = reply.send(call);
        }
    }
}

/// Ends a call that never reached the PBX, unless it already ended.
async fn end_not_placed(store: &Store, call_id: &str) -> Option<crate::domain::Call> {
    let call = store.call(call_id).await.ok()?;
    if call.state == CallState::Ended {
        return Some(call);
    }
    let mut progress = Progress::new(call);
    progress.finish_not_placed(call::now());
    match store.save_calls(std::slice::from_ref(&progress.call)).await {
        Ok(()) => Some(progress.call),
        Err(e) => {
            warn!(%call_id, error = %e, "could not end a call that was not placed");
            None
        }
    }
}

/// Asks the follower (the holder of `lock`) to hang up the call; hangs it
/// up here at once when nobody follows the PBX's calls now or the ask
/// could not be sent, and when it is still live
/// [`FOLLOWER_HANGS_UP_WITHIN`] later (the ask was lost).
async fn hang_up_through_the_follower(store: Store, client: Client, lock: i64, call_id: String) {
    let asked = store.ask_follower_to_hang_up(&call_id).await;
    match (asked, store.session_lock_held(lock).await) {
        (Ok(()), Ok(true)) => {
            tokio::time::sleep(FOLLOWER_HANGS_UP_WITHIN).await;
            if matches!(store.call(&call_id).await, Ok(call) if call.state == CallState::Ended) {
                return;
            }
            warn!(%call_id, "the follower did not hang the call up; hanging it up from here");
        }
        (Ok(()), Ok(false)) => {
            info!(%call_id, "nobody follows the PBX's calls now; hanging the call up from here");
        }
        (Err(e), _) | (_, Err(e)) => {
            warn!(%call_id, error = %e, "cannot ask the follower to hang the call up");
        }
    }
    hang_up_by_id(client, call_id).await;
}

/// Hangs up the call's agent leg, found by its `Uniqueid` (the call's id,
/// given to the Originate) in a channel listing.
async fn hang_up_by_id(client: Client, call_id: String) {
    let listing = match Action::new("CoreShowChannels") {
        Ok(action) => client.send_list(action).await,
        Err(e) => Err(e.into()),
    };
    let channels = match listing {
        Ok(channels) => channels,
        Err(e) => {
            warn!(%call_id, error = %e, "CoreShowChannels failed; the hang-up was not sent");
            return;
        }
    };
    for channel in channels
        .iter()
        .filter(|c| c.get("Uniqueid") == Some(call_id.as_str()))
        .filter_map(|c| c.get("Channel"))
    {
        if let Err(e) = client.hangup(channel, Some(16)).await {
            warn!(%call_id, %channel, error = %e, "Hangup failed");
        }
    }
}

/// Completes once `client` has been logged out of AMI for `limit` in a row.
async fn link_down_for(client: &Client, limit: Duration) {
    let mut down_since: Option<tokio::time::Instant> = None;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if client.is_connected() {
            down_since = None;
        } else if down_since
            .get_or_insert_with(tokio::time::Instant::now)
            .elapsed()
            >= limit
        {
            return;
        }
    }
}
