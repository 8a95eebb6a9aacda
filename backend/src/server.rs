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
//! - At shutdown the loop stops accepting, event streams end (clients resume
//!   with `Last-Event-ID`), connections finish their request in flight, and
//!   the loop waits for them at most [`DRAIN_TIMEOUT`].
//!
//! axum's own `serve` has no connection cap or header timeout, hence this
//! loop; the HTTP itself is hyper's (with hyper-util's tokio glue). HTTP/1.1
//! only: every client of the backend (the host's reqwest, browsers through a
//! TLS proxy) speaks it, and hyper's header read timeout is HTTP/1's.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::IntoResponse;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot, watch};

use crate::api::{ApiError, StreamSlots};
use crate::configuration::HttpSettings;
use crate::telemetry::Metrics;

/// Longest wait at shutdown for requests in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a new connection waits for the place of the idle one closed
/// for it.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

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
        // reserve's, else an idle reserve connection's.
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
            let permit = match place {
                Place::Free(permit) => Some(permit),
                Place::Freed(wait, handoff) => {
                    let permit = tokio::time::timeout(EVICTION_WAIT, handoff).await;
                    drop(wait);
                    permit.ok().and_then(Result::ok)
                }
            };
            match permit {
                Some(permit) => connection.serve(socket, permit).await,
                None => refuse(&socket, &connection.metrics),
            }
            drop(open);
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
    /// An idle connection was told to close and hands its permit over
    /// (meanwhile this one holds a place among the waiting).
    Freed(
        OwnedSemaphorePermit,
        oneshot::Receiver<OwnedSemaphorePermit>,
    ),
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

    /// A free place, else an idle connection's. While connections told to
    /// close have not yet handed their places over (a burst of new ones),
    /// the accept loop waits for them, up to [`EVICTION_WAIT`]: the burst is
    /// slowed down rather than refused.
    async fn place(&self) -> Option<Place> {
        let deadline = tokio::time::Instant::now() + EVICTION_WAIT;
        loop {
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                return Some(Place::Free(permit));
            }
            if !self.registry.any_without_request() {
                return None;
            }
            let wait = tokio::time::timeout_at(deadline, self.waiting.clone().acquire_owned())
                .await
                .ok()?
                .ok()?;
            if let Ok(permit) = self.permits.clone().try_acquire_owned() {
                return Some(Place::Free(permit));
            }
            let (handoff, receive) = oneshot::channel();
            if self.registry.evict_longest_idle(handoff) {
                return Some(Place::Freed(wait, receive));
            }
            // Every connection without a request was already told to close:
            // wait for one of them to go.
            drop(wait);
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Closes a connection there is no place for, with a fixed 503 if the
/// socket takes it without waiting.
fn refuse(socket: &TcpStream, metrics: &Metrics) {
    metrics.connection_refused();
    let _ = socket.try_write(FULL_RESPONSE);
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
        self.connections
            .lock()
            .expect("connection registry")
            .insert(id, activity.clone());
        (id, activity)
    }

    fn unregister(&self, id: u64) {
        self.connections
            .lock()
            .expect("connection registry")
            .remove(&id);
    }

    /// Whether some connection has no request in flight (idle, or told to
    /// close and about to hand its place over).
    fn any_without_request(&self) -> bool {
        let connections = self.connections.lock().expect("connection registry");
        connections
            .values()
            .any(|a| a.in_flight.load(Ordering::Acquire) == 0)
    }

    /// Tells the connection idle for longest to close and hand its permit
    /// to `handoff`; false when every connection has a request in flight.
    fn evict_longest_idle(&self, handoff: oneshot::Sender<OwnedSemaphorePermit>) -> bool {
        let connections = self.connections.lock().expect("connection registry");
        let idle = connections
            .values()
            .filter(|a| a.is_idle())
            .min_by_key(|a| a.idle_since.load(Ordering::Relaxed));
        match idle {
            Some(activity) => {
                activity.evicted.store(true, Ordering::Relaxed);
                *activity.handoff.lock().expect("handoff") = Some(handoff);
                activity.close.notify_one();
                true
            }
            None => false,
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
        self.metrics.connection_opened();
        let (id, activity) = self.pool.registry.register();
        let health_only = self.pool.health_only;
        let _ = socket.set_nodelay(true);
        let app = TowerToHyperService::new(self.app.clone());
        let (registry, tracked) = (self.pool.registry.clone(), activity.clone());
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = InFlight::start(&tracked, &registry);
            let busy = health_only && !matches!(request.uri().path(), "/healthz" | "/metrics");
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
        let mut connection = pin!(builder.serve_connection(TokioIo::new(socket), service));
        let stop = &mut self.stop;
        let result = tokio::select! {
            result = connection.as_mut() => result,
            // Closed for a new connection: it had no request in flight.
            _ = activity.close.notified() => Ok(()),
            _ = async { stop.wait_for(|stop| *stop).await.map(|_| ()) } => {
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        if let Err(e) = result {
            // Timeouts and clients that went away: nothing the server did wrong.
            tracing::debug!(error = %e, "connection ended with an error");
        }
        self.pool.registry.unregister(id);
        self.metrics.connection_closed();
        let handoff = activity.handoff.lock().expect("handoff").take();
        if let Some(handoff) = handoff {
            // Refused when the new connection stopped waiting: then dropped.
            let _ = handoff.send(permit);
        }
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

    #[test]
    fn the_canned_answer_is_well_formed() {
        let text = std::str::from_utf8(FULL_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let _: serde_json::Value = serde_json::from_str(body).unwrap();
    }
}
