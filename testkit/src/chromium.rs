//! A small Chrome DevTools Protocol client that drives Debian's packaged
//! headless Chromium for the end-to-end tests of the extension.
//!
//! This module owns the whole life of one test browser:
//!
//! - [`Chromium::launch`] starts `chromium` (the Debian wrapper, which `exec`s
//!   the real binary) with the flags that keep it quiet on a closed network
//!   (see `/work/shared/reference/browser.md`), a caller-chosen
//!   `--user-data-dir`, an optional unpacked extension, extra flags,
//!   environment variables (inherited by native hosts Chromium starts) and
//!   `--host-resolver-rules`. It waits at most 20 s for the first DevTools
//!   reply and otherwise fails with the tail of Chromium's stderr.
//! - [`Chromium::open`] gives a [`Page`] (a new tab); [`Chromium::worker`]
//!   gives a [`Worker`] attached to a running service worker, such as the
//!   extension's (`chrome-extension://<id>/`), which a test can stop as
//!   Chromium does an idle one.
//! - [`Page`] evaluates JavaScript, waits for conditions, clicks with real
//!   (trusted) mouse events, navigates, resizes, takes PNG screenshots, and
//!   keeps what the page printed or threw ([`ConsoleMessage`]).
//! - Dropping the [`Chromium`] kills its whole process group (browser,
//!   zygotes, renderers); a native host it started sees its stdin close.
//!
//! # Transport
//!
//! The client speaks CDP over `--remote-debugging-pipe`: Chromium reads
//! commands from file descriptor 3 and writes replies and events to file
//! descriptor 4, each message being JSON followed by a NUL byte (the transport
//! Playwright uses). Compared with `--remote-debugging-port=0`, there is no
//! port, no `DevToolsActivePort` file to poll, no websocket dependency, no
//! other local process can connect, and Chromium quits by itself when the
//! pipe closes. Because the workspace forbids `unsafe` (no `pre_exec`),
//! descriptors 3 and 4 are set up by `sh`: the child's stdin and stdout are
//! our pipes, `sh` duplicates them to 3 and 4, points 0 and 1 at `/dev/null`,
//! then `exec`s Chromium (same process id).
//!
//! One reader task dispatches replies by `id` to their waiting caller and
//! events by `sessionId` to their [`Page`] or [`Worker`]; one writer task
//! writes whole messages, so a caller's future being dropped never leaves a
//! half-written command. Sessions are attached with `flatten: true` and so
//! share the one connection. Every command is bounded in time, and protocol
//! input of an unexpected shape becomes an [`Error`], never a panic.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Flags that keep Chromium headless and quiet on the closed test network.
const QUIET_FLAGS: [&str; 8] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Moves the child's stdin/stdout to descriptors 3/4 and runs `$0 "$@"`.
const PIPE_SHIM: &str = r#"exec 3<&0 4>&1 </dev/null >/dev/null; exec "$0" "$@""#;

/// How long Chromium has to answer its first command.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(20);
/// How long any single command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a navigation may take to reach its `load` event.
const NAVIGATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two evaluations of [`Page::wait_for`] / [`Chromium::worker`].
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Lines of Chromium's stderr kept for error messages.
const STDERR_LINES: usize = 40;
/// `load` lifecycle events remembered per page (see [`Page::navigate`]).
const LOADS_REMEMBERED: usize = 16;

/// What can go wrong while driving Chromium.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Chromium could not be started or did not answer in time.
    #[error("Chromium did not start: {reason}\n--- Chromium stderr (last lines) ---\n{stderr}")]
    Launch { reason: String, stderr: String },
    /// The connection to Chromium is gone (it exited, crashed, or was dropped).
    #[error(
        "connection to Chromium closed ({reason}) during {method}\n--- Chromium stderr (last lines) ---\n{stderr}"
    )]
    Closed {
        method: String,
        reason: String,
        stderr: String,
    },
    /// The page or worker this command was for went away.
    #[error("{method}: the target is gone ({reason})")]
    Detached { method: String, reason: String },
    /// Chromium answered a command with an error.
    #[error("{method} failed: {message} (code {code})")]
    Protocol {
        method: String,
        code: i64,
        message: String,
    },
    /// Chromium answered, but not in the shape this client expects.
    #[error("unexpected reply to {method}: {detail}")]
    Unexpected { method: String, detail: String },
    /// The evaluated JavaScript threw (or its promise rejected); the text has
    /// the exception's message and stack.
    #[error("JavaScript exception: {0}")]
    Exception(String),
    /// A navigation failed (`net::ERR_...`).
    #[error("navigation to {url} failed: {error}")]
    Navigation { url: String, error: String },
    /// [`Page::click`] could not find a clickable element.
    #[error("cannot click {selector:?}: {reason}")]
    Click { selector: String, reason: String },
    /// Something did not happen in time.
    #[error("timed out after {after:?} {what}")]
    Timeout { after: Duration, what: String },
    /// A local file could not be written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to start Chromium; see [`Chromium::launch`].
