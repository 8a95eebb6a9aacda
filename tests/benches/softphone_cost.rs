//! What the browser phone costs the salesperson's machine: CPU and memory
//! of Chromium with the softphone registered and idle, then in a call,
//! with the softphone where Disca runs it — the extension's offscreen
//! document — against the very same softphone bundle (SIP.js and
//! `offscreen/softphone.js`, as built) in a plain tab, one after the other
//! in one run.
//!
//! `cargo bench -p disca-tests --bench softphone_cost [-- --idle S --call S]`
//!
//! Both variants run the built extension (its service worker is part of
//! the product either way); in the plain-tab variant no phone is given to
//! the worker, so it makes no offscreen document, and the bundle runs in a
//! page served over `http://127.0.0.1` with `chrome.runtime` replaced by a
//! few lines that deliver the worker's messages (`phone.start`,
//! `phone.answer`) to the same handler. Chromium's fake microphone plays a
//! 440 Hz tone; the call is placed as the backend places one (an Originate
//! to the phone into the tenant's outbound context), and the lead — SIPp
//! with `-rtp_echo` — sends back the audio it receives, so audio flows both
//! ways for the whole window. The phone rings (no click asked for the call)
//! and is answered through its `phone.answer` message.
//!
//! Figures per Chromium process (browser, renderers — the one with
//! `--extension-process` hosts the worker and, in the first variant, the
//! offscreen document —, GPU, audio and network services): CPU time over
//! the window, as a share of one core, from `/proc/<pid>/stat`; memory as
//! PSS (`/proc/<pid>/smaps_rollup`), so the processes' figures add up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use disca_testkit::audio::write_tone;
use disca_testkit::chromium::{Chromium, ChromiumOptions, Page, Worker};
use disca_testkit::extension::{EXTENSION_ID, built};
use disca_testkit::machine;
use disca_testkit::pbx::{WEBRTC_AGENT, WEBRTC_AGENT_PASSWORD};
use disca_testkit::procfs::{cmdline, cpu_time, process_tree, pss_kib};
use disca_testkit::system::Lab;
use disca_testkit::{AmiSession, PeerBehavior, TestPbx};
use serde_json::{Value, json};

const PATIENCE: Duration = Duration::from_secs(30);
const LEAD_E164: &str = "+5511987654321";

/// The plain tab: the softphone bundle with `chrome.runtime` stood in for.
const PLAIN_TAB: &str = r#"<!doctype html>
<html lang="pt-BR">
<head>
  <meta charset="utf-8">
  <title>Softphone in a plain tab</title>
  <script>
    // What the worker would be: messages from the softphone are kept, and
    // `send` delivers a message to the softphone's own listener.
    window.fromSoftphone = [];
    window.chrome = window.chrome || {};
    let listener = null;
    chrome.runtime = {
      id: 'plain-tab',
      sendMessage: (message) => { fromSoftphone.push(message); return Promise.resolve(); },
      onMessage: { addListener: (f) => { listener = f; } },
    };
    window.send = (message) => new Promise((resolve) => {
      listener({ target: 'softphone', ...message }, { id: 'plain-tab' }, resolve);
    });
    window.lastState = () => {
      const states = fromSoftphone.filter((m) => m.type === 'phone.state');
      return states.length ? states[states.length - 1].state : null;
    };
  </script>
  <script type="module" src="/softphone.js"></script>
</head>
<body>
  <audio id="remote" autoplay></audio>
</body>
</html>
"#;

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Offscreen,
    PlainTab,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Offscreen => "offscreen document",
            Variant::PlainTab => "plain tab",
        }
    }
}

/// Where the softphone runs, and how it is driven.
enum Phone {
    Offscreen(Worker),
    PlainTab(Page),
}

impl Phone {
    async fn evaluate(&self, expression: &str) -> Value {
        let result = match self {
            Phone::Offscreen(worker) => worker.evaluate(expression).await,
            Phone::PlainTab(page) => page.evaluate(expression).await,
        };
        result.unwrap_or_else(|error| panic!("{expression}: {error}"))
    }

