//! The reconnecting client: the handle the backend uses to send actions, and the
//! correlation of Asterisk's answers with the calls waiting for them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::action::{Action, InvalidValue, Problem};
use crate::error::AmiError;
use crate::message::{Message, MessageKind};
use crate::supervisor;

/// Where and how to connect.
#[derive(Clone)]
pub struct Config {
    /// `host:port` of the AMI listener.
    pub addr: String,
    /// AMI user (a `[section]` of `manager.conf`).
    pub username: String,
    /// Its secret; used only for the MD5 challenge login and never logged.
    pub secret: String,
    /// How often a `Ping` checks the connection; zero turns the check off.
    pub ping_interval: Duration,
    /// How long a `Ping` may go unanswered before the connection is declared
    /// dead (closed, every waiting action failed with
    /// [`AmiError::Disconnected`], and reconnected). A connection that stalls
    /// without closing is so detected within `ping_interval + ping_timeout`.
    pub ping_timeout: Duration,
    /// How long to wait for the answer to an action (for an event list: for each item).
    pub response_timeout: Duration,
    /// First delay before reconnecting.
    pub reconnect_min: Duration,
    /// Largest delay before reconnecting.
    pub reconnect_max: Duration,
    /// How long a TCP connection attempt may take.
    pub connect_timeout: Duration,
    /// When set, only events with these names (compared case-insensitively)
    /// reach the consumer; the rest are dropped as soon as they are read, so a
    /// busy PBX's chatter (VarSet, Newexten...) costs no memory downstream.
    pub events: Option<Vec<String>>,
}