#[derive(Debug, Clone)]
pub struct ChromiumOptions {
    binary: PathBuf,
    user_data_dir: PathBuf,
    extension: Option<PathBuf>,
    headed: bool,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    host_resolver_rules: Option<String>,
    /// Extension downloads and update checks allowed (policy installs).
    extension_updates: bool,
}

impl ChromiumOptions {
    /// Runs `chromium` from `PATH` with this (preferably fresh) profile folder.
    pub fn new(user_data_dir: impl Into<PathBuf>) -> ChromiumOptions {
        ChromiumOptions {
            binary: PathBuf::from("chromium"),
            user_data_dir: user_data_dir.into(),
            extension: None,
            headed: false,
            args: Vec::new(),
            envs: Vec::new(),
            host_resolver_rules: None,
            extension_updates: false,
        }
    }

    /// Lets Chromium download and update extensions (what a policy's
    /// `ExtensionInstallForcelist` needs; the quiet flags otherwise turn
    /// background networking and component updates off).
    pub fn extension_updates(mut self) -> Self {
        self.extension_updates = true;
        self
    }

    /// Another Chromium executable than `chromium` from `PATH`.
    pub fn binary(mut self, binary: impl Into<PathBuf>) -> Self {
        self.binary = binary.into();
        self
    }

    /// Loads this unpacked extension, and no other.
    pub fn extension(mut self, dir: impl Into<PathBuf>) -> Self {
        self.extension = Some(dir.into());
        self
    }

    /// Opens a window (on the display of `DISPLAY` or `WAYLAND_DISPLAY`)
    /// instead of running headless.
    pub fn headed(mut self) -> Self {
        self.headed = true;
        self
    }

    /// One more command-line flag (after this module's own, so it wins).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Environment variables for Chromium and what it starts (native hosts).
    pub fn envs<K, V>(mut self, envs: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.envs
            .extend(envs.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// `--host-resolver-rules`, e.g. `MAP *.disca.test 127.0.0.1`.
    pub fn host_resolver_rules(mut self, rules: impl Into<String>) -> Self {
        self.host_resolver_rules = Some(rules.into());
        self
    }

    fn command_line(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = QUIET_FLAGS
            .iter()
            .filter(|flag| !(self.headed && flag.starts_with("--headless")))
            .filter(|flag| {
                !(self.extension_updates
                    && matches!(
                        **flag,
                        "--disable-background-networking" | "--disable-component-update"
                    ))
            })
            .map(OsString::from)
            .collect();
        args.push("--remote-debugging-pipe".into());
        args.push(flag("--user-data-dir=", &self.user_data_dir));
        if let Some(extension) = &self.extension {
            args.push(flag("--disable-extensions-except=", extension));
            args.push(flag("--load-extension=", extension));
        }
        if let Some(rules) = &self.host_resolver_rules {
            args.push(format!("--host-resolver-rules={rules}").into());
        }
        args.extend(self.args.iter().cloned());
        args
    }
}

fn flag(name: &str, path: &Path) -> OsString {
    let mut flag = OsString::from(name);
    flag.push(path);
    flag
}

/// A running headless Chromium; its process group is killed on drop.
pub struct Chromium {
    connection: Arc<Connection>,
    child: Child,
    tasks: Vec<JoinHandle<()>>,
}

impl Chromium {
    /// The browser process's id (its renderers, GPU and utility processes
    /// are its descendants); `None` once it has exited.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Starts Chromium and waits (at most 20 s) until it answers on the
    /// DevTools pipe.
    pub async fn launch(options: ChromiumOptions) -> Result<Chromium> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(PIPE_SHIM)
            .arg(&options.binary)
            .args(options.command_line())
            .envs(options.envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| Error::Launch {
            reason: format!("cannot run sh to start {}: {e}", options.binary.display()),
            stderr: String::new(),
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(Error::Launch {
                reason: "the child's pipes were not created".into(),
                stderr: String::new(),
            });
        };

        let stderr_tail = StderrTail::default();
        let (outgoing, to_write) = mpsc::unbounded_channel();
        let connection = Arc::new(Connection {
            outgoing,
            next_id: AtomicU64::new(1),
            state: Mutex::new(State::default()),
            stderr: stderr_tail.clone(),
        });
        let stderr_task = tokio::spawn(stderr_tail.clone().collect(stderr));
        let tasks = vec![
            tokio::spawn(write_loop(stdin, to_write)),
            tokio::spawn(read_loop(connection.clone(), stdout)),
        ];
        let mut chromium = Chromium {
            connection,
            child,
            tasks,
        };

        let first_reply = tokio::time::timeout(
            LAUNCH_TIMEOUT,
            chromium
                .connection
                .call(None, "Browser.getVersion", json!({})),
        )
        .await;
        let reason = match first_reply {
            Ok(Ok(_)) => {
                chromium.tasks.push(stderr_task);
                return Ok(chromium);
            }
            Ok(Err(Error::Closed { reason, .. })) => reason,
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no DevTools reply within {LAUNCH_TIMEOUT:?}"),
        };
        // Let a dying Chromium finish and its last words reach the tail.
        let exit = tokio::time::timeout(Duration::from_secs(1), chromium.child.wait()).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), stderr_task).await;
        let reason = match exit {
            Ok(Ok(status)) => format!("{reason}; {}", describe_exit(status)),
            _ => reason,
        };
        Err(Error::Launch {
            reason,
            stderr: stderr_tail.text(),
        })
    }