    async fn wait_for(&self, expression: &str, what: &str) {
        let result = match self {
            Phone::Offscreen(worker) => worker.wait_for(expression, PATIENCE).await,
            Phone::PlainTab(page) => page.wait_for(expression, PATIENCE).await,
        };
        if let Err(error) = result {
            panic!("{what}: {error}");
        }
    }

    /// The softphone's last reported state, as an expression.
    fn state(&self) -> &'static str {
        match self {
            Phone::Offscreen(_) => "disca.state.phone.state",
            Phone::PlainTab(_) => "lastState()",
        }
    }

    async fn start(&self, config: &Value) {
        match self {
            Phone::Offscreen(_) => {
                self.evaluate(&format!("disca.phone.use({config})")).await;
            }
            Phone::PlainTab(_) => {
                // What the worker's `use` sends the document.
                let message = json!({"type": "phone.start", "phone": config});
                self.evaluate(&format!("send({message})")).await;
            }
        }
    }

    async fn answer(&self) {
        match self {
            Phone::Offscreen(_) => self.evaluate("disca.phone.answer()").await,
            Phone::PlainTab(_) => self.evaluate("send({type: 'phone.answer'})").await,
        };
    }

    /// Packets received and sent so far in the call, as the softphone's
    /// `phone.stats` reports them.
    async fn packets(&self) -> Value {
        let expression = match self {
            Phone::Offscreen(_) => "disca.state.phone.stats",
            Phone::PlainTab(_) => {
                "(fromSoftphone.filter((m) => m.type === 'phone.stats').pop() || {}).stats"
            }
        };
        self.evaluate(expression).await
    }
}

/// CPU time and memory of every process of a Chromium at one moment.
struct Snapshot {
    at: Instant,
    processes: BTreeMap<u32, (String, Duration, u64)>,
}

fn snapshot(browser_pid: u32) -> Snapshot {
    let at = Instant::now();
    let processes = process_tree(browser_pid)
        .into_iter()
        .filter_map(|pid| {
            let kind = kind(&cmdline(pid)?);
            Some((pid, (kind, cpu_time(pid)?, pss_kib(pid)?)))
        })
        .collect();
    Snapshot { at, processes }
}

/// What a Chromium process is, from its command line.
fn kind(cmdline: &str) -> String {
    let flag = |name: &str| {
        cmdline
            .split(' ')
            .find_map(|a| a.strip_prefix(name))
            .map(str::to_owned)
    };
    match flag("--type=").as_deref() {
        None => "browser".into(),
        Some("renderer") if cmdline.contains("--extension-process") => {
            "renderer (extension)".into()
        }
        Some("utility") => match flag("--utility-sub-type=").as_deref() {
            Some(s) if s.contains("audio") => "utility: audio".into(),
            Some(s) if s.contains("network") => "utility: network".into(),
            Some(s) => format!("utility: {}", s.rsplit('.').next().unwrap_or(s)),
            None => "utility".into(),
        },
        Some(other) => other.into(),
    }
}

/// One window's figures per process kind: CPU % of one core over the
/// window, and PSS (MiB) at its end.
struct Window {
    by_kind: BTreeMap<String, (usize, f64, f64)>,
}

fn window(before: &Snapshot, after: &Snapshot) -> Window {
    let seconds = after.at.duration_since(before.at).as_secs_f64();
    let mut by_kind: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
    for (pid, (kind, cpu, pss)) in &after.processes {
        let used = before
            .processes
            .get(pid)
            .map_or(*cpu, |(_, earlier, _)| cpu.saturating_sub(*earlier));
        let entry = by_kind.entry(kind.clone()).or_default();
        entry.0 += 1;
        entry.1 += used.as_secs_f64() / seconds * 100.0;
        entry.2 += *pss as f64 / 1024.0;
    }
    Window { by_kind }
}

