//! Logs (tracing, text or JSON) and Prometheus metrics.

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, OnceLock};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing::Subscriber;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::configuration::LogFormat;
use crate::domain::{Call, Outcome, PbxName};

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
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(log_lines(format, std::io::stderr))
        .try_init();
}

/// Log lines in `format` to `writer`. Each line carries its spans' fields
/// (a call's id, tenant and user: [`call_span`]): in text, as
/// `call{tenant=… user=… call_id=…}:` before the message; in JSON, the
/// innermost span as `span` and all of them as `spans`.
fn log_lines<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let lines = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
    }
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
/// At `ERROR` level, so that it exists whenever a line inside it is logged,
/// whatever `RUST_LOG` lets through.
pub fn call_span(call: &Call) -> tracing::Span {
    tracing::error_span!(
        "call",
        tenant = %call.tenant,
        user = %call.user_id,
        call_id = %call.id,
    )
}

/// Fills in the current call span's id, once the call is stored
/// (`POST /v1/calls` opens the span with `call_id` empty).
pub fn record_call_id(call: &Call) {
    tracing::Span::current().record("call_id", tracing::field::display(&call.id));
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorKindLabel {
    kind: &'static str,
}

/// Which PBX a series is about (`default`: the one under `[ami]`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PbxLabel {
    pbx: String,
}

impl PbxLabel {
    fn of(pbx: &PbxName) -> PbxLabel {
        PbxLabel {
            pbx: pbx.as_str().to_owned(),
        }
    }
}