    /// Opens a new tab, starts collecting its console, and loads `url`
    /// (waiting for its `load` event).
    pub async fn open(&self, url: &str) -> Result<Page> {
        let created = self
            .connection
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await?;
        let target_id = string_field(&created, "targetId", "Target.createTarget")?;
        let session = Session::attach(&self.connection, &target_id).await?;
        session.call("Page.enable", json!({})).await?;
        session
            .call("Page.setLifecycleEventsEnabled", json!({"enabled": true}))
            .await?;
        session.call("Runtime.enable", json!({})).await?;
        session.call("Log.enable", json!({})).await?;
        let page = Page { session, target_id };
        match page.navigate(url).await {
            Ok(()) => Ok(page),
            Err(error) => {
                let _ = page.close().await;
                Err(error)
            }
        }
    }

    /// Attaches to the first running service worker whose URL starts with
    /// `url_prefix` (e.g. `chrome-extension://<id>/`), waiting up to `timeout`
    /// for it to appear. An MV3 worker stopped for idleness is not listed:
    /// wake it first (open one of the extension's pages, send it a message).
    /// A worker can be listed while its script still runs: wait for what the
    /// test needs with [`Worker::wait_for`].
    pub async fn worker(&self, url_prefix: &str, timeout: Duration) -> Result<Worker> {
        let (target_id, url, session) = self.attach("service_worker", url_prefix, timeout).await?;
        session.call("Runtime.enable", json!({})).await?;
        Ok(Worker {
            session,
            url,
            target_id,
        })
    }

    /// Attaches to the first tab whose URL starts with `url_prefix` (one
    /// the page or the extension opened, e.g. with `chrome.tabs.create`),
    /// waiting up to `timeout` for it to appear. Its console is collected
    /// from now on.
    pub async fn page(&self, url_prefix: &str, timeout: Duration) -> Result<Page> {
        let (target_id, _, session) = self.attach("page", url_prefix, timeout).await?;
        session.call("Page.enable", json!({})).await?;
        session.call("Runtime.enable", json!({})).await?;
        session.call("Log.enable", json!({})).await?;
        Ok(Page { session, target_id })
    }