struct Measured {
    variant: Variant,
    idle: Window,
    call: Window,
    packets: Value,
}

#[tokio::main]
async fn main() {
    let (idle, call) = options();
    println!("machine: {}", machine::cpu());
    println!("browser: {}", machine::chromium_version());
    println!("load average at start: {}", machine::load_average());
    // The desk-phone agents' SIPp takes no part; the lead echoes.
    let lab =
        Lab::start_with_websocket(PeerBehavior::AnswerAndWait, PeerBehavior::AnswerEchoing).await;
    let pbx = &lab.pbx;
    let page_addr = serve_plain_tab().await;
    let mut results = Vec::new();
    for variant in [Variant::Offscreen, Variant::PlainTab] {
        results.push(measure(variant, pbx, page_addr, idle, call).await);
    }
    report(&results, idle, call);
    println!("\nload average at end: {}", machine::load_average());
}

/// `--idle S` and `--call S`: each window's length (default 20 s).
fn options() -> (Duration, Duration) {
    let (mut idle, mut call) = (20, 20);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut seconds = || -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{arg} needs a number of seconds"))
        };
        match arg.as_str() {
            "--idle" => idle = seconds(),
            "--call" => call = seconds(),
            "--bench" => {}
            other => panic!("unknown argument {other}; use --idle S --call S"),
        }
    }
    (Duration::from_secs(idle), Duration::from_secs(call))
}

