//! A raw AMI session for checks made beside the product: the test bed's own
//! readiness probe and tests that look at Asterisk directly (the backend uses
//! its own client, `disca-ami`).

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{Instant, timeout, timeout_at};

/// The line Asterisk greets an AMI client with starts with this.
pub const BANNER_PREFIX: &str = "Asterisk Call Manager/";

/// One AMI message: `Key: Value` lines in order (keys may repeat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiMessage {
    fields: Vec<(String, String)>,
}

impl AmiMessage {
    /// The first value of `key` (case-insensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The event name, when the message is an event (its first key is `Event`).
    pub fn event(&self) -> Option<&str> {
        self.fields
            .first()
            .filter(|(k, _)| k.eq_ignore_ascii_case("Event"))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the message is the event `name`.
    pub fn is_event(&self, name: &str) -> bool {
        self.event().is_some_and(|e| e.eq_ignore_ascii_case(name))
    }

    /// Whether the message is an action response with `Response: Success`.
    pub fn is_success(&self) -> bool {
        self.fields.first().is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("Response") && v.eq_ignore_ascii_case("Success")
        })
    }
}

impl fmt::Display for AmiMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in &self.fields {
            writeln!(f, "{key}: {value}")?;
        }
        Ok(())
    }
}

/// A logged-in (or not yet) AMI connection.
pub struct AmiSession {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    banner: String,
    events: VecDeque<AmiMessage>,
    next_action_id: u64,
}

/// How long one action may wait for its response.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

impl AmiSession {
    /// Connects and reads the banner.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<AmiSession> {
        let stream = timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .with_context(|| format!("connecting to AMI at {addr}: timed out"))?
            .with_context(|| format!("connecting to AMI at {addr}"))?;
        let (read, writer) = stream.into_split();
        let mut reader = BufReader::new(read);
        let mut banner = String::new();
        timeout(Duration::from_secs(5), reader.read_line(&mut banner))
            .await
            .context("waiting for the AMI banner: timed out")?
            .context("reading the AMI banner")?;
        let banner = banner.trim_end().to_owned();
        ensure!(
            banner.starts_with(BANNER_PREFIX),
            "unexpected AMI banner {banner:?}"
        );
        Ok(AmiSession {
            reader,
            writer,
            banner,
            events: VecDeque::new(),
            next_action_id: 1,
        })
    }

    /// The banner line, e.g. `Asterisk Call Manager/11.0.0`.
    pub fn banner(&self) -> &str {
        &self.banner
    }

    /// Logs in with a plain secret; fails unless Asterisk accepts it.
    pub async fn login(&mut self, username: &str, secret: &str) -> anyhow::Result<()> {
        let response = self
            .action("Login", &[("Username", username), ("Secret", secret)])
            .await?;
        ensure!(
            response.is_success(),
            "AMI login as {username} refused:\n{response}"
        );
        Ok(())
    }

    /// Sends an action with a fresh `ActionID` and returns its response
    /// (`Success` or `Error`). Events read meanwhile are kept for
    /// [`AmiSession::next_event`].
    pub async fn action(
        &mut self,
        name: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<AmiMessage> {
        let action_id = format!("disca-tests-{}", self.next_action_id);
        self.next_action_id += 1;
        let mut text = String::new();
        for (key, value) in [("Action", name), ("ActionID", action_id.as_str())]
            .iter()
            .chain(headers)
        {
            ensure!(
                !key.contains(['\r', '\n', ':']) && !value.contains(['\r', '\n']),
                "AMI header {key:?} has a forbidden character"
            );
            text.push_str(&format!("{key}: {value}\r\n"));
        }
        text.push_str("\r\n");
        self.writer
            .write_all(text.as_bytes())
            .await
            .context("writing to AMI")?;
        let deadline = Instant::now() + RESPONSE_TIMEOUT;
        loop {
            let message = timeout_at(deadline, self.read_message())
                .await
                .with_context(|| {
                    format!("no response to AMI action {name} within {RESPONSE_TIMEOUT:?}")
                })??;
            if message.event().is_none() && message.get("ActionID") == Some(action_id.as_str()) {
                return Ok(message);
            }
            self.events.push_back(message);
        }
    }

    /// The next event (or stray message), waiting up to `wait`.
    pub async fn next_event(&mut self, wait: Duration) -> anyhow::Result<AmiMessage> {
        if let Some(event) = self.events.pop_front() {
            return Ok(event);
        }
        timeout(wait, self.read_message())
            .await
            .with_context(|| format!("no AMI event within {wait:?}"))?
    }

    /// Reads events until one satisfies `last`, which is included; returns
    /// them all in order. Fails after `wait`, listing the events seen.
    pub async fn events_until(
        &mut self,
        wait: Duration,
        last: impl Fn(&AmiMessage) -> bool,
    ) -> anyhow::Result<Vec<AmiMessage>> {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.next_event(remaining).await {
                Ok(event) => {
                    let done = last(&event);
                    seen.push(event);
                    if done {
                        return Ok(seen);
                    }
                }
                Err(error) => {
                    let names: Vec<_> = seen
                        .iter()
                        .map(|e| e.event().unwrap_or("(response)").to_owned())
                        .collect();
                    bail!("{error:#}; events seen: {}", names.join(", "));
                }
            }
        }
    }

    async fn read_message(&mut self) -> anyhow::Result<AmiMessage> {
        let mut fields = Vec::new();
        loop {
            let mut line = String::new();
            let read = self
                .reader
                .read_line(&mut line)
                .await
                .context("reading from AMI")?;
            ensure!(read > 0, "AMI connection closed by Asterisk");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if fields.is_empty() {
                    continue;
                }
                return Ok(AmiMessage { fields });
            }
            let (key, value) = line.split_once(':').unwrap_or(("", line));
            fields.push((key.trim().to_owned(), value.trim_start().to_owned()));
        }
    }
}