impl Config {
    /// Default [`Config::ping_interval`]: 2 s.
    pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(2);
    /// Default [`Config::ping_timeout`]: 2 s, so a stalled link is dropped
    /// within 4 s.
    pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(2);
    /// Default [`Config::response_timeout`]: 5 s.
    pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default [`Config::reconnect_min`]: 0.5 s.
    pub const DEFAULT_RECONNECT_MIN: Duration = Duration::from_millis(500);
    /// Default [`Config::reconnect_max`]: 30 s.
    pub const DEFAULT_RECONNECT_MAX: Duration = Duration::from_secs(30);
    /// Default [`Config::connect_timeout`]: 5 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// A configuration with the default timings (the `DEFAULT_*` constants):
    /// Ping every 2 s, answered within 2 s; 5 s for the answer to an action;
    /// reconnect after 0.5 s doubling up to 30 s; 5 s to connect.
    pub fn new(addr: &str, username: &str, secret: &str) -> Config {
        Config {
            addr: addr.to_owned(),
            username: username.to_owned(),
            secret: secret.to_owned(),
            ping_interval: Config::DEFAULT_PING_INTERVAL,
            ping_timeout: Config::DEFAULT_PING_TIMEOUT,
            response_timeout: Config::DEFAULT_RESPONSE_TIMEOUT,
            reconnect_min: Config::DEFAULT_RECONNECT_MIN,
            reconnect_max: Config::DEFAULT_RECONNECT_MAX,
            connect_timeout: Config::DEFAULT_CONNECT_TIMEOUT,
            events: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("connect_timeout", &self.connect_timeout)
            .field("events", &self.events)
            .finish()
    }
}

/// What the client reports, in the order it happened.
#[derive(Clone, Debug)]
pub enum ClientEvent {
    /// Logged in (after every successful login, reconnections included). Events of the
    /// new connection follow it.
    Connected,
    /// A connection that had reported `Connected` is gone; every action still waiting
    /// for an answer failed with [`AmiError::Disconnected`].
    Disconnected {
        /// What ended it.
        reason: String,
    },
    /// An event (first key `Event`), `OriginateResponse` included.
    ///
    /// Events that carry the `ActionID` of a running [`Client::send_list`] go to that
    /// call only and are not repeated here.
    Message(Message),
}

/// A call to place with `Originate`.
#[derive(Clone, Debug)]
pub struct Originate {
    /// First leg, e.g. `PJSIP/agent-1001`.
    pub channel: String,
    /// Dialplan context the first leg continues in once answered.
    pub context: String,
    /// Extension in that context.
    pub exten: String,
    /// Priority in that extension.
    pub priority: u32,
    /// How long the first leg may ring.
    pub timeout: Duration,
    /// Caller ID shown on the first leg, e.g. `"Disca" <1001>`.
    pub caller_id: Option<String>,
    /// Uniqueid (and so Linkedid) of the first leg.
    pub channel_id: String,
    /// Uniqueid of the second half of a `Local` channel.
    pub other_channel_id: Option<String>,
    /// Channel variables, one `Variable` header each.
    pub variables: Vec<(String, String)>,
}

impl Originate {
    /// The `Originate` action, always with `Async: true`.
    pub fn to_action(&self) -> Result<Action, InvalidValue> {
        let mut action = Action::new("Originate")?
            .header("Channel", &self.channel)?
            .header("Context", &self.context)?
            .header("Exten", &self.exten)?
            .header("Priority", &self.priority.to_string())?
            .header("Timeout", &self.timeout.as_millis().to_string())?;
        if let Some(caller_id) = &self.caller_id {
            action = action.header("CallerID", caller_id)?;
        }
        action = action
            .header("Async", "true")?
            .header("ChannelId", &self.channel_id)?;
        if let Some(other) = &self.other_channel_id {
            action = action.header("OtherChannelId", other)?;
        }
        for (name, value) in &self.variables {
            action = action.variable(name, value)?;
        }
        Ok(action)
    }
}

/// Handle to one AMI connection kept up by a background task.
///
/// Clones share the connection. When the last clone is dropped, the task logs off by
/// closing the connection and ends.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    _stop: Arc<DropGuard>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.shared.config.addr)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Client {
    /// Spawns a supervisor task that connects, logs in with the MD5 challenge, keeps
    /// the connection alive with `Ping`, and reconnects forever with exponential
    /// backoff and jitter. Returns immediately; must be called inside a tokio runtime.
    pub fn start(config: Config) -> (Client, mpsc::UnboundedReceiver<ClientEvent>) {
        let (events, receiver) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared::new(config));
        tokio::spawn(supervisor::run(Arc::clone(&shared), events, stop.clone()));
        let client = Client {
            shared,
            _stop: Arc::new(stop.drop_guard()),
        };
        (client, receiver)
    }

    /// Whether the client is logged in right now.
    pub fn is_connected(&self) -> bool {
        self.shared.state().writer.is_some()
    }

    /// Sends one action (with a fresh unique `ActionID`, replacing any set) and waits
    /// for its response. `Response: Error` becomes [`AmiError::Rejected`]; fails at
    /// once with [`AmiError::NotConnected`] when not logged in.
    pub async fn send(&self, action: Action) -> Result<Message, AmiError> {
        self.shared.send(action).await
    }

    /// Sends an event-list action (`CoreShowChannels`, `PJSIPShowEndpoints`, `Status`...)
    /// and returns the list's events: those after the `EventList: start` response and
    /// before the event with `EventList: Complete` (which is not returned), matched by
    /// `ActionID`. The response timeout applies to each item.
    pub async fn send_list(&self, action: Action) -> Result<Vec<Message>, AmiError> {
        self.shared.send_list(action).await
    }

    /// Places a call with `Originate` (`Async: true`); returns once Asterisk has queued
    /// it. How it went arrives later as an `OriginateResponse` event.
    pub async fn originate(&self, req: &Originate) -> Result<(), AmiError> {
        self.send(req.to_action()?).await.map(drop)
    }

    /// Checks the link with a `Ping`, waiting `ping_timeout` for the answer.
    pub async fn ping(&self) -> Result<(), AmiError> {
        let ping = Action::new("Ping")?;
        self.shared
            .send_within(ping, self.shared.config.ping_timeout)
            .await
            .map(drop)
    }

    /// Hangs up `channel` (an exact channel name such as `PJSIP/agent-1001-00000001`),
    /// optionally with a hangup cause code. A name starting with `/` is refused:
    /// Asterisk would read it as a regular expression over all channels.
    pub async fn hangup(&self, channel: &str, cause: Option<u32>) -> Result<(), AmiError> {
        if channel.starts_with('/') {
            return Err(InvalidValue::new("Channel", Problem::ChannelPattern).into());
        }
        let mut action = Action::new("Hangup")?.header("Channel", channel)?;
        if let Some(cause) = cause {
            action = action.header("Cause", &cause.to_string())?;
        }
        self.send(action).await.map(drop)
    }
}

/// State shared by the handles and the supervisor task.
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// Distinguishes this client's `ActionID`s from any other AMI client's.
    id_prefix: String,
    next_id: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Queue to the writer of the logged-in connection; `None` when not logged in.
    writer: Option<mpsc::UnboundedSender<Action>>,
    /// Actions waiting for answers, by `ActionID`.
    pending: HashMap<String, Pending>,
}

enum Pending {
    Response(oneshot::Sender<Message>),
    List(mpsc::UnboundedSender<Message>),
}

/// Removes a pending entry when its caller returns or gives up.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.state().pending.remove(&self.id);
    }
}

impl Shared {
    fn new(config: Config) -> Shared {
        Shared {
            config,
            id_prefix: format!("disca-{:08x}", rand::random::<u32>()),
            next_id: AtomicU64::new(1),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across an await or a call that can panic halfway.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn next_action_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.id_prefix)
    }

    /// Logged in: actions may flow to `writer`.
    pub(crate) fn connected(&self, writer: mpsc::UnboundedSender<Action>) {
        self.state().writer = Some(writer);
    }

    /// Connection gone: refuse new actions and fail the waiting ones (their senders are
    /// dropped, which their callers see as [`AmiError::Disconnected`]).
    pub(crate) fn disconnected(&self) {
        let mut state = self.state();
        state.writer = None;
        state.pending.clear();
    }

