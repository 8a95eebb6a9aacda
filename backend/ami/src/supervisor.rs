//! The background task that keeps one logged-in connection up.
//!
//! Per connection, three futures run side by side in the task: the reader, which only
//! ever waits on the socket (events go to an unbounded channel, answers to their
//! waiters) so Asterisk never finds a slow reader; the writer, fed by a queue; and the
//! keepalive `Ping`. The first of them to end ends the connection.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::action::Action;
use crate::client::{ClientEvent, Config, Shared};
use crate::login::{self, Connection};
use crate::message::Message;

/// Connects, logs in, serves the connection until it drops, waits, and starts again,
/// until `stop` is cancelled.
pub(crate) async fn run(
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<ClientEvent>,
    stop: CancellationToken,
) {
    let config = &shared.config;
    let reconnect = reconnect_delays(config);
    let mut delays = reconnect.build();
    loop {
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            attempt = login::connect(&shared) => attempt,
        };
        match attempt {
            Ok(connection) => {
                delays = reconnect.build();
                tracing::info!(
                    addr = %config.addr,
                    banner = connection.codec().banner().unwrap_or("none"),
                    "AMI logged in"
                );
                let (writer, queue) = mpsc::unbounded_channel();
                shared.connected(writer);
                // Events go out only after this, so `Connected` precedes them.
                let _ = events.send(ClientEvent::Connected);
                let (sink, stream) = connection.split();
                let reason = tokio::select! {
                    () = stop.cancelled() => "client dropped".to_owned(),
                    reason = read(stream, &shared, &events) => reason,
                    reason = write(sink, queue) => reason,
                    reason = keepalive(&shared) => reason,
                };
                shared.disconnected();
                tracing::warn!(addr = %config.addr, %reason, "AMI connection lost");
                let _ = events.send(ClientEvent::Disconnected { reason });
                if stop.is_cancelled() {
                    return;
                }
            }
            Err(err) => {
                tracing::warn!(
                    addr = %config.addr,
                    username = %config.username,
                    error = %err,
                    "AMI connection or login failed"
                );
            }
        }
        let delay = delays.next().unwrap_or(config.reconnect_max);
        tracing::debug!(?delay, "AMI reconnecting after a pause");
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Delays between reconnection attempts: doubling from `reconnect_min` to
/// `reconnect_max`, each drawn from the upper half of its step, so that many
/// clients restarted together do not reconnect in lockstep. backon's jitter
/// adds up to the step again, hence the halves.
fn reconnect_delays(config: &Config) -> ExponentialBuilder {
    let min = config.reconnect_min;
    let max = config.reconnect_max.max(min);
    ExponentialBuilder::new()
        .with_min_delay(min / 2)
        .with_max_delay(max / 2)
        .with_jitter()
        .without_max_times()
}

/// Drains the socket; returns why it stopped.
async fn read(
    mut stream: SplitStream<Connection>,
    shared: &Shared,
    events: &mpsc::UnboundedSender<ClientEvent>,
) -> String {
    while let Some(message) = stream.next().await {
        match message {
            Ok(message) => {
                if let Some(event) = shared.route(message)
                    && wanted(&shared.config.events, &event)
                {
                    let _ = events.send(ClientEvent::Message(event));
                }
            }
            Err(err) => return format!("read failed: {err}"),
        }
    }
    "connection closed by Asterisk".to_owned()
}

/// Whether the consumer asked for this event.
fn wanted(filter: &Option<Vec<String>>, event: &Message) -> bool {
    match (filter, event.event_name()) {
        (None, _) => true,
        (Some(names), Some(name)) => names.iter().any(|n| n.eq_ignore_ascii_case(name)),
        (Some(_), None) => false,
    }
}

/// Writes queued actions; returns why it stopped.
async fn write(
    mut sink: SplitSink<Connection, Action>,
    mut queue: mpsc::UnboundedReceiver<Action>,
) -> String {
    while let Some(action) = queue.recv().await {
        if let Err(err) = sink.feed(action).await {
            return format!("write failed: {err}");
        }
        // Send what has piled up in one go, then flush.
        while let Ok(action) = queue.try_recv() {
            if let Err(err) = sink.feed(action).await {
                return format!("write failed: {err}");
            }
        }
        if let Err(err) = sink.flush().await {
            return format!("write failed: {err}");
        }
    }
    "writer queue closed".to_owned()
}

/// Pings every `ping_interval`; returns why a Ping failed or went
/// unanswered for `ping_timeout` (a stalled link).
async fn keepalive(shared: &Shared) -> String {
    let interval = shared.config.ping_interval;
    if interval == Duration::ZERO {
        return std::future::pending().await;
    }
    loop {
        tokio::time::sleep(interval).await;
        let ping = match Action::new("Ping") {
            Ok(ping) => ping,
            Err(err) => return err.to_string(),
        };
        if let Err(err) = shared.send_within(ping, shared.config.ping_timeout).await {
            return format!("keepalive Ping failed: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> Message {
        Message::new(vec![
            ("Event".into(), name.into()),
            ("Uniqueid".into(), "1".into()),
        ])
    }

    #[test]
    fn reconnect_delays_grow_to_the_ceiling_with_jitter() {
        let mut config = Config::new("127.0.0.1:5038", "disca", "secret");
        config.reconnect_min = Duration::from_millis(100);
        config.reconnect_max = Duration::from_millis(1000);
        let delays: Vec<Duration> = reconnect_delays(&config).build().take(8).collect();
        let ceilings = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        // backon computes in f32 seconds: a microsecond either way.
        let slack = Duration::from_micros(1);
        for (delay, ceiling) in delays.iter().zip(ceilings) {
            let ceiling = Duration::from_millis(ceiling);
            assert!(
                *delay + slack >= ceiling / 2 && *delay <= ceiling + slack,
                "{delay:?} for {ceiling:?}"
            );
        }
    }

    #[test]
    fn a_ceiling_below_the_floor_keeps_the_floor() {
        let mut config = Config::new("127.0.0.1:5038", "disca", "secret");
        config.reconnect_min = Duration::from_millis(400);
        config.reconnect_max = Duration::from_millis(100);
        for delay in reconnect_delays(&config).build().take(4) {
            assert!(delay <= Duration::from_millis(401), "{delay:?}");
            assert!(delay >= Duration::from_millis(199), "{delay:?}");
        }
    }

    #[test]
    fn the_event_filter_keeps_only_named_events() {
        let filter = Some(vec!["Hangup".to_owned(), "Newchannel".to_owned()]);
        assert!(wanted(&filter, &event("Hangup")));
        assert!(wanted(&filter, &event("newchannel")));
        assert!(!wanted(&filter, &event("VarSet")));
        assert!(!wanted(
            &filter,
            &Message::new(vec![("Response".into(), "Success".into())])
        ));
        assert!(wanted(&None, &event("VarSet")));
    }
}