fn originate_histogram() -> Histogram {
    Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabel {
    tenant: String,
    state: String,
}

/// What the process's allocator reports about the heap.
#[derive(Clone, Copy, Debug)]
pub struct HeapStats {
    /// Bytes the program holds (live allocations).
    pub allocated: u64,
    /// Bytes of the allocator's pages resident in memory (held, free and
    /// its own metadata).
    pub resident: u64,
}

/// Reads [`HeapStats`] now; `None` when the allocator cannot say.
pub type HeapReader = fn() -> Option<HeapStats>;

static HEAP_READER: OnceLock<HeapReader> = OnceLock::new();

/// Set once by the binary that installs an allocator able to report (the
/// `disca-backend` binary, with jemalloc): metrics created afterwards
/// include `disca_heap_allocated_bytes` and `disca_heap_resident_bytes`,
/// read at each scrape. A library cannot know the process's allocator,
/// hence a hook rather than a dependency.
pub fn report_heap_with(reader: HeapReader) {
    let _ = HEAP_READER.set(reader);
}

/// The heap gauges and where their values come from.
#[derive(Clone)]
struct HeapGauges {
    read: HeapReader,
    allocated: Gauge<i64, AtomicI64>,
    resident: Gauge<i64, AtomicI64>,
}

impl HeapGauges {
    fn refresh(&self) {
        if let Some(stats) = (self.read)() {
            self.allocated
                .set(i64::try_from(stats.allocated).unwrap_or(i64::MAX));
            self.resident
                .set(i64::try_from(stats.resident).unwrap_or(i64::MAX));
        }
    }
}

/// The service's metrics; one registry per running app.
#[derive(Clone)]
pub struct Metrics {
    heap: Option<HeapGauges>,
    registry: Arc<Registry>,
    calls_created: Counter,
    calls_ended: Family<OutcomeLabel, Counter>,
    calls_live: Family<PbxLabel, Gauge<i64, AtomicI64>>,
    ami_connected: Family<PbxLabel, Gauge<i64, AtomicI64>>,
    http_connections: Gauge<i64, AtomicI64>,
    http_connections_refused: Counter,
    sse_streams: Gauge<i64, AtomicI64>,
    crm_outbox: Family<OutboxLabel, Gauge<i64, AtomicI64>>,
    crm_delivered: Counter,
    crm_errors: Family<ErrorKindLabel, Counter>,
    ami_connections: Family<PbxLabel, Counter>,
    originate_seconds: Family<PbxLabel, Histogram, fn() -> Histogram>,
    pbx_following: Family<PbxLabel, Gauge<i64, AtomicI64>>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("disca");
        let calls_created = Counter::default();
        let calls_ended = Family::<OutcomeLabel, Counter>::default();
        let calls_live = Family::<PbxLabel, Gauge<i64, AtomicI64>>::default();
        let ami_connected = Family::<PbxLabel, Gauge<i64, AtomicI64>>::default();
        registry.register("calls_created", "Calls placed", calls_created.clone());
        registry.register(
            "calls_ended",
            "Calls ended, by outcome",
            calls_ended.clone(),
        );
        registry.register(
            "calls_live",
            "Calls not yet ended, per PBX (counted by the backend that follows it)",
            calls_live.clone(),
        );
        registry.register(
            "ami_connected",
            "1 when logged in to the PBX's Asterisk AMI, per PBX",
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
        let crm_delivered = Counter::default();
        registry.register(
            "crm_delivered",
            "Notes, complements and tasks written to the CRM",
            crm_delivered.clone(),
        );
        let crm_errors = Family::<ErrorKindLabel, Counter>::default();
        registry.register(
            "crm_errors",
            "Failed CRM writes, by kind (temporary: retried; permanent: stopped until queued again)",
            crm_errors.clone(),
        );
        let ami_connections = Family::<PbxLabel, Counter>::default();
        registry.register(
            "ami_connections",
            "Logins to Asterisk AMI (the first, then each reconnection), per PBX",
            ami_connections.clone(),
        );
        let originate_seconds =
            Family::<PbxLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                originate_histogram,
            );
        registry.register(
            "originate_seconds",
            "From sending an Originate to Asterisk's acknowledgement, per PBX",
            originate_seconds.clone(),
        );
        let pbx_following = Family::<PbxLabel, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "pbx_following",
            "1 when this backend follows the PBX's calls, per PBX (on PostgreSQL, one backend of those sharing the database does)",
            pbx_following.clone(),
        );
        let crm_outbox = Family::<OutboxLabel, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "crm_outbox",
            "CRM notes not delivered, per tenant and state (pending, failed, no_deal, not_configured), as of the scrape",
            crm_outbox.clone(),
        );
        let heap = HEAP_READER.get().map(|&read| {
            let heap = HeapGauges {
                read,
                allocated: Gauge::default(),
                resident: Gauge::default(),
            };
            registry.register(
                "heap_allocated_bytes",
                "Bytes of live heap allocations, as the allocator counts them",
                heap.allocated.clone(),
            );
            registry.register(
                "heap_resident_bytes",
                "Bytes of the allocator's pages resident in memory",
                heap.resident.clone(),
            );
            heap
        });
        Metrics {
            heap,
            registry: Arc::new(registry),
            calls_created,
            calls_ended,
            calls_live,
            ami_connected,
            http_connections,
            http_connections_refused,
            sse_streams,
            crm_outbox,
            crm_delivered,
            crm_errors,
            ami_connections,
            originate_seconds,
            pbx_following,
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

    pub fn set_live_calls(&self, pbx: &PbxName, n: usize) {
        self.calls_live
            .get_or_create(&PbxLabel::of(pbx))
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn set_pbx_following(&self, pbx: &PbxName, following: bool) {
        self.pbx_following
            .get_or_create(&PbxLabel::of(pbx))
            .set(i64::from(following));
    }

    pub fn set_ami_connected(&self, pbx: &PbxName, up: bool) {
        let label = PbxLabel::of(pbx);
        self.ami_connected.get_or_create(&label).set(i64::from(up));
        if up {
            self.ami_connections.get_or_create(&label).inc();
        }
    }

    /// An Originate acknowledged by `pbx` after `seconds`.
    pub fn originate_acknowledged(&self, pbx: &PbxName, seconds: f64) {
        self.originate_seconds
            .get_or_create(&PbxLabel::of(pbx))
            .observe(seconds);
    }

    /// A note, complement or task written to the CRM.
    pub fn crm_delivered(&self) {
        self.crm_delivered.inc();
    }

    /// A CRM write failed: `permanent` (stopped) or temporary (retried).
    pub fn crm_error(&self, permanent: bool) {
        let kind = if permanent { "permanent" } else { "temporary" };
        self.crm_errors
            .get_or_create(&ErrorKindLabel { kind })
            .inc();
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

    /// The CRM outbox's backlog, per tenant and state, as just counted
    /// (tenants and states absent from `counts` no longer show).
    pub fn set_crm_outbox(&self, counts: &[(String, String, i64)]) {
        self.crm_outbox.clear();
        for (tenant, state, n) in counts {
            self.crm_outbox
                .get_or_create(&OutboxLabel {
                    tenant: tenant.clone(),
                    state: state.clone(),
                })
                .set(*n);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        if let Some(heap) = &self.heap {
            heap.refresh();
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use super::*;
    use crate::domain::call::NewCall;
    use crate::domain::{CallContext, CallId};

    /// Lines written, for the test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    impl Captured {
        /// The text, without colour codes.
        fn text(&self) -> String {
            let raw = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            let mut plain = String::new();
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '\u{1b}' {
                    chars.by_ref().find(|c| *c == 'm');
                } else {
                    plain.push(c);
                }
            }
            plain
        }
    }

    fn call() -> Call {
        NewCall {
            id: CallId::generate(),
            tenant: "acme".into(),
            user_id: "u1".into(),
            agent_endpoint: "acme-1001".into(),
            to: "+5511987654321".into(),
            context: CallContext::default(),
        }
        .queued(time::OffsetDateTime::UNIX_EPOCH)
    }

    /// Logs one line inside a call's span and a child span, in `format`,
    /// with only warnings and errors let through (the spans still show).
    fn one_line(format: LogFormat, call: &Call) -> String {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new("warn"))
            .with(log_lines(format, captured.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let _call = call_span(call).entered();
            let _originate = tracing::error_span!("originate").entered();
            tracing::warn!(error = "timeout", "Originate not acknowledged");
        });
        captured.text()
    }

    #[test]
    fn text_lines_name_the_call_once_in_its_span() {
        let call = call();
        let line = one_line(LogFormat::Text, &call);
        let spans = format!(
            "call{{tenant=acme user=u1 call_id={}}}:originate: ",
            call.id
        );
        assert!(line.contains(&spans), "{line}");
        assert!(
            line.contains("Originate not acknowledged error=\"timeout\""),
            "{line}"
        );
        assert_eq!(line.matches("call_id").count(), 1, "{line}");
    }

    #[test]
    fn an_id_recorded_later_reads_like_one_given_at_once() {
        let call = call();
        let captured = Captured::default();
        let subscriber =
            tracing_subscriber::registry().with(log_lines(LogFormat::Text, captured.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let _span = tracing::error_span!(
                "call",
                tenant = %"acme",
                user = %"u1",
                call_id = tracing::field::Empty
            )
            .entered();
            record_call_id(&call);
            tracing::warn!("Originate not sent");
        });
        let line = captured.text();
        let spans = format!("call{{tenant=acme user=u1 call_id={}}}: ", call.id);
        assert!(line.contains(&spans), "{line}");
    }

    #[test]
    fn json_lines_carry_the_call_span_fields() {
        let call = call();
        let line = one_line(LogFormat::Json, &call);
        let json: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!(json["fields"]["message"], "Originate not acknowledged");
        assert_eq!(json["span"]["name"], "originate");
        let span = &json["spans"][0];
        assert_eq!(span["name"], "call");
        assert_eq!(span["tenant"], "acme");
        assert_eq!(span["user"], "u1");
        assert_eq!(span["call_id"], call.id.as_str());
    }
}
