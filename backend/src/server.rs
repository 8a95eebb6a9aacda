//! The HTTP server: an accept loop over hyper's HTTP/1.1 connections with a
//! cap on connections, a reserve for `/healthz`, and timeouts, so clients
//! (or an attacker) cannot use up the process's file descriptors.
//!
//! - The soft open-file limit is raised to the hard one at start
//!   ([`raise_fd_limit`]) and the default connection cap derived from it,
//!   leaving room for what else the process opens ([`default_max_connections`]).
//! - A connection takes a permit at accept. When none is left, the idle
//!   connection (no request in flight: before its first request head is
//!   complete, or between requests) that has been idle longest is closed to
//!   make room, as nginx does with its reusable connections: sockets left
//!   idle, slowly sent headers or keep-alive connections cannot keep a
//!   client that sends a request out. When every connection is busy (event
//!   streams, requests in flight), up to `reserve` more are accepted that
//!   answer only `/healthz` and `/metrics` (anything else: 503
//!   `server_busy`), one request each; past those, a connection is closed at
//!   once (a fixed 503 is written if the socket takes it). Monitoring
//!   therefore still gets an answer when the server is full, and the process
//!   never runs out of descriptors.
//! - hyper's `header_read_timeout` closes a connection that has not sent a
//!   whole request head in time — from when it opens and again after each
//!   response — so slow headers (slowloris) and idle keep-alive connections
//!   are both bounded. A request's body and handler are bounded by the API's
//!   request timeout (408); an event stream writes keep-alive comments and
//!   is not idle.
//! - Writing is bounded too: a connection whose write has waited longer than
//!   the write timeout (30 s; the client reads nothing, its receive window
//!   is closed) is closed ([`WriteTimeout`]), and the kernel gives up on
//!   unacknowledged data after as long (`TCP_USER_TIMEOUT`). Otherwise a
//!   client that pipelines requests and never reads would hold its
//!   connection forever: its request stays in flight, so neither the header
//!   timeout nor eviction applies. Only a waiting write counts, so an event
//!   stream between keep-alive comments is not affected.
//! - An idle connection chosen to make room is shut down gracefully: if a
//!   request came in meanwhile it is kept (the new connection looks for
//!   another place), otherwise hyper closes it once any response is flushed
//!   (waiting at most [`EVICTION_CLOSE_WAIT`]); it is never dropped with a
//!   handler running. The new connection waits for the place in its own
//!   task; the accept loop waits only for a place among those waiting
//!   (bounded), at most [`ACCEPT_WAIT`].
//! - A handler that panics answers 500 `internal` (tower-http's
//!   `CatchPanicLayer`); a panic elsewhere in the connection's task (in a
//!   response body) ends only that connection, and a guard still removes it
//!   from the registry and the gauge and hands its place over.
//! - At shutdown the loop stops accepting, event streams end (clients resume
//!   with `Last-Event-ID`), connections finish their request in flight, and
//!   the loop waits for them at most [`DRAIN_TIMEOUT`].
//!
//! axum's own `serve` has no connection cap or header timeout, and tower's
//! `limit` layers bound requests in flight, not open sockets (an idle or
//! slow socket holds a descriptor without being a request), hence this
//! loop; the HTTP itself is hyper's (with hyper-util's tokio glue). HTTP/1.1
//! only: every client of the backend (the host's reqwest, browsers through a
//! TLS proxy) speaks it, and hyper's header read timeout is HTTP/1's.

use std::any::Any;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::time::Sleep;
use tower_http::catch_panic::CatchPanicLayer;

use crate::api::{ApiError, StreamSlots};
use crate::configuration::HttpSettings;
use crate::telemetry::Metrics;

/// Longest wait at shutdown for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a new connection waits for the place of an idle one closed
/// for it (in its own task, never in the accept loop).
const EVICTION_WAIT: Duration = Duration::from_secs(2);

