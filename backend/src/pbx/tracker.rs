//! The call tracker: one task that owns every live call's [`Progress`],
//! applies AMI events to it in arrival order, stores each change, and
//! reconciles with the PBX after a reconnect (and periodically) so that no
//! call stays live forever when events were lost.

use std::collections::HashMap;
use std::time::Duration;

use disca_ami::{Action, Client, ClientEvent, Message};
use std::sync::Arc;
use time::OffsetDateTime;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, debug, info, warn};

use super::progress::{Change, Progress};
use crate::domain::{Call, CallState, PbxName, call};
use crate::storage::{CallEvent, Store, StoreError};
use crate::telemetry::{Metrics, call_span};

/// A call created less than this long before a channel listing was asked for
/// may not have a channel yet (its Originate is in flight): reconciliation
/// leaves it alone.
const RECONCILE_GRACE: Duration = Duration::from_secs(5);

/// An AMI client event and when it arrived: a call's times are the
/// arrival times of its events, however late they are applied (a
/// backend taking over as follower applies the events it kept while it
/// stood by, and those that queued while it waited its fence).
pub(super) type Stamped = (OffsetDateTime, ClientEvent);

/// Stamps each event of `events` with its arrival time, in a task of its
/// own so that the stamp is not delayed by whatever the tracker is doing.
pub(super) fn stamped(
    mut events: mpsc::UnboundedReceiver<ClientEvent>,
) -> mpsc::UnboundedReceiver<Stamped> {
    let (forward, forwarded) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if forward.send((call::now(), event)).is_err() {
                return;
            }
        }
    });
    forwarded
}

pub(super) enum Command {
    /// Follow a new call; sent before its Originate so no event is missed.
    Track(Box<Call>),
    /// The Originate could not be sent, or Asterisk refused it: end the
    /// call as failed, not placed.
    OriginateFailed {
        call_id: String,
        reply: oneshot::Sender<Option<Call>>,
    },
    /// The Originate was never acknowledged and the link died: unless
    /// events of the call came (the reply is then `false`: it was placed),
    /// it is ended as not placed at the next listing.
    OriginateUnconfirmed {
        call_id: String,
        reply: oneshot::Sender<bool>,
    },
    /// Hang up a call on behalf of its user.
    Hangup {
        call_id: String,
        reply: oneshot::Sender<Option<Call>>,
    },
    /// Result of a `CoreShowChannels` listing.
    Channels {
        asked_at: OffsetDateTime,
        channels: Vec<Message>,
    },
}

pub(super) struct Tracker {
    /// The PBX whose calls it follows.
    pbx: PbxName,
    store: Store,
    client: Client,
    metrics: Metrics,
    calls: HashMap<String, Progress>,
    /// Channel listings received, waiting for the events queued before
    /// them.
    listings: Vec<(OffsetDateTime, Vec<Message>)>,
    /// How soon a failed write is tried again: [`WRITE_RETRY`], longer
    /// while the database is locked or full (each try then holds the
    /// writer for the busy timeout, which clicks would queue behind).
    write_retry: Duration,
    /// Calls ended as not placed after their Originate was reported lost,
    /// and when: their channels are hung up if they show up.
    abandoned: HashMap<String, tokio::time::Instant>,
    /// Versions of calls changed since the last write, in order.
    unsaved: Vec<Call>,
    commands_tx: mpsc::UnboundedSender<Command>,
    /// With other backends placing calls (PostgreSQL): the store's stream
    /// of changes, where this tracker learns their calls
    /// ([`Tracker::learning_from_the_store`]).
    learning: Option<broadcast::Receiver<Arc<CallEvent>>>,
    /// Hang-ups asked through other backends (`Store::hang_up_requests`),
    /// when learning.
    hang_ups: Option<broadcast::Receiver<String>>,
    /// Hang-ups asked of calls not known here yet, and since when: applied
    /// when the call is learnt (kept `ORPHANS_KEPT`).
    early_hang_ups: HashMap<String, tokio::time::Instant>,
    /// AMI events of calls not known yet, kept a little while: a call
    /// another backend placed may reach the PBX before its row reaches
    /// this tracker.
    orphans: HashMap<String, (tokio::time::Instant, Vec<(OffsetDateTime, Message)>)>,
    /// When `orphans` were last rid of the old ones (at most every second:
    /// a backlog of ended calls' events makes many at once).
    orphans_pruned: tokio::time::Instant,
    /// AMI events that arrived before this tracker started (kept by the
    /// standby it was), applied once the live calls are loaded.
    backlog: Vec<(OffsetDateTime, Message)>,
    /// Where the AMI events it takes in are kept for the next term
    /// (`leadership::Recent`), when there are terms.
    recent: Option<super::leadership::SharedRecent>,
    /// Live calls of other PBXs seen on the store's stream, and since when:
    /// their changes are skipped without asking the database again.
    foreign: HashMap<String, tokio::time::Instant>,
    /// Calls this tracker ended lately: a late echo of an older version
    /// must not make it follow them again.
    finished: HashMap<String, tokio::time::Instant>,
}

