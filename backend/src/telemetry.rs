//! Logs (tracing, text or JSON) and Prometheus metrics.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

use crate::configuration::LogFormat;
use crate::domain::{Call, Outcome};

/// Crates that see whole request URLs (RD Station's v1 token travels in
/// the query), held at `info` whatever `RUST_LOG` says: their debug and
/// trace output may carry URLs or raw connection bytes.
const URL_SEEING_CRATES: &[&str] = &["reqwest", "hyper", "hyper_util", "h2"];

/// Installs the global log subscriber; `RUST_LOG` filters (default `info`).
/// No URL query reaches the logs, at any level: requests are logged by
/// path ([`request_span`]) and the HTTP client crates never below `info`.
pub fn init_logs(format: LogFormat) {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for name in URL_SEEING_CRATES {
        filter = filter.add_directive(format!("{name}=info").parse().expect("valid directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        // Each line carries its spans' fields (a call's id, tenant and
        // user: [`call_span`]): the innermost span as `span`, all as `spans`.
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}

/// The span of an HTTP request (tower-http's `TraceLayer`): its method and
/// path, never the query, where a client may have put a token.
pub fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        version = ?request.version(),
    )
}

/// The span of a call's life wherever it is handled — `POST /v1/calls`
/// (which opens it before the id exists), the tracker's handling of its
/// events, the delivery of its CRM note — so that no log line inside
/// repeats who and which call. Nothing secret: ids and the tenant's slug.
pub fn call_span(call: &Call) -> tracing::Span {
    tracing::info_span!(
        "call",
        tenant = %call.tenant,
        user = %call.user_id,
        call_id = %call.id,
    )
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// The service's metrics; one registry per running app.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    calls_created: Counter,
    calls_ended: Family<OutcomeLabel, Counter>,
    calls_live: Gauge<i64, AtomicI64>,
    ami_connected: Gauge<i64, AtomicI64>,
    http_connections: Gauge<i64, AtomicI64>,
    http_connections_refused: Counter,
    sse_streams: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("disca");
        let calls_created = Counter::default();
        let calls_ended = Family::<OutcomeLabel, Counter>::default();
        let calls_live = Gauge::<i64, AtomicI64>::default();
        let ami_connected = Gauge::<i64, AtomicI64>::default();
        registry.register("calls_created", "Calls placed", calls_created.clone());
        registry.register(
            "calls_ended",
            "Calls ended, by outcome",
            calls_ended.clone(),
        );
        registry.register("calls_live", "Calls not yet ended", calls_live.clone());
        registry.register(
            "ami_connected",
            "1 when logged in to Asterisk AMI",
            ami_connected.clone(),
        );
        let http_connections = Gauge::<i64, AtomicI64>::default();
        let http_connections_refused = Counter::default();
        let sse_streams = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "http_connections",
            "Open HTTP connections (the reserve for /healthz included)",
            http_connections.clone(),
        );
        registry.register(
            "http_connections_refused",
            "Connections closed at once because every place, the reserve included, was taken",
            http_connections_refused.clone(),
        );
        registry.register("sse_streams", "Open event streams", sse_streams.clone());
        Metrics {
            registry: Arc::new(registry),
            calls_created,
            calls_ended,
            calls_live,
            ami_connected,
            http_connections,
            http_connections_refused,
            sse_streams,
        }
    }
}

impl Metrics {
    pub fn call_created(&self) {
        self.calls_created.inc();
    }

    pub fn call_ended(&self, outcome: Outcome) {
        self.calls_ended
            .get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    pub fn set_live_calls(&self, n: usize) {
        self.calls_live.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn set_ami_connected(&self, up: bool) {
        self.ami_connected.set(i64::from(up));
    }

    pub fn connection_opened(&self) {
        self.http_connections.inc();
    }

    pub fn connection_closed(&self) {
        self.http_connections.dec();
    }

    pub fn connection_refused(&self) {
        self.http_connections_refused.inc();
    }

    pub fn sse_stream_opened(&self) {
        self.sse_streams.inc();
    }

    pub fn sse_stream_closed(&self) {
        self.sse_streams.dec();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
