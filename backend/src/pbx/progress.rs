//! How one call progresses, read from AMI events. Pure: no I/O, no clock of
//! its own (the caller passes `now`), so it is tested on captured event
//! sequences.
//!
//! The agent leg is the channel whose Uniqueid is the call id (we choose it
//! with Originate's `ChannelId`). A lead leg is a channel the agent leg dials
//! (`DialBegin` from the agent leg: the trunk channel). Other channels of the
//! call — the `;2` half when the agent is reached through a `Local` channel,
//! or the phones that half rings — are the agent's side and only count while
//! reconciling, as signs that the call is alive.

use std::collections::HashSet;

use disca_ami::Message;
use time::OffsetDateTime;

use crate::domain::{Call, CallState, HangupCause, Outcome};

/// The bridge a listed channel is in, if any.
fn bridge<'a>(ch: &&'a Message) -> Option<&'a str> {
    ch.get("BridgeId").filter(|b| !b.is_empty())
}

/// A channel's age as `CoreShowChannel` gives it (`Duration: HH:MM:SS`).
fn channel_age(duration: &str) -> Option<time::Duration> {
    let mut parts = duration.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    if parts.next().is_some() || h < 0 || !(0..60).contains(&m) || !(0..60).contains(&s) {
        return None;
    }
    Some(time::Duration::seconds(h * 3600 + m * 60 + s))
}

/// Channel state codes (`ChannelState` header).
const STATE_RINGING: &str = "5";
const STATE_UP: &str = "6";

/// Everything known about a live call beyond its stored record.
#[derive(Debug, Clone)]
pub struct Progress {
    pub call: Call,
    /// Name of the agent's channel (`PJSIP/acme-1001-00000001`), for Hangup.
    pub agent_channel: Option<String>,
    agent_live: bool,
    agent_seen: bool,
    lead_live: HashSet<String>,
    lead_dial_status: Option<String>,
    agent_dial_status: Option<String>,
    /// `Reason` of a failed OriginateResponse.
    originate_failure: Option<u32>,
    agent_cause: Option<HangupCause>,
    lead_cause: Option<HangupCause>,
    /// The salesperson asked to hang up before the lead answered.
    pub cancel_requested: bool,
    /// The salesperson asked to hang up (at any stage).
    pub hangup_requested: bool,
    /// When an event last changed what is known; reconciliation does not
    /// overrule events newer than its channel listing.
    pub touched_at: Option<OffsetDateTime>,
    /// The last moment the call was known to be alive at the PBX: an event
    /// of it, or its channels in a listing. A call whose end was missed
    /// ends here ([`Progress::finish_unseen`]).
    pub last_seen_at: Option<OffsetDateTime>,
    /// The Originate was never acknowledged and the link died, and the
    /// click was answered that the call was not placed: any channel of it
    /// that still shows up (an Originate delivered late) is hung up.
    pub unconfirmed: bool,
    /// When the tracker started following the call (its reconciliation
    /// grace counts from then).
    pub tracked_at: Option<OffsetDateTime>,
}

/// What applying an event did.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing worth storing.
    None,
    /// The stored record changed.
    Updated,
    /// The call just ended.
    Ended,
}

impl Progress {
    pub fn new(call: Call) -> Progress {
        Progress {
            call,
            agent_channel: None,
            agent_live: false,
            agent_seen: false,
            lead_live: HashSet::new(),
            lead_dial_status: None,
            agent_dial_status: None,
            originate_failure: None,
            agent_cause: None,
            lead_cause: None,
            cancel_requested: false,
            hangup_requested: false,
            touched_at: None,
            last_seen_at: None,
            unconfirmed: false,
            tracked_at: None,
        }
    }

    /// A live call a previous run left, last seen alive at `last_seen_at`.
    pub fn resumed(call: Call, last_seen_at: Option<OffsetDateTime>) -> Progress {
        Progress {
            last_seen_at,
            ..Progress::new(call)
        }
    }

    pub fn is_agent_uniqueid(&self, uniqueid: &str) -> bool {
        uniqueid == self.call.id
    }