    /// The first target of `kind` whose URL starts with `url_prefix`,
    /// attached: its id, URL and session.
    async fn attach(
        &self,
        kind: &str,
        url_prefix: &str,
        timeout: Duration,
    ) -> Result<(String, String, Session)> {
        let deadline = Instant::now() + timeout;
        loop {
            let reply = self
                .connection
                .call(None, "Target.getTargets", json!({}))
                .await?;
            let targets = reply["targetInfos"].as_array().map(Vec::as_slice);
            let targets = targets.unwrap_or_default();
            let found = targets.iter().find(|target| {
                target["type"] == kind
                    && target["url"]
                        .as_str()
                        .is_some_and(|url| url.starts_with(url_prefix))
            });
            if let Some(target) = found {
                let target_id = string_field(target, "targetId", "Target.getTargets")?;
                let url = target["url"].as_str().unwrap_or_default().to_owned();
                let session = Session::attach(&self.connection, &target_id).await?;
                return Ok((target_id, url, session));
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = targets
                    .iter()
                    .map(|t| format!("{} {}", t["type"], t["url"]))
                    .collect();
                return Err(Error::Timeout {
                    after: timeout,
                    what: format!("waiting for a {kind} at {url_prefix}*; targets: {seen:?}"),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The last lines Chromium wrote to stderr, for failure messages.
    pub fn stderr_tail(&self) -> String {
        self.connection.stderr.text()
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        self.connection.shut_down("the Chromium handle was dropped");
        for task in &self.tasks {
            task.abort();
        }
        // Renderers, zygotes and native hosts share Chromium's process group.
        let group = self
            .child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(rustix::process::Pid::from_raw);
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
    }
}

fn describe_exit(status: ExitStatus) -> String {
    match status.code() {
        Some(127) => "the Chromium executable was not found (exit status 127)".into(),
        _ => format!("Chromium exited: {status}"),
    }
}

/// A tab, attached with its own DevTools session.
pub struct Page {
    session: Session,
    target_id: String,
}

impl Page {
    /// Evaluates `expression` in the page (awaiting a returned promise) and
    /// returns its value as JSON. `undefined` is `null`; `NaN`, `Infinity`,
    /// `-0` and BigInts come back as their text. A thrown exception or a
    /// rejected promise is [`Error::Exception`] with its message and stack.
    pub async fn evaluate(&self, expression: &str) -> Result<Value> {
        self.session.evaluate(expression).await
    }

    /// Evaluates `expression` every 50 ms until its value is truthy, and
    /// returns that value. Exceptions (e.g. an element not there yet) count
    /// as "not yet"; the timeout error shows the last value or exception.
    pub async fn wait_for(&self, expression: &str, timeout: Duration) -> Result<Value> {
        self.session.wait_for(expression, timeout).await
    }

    /// Everything the page logged, threw or reported (console API, uncaught
    /// exceptions, browser log entries such as failed loads), in order.
    pub fn console(&self) -> Vec<ConsoleMessage> {
        self.session.state.console()
    }

    /// Loads `url` and waits for its `load` event; a fragment-only change
    /// returns at once.
    pub async fn navigate(&self, url: &str) -> Result<()> {
        let reply = self
            .session
            .call("Page.navigate", json!({"url": url}))
            .await?;
        if let Some(error) = reply["errorText"].as_str().filter(|e| !e.is_empty()) {
            return Err(Error::Navigation {
                url: url.to_owned(),
                error: error.to_owned(),
            });
        }
        let Some(loader_id) = reply["loaderId"].as_str() else {
            return Ok(());
        };
        let loaded = self.session.state.loaded(loader_id);
        match tokio::time::timeout(NAVIGATION_TIMEOUT, loaded).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.session.detached_error("Page.navigate")),
            Err(_) => Err(Error::Timeout {
                after: NAVIGATION_TIMEOUT,
                what: format!("waiting for {url} to load"),
            }),
        }
    }

    /// Clicks the centre of the first element matching the CSS `selector`
    /// with real mouse events (move, press, release), after scrolling it into
    /// view: the page sees a trusted user gesture. Fails if the element is
    /// missing, has no size, or another element covers its centre.
    pub async fn click(&self, selector: &str) -> Result<()> {
        let selector_js = Value::from(selector).to_string();
        let locate = format!(
            r#"(() => {{
  const element = document.querySelector({selector_js});
  if (!element) return {{ error: "no element matches" }};
  element.scrollIntoView({{ block: "center", inline: "center", behavior: "instant" }});
  const box = element.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) return {{ error: "the element has no size (hidden?)" }};
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  const hit = document.elementFromPoint(x, y);
  if (!hit) return {{ error: "its centre is outside the viewport" }};
  if (hit !== element && !element.contains(hit)) {{
    return {{ error: "its centre is covered by " + hit.outerHTML.slice(0, 120) }};
  }}
  return {{ x, y }};
}})()"#
        );
        let click_error = |reason: String| Error::Click {
            selector: selector.to_owned(),
            reason,
        };
        let spot = match self.session.evaluate(&locate).await {
            Ok(spot) => spot,
            Err(Error::Exception(text)) => return Err(click_error(text)),
            Err(other) => return Err(other),
        };
        if let Some(reason) = spot["error"].as_str() {
            return Err(click_error(reason.to_owned()));
        }
        match (spot["x"].as_f64(), spot["y"].as_f64()) {
            (Some(x), Some(y)) => self.click_at(x, y).await,
            _ => Err(click_error(format!("unexpected element position {spot}"))),
        }
    }

    /// A real left click at viewport coordinates (CSS pixels), e.g. for
    /// elements [`Page::click`] cannot select (closed shadow roots).
    pub async fn click_at(&self, x: f64, y: f64) -> Result<()> {
        self.mouse("mouseMoved", x, y, 0).await?;
        self.mouse("mousePressed", x, y, 1).await?;
        self.mouse("mouseReleased", x, y, 0).await
    }

    async fn mouse(&self, kind: &str, x: f64, y: f64, buttons: u8) -> Result<()> {
        let (button, click_count) = if kind == "mouseMoved" {
            ("none", 0)
        } else {
            ("left", 1)
        };
        self.session
            .call(
                "Input.dispatchMouseEvent",
                json!({
                    "type": kind,
                    "x": x,
                    "y": y,
                    "button": button,
                    "buttons": buttons,
                    "clickCount": click_count,
                }),
            )
            .await
            .map(drop)
    }

    /// Makes the viewport `width` × `height` CSS pixels at scale 1.
    pub async fn set_viewport(&self, width: u32, height: u32) -> Result<()> {
        self.session
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({
                    "width": width,
                    "height": height,
                    "deviceScaleFactor": 1,
                    "mobile": false,
                }),
            )
            .await
            .map(drop)
    }

    /// Writes a PNG of the viewport to `path`.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        // A tab in the background may never produce a frame.
        self.session.call("Page.bringToFront", json!({})).await?;
        let method = "Page.captureScreenshot";
        let reply = self.session.call(method, json!({"format": "png"})).await?;
        let data = string_field(&reply, "data", method)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| Error::Unexpected {
                method: method.into(),
                detail: format!("data is not base64: {e}"),
            })?;
        tokio::fs::write(path, png)
            .await
            .map_err(|source| Error::Io {
                context: format!("writing the screenshot {}", path.display()),
                source,
            })
    }

    /// Closes the tab.
    pub async fn close(self) -> Result<()> {
        self.session
            .connection
            .call(
                None,
                "Target.closeTarget",
                json!({"targetId": self.target_id}),
            )
            .await
            .map(drop)
    }
}