/// Longest the accept loop waits, per pool, for a place among the new
/// connections waiting for an idle one's.
const ACCEPT_WAIT: Duration = Duration::from_millis(100);

/// How long an idle connection chosen to make room may take to close
/// gracefully (a request that came in just then finishes, a response is
/// flushed) before it is dropped.
pub const EVICTION_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Descriptors kept out of the connection cap whatever the limit: the
/// database pool (8 connections, each with the database, its WAL and
/// shared-memory files), the AMI link, the CRM client's connections, the
/// worker's lock file, logs, the runtime's own (epoll, signals) and a
/// recording being served.
const FIXED_FDS: u64 = 128;

/// The default cap never exceeds this, however high the limit: beyond it,
/// memory (not descriptors) is what runs out.
const MAX_DEFAULT_CONNECTIONS: u64 = 16_384;

/// Sent on a connection closed because even the reserve was taken.
const FULL_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 5\r\nConnection: close\r\nContent-Length: 111\r\n\r\n{\"error\":{\"code\":\"server_busy\",\"message\":\"O servidor do Disca est\xc3\xa1 cheio. Tente de novo em alguns segundos.\"}}";

/// Raises the soft open-file limit to the hard one (where the hard one is
/// unlimited, to Linux's default ceiling of 2^20); returns the soft limit
/// now in force (`u64::MAX` when unlimited).
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let Some(current) = limit.current else {
        return u64::MAX;
    };
    let target = limit.maximum.unwrap_or(1 << 20);
    if target > current {
        let raised = Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::info!(from = current, to = target, "raised the open file limit");
                return target;
            }
            Err(e) => {
                tracing::warn!(error = %e, limit = current, "could not raise the open file limit")
            }
        }
    }
    current
}

/// The connection cap for an open-file limit: the limit less an eighth of
/// it (at least [`FIXED_FDS`]) for everything else the process opens, less
/// the reserve; at most 16,384.
pub fn default_max_connections(fd_limit: u64, reserve: usize) -> usize {
    let headroom = FIXED_FDS.max(fd_limit / 8);
    let usable = fd_limit
        .saturating_sub(headroom)
        .saturating_sub(reserve as u64)
        .clamp(1, MAX_DEFAULT_CONNECTIONS);
    usize::try_from(usable).unwrap_or(usize::MAX)
}

/// What the accept loop enforces.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub reserve: usize,
    pub header_read_timeout: Duration,
    /// How long a write may wait on a client that reads nothing.
    pub write_timeout: Duration,
    /// The soft open-file limit the caps were checked against.
    pub fd_limit: u64,
}

impl ConnectionLimits {
    /// Raises the open-file limit and sets the caps: the configured cap, or
    /// the one derived from the limit; a configured cap the limit cannot
    /// hold is lowered to what it can (with a warning).
    pub fn from_settings(http: &HttpSettings) -> ConnectionLimits {
        let fd_limit = raise_fd_limit();
        let fits = default_max_connections(fd_limit, http.reserve_connections);
        let max_connections = match http.max_connections {
            None => fits,
            Some(configured) if configured > fits && fd_limit != u64::MAX => {
                tracing::warn!(
                    configured,
                    fd_limit,
                    used = fits,
                    "max_connections is more than the open file limit allows; lowered"
                );
                fits
            }
            Some(configured) => configured,
        };
        ConnectionLimits {
            max_connections,
            reserve: http.reserve_connections,
            header_read_timeout: http.header_read_timeout,
            write_timeout: http.write_timeout,
            fd_limit,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    metrics: Metrics,
    streams: Arc<StreamSlots>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let app = app.layer(CatchPanicLayer::custom(panic_response));
    let regular = Pool::new(limits.max_connections, limits.reserve, false);
    let reserve = Pool::new(limits.reserve, limits.reserve, true);
    // Connections watch `stop` to shut down gracefully; each holds a clone
    // of `open`, so `done.closed()` resolves when the last one ends.
    let (stop, _) = watch::channel(false);
    let (done, open) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (socket, _peer) = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    on_accept_error(e).await;
                    continue;
                }
            },
        };
        // A regular place, else an idle regular connection's, else the
        // reserve's, else an idle reserve connection's. Nothing here waits
        // long (see `Pool::place`).
        let (pool, place) = match regular.place().await {
            Some(place) => (&regular, place),
            None => match reserve.place().await {
                Some(place) => (&reserve, place),
                None => {
                    refuse(&socket, &metrics);
                    continue;
                }
            },
        };
        let connection = Connection {
            app: app.clone(),
            limits,
            metrics: metrics.clone(),
            pool: pool.clone(),
            stop: stop.subscribe(),
        };
        let open = open.clone();
        tokio::spawn(async move {
            let _open = open;
            let permit = match place {
                Place::Free(permit) => Some(permit),
                Place::Evicting(wait) => connection.pool.take_place(wait).await,
            };
            match permit {
                Some(permit) => connection.serve(socket, permit).await,
                None => refuse(&socket, &connection.metrics),
            }
        });
    }
    drop(listener);
    tracing::info!("stopped accepting; draining connections");
    streams.close_all();
    stop.send_replace(true);
    drop(open);
    if tokio::time::timeout(DRAIN_TIMEOUT, done.closed())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain timeout");
    }
    Ok(())
}