    /// The `;2` half of a `Local` agent channel (`<call id>;2`).
    fn is_agent_side(&self, uniqueid: &str) -> bool {
        uniqueid
            .strip_prefix(self.call.id.as_str())
            .is_some_and(|rest| rest.starts_with(';'))
    }

    /// Applies one AMI event that belongs to this call (by Linkedid, Uniqueid
    /// or DestLinkedid).
    pub fn apply(&mut self, event: &Message, now: OffsetDateTime) -> Change {
        if !self.call.is_live() {
            return Change::None;
        }
        self.touched_at = Some(now);
        self.last_seen_at = Some(now);
        let before = self.call.clone();
        match event.event_name().unwrap_or_default() {
            "Newchannel" => self.on_new_channel(event),
            "DialBegin" => self.on_dial_begin(event, now),
            "Newstate" => self.on_new_state(event, now),
            // 180 Ringing, or 183 Session Progress (early media: how many
            // Brazilian carriers signal a ringing line).
            "DialState"
                if self.is_lead_dest(event)
                    && matches!(event.get("DialStatus"), Some("RINGING" | "PROGRESS")) =>
            {
                self.advance(CallState::RingingLead);
            }
            "DialEnd" => self.on_dial_end(event, now),
            "BridgeEnter"
                if event
                    .get("Uniqueid")
                    .is_some_and(|uid| self.lead_live.contains(uid)) =>
            {
                self.lead_answered(now);
            }
            "OriginateResponse" => {
                if event.get("Response") == Some("Success") {
                    self.agent_answered(now);
                } else {
                    self.originate_failure = Some(
                        event
                            .get("Reason")
                            .and_then(|r| r.parse().ok())
                            .unwrap_or(0),
                    );
                    if !self.agent_live {
                        return self.finish(now);
                    }
                }
            }
            "Hangup" => return self.on_hangup(event, now),
            _ => {}
        }
        if self.call != before {
            Change::Updated
        } else {
            Change::None
        }
    }

    fn on_new_channel(&mut self, event: &Message) {
        let Some(uid) = event.get("Uniqueid") else {
            return;
        };
        if self.is_agent_uniqueid(uid) {
            self.agent_channel = event.get("Channel").map(str::to_owned);
            self.agent_live = true;
            self.agent_seen = true;
            self.advance(CallState::RingingAgent);
        }
    }

    /// The agent leg dialling someone: that someone is the lead.
    fn on_dial_begin(&mut self, event: &Message, now: OffsetDateTime) {
        let (Some(caller), Some(dest)) = (event.get("Uniqueid"), event.get("DestUniqueid")) else {
            return;
        };
        if self.is_agent_uniqueid(caller) {
            self.lead_live.insert(dest.to_owned());
            if self.call.lead_dialed_at.is_none() {
                self.call.lead_dialed_at = Some(now);
            }
            self.agent_answered(now);
            self.advance(CallState::DialingLead);
        }
    }

    fn on_new_state(&mut self, event: &Message, now: OffsetDateTime) {
        let (Some(uid), Some(state)) = (event.get("Uniqueid"), event.get("ChannelState")) else {
            return;
        };
        if self.is_agent_uniqueid(uid) {
            if state == STATE_UP {
                self.agent_answered(now);
            }
        } else if self.lead_live.contains(uid) && state == STATE_RINGING {
            self.advance(CallState::RingingLead);
        }
    }

    fn on_dial_end(&mut self, event: &Message, now: OffsetDateTime) {
        let status = event.get("DialStatus").unwrap_or_default();
        let Some(dest) = event.get("DestUniqueid") else {
            return;
        };
        if !self.is_agent_uniqueid(dest) && !self.lead_live.contains(dest) {
            return;
        }
        if self.is_agent_uniqueid(dest) {
            if status == "ANSWER" {
                self.agent_answered(now);
            } else {
                self.agent_dial_status = Some(status.to_owned());
            }
        } else if status == "ANSWER" {
            self.lead_answered(now);
        } else {
            self.lead_dial_status = Some(status.to_owned());
        }
    }