/// A service worker (e.g. the extension's), attached with its own session.
pub struct Worker {
    session: Session,
    url: String,
    target_id: String,
}

impl Worker {
    /// The worker script's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// As [`Page::evaluate`], in the worker's global scope.
    pub async fn evaluate(&self, expression: &str) -> Result<Value> {
        self.session.evaluate(expression).await
    }

    /// As [`Page::wait_for`], in the worker's global scope.
    pub async fn wait_for(&self, expression: &str, timeout: Duration) -> Result<Value> {
        self.session.wait_for(expression, timeout).await
    }

    /// What the worker logged or threw, including what it logged before it
    /// was attached (Chromium replays its console buffer).
    pub fn console(&self) -> Vec<ConsoleMessage> {
        self.session.state.console()
    }

    /// Stops the worker, as Chromium does when it has been idle; this
    /// session ends with it (an event for the worker starts it again:
    /// attach anew with [`Chromium::worker`]).
    pub async fn stop(&self) -> Result<()> {
        self.session
            .connection
            .call(
                None,
                "Target.closeTarget",
                json!({"targetId": self.target_id}),
            )
            .await
            .map(drop)
    }
}

/// Where a [`ConsoleMessage`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleSource {
    /// `console.log`, `console.error`, ... (`Runtime.consoleAPICalled`).
    Console,
    /// An uncaught exception or unhandled rejection (`Runtime.exceptionThrown`).
    Exception,
    /// A browser log entry: failed loads, CSP violations... (`Log.entryAdded`).
    Log,
}

/// One thing a page or worker printed or threw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleMessage {
    pub source: ConsoleSource,
    /// `log`, `error`, `warning`, `info`, `debug`... (`error` for exceptions).
    pub level: String,
    pub text: String,
    /// `url:line:column` when Chromium gives it.
    pub location: Option<String>,
}

impl ConsoleMessage {
    /// Exceptions, `console.error`, failed `console.assert`, and error log
    /// entries.
    pub fn is_error(&self) -> bool {
        self.source == ConsoleSource::Exception || self.level == "error" || self.level == "assert"
    }

    fn from_event(method: &str, params: &Value) -> Option<ConsoleMessage> {
        match method {
            "Runtime.consoleAPICalled" => {
                let args = params["args"].as_array().map(Vec::as_slice);
                let text: Vec<String> = args.unwrap_or_default().iter().map(describe).collect();
                let frame = &params["stackTrace"]["callFrames"][0];
                Some(ConsoleMessage {
                    source: ConsoleSource::Console,
                    level: params["type"].as_str().unwrap_or("log").to_owned(),
                    text: text.join(" "),
                    location: location(&frame["url"], &frame["lineNumber"], &frame["columnNumber"]),
                })
            }
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                Some(ConsoleMessage {
                    source: ConsoleSource::Exception,
                    level: "error".into(),
                    text: exception_text(details),
                    location: location(
                        &details["url"],
                        &details["lineNumber"],
                        &details["columnNumber"],
                    ),
                })
            }
            "Log.entryAdded" => {
                let entry = &params["entry"];
                Some(ConsoleMessage {
                    source: ConsoleSource::Log,
                    level: entry["level"].as_str().unwrap_or("info").to_owned(),
                    text: entry["text"].as_str().unwrap_or_default().to_owned(),
                    location: location(&entry["url"], &entry["lineNumber"], &Value::Null),
                })
            }
            _ => None,
        }
    }
}