/// The answer for a request whose handler panicked: the API's 500.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(panic = message, "a request handler panicked");
    ApiError::internal().into_response()
}

/// The regular connections, or the reserve's.
#[derive(Clone)]
struct Pool {
    permits: Arc<Semaphore>,
    /// New connections waiting for the place of an idle one told to close:
    /// bounded, so waiting sockets are too.
    waiting: Arc<Semaphore>,
    registry: Arc<Registry>,
    /// The reserve: `/healthz` and `/metrics` only, one request each.
    health_only: bool,
}

/// What a new connection got at accept.
enum Place {
    Free(OwnedSemaphorePermit),
    /// No place is free but some connection has no request in flight: this
    /// one holds a place among the waiting and, in its own task, has an
    /// idle connection closed for it ([`Pool::take_place`]).
    Evicting(OwnedSemaphorePermit),
}

impl Pool {
    fn new(size: usize, waiting: usize, health_only: bool) -> Pool {
        Pool {
            permits: Arc::new(Semaphore::new(size)),
            waiting: Arc::new(Semaphore::new(waiting.max(1))),
            registry: Arc::default(),
            health_only,
        }
    }

    /// At accept: a free place, else the right to wait for an idle
    /// connection's; `None` when every connection is busy. When as many
    /// new connections already wait as there are places among the waiting
    /// (a burst), waits up to [`ACCEPT_WAIT`] for one of them to go (so the
    /// burst is slowed down rather than refused), then gives up.
    async fn place(&self) -> Option<Place> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Some(Place::Free(permit));
        }
        if !self.registry.any_without_request() {
            return None;
        }
        let wait = match self.waiting.clone().try_acquire_owned() {
            Ok(wait) => wait,
            Err(_) => tokio::time::timeout(ACCEPT_WAIT, self.waiting.clone().acquire_owned())
                .await
                .ok()?
                .ok()?,
        };
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Some(Place::Free(permit));
        }
        Some(Place::Evicting(wait))
    }

    /// In the new connection's task: closes the connection idle longest
    /// and takes its place once it is gone. While connections told to
    /// close have not yet handed their places over (a burst of new ones),
    /// waits for them; gives up after [`EVICTION_WAIT`].
    async fn take_place(&self, wait: OwnedSemaphorePermit) -> Option<OwnedSemaphorePermit> {
        let place = tokio::time::timeout(EVICTION_WAIT, async {
            loop {
                if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                    return Some(permit);
                }
                let (handoff, receive) = oneshot::channel();
                if self.registry.evict_longest_idle(handoff) {
                    match receive.await {
                        Ok(permit) => return Some(permit),
                        // A request came in on it first: it stays; look
                        // again.
                        Err(_) => continue,
                    }
                }
                // Every connection without a request was already told to
                // close: wait for one of them to go.
                if !self.registry.any_without_request() {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        drop(wait);
        place.ok().flatten()
    }
}

/// Closes a connection there is no place for, with a fixed 503 if the
/// socket takes it without waiting.
fn refuse(socket: &TcpStream, metrics: &Metrics) {
    metrics.connection_refused();
    let _ = socket.try_write(FULL_RESPONSE);
}

/// Locks a mutex whether or not a panic poisoned it: what it guards (the
/// registry, a handoff) stays consistent across a panic elsewhere, and the
/// cleanup in [`Registered::drop`] must not panic during an unwind.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A pool's connections, to find an idle one to close when it is full.
#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    connections: Mutex<HashMap<u64, Arc<Activity>>>,
    epoch: std::sync::OnceLock<Instant>,
}

/// One regular connection's activity.
struct Activity {
    /// Requests whose response is not finished (an open event stream is one).
    in_flight: AtomicUsize,
    /// When `in_flight` last became 0 (ms since the registry's epoch).
    idle_since: AtomicU64,
    /// Set once the connection was chosen to be closed.
    evicted: AtomicBool,
    close: Notify,
    /// Where its permit goes when it ends, once chosen: to the connection
    /// it was closed for (so no other can take the place meanwhile).
    handoff: Mutex<Option<oneshot::Sender<OwnedSemaphorePermit>>>,
}

impl Activity {
    fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0 && !self.evicted.load(Ordering::Relaxed)
    }

    /// A request came in after the connection was chosen to close: it
    /// stays, and the connection waiting for its place (its handoff
    /// dropped) looks for another.
    fn keep(&self) {
        let handoff = lock(&self.handoff).take();
        self.evicted.store(false, Ordering::Relaxed);
        drop(handoff);
    }
}