    fn on_hangup(&mut self, event: &Message, now: OffsetDateTime) -> Change {
        let Some(uid) = event.get("Uniqueid") else {
            return Change::None;
        };
        let cause = HangupCause {
            code: event.get("Cause").and_then(|c| c.parse().ok()).unwrap_or(0),
            text: event.get("Cause-txt").unwrap_or_default().to_owned(),
        };
        if self.is_agent_uniqueid(uid) {
            self.agent_live = false;
            self.agent_cause = Some(cause);
        } else if self.lead_live.remove(uid) {
            self.lead_cause = Some(cause);
        } else {
            return Change::None;
        }
        if !self.agent_live && self.lead_live.is_empty() {
            self.finish(now)
        } else {
            Change::None
        }
    }

    fn is_lead_dest(&self, event: &Message) -> bool {
        event
            .get("DestUniqueid")
            .is_some_and(|d| self.lead_live.contains(d))
    }

    fn advance(&mut self, to: CallState) {
        if to > self.call.state {
            self.call.state = to;
        }
    }

    fn agent_answered(&mut self, now: OffsetDateTime) {
        if self.call.agent_answered_at.is_none() {
            self.call.agent_answered_at = Some(now);
        }
        self.advance(CallState::DialingLead);
    }

    fn lead_answered(&mut self, now: OffsetDateTime) {
        if self.call.lead_answered_at.is_none() {
            self.call.lead_answered_at = Some(now);
        }
        self.advance(CallState::Connected);
    }

    /// Rebuilds what is known from a `CoreShowChannels` listing asked for at
    /// `asked_at`, after events may have been missed. Returns whether the
    /// call is still alive at the PBX. What the listing shows that no event
    /// did happened at some unknown moment before it: a lead leg is dated
    /// from its channel's own age (`Duration`), an answer at the listing
    /// itself (the latest it can have been, so a talk time is never longer
    /// than the truth), and the call's durations are marked estimated.
    pub fn resync(&mut self, channels: &[&Message], asked_at: OffsetDateTime) -> bool {
        let mut agent_live = false;
        let mut lead_live = HashSet::new();
        let before = self.call.clone();
        // The agent leg, and the bridges of the agent's side (the `;2` half of
        // a Local agent channel is bridged with the phone it rang).
        let agent_leg = channels.iter().find(|ch| {
            ch.get("Uniqueid")
                .is_some_and(|u| self.is_agent_uniqueid(u))
        });
        let agent_leg_up = agent_leg.is_some_and(|ch| ch.get("ChannelState") == Some(STATE_UP));
        let agent_leg_bridge = agent_leg.and_then(bridge);
        let agent_side_bridges: HashSet<&str> = channels
            .iter()
            .filter(|ch| ch.get("Uniqueid").is_some_and(|u| self.is_agent_side(u)))
            .filter_map(bridge)
            .collect();
        for ch in channels {
            let Some(uid) = ch.get("Uniqueid") else {
                continue;
            };
            let up = ch.get("ChannelState") == Some(STATE_UP);
            if self.is_agent_uniqueid(uid) {
                agent_live = true;
                self.agent_seen = true;
                self.agent_channel = ch.get("Channel").map(str::to_owned);
                self.advance(CallState::RingingAgent);
                if up {
                    self.agent_answered(asked_at);
                }
                continue;
            }
            // Another channel of the call is the lead only if the agent leg
            // dialled it (DialBegin), or, for a channel no event told about,
            // if it is bridged with the agent leg, or rings while the agent
            // leg is up. Anything else (the `;2` half, the phone it rings) is
            // the agent's side: a sign of life, nothing more.
            let is_lead = self.lead_live.contains(uid)
                || (!self.is_agent_side(uid)
                    && match bridge(ch) {
                        Some(b) => agent_leg_bridge == Some(b) && !agent_side_bridges.contains(b),
                        None => agent_leg_up,
                    });
            if !is_lead {
                agent_live = true;
                continue;
            }
            lead_live.insert(uid.to_owned());
            if self.call.lead_dialed_at.is_none() {
                let age = ch.get("Duration").and_then(channel_age);
                self.call.lead_dialed_at = Some(age.map_or(asked_at, |age| asked_at - age));
            }
            self.agent_answered(asked_at);
            self.advance(CallState::DialingLead);
            if up && bridge(ch).is_some() {
                self.lead_answered(asked_at);
            }
        }
        let guessed = [
            (before.agent_answered_at, self.call.agent_answered_at),
            (before.lead_dialed_at, self.call.lead_dialed_at),
            (before.lead_answered_at, self.call.lead_answered_at),
        ]
        .iter()
        .any(|(was, is)| was.is_none() && is.is_some());
        if guessed {
            self.call.durations_estimated = true;
        }
        self.agent_live = agent_live;
        self.lead_live = lead_live;
        let alive = agent_live || !self.lead_live.is_empty();
        if alive && self.last_seen_at.is_none_or(|t| t < asked_at) {
            self.last_seen_at = Some(asked_at);
        }
        alive
    }