impl fmt::Display for ConsoleMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:?} {}] {}", self.source, self.level, self.text)?;
        match &self.location {
            Some(location) => write!(f, " ({location})"),
            None => Ok(()),
        }
    }
}

/// `url:line[:column]`, 1-based, from CDP's 0-based numbers.
fn location(url: &Value, line: &Value, column: &Value) -> Option<String> {
    let url = url.as_str().filter(|url| !url.is_empty())?;
    let mut location = url.to_owned();
    if let Some(line) = line.as_u64() {
        location += &format!(":{}", line + 1);
        if let Some(column) = column.as_u64() {
            location += &format!(":{}", column + 1);
        }
    }
    Some(location)
}

/// A `RemoteObject` as a console would print it.
fn describe(object: &Value) -> String {
    let text = object["value"].as_str();
    let text = text.or_else(|| object["unserializableValue"].as_str());
    if let Some(text) = text.or_else(|| object["description"].as_str()) {
        return text.to_owned();
    }
    match object.get("value") {
        Some(value) => value.to_string(),
        None => object["type"].as_str().unwrap_or_default().to_owned(),
    }
}

/// `exceptionDetails` as text: "Uncaught Error: boom\n    at ...".
fn exception_text(details: &Value) -> String {
    let text = details["text"].as_str().unwrap_or("exception");
    let exception = &details["exception"];
    if exception.is_null() {
        return text.to_owned();
    }
    format!("{text} {}", describe(exception))
}

/// The JSON value of an evaluation's `RemoteObject` (see [`Page::evaluate`]).
fn remote_value(object: &Value) -> Value {
    match object.get("value") {
        Some(value) => value.clone(),
        None => object["unserializableValue"]
            .as_str()
            .map_or(Value::Null, Value::from),
    }
}

/// JavaScript truthiness of an evaluation's `RemoteObject`.
fn truthy(object: &Value) -> bool {
    if let Some(special) = object["unserializableValue"].as_str() {
        return !matches!(special, "NaN" | "-0" | "0n");
    }
    match &object["value"] {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

fn string_field(reply: &Value, field: &str, method: &str) -> Result<String> {
    reply[field]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::Unexpected {
            method: method.into(),
            detail: format!("no string {field:?} in {reply}"),
        })
}

/// One flattened DevTools session (a page's or a worker's).
struct Session {
    connection: Arc<Connection>,
    id: String,
    state: Arc<SessionState>,
}

impl Session {
    async fn attach(connection: &Arc<Connection>, target_id: &str) -> Result<Session> {
        let method = "Target.attachToTarget";
        let reply = connection
            .call(
                None,
                method,
                json!({"targetId": target_id, "flatten": true}),
            )
            .await?;
        let id = string_field(&reply, "sessionId", method)?;
        let state = Arc::new(SessionState::default());
        lock(&connection.state)
            .sessions
            .insert(id.clone(), state.clone());
        Ok(Session {
            connection: connection.clone(),
            id,
            state,
        })
    }

    async fn call(&self, method: &str, params: Value) -> Result<Value> {
        if lock(&self.state.inner).detached.is_some() {
            return Err(self.detached_error(method));
        }
        self.connection.call(Some(&self.id), method, params).await
    }

    fn detached_error(&self, method: &str) -> Error {
        let closed = lock(&self.connection.state).closed.clone();
        if let Some(reason) = closed {
            return self.connection.closed_error(method, &reason);
        }
        let reason = lock(&self.state.inner).detached.clone();
        Error::Detached {
            method: method.into(),
            reason: reason.unwrap_or_else(|| "detached".into()),
        }
    }

    async fn evaluate(&self, expression: &str) -> Result<Value> {
        self.evaluate_remote(expression)
            .await
            .map(|result| remote_value(&result))
    }

    /// Evaluates and returns the result's `RemoteObject` (by value).
    async fn evaluate_remote(&self, expression: &str) -> Result<Value> {
        let mut reply = self
            .call(
                "Runtime.evaluate",
                json!({
                    "expression": expression,
                    "awaitPromise": true,
                    "returnByValue": true,
                }),
            )
            .await?;
        if let Some(details) = reply.get("exceptionDetails") {
            return Err(Error::Exception(exception_text(details)));
        }
        Ok(reply["result"].take())
    }

    async fn wait_for(&self, expression: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no evaluation finished");
        loop {
            match tokio::time::timeout_at(deadline, self.evaluate_remote(expression)).await {
                Ok(Ok(result)) if truthy(&result) => return Ok(remote_value(&result)),
                Ok(Ok(result)) if result["type"] == "undefined" => {
                    last = "last value: undefined".into();
                }
                Ok(Ok(result)) => last = format!("last value: {}", remote_value(&result)),
                Ok(Err(Error::Exception(text))) => last = format!("last exception: {text}"),
                // E.g. "Execution context was destroyed" during a navigation.
                Ok(Err(error @ Error::Protocol { .. })) => last = format!("last error: {error}"),
                Ok(Err(error)) => return Err(error),
                Err(_) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    after: timeout,
                    what: format!("waiting for `{expression}` to be truthy; {last}"),
                });
            }
            tokio::time::sleep_until(deadline.min(now + POLL_INTERVAL)).await;
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        lock(&self.connection.state).sessions.remove(&self.id);
    }
}