    /// Queues `action` under a fresh `ActionID` and registers `pending` for it.
    fn submit(&self, action: Action, pending: Pending) -> Result<PendingGuard<'_>, AmiError> {
        let id = self.next_action_id();
        let action = action.action_id(&id)?;
        let mut state = self.state();
        let writer = state.writer.as_ref().ok_or(AmiError::NotConnected)?;
        writer.send(action).map_err(|_| AmiError::Disconnected)?;
        state.pending.insert(id.clone(), pending);
        Ok(PendingGuard { shared: self, id })
    }

    pub(crate) async fn send(&self, action: Action) -> Result<Message, AmiError> {
        self.send_within(action, self.config.response_timeout).await
    }

    /// [`Shared::send`] with its own answer timeout.
    pub(crate) async fn send_within(
        &self,
        action: Action,
        timeout: Duration,
    ) -> Result<Message, AmiError> {
        let (tx, rx) = oneshot::channel();
        let _guard = self.submit(action, Pending::Response(tx))?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(response)) => accepted(response),
            Ok(Err(_)) => Err(AmiError::Disconnected),
            Err(_) => Err(AmiError::Timeout),
        }
    }

    async fn send_list(&self, action: Action) -> Result<Vec<Message>, AmiError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let _guard = self.submit(action, Pending::List(tx))?;
        let mut started = false;
        let mut items = Vec::new();
        loop {
            let message = match tokio::time::timeout(self.config.response_timeout, rx.recv()).await
            {
                Ok(Some(message)) => message,
                Ok(None) => return Err(AmiError::Disconnected),
                Err(_) => return Err(AmiError::Timeout),
            };
            let list_state = message.get("EventList");
            if !started {
                let response = accepted(message)?;
                if !response
                    .get("EventList")
                    .is_some_and(|v| v.eq_ignore_ascii_case("start"))
                {
                    return Err(AmiError::Protocol(format!(
                        "answer to an event-list action without `EventList: start` (Message: {})",
                        response.get("Message").unwrap_or("none")
                    )));
                }
                started = true;
            } else if list_state.is_some_and(|v| v.eq_ignore_ascii_case("Complete")) {
                return Ok(items);
            } else {
                items.push(message);
            }
        }
    }

    /// Hands a received message to whoever waits for it; returns it when it is an event
    /// for the consumer.
    pub(crate) fn route(&self, message: Message) -> Option<Message> {
        let kind = message.kind();
        let Some(id) = message.action_id() else {
            return match kind {
                MessageKind::Event => Some(message),
                MessageKind::Response | MessageKind::Other => {
                    tracing::debug!(?message, "AMI answer without ActionID ignored");
                    None
                }
            };
        };
        let mut state = self.state();
        match (state.pending.get(id), kind) {
            (Some(Pending::List(items)), _) => {
                // The caller may just have given up; then the item has no taker.
                let _ = items.send(message);
                None
            }
            (Some(Pending::Response(_)), MessageKind::Response | MessageKind::Other) => {
                if let Some(Pending::Response(waiter)) = state.pending.remove(id) {
                    let _ = waiter.send(message);
                }
                None
            }
            (_, MessageKind::Event) => Some(message),
            (_, MessageKind::Response | MessageKind::Other) => {
                tracing::debug!(action_id = id, "AMI answer nobody waits for ignored");
                None
            }
        }
    }
}

/// `Response: Error` as [`AmiError::Rejected`], anything else as it is.
fn accepted(response: Message) -> Result<Message, AmiError> {
    if response
        .response()
        .is_some_and(|r| r.eq_ignore_ascii_case("Error"))
    {
        return Err(AmiError::Rejected {
            message: response.get("Message").unwrap_or_default().to_owned(),
        });
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret() {
        let config = Config::new("127.0.0.1:5038", "disca", "s3cr3t-value");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn originate_action_has_async_and_every_field() {
        let req = Originate {
            channel: "PJSIP/agent-1001".into(),
            context: "outbound".into(),
            exten: "+5511987654321".into(),
            priority: 1,
            timeout: Duration::from_secs(30),
            caller_id: Some("\"Disca\" <1001>".into()),
            channel_id: "disca-call-1".into(),
            other_channel_id: Some("disca-call-1-b".into()),
            variables: vec![("TENANT".into(), "acme,corp".into())],
        };
        let action = req.to_action().unwrap();
        let headers: Vec<_> = action.headers().iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(
            headers,
            [
                ("Action", "Originate"),
                ("Channel", "PJSIP/agent-1001"),
                ("Context", "outbound"),
                ("Exten", "+5511987654321"),
                ("Priority", "1"),
                ("Timeout", "30000"),
                ("CallerID", "\"Disca\" <1001>"),
                ("Async", "true"),
                ("ChannelId", "disca-call-1"),
                ("OtherChannelId", "disca-call-1-b"),
                ("Variable", r"TENANT=acme\,corp"),
            ]
        );
        let bad = Originate {
            exten: "123\r\nAction: Hangup".into(),
            ..req
        };
        assert!(bad.to_action().is_err());
    }
}