/// The AMI events the tracker reads; the client drops every other one.
pub(super) const EVENTS: &[&str] = &[
    "Newchannel",
    "Newstate",
    "DialBegin",
    "DialState",
    "DialEnd",
    "BridgeEnter",
    "OriginateResponse",
    "Hangup",
];

/// How long a call ended as not placed is watched for a late Originate.
const ABANDONED_FOR: Duration = Duration::from_secs(600);

/// How soon changes that could not be stored are written again.
const WRITE_RETRY: Duration = Duration::from_secs(1);
/// The same while the database is locked or its disk full.
const WRITE_RETRY_BLOCKED: Duration = Duration::from_secs(5);

/// Most AMI events applied before their changes are written in one go.
const MAX_BATCH: usize = 512;

/// How long AMI events of an unknown call are kept ([`Tracker::orphans`]),
/// and a call this tracker ended is not followed again.
const ORPHANS_KEPT: Duration = Duration::from_secs(10);

/// How long another PBX's call is remembered as such when its end is not
/// seen (longer than any call).
const FOREIGN_KEPT: Duration = Duration::from_secs(12 * 60 * 60);

impl Tracker {
    pub(super) fn new(
        pbx: PbxName,
        store: Store,
        client: Client,
        metrics: Metrics,
        commands_tx: mpsc::UnboundedSender<Command>,
    ) -> Tracker {
        Tracker {
            pbx,
            store,
            client,
            metrics,
            calls: HashMap::new(),
            listings: Vec::new(),
            write_retry: WRITE_RETRY,
            abandoned: HashMap::new(),
            unsaved: Vec::new(),
            commands_tx,
            learning: None,
            hang_ups: None,
            early_hang_ups: HashMap::new(),
            orphans: HashMap::new(),
            orphans_pruned: tokio::time::Instant::now(),
            backlog: Vec::new(),
            recent: None,
            foreign: HashMap::new(),
            finished: HashMap::new(),
        }
    }

    /// Also follows the calls other backends sharing the database place,
    /// learnt from the store's stream of changes (`pbx::leadership`).
    pub(super) fn learning_from_the_store(mut self) -> Tracker {
        self.learning = Some(self.store.subscribe());
        self.hang_ups = Some(self.store.hang_up_requests());
        self
    }

    /// Also applies `events`, which arrived before it started, once the
    /// live calls are loaded: a backend taking over applies what happened
    /// while nobody followed, with the times it happened.
    pub(super) fn with_backlog(mut self, events: Vec<(OffsetDateTime, Message)>) -> Tracker {
        self.backlog = events;
        self
    }

    /// Also keeps every AMI event it takes in, in `recent`: should this
    /// term end with changes unsaved (the database away), the next one
    /// applies them again.
    pub(super) fn keeping_recent(mut self, recent: super::leadership::SharedRecent) -> Tracker {
        self.recent = Some(recent);
        self
    }