/// What the reader task records for one session.
#[derive(Default)]
struct SessionState {
    inner: Mutex<SessionInner>,
}

#[derive(Default)]
struct SessionInner {
    console: Vec<ConsoleMessage>,
    /// Loader ids whose document fired `load`, most recent last.
    loads: VecDeque<String>,
    /// Navigations waiting for their document's `load`.
    load_waiters: Vec<(String, oneshot::Sender<()>)>,
    /// Why the session ended, once it has.
    detached: Option<String>,
}

impl SessionState {
    fn console(&self) -> Vec<ConsoleMessage> {
        lock(&self.inner).console.clone()
    }

    /// Resolves once the document of `loader_id` has fired `load` (possibly
    /// already); fails if the session ends first.
    fn loaded(&self, loader_id: &str) -> oneshot::Receiver<()> {
        let (done, loaded) = oneshot::channel();
        let mut inner = lock(&self.inner);
        if inner.loads.iter().any(|id| id == loader_id) {
            let _ = done.send(());
        } else if inner.detached.is_none() {
            inner.load_waiters.retain(|(_, waiter)| !waiter.is_closed());
            inner.load_waiters.push((loader_id.to_owned(), done));
        }
        loaded
    }

    fn on_event(&self, method: &str, params: &Value) {
        let mut inner = lock(&self.inner);
        if method == "Page.lifecycleEvent" {
            if let (Some("load"), Some(loader_id)) =
                (params["name"].as_str(), params["loaderId"].as_str())
            {
                if inner.loads.len() == LOADS_REMEMBERED {
                    inner.loads.pop_front();
                }
                inner.loads.push_back(loader_id.to_owned());
                let (done, waiting) = std::mem::take(&mut inner.load_waiters)
                    .into_iter()
                    .partition(|(id, _)| id == loader_id);
                inner.load_waiters = waiting;
                for (_, waiter) in done {
                    let _ = waiter.send(());
                }
            }
        } else if let Some(message) = ConsoleMessage::from_event(method, params) {
            inner.console.push(message);
        }
    }

    fn detach(&self, reason: &str) {
        let mut inner = lock(&self.inner);
        inner.detached.get_or_insert_with(|| reason.to_owned());
        inner.load_waiters.clear();
    }
}

/// The DevTools pipe shared by the browser and all its sessions.
struct Connection {
    outgoing: mpsc::UnboundedSender<Vec<u8>>,
    next_id: AtomicU64,
    state: Mutex<State>,
    stderr: StderrTail,
}

#[derive(Default)]
struct State {
    pending: HashMap<u64, Pending>,
    sessions: HashMap<String, Arc<SessionState>>,
    /// Why the connection ended, once it has.
    closed: Option<String>,
}

/// A command waiting for its reply.
struct Pending {
    method: String,
    session: Option<String>,
    reply: oneshot::Sender<Result<Value>>,
}