    /// Ends the call now, seen ending: its outcome from what was seen, its
    /// durations measured.
    pub fn finish(&mut self, now: OffsetDateTime) -> Change {
        self.end_at(now)
    }

    /// Ends a call whose end was not seen (no channel of it is left at the
    /// PBX, and no event said when it went): at the last moment it was known
    /// to be alive, with its durations marked estimated. Never "now": the
    /// time the backend, the PBX or the link was down is not talk time.
    pub fn finish_unseen(&mut self) -> Change {
        let c = &self.call;
        let last_sign = [
            Some(c.created_at),
            c.agent_answered_at,
            c.lead_dialed_at,
            c.lead_answered_at,
            self.last_seen_at,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(c.created_at);
        self.call.durations_estimated = true;
        self.end_at(last_sign)
    }

    /// Ends a call that never reached the PBX (its Originate refused, not
    /// sent, or lost with the link): failed, nothing to measure, no note.
    pub fn finish_not_placed(&mut self, now: OffsetDateTime) -> Change {
        if !self.call.is_live() {
            return Change::None;
        }
        self.call.not_placed = true;
        self.call.state = CallState::Ended;
        self.call.ended_at = Some(now);
        self.call.outcome = Some(Outcome::Failed);
        Change::Ended
    }

    fn end_at(&mut self, end: OffsetDateTime) -> Change {
        if !self.call.is_live() {
            return Change::None;
        }
        let outcome = self.outcome();
        let c = &mut self.call;
        c.state = CallState::Ended;
        c.ended_at = Some(end);
        c.outcome = Some(outcome);
        if let Some(dialed) = c.lead_dialed_at {
            let rang_until = c.lead_answered_at.unwrap_or(end);
            c.ring_seconds = Some((rang_until - dialed).whole_seconds().max(0));
        }
        if let Some(answered) = c.lead_answered_at {
            c.talk_seconds = Some((end - answered).whole_seconds().max(0));
            c.recording_file = Some(format!("{}-{}.wav", c.tenant, c.id));
        }
        c.hangup_cause = self.lead_cause.clone().or_else(|| self.agent_cause.clone());
        Change::Ended
    }

    /// Why the salesperson's own phone did not take the call: their phone
    /// rang out, was busy or declined (`agent_no_answer`), or could not be
    /// reached at all (`failed`).
    fn agent_leg_outcome(&self) -> Outcome {
        match self.agent_dial_status.as_deref() {
            Some("BUSY" | "NOANSWER" | "CANCEL") => return Outcome::AgentNoAnswer,
            Some(_) => return Outcome::Failed,
            None => {}
        }
        // OriginateResponse Reason: 1 hung up, 3 no answer, 5 busy; 0 and 8
        // are failures (no such endpoint, congestion).
        match self.originate_failure {
            Some(1 | 3 | 5) => Outcome::AgentNoAnswer,
            Some(_) => Outcome::Failed,
            None if self.agent_seen => Outcome::AgentNoAnswer,
            None => Outcome::Failed,
        }
    }

    fn outcome(&self) -> Outcome {
        if self.call.lead_answered_at.is_some() {
            return Outcome::Answered;
        }
        if self.cancel_requested {
            return Outcome::Canceled;
        }
        if self.call.agent_answered_at.is_none() {
            return self.agent_leg_outcome();
        }
        if let Some(code) = self.lead_cause.as_ref().map(|c| c.code) {
            match code {
                17 => return Outcome::Busy,
                21 => return Outcome::Rejected,
                18 | 19 => return Outcome::NoAnswer,
                // No such number, number changed, incomplete number: the
                // number is wrong, whatever the dial status says (the real
                // Asterisk test's 404 came out as no answer before this).
                1 | 22 | 28 => return Outcome::Failed,
                _ => {}
            }
        }
        match self.lead_dial_status.as_deref() {
            Some("BUSY") => Outcome::Busy,
            Some("NOANSWER") => Outcome::NoAnswer,
            Some("CANCEL") => Outcome::Canceled,
            Some(_) => Outcome::Failed,
            // No lead leg result: the dialplan maps it into the agent's cause.
            None => match self.agent_cause.as_ref().map(|c| c.code) {
                Some(17) => Outcome::Busy,
                Some(21) => Outcome::Rejected,
                Some(18 | 19) => Outcome::NoAnswer,
                _ => Outcome::Failed,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use disca_ami::AmiCodec;
    use time::Duration;
    use tokio_util::codec::Decoder;

    use super::*;
    use crate::domain::call::NewCall;
    use crate::domain::{CallContext, CallId};

    /// A queued call whose id is the captures' ChannelId (not a UUID).
    fn call(id: &str) -> Call {
        let new = NewCall {
            id: CallId::generate(),
            tenant: "acme".into(),
            user_id: "u1".into(),
            agent_endpoint: "agent-1001".into(),
            to: "+5511987654321".into(),
            context: CallContext::default(),
        };
        Call {
            id: id.into(),
            ..new.queued(OffsetDateTime::UNIX_EPOCH)
        }
    }

    /// Replays a captured AMI stream (bytes Asterisk 22 sent) into a call,
    /// one second of clock per event, the way the tracker routes events.
    /// A channel of call `linkedid` as a `CoreShowChannels` listing gives it.
    fn listed(
        linkedid: &str,
        uid: &str,
        name: &str,
        state: &str,
        bridge: &str,
        duration: &str,
    ) -> Message {
        let raw = format!(
            "Event: CoreShowChannel\r\nChannel: {name}\r\nUniqueid: {uid}\r\nLinkedid: {linkedid}\r\n\
             ChannelState: {state}\r\nBridgeId: {bridge}\r\nDuration: {duration}\r\n\r\n"
        );
        AmiCodec::new()
            .decode(&mut BytesMut::from(raw.as_bytes()))
            .unwrap()
            .unwrap()
    }

    fn replay(capture: &[u8], id: &str) -> (Progress, Vec<CallState>) {
        let mut codec = AmiCodec::new();
        let mut buf = BytesMut::from(capture);
        let mut progress = Progress::new(call(id));
        let mut states = vec![CallState::Queued];
        let mut now = OffsetDateTime::UNIX_EPOCH;
        while let Some(message) = codec.decode(&mut buf).expect("captured stream decodes") {
            let key = message
                .get("Linkedid")
                .or_else(|| message.get("DestLinkedid"))
                .or_else(|| message.get("Uniqueid"));
            if key != Some(id) {
                continue;
            }
            now += Duration::seconds(1);
            progress.apply(&message, now);
            if states.last() != Some(&progress.call.state) {
                states.push(progress.call.state);
            }
        }
        (progress, states)
    }

    const ANSWERED: &[u8] = include_bytes!("../../ami/tests/data/answered_call.ami");
    const TRUNK_BUSY: &[u8] = include_bytes!("../../ami/tests/data/trunk_busy.ami");
    const AGENT_NO_ANSWER: &[u8] = include_bytes!("../../ami/tests/data/no_answer.ami");
    const AGENT_BUSY: &[u8] = include_bytes!("../../ami/tests/data/agent_busy.ami");

    #[test]
    fn answered_call_walks_every_state() {
        let (p, states) = replay(ANSWERED, "disca-call-1");
        assert_eq!(
            states,
            [
                CallState::Queued,
                CallState::RingingAgent,
                CallState::DialingLead,
                CallState::RingingLead,
                CallState::Connected,
                CallState::Ended
            ]
        );
        let c = &p.call;
        assert_eq!(c.outcome, Some(Outcome::Answered));
        assert!(c.talk_seconds.unwrap() > 0);
        assert!(c.ring_seconds.is_some());
        assert_eq!(c.recording_file.as_deref(), Some("acme-disca-call-1.wav"));
        assert_eq!(
            p.agent_channel.as_deref(),
            Some("PJSIP/agent-1001-00000000")
        );
    }

    #[test]
    fn early_media_counts_as_the_lead_ringing() {
        // Up to the Dial towards the lead, before it rings.
        let text = std::str::from_utf8(ANSWERED).unwrap();
        let second_dial = text.match_indices("Event: DialBegin").nth(1).unwrap().0;
        let end = second_dial + text[second_dial..].find("\r\n\r\n").unwrap() + 4;
        let (mut p, _) = replay(&ANSWERED[..end], "disca-call-1");
        let lead = p
            .lead_live
            .iter()
            .next()
            .cloned()
            .expect("a lead leg by now");
        assert_eq!(p.call.state, CallState::DialingLead);
        let progress = Message::new(vec![
            ("Event".into(), "DialState".into()),
            ("Linkedid".into(), "disca-call-1".into()),
            ("DestUniqueid".into(), lead),
            ("DialStatus".into(), "PROGRESS".into()),
        ]);
        assert_eq!(
            p.apply(&progress, OffsetDateTime::UNIX_EPOCH),
            Change::Updated
        );
        assert_eq!(p.call.state, CallState::RingingLead);
    }

    #[test]
    fn busy_lead() {
        let (p, _) = replay(TRUNK_BUSY, "disca-call-3");
        assert_eq!(p.call.outcome, Some(Outcome::Busy));
        assert!(p.call.agent_answered_at.is_some());
        assert_eq!(p.call.talk_seconds, None);
        assert_eq!(p.call.recording_file, None);
    }

    #[test]
    fn agent_who_does_not_answer_or_is_busy() {
        for (capture, id) in [
            (AGENT_NO_ANSWER, "disca-call-4"),
            (AGENT_BUSY, "disca-call-2"),
        ] {
            let (p, states) = replay(capture, id);
            assert_eq!(p.call.outcome, Some(Outcome::AgentNoAnswer), "{id}");
            assert!(
                !states.contains(&CallState::DialingLead),
                "{id}: {states:?}"
            );
            assert!(p.call.hangup_cause.is_some(), "{id}");
        }
    }

    #[test]
    fn a_cancel_before_the_lead_answers_wins() {
        let (mut p, _) = replay(&TRUNK_BUSY[..TRUNK_BUSY.len() / 3], "disca-call-3");
        p.cancel_requested = true;
        p.finish(OffsetDateTime::UNIX_EPOCH + Duration::minutes(1));
        assert_eq!(p.call.outcome, Some(Outcome::Canceled));
    }

    #[test]
    fn reconciliation_ends_a_call_with_no_channel_left() {
        let (mut p, _) = replay(&ANSWERED[..ANSWERED.len() / 2], "disca-call-1");
        assert!(p.call.is_live());
        let last_event = p.last_seen_at.expect("events were seen");
        // Found gone an hour later: the downtime is not talk time.
        let later = last_event + Duration::hours(1);
        assert!(!p.resync(&[], later));
        assert_eq!(p.finish_unseen(), Change::Ended);
        assert!(p.call.outcome.is_some());
        assert_eq!(p.call.ended_at, Some(last_event));
        assert!(p.call.durations_estimated);
        assert_eq!(p.finish_unseen(), Change::None, "ends once");
    }

    #[test]
    fn listings_tell_the_phone_a_local_agent_channel_rings_from_the_lead() {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::hours(1);
        let channel = |uid: &str, name: &str, state: &str, bridge: &str| {
            listed("disca-call-3", uid, name, state, bridge, "00:00:05")
        };
        let mut p = Progress::new(call("disca-call-3"));
        // The salesperson's phone rings, through the Local channel's ;2 half.
        let leg = channel("disca-call-3", "Local/acme-1001@agents-0001;1", "5", "");
        let half = channel("disca-call-3;2", "Local/acme-1001@agents-0001;2", "6", "");
        let phone = channel("phone-1", "PJSIP/acme-1001-00000001", "5", "");
        assert!(p.resync(&[&leg, &half, &phone], t0));
        assert_eq!(p.call.state, CallState::RingingAgent);
        assert_eq!(
            p.call.lead_dialed_at, None,
            "the agent's phone is not the lead"
        );
        assert!(!p.call.durations_estimated);
        // Answered: the phone is bridged with ;2, the lead rings.
        let leg = channel("disca-call-3", "Local/acme-1001@agents-0001;1", "6", "");
        let half = channel(
            "disca-call-3;2",
            "Local/acme-1001@agents-0001;2",
            "6",
            "b-agent",
        );
        let phone = channel("phone-1", "PJSIP/acme-1001-00000001", "6", "b-agent");
        let lead = channel("lead-1", "PJSIP/acme-trunk-00000002", "5", "");
        let t1 = t0 + Duration::seconds(10);
        assert!(p.resync(&[&leg, &half, &phone, &lead], t1));
        assert_eq!(p.call.state, CallState::DialingLead);
        assert_eq!(
            p.call.lead_answered_at, None,
            "the agent's bridge is not the lead's"
        );
        assert_eq!(p.call.lead_dialed_at, Some(t1 - Duration::seconds(5)));
        // The lead answers: bridged with the agent leg.
        let leg = channel(
            "disca-call-3",
            "Local/acme-1001@agents-0001;1",
            "6",
            "b-lead",
        );
        let lead = channel("lead-1", "PJSIP/acme-trunk-00000002", "6", "b-lead");
        let t2 = t1 + Duration::seconds(10);
        assert!(p.resync(&[&leg, &half, &phone, &lead], t2));
        assert_eq!(p.call.state, CallState::Connected);
        assert_eq!(p.call.lead_answered_at, Some(t2));
    }

    #[test]
    fn a_missed_end_is_estimated_from_the_last_listing_that_showed_the_call() {
        let (p, _) = replay(ANSWERED, "disca-call-1");
        // The whole capture: ended, seen, measured.
        assert!(!p.call.durations_estimated);
        assert!(!p.call.is_live());

        // A call the backend learns about only from listings (it restarted
        // while the call was in progress).
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::hours(1);
        let mut p = Progress::new(call("disca-call-2"));
        let channel = |uid: &str, duration: &str| {
            listed(
                "disca-call-2",
                uid,
                &format!("PJSIP/x-{uid}"),
                "6",
                "b1",
                duration,
            )
        };
        let (agent, lead) = (
            channel("disca-call-2", "00:00:40"),
            channel("lead-1", "00:00:30"),
        );
        assert!(p.resync(&[&agent, &lead], t0));
        assert_eq!(p.call.state, CallState::Connected);
        assert!(p.call.durations_estimated, "an answer not seen is a guess");
        assert_eq!(p.call.lead_dialed_at, Some(t0 - Duration::seconds(30)));
        assert_eq!(
            p.call.lead_answered_at,
            Some(t0),
            "never earlier than known"
        );
        let t1 = t0 + Duration::seconds(10);
        assert!(p.resync(&[&agent, &lead], t1));
        // Gone at the next listing, 10 minutes on.
        assert!(!p.resync(&[], t1 + Duration::minutes(10)));
        assert_eq!(p.finish_unseen(), Change::Ended);
        assert_eq!(p.call.ended_at, Some(t1));
        assert_eq!(p.call.talk_seconds, Some(10));
        assert_eq!(p.call.outcome, Some(Outcome::Answered));
    }
}