/// Serves the plain tab and the built softphone bundle on loopback.
async fn serve_plain_tab() -> SocketAddr {
    let bundle =
        std::fs::read(built().join("offscreen/softphone.js")).expect("the built softphone bundle");
    let app = Router::new()
        .route("/", get(|| async { Html(PLAIN_TAB) }))
        .route(
            "/softphone.js",
            get(move || {
                let bundle = bundle.clone();
                async move { ([(header::CONTENT_TYPE, "text/javascript")], bundle).into_response() }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn measure(
    variant: Variant,
    pbx: &TestPbx,
    page_addr: SocketAddr,
    idle: Duration,
    call: Duration,
) -> Measured {
    println!("\n== {} ==", variant.name());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let tone = dir.path().join("tone.wav");
    write_tone(&tone, 440.0, 60.0).expect("the microphone's tone");
    let options = ChromiumOptions::new(dir.path().join("profile"))
        .extension(built())
        .arg("--use-fake-ui-for-media-stream")
        .arg("--use-fake-device-for-media-stream")
        .arg(format!(
            "--use-file-for-fake-audio-capture={}",
            tone.display()
        ));
    let chromium = Chromium::launch(options).await.expect("chromium starts");
    let browser_pid = chromium.pid().expect("chromium runs");
    let worker = chromium
        .worker(&format!("chrome-extension://{EXTENSION_ID}/"), PATIENCE)
        .await
        .expect("the service worker runs");
    worker
        .wait_for("globalThis.disca !== undefined", PATIENCE)
        .await
        .expect("the worker exposes its state");
    let phone = match variant {
        Variant::Offscreen => Phone::Offscreen(worker),
        Variant::PlainTab => {
            let page = chromium
                .open(&format!("http://{page_addr}/"))
                .await
                .expect("the plain tab opens");
            page.wait_for(
                "typeof send === 'function' && lastState() !== null",
                PATIENCE,
            )
            .await
            .expect("the softphone in the tab is ready");
            Phone::PlainTab(page)
        }
    };
    let config = json!({
        "kind": "browser",
        "endpoint": WEBRTC_AGENT,
        "browser": {
            "ws_url": pbx.ws_url(),
            "aor": format!("sip:{WEBRTC_AGENT}@127.0.0.1"),
            "username": WEBRTC_AGENT,
            "password": WEBRTC_AGENT_PASSWORD,
            "ice_servers": [],
        },
    });
    phone.start(&config).await;
    let state = phone.state();
    phone
        .wait_for(
            &format!("{state} && {state}.registration === 'registered'"),
            "the softphone registers",
        )
        .await;
    // Start-up work (bundle compilation, registration) settles.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let before = snapshot(browser_pid);
    tokio::time::sleep(idle).await;
    let idle_window = window(&before, &snapshot(browser_pid));

    let mut ami = AmiSession::connect(pbx.ami_addr).await.expect("AMI");
    ami.login(&pbx.ami_username, &pbx.ami_secret)
        .await
        .expect("AMI login");
    // As the backend places a call, without the call id header: the
    // phone rings, and is answered as with "Atender".
    let channel = format!("PJSIP/{WEBRTC_AGENT}");
    let call_id = format!("{:032x}", rand_id());
    let variable = format!("DISCA_CALL_ID={call_id}");
    let response = ami
        .action(
            "Originate",
            &[
                ("Async", "true"),
                ("Timeout", "20000"),
                ("Channel", channel.as_str()),
                ("Context", "disca-acme-outbound"),
                ("Exten", LEAD_E164),
                ("Priority", "1"),
                ("ChannelId", call_id.as_str()),
                ("Variable", variable.as_str()),
            ],
        )
        .await
        .expect("Originate answered");
    assert!(response.is_success(), "{response}");
    phone
        .wait_for(
            &format!("{state} && {state}.call && {state}.call.ringing"),
            "the softphone rings",
        )
        .await;
    phone.answer().await;
    phone
        .wait_for(
            &format!("{state}.call && !{state}.call.ringing"),
            "the softphone answers",
        )
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = snapshot(browser_pid);
    tokio::time::sleep(call).await;
    let call_window = window(&before, &snapshot(browser_pid));
    let packets = phone.packets().await;
    println!("call figures the softphone measured: {packets}");
    match &phone {
        Phone::Offscreen(_) => phone.evaluate("disca.phone.hangup()").await,
        Phone::PlainTab(_) => phone.evaluate("send({type: 'phone.hangup'})").await,
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(phone);
    drop(chromium);
    Measured {
        variant,
        idle: idle_window,
        call: call_window,
        packets,
    }
}

/// A fresh call id.
fn rand_id() -> u128 {
    uuid::Uuid::new_v4().as_u128()
}

fn report(results: &[Measured], idle: Duration, call: Duration) {
    println!(
        "\nCPU: % of one core over the window ({} s idle, registered; {} s in a call); PSS in MiB at the window's end.",
        idle.as_secs(),
        call.as_secs()
    );
    let mut kinds: Vec<String> = results
        .iter()
        .flat_map(|m| m.idle.by_kind.keys().chain(m.call.by_kind.keys()).cloned())
        .collect();
    kinds.sort();
    kinds.dedup();
    let header: Vec<String> = results
        .iter()
        .map(|m| {
            let v = m.variant.name();
            format!("{v}: idle CPU | {v}: call CPU | {v}: idle PSS | {v}: call PSS")
        })
        .collect();
    println!("\n| process (count) | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(results.len() * 4));
    let cells = |kind: Option<&str>| -> String {
        results
            .iter()
            .map(|m| {
                let pick = |w: &Window| -> (usize, f64, f64) {
                    match kind {
                        Some(k) => w.by_kind.get(k).copied().unwrap_or_default(),
                        None => w
                            .by_kind
                            .values()
                            .fold((0, 0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2)),
                    }
                };
                let (i, c) = (pick(&m.idle), pick(&m.call));
                format!(
                    "{:.1} % | {:.1} % | {:.1} | {:.1} ({})",
                    i.1, c.1, i.2, c.2, c.0
                )
            })
            .collect::<Vec<_>>()
            .join(" | ")
    };
    for kind in &kinds {
        println!("| {kind} | {} |", cells(Some(kind)));
    }
    println!("| **all of Chromium** | {} |", cells(None));
    for m in results {
        println!(
            "\n{}: audio figures in the call: {}",
            m.variant.name(),
            m.packets
        );
    }
}