impl Connection {
    async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, replied) = oneshot::channel();
        {
            let mut state = lock(&self.state);
            if let Some(reason) = &state.closed {
                return Err(self.closed_error(method, reason));
            }
            state.pending.insert(
                id,
                Pending {
                    method: method.to_owned(),
                    session: session.map(str::to_owned),
                    reply,
                },
            );
        }
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = Value::from(session);
        }
        let mut bytes = message.to_string().into_bytes();
        bytes.push(0);
        if self.outgoing.send(bytes).is_err() {
            lock(&self.state).pending.remove(&id);
            return Err(self.closed_error(method, "the writer stopped"));
        }
        match tokio::time::timeout(COMMAND_TIMEOUT, replied).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(self.closed_error(method, "no reply will come")),
            Err(_) => {
                lock(&self.state).pending.remove(&id);
                Err(Error::Timeout {
                    after: COMMAND_TIMEOUT,
                    what: format!("waiting for the reply to {method}"),
                })
            }
        }
    }

    fn closed_error(&self, method: &str, reason: &str) -> Error {
        Error::Closed {
            method: method.into(),
            reason: reason.into(),
            stderr: self.stderr.text(),
        }
    }

    /// Handles one message from Chromium.
    fn dispatch(&self, message: &Value) {
        if let Some(id) = message.get("id") {
            let pending = id
                .as_u64()
                .and_then(|id| lock(&self.state).pending.remove(&id));
            let Some(pending) = pending else {
                tracing::debug!(%message, "DevTools reply nobody waits for");
                return;
            };
            let result = match message.get("error") {
                Some(error) => Err(Error::Protocol {
                    code: error["code"].as_i64().unwrap_or_default(),
                    message: match (error["message"].as_str(), error["data"].as_str()) {
                        (Some(message), Some(data)) => format!("{message}: {data}"),
                        (message, _) => message.unwrap_or_default().to_owned(),
                    },
                    method: pending.method,
                }),
                None => Ok(message.get("result").cloned().unwrap_or_default()),
            };
            let _ = pending.reply.send(result);
            return;
        }
        let Some(method) = message["method"].as_str() else {
            tracing::debug!(%message, "DevTools message without id nor method");
            return;
        };
        let params = &message["params"];
        match (method, message["sessionId"].as_str()) {
            ("Target.detachedFromTarget", _) => {
                if let Some(session) = params["sessionId"].as_str() {
                    self.detach(session, "the target was closed or detached");
                }
            }
            ("Inspector.targetCrashed", Some(session)) => {
                self.detach(session, "the target crashed");
            }
            (_, Some(session)) => {
                let state = lock(&self.state).sessions.get(session).cloned();
                if let Some(state) = state {
                    state.on_event(method, params);
                }
            }
            (_, None) => {}
        }
    }

    /// Ends a session: its waiters and in-flight commands fail.
    fn detach(&self, session: &str, reason: &str) {
        let (state, failed) = {
            let mut state = lock(&self.state);
            let ids: Vec<u64> = state
                .pending
                .iter()
                .filter(|(_, pending)| pending.session.as_deref() == Some(session))
                .map(|(id, _)| *id)
                .collect();
            let failed: Vec<Pending> = ids
                .iter()
                .filter_map(|id| state.pending.remove(id))
                .collect();
            (state.sessions.remove(session), failed)
        };
        if let Some(state) = state {
            state.detach(reason);
        }
        for pending in failed {
            let _ = pending.reply.send(Err(Error::Detached {
                method: pending.method,
                reason: reason.into(),
            }));
        }
    }

    /// Ends the connection: every session and in-flight command fails.
    fn shut_down(&self, reason: &str) {
        let (pending, sessions) = {
            let mut state = lock(&self.state);
            state.closed.get_or_insert_with(|| reason.to_owned());
            (
                std::mem::take(&mut state.pending),
                std::mem::take(&mut state.sessions),
            )
        };
        for session in sessions.values() {
            session.detach(&format!("connection closed: {reason}"));
        }
        for pending in pending.into_values() {
            let error = self.closed_error(&pending.method, reason);
            let _ = pending.reply.send(Err(error));
        }
    }
}

async fn write_loop(mut pipe: ChildStdin, mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(message) = outgoing.recv().await {
        if pipe.write_all(&message).await.is_err() || pipe.flush().await.is_err() {
            break;
        }
    }
}

async fn read_loop(connection: Arc<Connection>, pipe: ChildStdout) {
    let mut pipe = BufReader::new(pipe);
    let mut message = Vec::new();
    let reason = loop {
        message.clear();
        match pipe.read_until(0, &mut message).await {
            Ok(0) => break "Chromium closed the DevTools pipe".to_owned(),
            Ok(_) => {}
            Err(error) => break format!("reading the DevTools pipe failed: {error}"),
        }
        if message.last() == Some(&0) {
            message.pop();
        }
        match serde_json::from_slice::<Value>(&message) {
            Ok(message) => connection.dispatch(&message),
            Err(error) => tracing::warn!(%error, "DevTools message is not JSON"),
        }
    };
    connection.shut_down(&reason);
}

/// The last [`STDERR_LINES`] lines of Chromium's stderr.
#[derive(Clone, Default)]
struct StderrTail(Arc<Mutex<VecDeque<String>>>);

impl StderrTail {
    async fn collect(self, stderr: ChildStderr) {
        let mut stderr = BufReader::new(stderr);
        let mut line = Vec::new();
        loop {
            line.clear();
            match stderr.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            let mut lines = lock(&self.0);
            if lines.len() == STDERR_LINES {
                lines.pop_front();
            }
            lines.push_back(text);
        }
    }

    fn text(&self) -> String {
        let lines = lock(&self.0);
        if lines.is_empty() {
            return "(nothing)".into();
        }
        lines
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Locks a mutex, also after a panic elsewhere (the data stay consistent:
/// no code here panics while holding a lock).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