impl Registry {
    fn now(&self) -> u64 {
        let epoch = self.epoch.get_or_init(Instant::now);
        u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn register(&self) -> (u64, Arc<Activity>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.now()),
            evicted: AtomicBool::new(false),
            close: Notify::new(),
            handoff: Mutex::default(),
        });
        lock(&self.connections).insert(id, activity.clone());
        (id, activity)
    }

    fn unregister(&self, id: u64) {
        lock(&self.connections).remove(&id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.connections).len()
    }

    /// Whether some connection has no request in flight (idle, or told to
    /// close and about to hand its place over).
    fn any_without_request(&self) -> bool {
        lock(&self.connections)
            .values()
            .any(|a| a.in_flight.load(Ordering::Acquire) == 0)
    }

    /// Tells the connection idle for longest to close and hand its permit
    /// to `handoff`; false when every connection has a request in flight.
    fn evict_longest_idle(&self, handoff: oneshot::Sender<OwnedSemaphorePermit>) -> bool {
        let connections = lock(&self.connections);
        let idle = connections
            .values()
            .filter(|a| a.is_idle())
            .min_by_key(|a| a.idle_since.load(Ordering::Relaxed));
        match idle {
            Some(activity) => {
                activity.evicted.store(true, Ordering::Relaxed);
                *lock(&activity.handoff) = Some(handoff);
                activity.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A connection's entry in its pool, for as long as its task runs: when
/// the task ends — normally, or unwinding from a panic — the entry is
/// removed, the gauge goes down and the permit goes to the connection this
/// one was closed for (if any; else back to the pool).
struct Registered {
    registry: Arc<Registry>,
    id: u64,
    activity: Arc<Activity>,
    metrics: Metrics,
    permit: Option<OwnedSemaphorePermit>,
}

impl Registered {
    fn new(pool: &Pool, metrics: &Metrics, permit: OwnedSemaphorePermit) -> Registered {
        let (id, activity) = pool.registry.register();
        metrics.connection_opened();
        Registered {
            registry: pool.registry.clone(),
            id,
            activity,
            metrics: metrics.clone(),
            permit: Some(permit),
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        // Out of the registry first: once out, it cannot be chosen again,
        // so a handoff set before is the last one.
        self.registry.unregister(self.id);
        self.metrics.connection_closed();
        let handoff = lock(&self.activity.handoff).take();
        if let (Some(handoff), Some(permit)) = (handoff, self.permit.take()) {
            // Refused when the new connection stopped waiting: then dropped.
            let _ = handoff.send(permit);
        }
    }
}

/// A request in flight on a connection, until its response body is done
/// (or dropped).
struct InFlight {
    activity: Arc<Activity>,
    registry: Arc<Registry>,
}

impl InFlight {
    fn start(activity: &Arc<Activity>, registry: &Arc<Registry>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight {
            activity: activity.clone(),
            registry: registry.clone(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity
            .idle_since
            .store(self.registry.now(), Ordering::Relaxed);
        self.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for TrackedBody {
    type Data = <Body as hyper::body::Body>::Data;
    type Error = <Body as hyper::body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A socket whose writes fail with `TimedOut` once one has waited (the
/// peer's receive window closed: it reads nothing) for `timeout` without
/// any progress. Reads pass through. The timer runs only while a write
/// waits, so a connection with nothing to write is never timed out here.
struct WriteTimeout<T> {
    inner: T,
    timeout: Duration,
    /// Whether the last write (or flush) waited; `deadline` then runs.
    stalled: bool,
    deadline: Pin<Box<Sleep>>,
}

impl<T> WriteTimeout<T> {
    fn new(inner: T, timeout: Duration) -> WriteTimeout<T> {
        WriteTimeout {
            inner,
            timeout,
            stalled: false,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    /// Progress resets the timer; a wait starts it (or keeps it running)
    /// and fails once it has run out.
    fn watch<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if poll.is_ready() {
            self.stalled = false;
            return poll;
        }
        if !self.stalled {
            self.stalled = true;
            let deadline = tokio::time::Instant::now() + self.timeout;
            self.deadline.as_mut().reset(deadline);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "write timed out: the client reads nothing",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, poll)
    }
}

/// Sets `TCP_USER_TIMEOUT`: the kernel drops the connection when data it
/// sent stays unacknowledged (a peer gone, or one that keeps its window
/// closed) for `timeout`, even when the process has nothing more to write.
fn set_user_timeout(socket: &TcpStream, timeout: Duration) {
    #[cfg(target_os = "linux")]
    {
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        if let Err(e) = rustix::net::sockopt::set_tcp_user_timeout(socket, ms) {
            tracing::debug!(error = %e, "could not set TCP_USER_TIMEOUT");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (socket, timeout);
}

/// What serving one connection needs.
struct Connection {
    app: Router,
    limits: ConnectionLimits,
    metrics: Metrics,
    pool: Pool,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(mut self, socket: TcpStream, permit: OwnedSemaphorePermit) {
        // Removed from the registry however this function ends (a panic in
        // a response body unwinds through it).
        let registered = Registered::new(&self.pool, &self.metrics, permit);
        let activity = registered.activity.clone();
        let health_only = self.pool.health_only;
        let _ = socket.set_nodelay(true);
        set_user_timeout(&socket, self.limits.write_timeout);
        let app = TowerToHyperService::new(self.app.clone());
        let (registry, tracked) = (self.pool.registry.clone(), activity.clone());
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = InFlight::start(&tracked, &registry);
            let busy = health_only
                && !matches!(
                    request.uri().path(),
                    "/livez" | "/readyz" | "/healthz" | "/metrics"
                );
            let answer = (!busy).then(|| hyper::service::Service::call(&app, request));
            async move {
                let response = match answer {
                    Some(answer) => answer.await?,
                    None => ApiError::server_busy().into_response(),
                };
                Ok::<_, Infallible>(response.map(|inner| {
                    Body::new(TrackedBody {
                        inner,
                        _in_flight: in_flight,
                    })
                }))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout)
            // A reserve place serves one request, then frees itself.
            .keep_alive(!health_only);
        let socket = WriteTimeout::new(socket, self.limits.write_timeout);
        let mut connection = pin!(builder.serve_connection(TokioIo::new(socket), service));
        let stop = &mut self.stop;
        let result = loop {
            tokio::select! {
                // The connection first: a request that arrived with the
                // close notice is counted before the notice is looked at.
                biased;
                result = connection.as_mut() => break result,
                _ = activity.close.notified() => {
                    if activity.in_flight.load(Ordering::Acquire) > 0 {
                        // Chosen while idle, but a request came in since.
                        activity.keep();
                        continue;
                    }
                    // Closed for a new connection: hyper closes it once
                    // what it was writing is flushed.
                    connection.as_mut().graceful_shutdown();
                    break tokio::time::timeout(EVICTION_CLOSE_WAIT, connection.as_mut())
                        .await
                        .unwrap_or(Ok(()));
                }
                _ = async { let _ = stop.wait_for(|stop| *stop).await; } => {
                    connection.as_mut().graceful_shutdown();
                    break connection.as_mut().await;
                }
            }
        };
        if let Err(e) = result {
            // Timeouts and clients that went away: nothing the server did wrong.
            tracing::debug!(error = %e, "connection ended with an error");
        }
        drop(registered);
    }
}

/// Errors of `accept`: a connection reset before it was taken is skipped;
/// running out of descriptors (which the cap should prevent) or memory
/// waits a little before trying again rather than spinning.
async fn on_accept_error(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_room_below_the_file_limit() {
        assert_eq!(default_max_connections(1024, 16), 1024 - 128 - 16);
        assert_eq!(default_max_connections(8192, 16), 8192 - 1024 - 16);
        assert_eq!(default_max_connections(1 << 20, 16), 16_384);
        assert_eq!(default_max_connections(64, 16), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_nobody_reads_times_out() {
        use tokio::io::AsyncWriteExt;
        let (near, _far) = tokio::io::duplex(64);
        let mut socket = WriteTimeout::new(near, Duration::from_secs(30));
        let started = tokio::time::Instant::now();
        let error = socket.write_all(&[b'x'; 4096]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_is_not_timed_out_nor_an_idle_socket() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (near, mut far) = tokio::io::duplex(64);
        let mut socket = WriteTimeout::new(near, Duration::from_secs(30));
        // Nothing to write for longer than the timeout: no error later.
        tokio::time::sleep(Duration::from_secs(120)).await;
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 64];
            let mut total = 0;
            while total < 4096 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                total += far.read(&mut buf).await.unwrap();
            }
            total
        });
        // Each wait is shorter than the timeout, their sum much longer.
        socket.write_all(&[b'x'; 4096]).await.unwrap();
        assert_eq!(reader.await.unwrap(), 4096);
    }

    fn permit_of(semaphore: &Arc<Semaphore>) -> OwnedSemaphorePermit {
        semaphore.clone().try_acquire_owned().unwrap()
    }

    #[tokio::test]
    async fn a_connection_chosen_to_close_that_got_a_request_stays() {
        let pool = Pool::new(1, 1, false);
        let metrics = Metrics::default();
        let registered = Registered::new(&pool, &metrics, permit_of(&pool.permits));
        let activity = registered.activity.clone();
        let (handoff, receive) = oneshot::channel();
        assert!(pool.registry.evict_longest_idle(handoff));
        // The request came in just after: the notice is ignored, and the
        // new connection hears so at once.
        let in_flight = InFlight::start(&activity, &pool.registry);
        activity.keep();
        assert!(receive.await.is_err(), "the new connection looks again");
        assert!(!pool.registry.any_without_request());
        let (handoff, _receive) = oneshot::channel();
        assert!(!pool.registry.evict_longest_idle(handoff), "busy");
        drop(in_flight);
        let (handoff, receive) = oneshot::channel();
        assert!(
            pool.registry.evict_longest_idle(handoff),
            "idle again: can be chosen again"
        );
        drop(registered);
        assert!(receive.await.is_ok(), "its place is handed over");
        assert_eq!(pool.registry.len(), 0);
    }

    #[tokio::test]
    async fn a_panicking_connection_still_leaves_the_registry_and_hands_over() {
        let pool = Pool::new(1, 1, false);
        let metrics = Metrics::default();
        let registered = Registered::new(&pool, &metrics, permit_of(&pool.permits));
        let (handoff, receive) = oneshot::channel();
        assert!(pool.registry.evict_longest_idle(handoff));
        let task = tokio::spawn(async move {
            let _registered = registered;
            panic!("a response body panicked");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert_eq!(pool.registry.len(), 0);
        assert!(!pool.registry.any_without_request());
        assert!(
            receive.await.is_ok(),
            "the place went to the new connection"
        );
        assert!(
            metrics.render().contains("http_connections 0"),
            "{}",
            metrics.render()
        );
    }

    /// `serve` on a free port with `app`, one regular connection and one
    /// reserve place.
    async fn serve_one(app: Router) -> (std::net::SocketAddr, Metrics) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Metrics::default();
        let limits = ConnectionLimits {
            max_connections: 1,
            reserve: 1,
            header_read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            fd_limit: 1024,
        };
        let streams = Arc::new(StreamSlots::new(8, 8, metrics.clone()));
        tokio::spawn(serve(
            listener,
            app,
            limits,
            metrics.clone(),
            streams,
            std::future::pending(),
        ));
        (addr, metrics)
    }

    /// One request on a new connection (closed after): the whole answer.
    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read = socket.read_to_end(&mut answer);
        let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn panics_answer_500_or_end_only_their_connection() {
        use axum::routing::get as route;
        use futures::StreamExt;
        let app = Router::new()
            .route("/ok", route(|| async { "ok" }))
            .route(
                "/handler",
                route(|| async {
                    if true {
                        panic!("handler");
                    }
                    "never"
                }),
            )
            .route(
                "/body",
                route(|| async {
                    let chunks = futures::stream::iter([0, 1]).map(|i| {
                        if i == 1 {
                            panic!("body");
                        }
                        Ok::<_, Infallible>(bytes::Bytes::from_static(b"first"))
                    });
                    Body::from_stream(chunks)
                }),
            );
        let (addr, metrics) = serve_one(app).await;
        let answer = get(addr, "/handler").await;
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(answer.contains("\"code\":\"internal\""), "{answer}");
        // A panic while the body streams ends that connection only; its
        // place (the only one) is free again at once, and the gauge is 0.
        let answer = get(addr, "/body").await;
        assert!(
            !answer.contains("0\r\n\r\n"),
            "the body never ended: {answer}"
        );
        for _ in 0..3 {
            let started = Instant::now();
            let answer = get(addr, "/ok").await;
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            assert!(started.elapsed() < Duration::from_millis(500));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            metrics.render().contains("http_connections 0"),
            "{}",
            metrics.render()
        );
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_makes_room() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = Router::new().route("/ok", axum::routing::get(|| async { "ok" }));
        let (addr, _metrics) = serve_one(app).await;
        // A keep-alive connection, idle after its response, takes the only
        // place; a new client gets it.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET /ok HTTP/1.1\r\nHost: d\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        let answer = get(addr, "/ok").await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let closed = tokio::time::timeout(Duration::from_secs(2), idle.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "the idle one was closed"
        );
    }

    #[test]
    fn the_canned_answer_is_well_formed() {
        let text = std::str::from_utf8(FULL_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let _: serde_json::Value = serde_json::from_str(body).unwrap();
    }
}