    pub(super) async fn run(
        mut self,
        ami: &mut mpsc::UnboundedReceiver<Stamped>,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        reconcile_every: Duration,
    ) {
        match self.store.live_calls_on(&self.pbx).await {
            Ok(calls) => {
                info!(
                    count = calls.len(),
                    "following calls left live by a previous run"
                );
                for (call, last_seen_at) in calls {
                    self.calls
                        .insert(call.id.clone(), Progress::resumed(call, last_seen_at));
                }
            }
            Err(e) => warn!(error = %e, "could not load live calls"),
        }
        self.metrics.set_live_calls(&self.pbx, self.calls.len());
        let backlog = std::mem::take(&mut self.backlog);
        if !backlog.is_empty() {
            info!(
                events = backlog.len(),
                "applying the AMI events that came while standing by"
            );
            for (at, event) in backlog {
                self.on_event(&event, at);
            }
            self.flush().await;
        }
        // Taken over from another backend, or restarted: whether the calls
        // left live still have channels is asked at once.
        if !self.calls.is_empty() {
            self.ask_for_channels();
        }
        let mut tick = tokio::time::interval(reconcile_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = ami.recv() => match event {
                    Some(event) => {
                        let mut batch = 1;
                        let mut next = Some(event);
                        while let Some(event) = next.take() {
                            // A call is registered (Track) before its Originate is
                            // written, so commands queued now include every call
                            // this event can belong to.
                            while let Ok(command) = commands.try_recv() {
                                self.on_command(command).await;
                            }
                            self.on_client_event(event);
                            if batch < MAX_BATCH {
                                next = ami.try_recv().ok();
                                batch += 1;
                            }
                        }
                    }
                    None => return,
                },
                Some(command) = commands.recv() => self.on_command(command).await,
                change = next_change(&mut self.learning) => self.on_store_change(change).await,
                asked = next_change(&mut self.hang_ups) => self.on_hang_up_asked(asked),
                _ = tick.tick() => {
                    if self.learning.is_some() {
                        self.catch_up_with_the_store().await;
                    }
                    if !self.calls.is_empty() {
                        self.ask_for_channels();
                    }
                }
                // Changes a failed write kept are retried soon, not only
                // when the next event or tick comes.
                _ = tokio::time::sleep(self.write_retry), if !self.unsaved.is_empty() => {}
            }
            if !self.listings.is_empty() {
                // Events that reached the PBX before a listing ended are
                // queued ahead of it: applied first, they are never
                // overruled by it.
                for _ in 0..ami.len() {
                    let Ok(event) = ami.try_recv() else { break };
                    while let Ok(command) = commands.try_recv() {
                        self.on_command(command).await;
                    }
                    self.on_client_event(event);
                }
                for (asked_at, channels) in std::mem::take(&mut self.listings) {
                    let alive = self.reconcile(asked_at, &channels);
                    let sightings: Vec<(&str, OffsetDateTime)> =
                        alive.iter().map(|id| (id.as_str(), asked_at)).collect();
                    if let Err(e) = self.store.record_sightings(&sightings).await {
                        warn!(error = %e, "could not record when live calls were last seen");
                    }
                }
            }
            self.flush().await;
        }
    }

    fn on_client_event(&mut self, (at, event): Stamped) {
        match event {
            ClientEvent::Message(m) => {
                self.on_event(&m, at);
                if let Some(recent) = &self.recent {
                    super::leadership::lock_recent(recent).keep(at, m);
                }
            }
            ClientEvent::Connected => {
                self.metrics.set_ami_connected(&self.pbx, true);
                info!("AMI connected; reconciling live calls");
                self.ask_for_channels();
            }
            ClientEvent::Disconnected { reason } => {
                self.metrics.set_ami_connected(&self.pbx, false);
                warn!(%reason, "AMI disconnected");
            }
        }
    }

    fn ask_for_channels(&self) {
        if !self.client.is_connected() {
            return;
        }
        let client = self.client.clone();
        let tx = self.commands_tx.clone();
        tokio::spawn(async move {
            let asked_at = call::now();
            let listing = match Action::new("CoreShowChannels") {
                Ok(action) => client.send_list(action).await,
                Err(e) => Err(e.into()),
            };
            match listing {
                Ok(channels) => {
                    let _ = tx.send(Command::Channels { asked_at, channels });
                }
                Err(e) => warn!(error = %e, "CoreShowChannels failed; will retry"),
            }
        });
    }

    /// Applies one AMI event that arrived `at`.
    fn on_event(&mut self, event: &Message, at: OffsetDateTime) {
        let Some(call_id) = event
            .get("Linkedid")
            .or_else(|| event.get("DestLinkedid"))
            .or_else(|| event.get("Uniqueid"))
        else {
            return;
        };
        if self.abandoned.contains_key(call_id) {
            // A call already ended as not placed is still showing up.
            if event.event_name() == Some("Newchannel")
                && let Some(channel) = event.get("Channel")
            {
                hang_up_channel(&self.client, channel.to_owned());
            }
            return;
        }
        let Some(progress) = self.calls.get_mut(call_id) else {
            if self.learning.is_some() {
                self.keep_orphan(call_id.to_owned(), at, event.clone());
            }
            return;
        };
        let _span = call_span(&progress.call).entered();
        if progress.unconfirmed {
            // Its click was answered "not placed": it must not go on.
            warn!("a call whose Originate was reported lost reached the PBX late; hanging it up");
            if let Some(channel) = event.get("Channel") {
                hang_up_channel(&self.client, channel.to_owned());
            }
            let change = progress.finish_not_placed(call::now());
            self.abandon(call_id.to_owned());
            self.record(call_id.to_owned(), change);
            return;
        }
        let change = progress.apply(event, at);
        let agent_channel_appeared = event.event_name() == Some("Newchannel")
            && event
                .get("Uniqueid")
                .is_some_and(|uid| progress.is_agent_uniqueid(uid));
        if progress.hangup_requested && agent_channel_appeared {
            // A hangup asked for before the agent's channel existed.
            hang_up(&self.client, progress);
        }
        self.record(call_id.to_owned(), change);
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::Track(call) => {
                let mut progress = Progress::new(*call);
                progress.tracked_at = Some(call::now());
                let id = progress.call.id.clone();
                self.calls.insert(id.clone(), progress);
                self.metrics.set_live_calls(&self.pbx, self.calls.len());
                // Asked through another backend before this one's own
                // click reached here (both queued behind a slow write).
                if self.early_hang_ups.remove(&id).is_some() {
                    self.hang_up_for_its_user(&id);
                }
            }
            Command::OriginateFailed { call_id, reply } => {
                let span = self.calls.get(&call_id).map(|p| call_span(&p.call));
                let call = {
                    let _entered = span.as_ref().map(tracing::Span::enter);
                    let change = match self.calls.get_mut(&call_id) {
                        Some(p) => p.finish_not_placed(call::now()),
                        None => Change::None,
                    };
                    // Bytes of it may have left: should it still reach
                    // Asterisk, it is hung up.
                    self.abandon(call_id.clone());
                    let call = self.calls.get(&call_id).map(|p| p.call.clone());
                    self.record(call_id, change);
                    call
                };
                self.flush().await;
                let _ = reply.send(call);
            }
            Command::OriginateUnconfirmed { call_id, reply } => {
                // Events of it already came: it reached the PBX after all.
                let unconfirmed = match self.calls.get_mut(&call_id) {
                    Some(p) if p.touched_at.is_none() => {
                        p.unconfirmed = true;
                        true
                    }
                    Some(_) => false,
                    None => true,
                };
                let _ = reply.send(unconfirmed);
            }
            Command::Hangup { call_id, reply } => {
                let _ = reply.send(self.hang_up_for_its_user(&call_id));
            }
            // Applied by the run loop once the events queued before it are.
            Command::Channels { asked_at, channels } => self.listings.push((asked_at, channels)),
        }
    }

    /// Hangs up a call on behalf of its user: before the lead answered, it
    /// ends `canceled`; before its agent leg exists, that leg is hung up
    /// as it appears. The call as it is now, if followed.
    fn hang_up_for_its_user(&mut self, call_id: &str) -> Option<Call> {
        let p = self.calls.get_mut(call_id)?;
        let _span = call_span(&p.call).entered();
        if p.call.lead_answered_at.is_none() {
            p.cancel_requested = true;
        }
        p.hangup_requested = true;
        hang_up(&self.client, p);
        Some(p.call.clone())
    }

    /// A hang-up asked through another backend: applied to a call followed
    /// here, kept a while for one not learnt yet (placed elsewhere, its row
    /// still on its way). An ask missed (the channel lagged) is the asking
    /// backend's to make good: it hangs up the call's channel itself.
    fn on_hang_up_asked(&mut self, asked: Result<String, RecvError>) {
        let call_id = match asked {
            Ok(call_id) => call_id,
            Err(RecvError::Lagged(missed)) => {
                warn!(missed, "hang-ups asked through other backends were missed");
                return;
            }
            Err(RecvError::Closed) => {
                self.hang_ups = None;
                return;
            }
        };
        if self.hang_up_for_its_user(&call_id).is_some() {
            return;
        }
        if self.finished.contains_key(&call_id) || self.abandoned.contains_key(&call_id) {
            return;
        }
        let now = tokio::time::Instant::now();
        self.early_hang_ups
            .retain(|_, at| now.duration_since(*at) < ORPHANS_KEPT);
        self.early_hang_ups.insert(call_id, now);
    }

    /// Applies a channel listing; returns the calls it showed alive.
    fn reconcile(&mut self, asked_at: OffsetDateTime, channels: &[Message]) -> Vec<String> {
        let mut alive = Vec::new();
        let ids: Vec<String> = self.calls.keys().cloned().collect();
        for call_id in ids {
            let Some(progress) = self.calls.get_mut(&call_id) else {
                continue;
            };
            let _span = call_span(&progress.call).entered();
            let mine: Vec<&Message> = channels
                .iter()
                .filter(|c| c.get("Linkedid") == Some(call_id.as_str()))
                .collect();
            // An Originate reported lost with the link (listings come after
            // the reconnection): the call ends as not placed, and a channel
            // of it that reached Asterisk anyway is hung up.
            if progress.unconfirmed {
                warn!(
                    channels = mine.len(),
                    "the Originate was lost with the AMI link: the call was not placed"
                );
                for channel in mine.iter().filter_map(|c| c.get("Channel")) {
                    hang_up_channel(&self.client, channel.to_owned());
                }
                let change = progress.finish_not_placed(call::now());
                self.abandon(call_id.clone());
                self.record(call_id, change);
                continue;
            }
            // Too young to have a channel (counted from when the tracker
            // got it: storing it may have waited for a lock), or changed by
            // events newer than the listing (which would undo them).
            let since = progress.tracked_at.map_or(progress.call.created_at, |t| {
                t.max(progress.call.created_at)
            });
            if since + RECONCILE_GRACE > asked_at
                || progress.touched_at.is_some_and(|t| t >= asked_at)
            {
                continue;
            }
            let before = progress.call.clone();
            let change = if progress.resync(&mine, asked_at) {
                alive.push(call_id.clone());
                if progress.hangup_requested {
                    // Asked for while the channel's name was not known (or
                    // while AMI was down): ask again.
                    hang_up(&self.client, progress);
                }
                if progress.call != before {
                    Change::Updated
                } else {
                    Change::None
                }
            } else {
                warn!(
                    state = progress.call.state.as_str(),
                    "call has no channel left at the PBX; its end was missed, ending it where it was last seen"
                );
                progress.finish_unseen()
            };
            self.record(call_id, change);
        }
        alive
    }

    /// A change from the store's stream ([`Tracker::learning_from_the_store`]):
    /// a live call nobody follows here is followed from now on (and the
    /// AMI events it already had applied); a call another backend ended is
    /// dropped, and one it ended as not placed abandoned.
    async fn on_store_change(&mut self, change: Result<Arc<CallEvent>, RecvError>) {
        let event = match change {
            Ok(event) => event,
            // Changes were missed: the calls live in the database are
            // looked at again.
            Err(RecvError::Lagged(_)) => {
                self.catch_up_with_the_store().await;
                return;
            }
            Err(RecvError::Closed) => {
                self.learning = None;
                return;
            }
        };
        let call = &event.call;
        if call.state == CallState::Ended {
            self.foreign.remove(&call.id);
            let followed = self.calls.remove(&call.id);
            if call.not_placed {
                // Its click was told "not placed" (its Originate was lost
                // with another backend's AMI link): it must not go on.
                if let Some(progress) = &followed {
                    hang_up(&self.client, progress);
                }
                self.abandon(call.id.clone());
            }
            if followed.is_some() {
                self.metrics.set_live_calls(&self.pbx, self.calls.len());
            }
            return;
        }
        if !self.calls.contains_key(&call.id) && !self.foreign.contains_key(&call.id) {
            let mut progress = Progress::new(call.clone());
            progress.tracked_at = Some(call::now());
            self.learn(progress).await;
        }
    }

    /// Compares the calls followed with those live in the database: follows
    /// the ones missing (changes were missed, or a read failed), drops the
    /// ones another backend ended. On every reconcile tick when learning.
    async fn catch_up_with_the_store(&mut self) {
        let live = match self.store.live_calls_on(&self.pbx).await {
            Ok(live) => live,
            Err(e) => {
                warn!(error = %e, "could not load live calls");
                return;
            }
        };
        let ids: std::collections::HashSet<String> =
            live.iter().map(|(call, _)| call.id.clone()).collect();
        // Followed here but ended in the database, unless this tracker's
        // own end is still waiting to be written.
        let unsaved: std::collections::HashSet<&str> =
            self.unsaved.iter().map(|c| c.id.as_str()).collect();
        let gone: Vec<String> = self
            .calls
            .keys()
            .filter(|id| !ids.contains(*id) && !unsaved.contains(id.as_str()))
            .cloned()
            .collect();
        for id in gone {
            if let Ok(call) = self.store.call(&id).await
                && call.state == CallState::Ended
            {
                self.calls.remove(&id);
            }
        }
        for (call, last_seen_at) in live {
            if !self.calls.contains_key(&call.id) {
                self.learn(Progress::resumed(call, last_seen_at)).await;
            }
        }
        self.metrics.set_live_calls(&self.pbx, self.calls.len());
    }

    /// Follows a call another backend placed, unless it ended meanwhile or
    /// was ended here; applies the AMI events it already had.
    async fn learn(&mut self, progress: Progress) {
        let id = progress.call.id.clone();
        let now = tokio::time::Instant::now();
        self.finished
            .retain(|_, at| now.duration_since(*at) < ORPHANS_KEPT);
        // Ended here, its end perhaps not stored yet (the database slow or
        // locked): the store's older version must not make it live again.
        if self.calls.contains_key(&id)
            || self.finished.contains_key(&id)
            || self.abandoned.contains_key(&id)
            || self.unsaved.iter().any(|c| c.id == id)
        {
            return;
        }
        // An older version's echo: the database knows better. When it
        // cannot be asked, the call is not followed now: following another
        // PBX's call would end it at the next listing here. The next
        // reconcile tick's catch-up (calls live on this PBX) follows it.
        match self.store.call_and_pbx(&id).await {
            Ok((c, _)) if c.state == CallState::Ended => return,
            // Another PBX's call: its events never come here.
            Ok((_, pbx)) if pbx != self.pbx => {
                self.foreign
                    .retain(|_, since| now.duration_since(*since) < FOREIGN_KEPT);
                self.foreign.insert(id, now);
                return;
            }
            Ok(_) => {}
            Err(StoreError::NotFound) => return,
            Err(e) => {
                warn!(error = %e, call_id = %id, "cannot read a call placed elsewhere; following it from the next catch-up");
                return;
            }
        }
        self.calls.insert(id.clone(), progress);
        self.metrics.set_live_calls(&self.pbx, self.calls.len());
        if self.early_hang_ups.remove(&id).is_some() {
            self.hang_up_for_its_user(&id);
        }
        if let Some((_, events)) = self.orphans.remove(&id) {
            for (at, event) in events {
                self.on_event(&event, at);
            }
        }
    }

    /// Keeps an AMI event of an unknown call (arrived `arrived`) for a while.
    fn keep_orphan(&mut self, call_id: String, arrived: OffsetDateTime, event: Message) {
        let now = tokio::time::Instant::now();
        if now.duration_since(self.orphans_pruned) >= Duration::from_secs(1) {
            self.orphans
                .retain(|_, (at, _)| now.duration_since(*at) < ORPHANS_KEPT);
            self.orphans_pruned = now;
        }
        self.orphans
            .entry(call_id)
            .or_insert_with(|| (now, Vec::new()))
            .1
            .push((arrived, event));
    }

    /// Remembers a call ended as not placed for a while, so that its
    /// channels are hung up if its Originate still reaches Asterisk.
    fn abandon(&mut self, call_id: String) {
        let now = tokio::time::Instant::now();
        self.abandoned
            .retain(|_, at| now.duration_since(*at) < ABANDONED_FOR);
        self.abandoned.insert(call_id, now);
    }

    /// Queues the call's new version for writing; an ended call stops being
    /// followed. Called inside the call's span.
    fn record(&mut self, call_id: String, change: Change) {
        if change == Change::None {
            return;
        }
        let Some(progress) = self.calls.get(&call_id) else {
            return;
        };
        debug!(state = progress.call.state.as_str(), "call changed");
        self.unsaved.push(progress.call.clone());
        if change == Change::Ended {
            if let Some(outcome) = progress.call.outcome {
                self.metrics.call_ended(outcome);
            }
            if self.learning.is_some() {
                let now = tokio::time::Instant::now();
                self.finished
                    .retain(|_, at| now.duration_since(*at) < ORPHANS_KEPT);
                self.finished.insert(call_id.clone(), now);
            }
            self.calls.remove(&call_id);
            self.metrics.set_live_calls(&self.pbx, self.calls.len());
        }
    }

    /// Writes every queued version in one transaction.
    async fn flush(&mut self) {
        if self.unsaved.is_empty() {
            return;
        }
        let versions = std::mem::take(&mut self.unsaved);
        let saved = self.store.save_calls(&versions).await;
        self.write_retry = match &saved {
            Err(StoreError::Busy | StoreError::DiskFull) => WRITE_RETRY_BLOCKED,
            _ => WRITE_RETRY,
        };
        if let Err(e) = saved {
            // Kept, in order, for the next write: the tracker retries
            // after WRITE_RETRY, or sooner with its next event or command.
            warn!(error = %e, count = versions.len(), "could not store call changes; will retry");
            self.unsaved = versions
                .into_iter()
                .chain(std::mem::take(&mut self.unsaved))
                .collect();
        }
    }
}

/// The next change of the store's stream, when learning from it; never
/// otherwise.
/// The next message of `channel`; never, without one.
async fn next_change<T: Clone>(
    channel: &mut Option<broadcast::Receiver<T>>,
) -> Result<T, RecvError> {
    match channel {
        Some(changes) => changes.recv().await,
        None => std::future::pending().await,
    }
}

fn hang_up(client: &Client, progress: &Progress) {
    if let Some(channel) = progress.agent_channel.clone() {
        hang_up_channel(client, channel);
    }
}

fn hang_up_channel(client: &Client, channel: String) {
    let client = client.clone();
    tokio::spawn(
        async move {
            if let Err(e) = client.hangup(&channel, Some(16)).await {
                warn!(%channel, error = %e, "Hangup failed");
            }
        }
        .in_current_span(),
    );
}
