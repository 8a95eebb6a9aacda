//! Click → Originate, in the real browser (BENCHMARKS.md §8): how long after
//! a salesperson clicks a number does Asterisk have the call in hand?
//!
//! # What runs
//!
//! The same real parts as `tests/tests/extension_call.rs`: a real Asterisk 22
//! with SIPp phones ([`Lab`]), the real backend ([`Backend`], in this
//! process, release build, on the bench's tokio runtime), the release
//! `disca-host` installed and logged in through its own commands
//! ([`HostHome::logged_in`]; the bench builds it with `cargo build --release
//! -p disca-host`), and headless Chromium with the built extension
//! ([`ExtensionBrowser`]) on the RD Station-shaped deal list
//! (`/app/deals?rows=N`, one distinct number per row, [`SPARE_ROWS`] more
//! than are clicked).
//!
//! # Method
//!
//! Clicks are made one at a time, each on a different row's number
//! (`[data-disca-number="…"]`, with [`Page::click`]: real, trusted mouse
//! events through DevTools), so neither the content script's "calling"
//! state of a control nor the host's double-click window (the same click
//! within 3 s reuses its Idempotency-Key) can swallow a click. The agent's
//! phone (SIPp) answers every call `486 Busy Here`: the Originate's channel
//! is created (the measured event) and the call ends within milliseconds,
//! so the agent is free again. What the phones do comes after the measured
//! event and cannot change it. After each click the bench waits until the
//! backend reports the call ended, then 500 ms more before the next click,
//! so calls never overlap (the backend would answer `agent_busy`). The first
//! clicks (5 by default) warm up the native port, the backend's token
//! cache, the connections and the JIT; they are not counted.
//!
//! - **Click time**: a capturing `click` listener, installed from the page's
//!   main world, records `performance.timeOrigin + event.timeStamp` (epoch
//!   milliseconds; Chromium coarsens it to 0.1 ms). `event.timeStamp` of a
//!   trusted click is the time of the input event that made it (the mouse
//!   release, which DevTools injects into the browser process: the
//!   hardware's and the OS's input latency before that are not included),
//!   not the time a listener ran. The listener is on `window`, not
//!   `document`: the content script's own capturing listener on `document`
//!   runs first there and stops the event's propagation (so the page does
//!   not act on a click on a number), which would silence a later listener on
//!   `document`; `window` is earlier on the event's path.
//! - **Originate received by Asterisk**: a separate AMI session (the test
//!   PBX's AMI user, on a thread and runtime of its own, so that the
//!   in-process backend's work cannot delay it) stamps with
//!   `SystemTime::now()` the arrival of every `Newchannel` event. The one
//!   whose `Uniqueid` is the call's id (the backend's `ChannelId`) is the
//!   agent leg Asterisk creates when it executes the Originate; the bench
//!   checks that the backend's call for the clicked number has that id.
//!   This is an upper bound of "received": it includes Asterisk creating the
//!   channel and the event's delivery over loopback TCP.
//!
//! Latency = Newchannel arrival − click time. Both clocks are the machine's
//! real-time clock (Chromium derives `timeOrigin` from it at navigation);
//! the bench measures the page's clock against its own before and after
//! the run (best of 10 DevTools round trips) and prints the difference.
//!
//! Two more columns help read the result, they are not the measure:
//!
//! - Asterisk's own stamp of the `Newchannel` event (`Timestamp:` header,
//!   microseconds): the bench turns `timestampevents` on in this test
//!   instance's rendered `manager.conf` (production has it off) and reloads
//!   the manager before the backend connects. It leaves out the AMI delivery.
//! - When the backend created the call: the call id is a UUIDv7 minted
//!   when the API handler hands the checked request to storage; its
//!   timestamp has millisecond resolution, taken as the middle of its
//!   millisecond (±0.5 ms). It splits the path into browser + extension +
//!   native messaging + host + HTTP + checks, and storage + AMI + Asterisk.
//!
//! Percentiles are nearest-rank: with 50 clicks p99 is the largest value.
//!
//! # With the browser phone (`--browser-phone`)
//!
//! The salesperson's phone is the extension's softphone instead of a SIPp
//! desk phone: the PBX also serves SIP over WebSocket, the backend issues
//! the phone's credentials, Chromium's fake microphone plays a tone, and
//! the bench waits until the softphone has registered. Every click rings
//! the browser, which answers by itself (the click asked for the call);
//! the dialplan then dials the lead, whose SIPp answers `486 Busy Here`
//! (the call ends within milliseconds). The measure is the lead's INVITE:
//! the `Newchannel` of the trunk leg (`PJSIP/acme-trunk-…`, `Linkedid` the
//! call's id), which Asterisk announces as it sends the INVITE. Where the
//! time goes: click → Originate (the agent leg's `Newchannel`, as above),
//! → the browser's answer (the agent leg's `Newstate` to `Up`: the INVITE
//! reaching the browser, the softphone's getUserMedia and ICE gathering,
//! its 200 OK), → the lead's INVITE. Target: p99 ≤ 400 ms.
//!
//! Run: `cargo bench -p disca-tests --bench click_latency [-- --clicks N]
//! [--warmup N] [--browser-phone]` (default 50 and 5; needs root and a
//! provisioned Asterisk root, like the system tests). Target: p99 ≤ 50 ms
//! (click → Originate), ≤ 400 ms with the browser phone (click → the
//! lead's INVITE).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use disca_testkit::audio::write_tone;
use disca_testkit::chromium::{Page, Worker};
use disca_testkit::extension::ExtensionBrowser;
use disca_testkit::host::{HostHome, host_binary};
use disca_testkit::instance::repository_dir;
use disca_testkit::machine;
use disca_testkit::system::{Backend, Lab, PATIENCE};
use disca_testkit::{AmiSession, PeerBehavior, TestPbx};
use serde_json::Value;
use tokio::sync::mpsc;

const DEFAULT_CLICKS: usize = 50;
const DEFAULT_WARMUP: usize = 5;
/// The target the result is compared with: click → Originate.
const TARGET_P99_MS: f64 = 50.0;
/// With the browser phone: click → the lead's INVITE.
const BROWSER_TARGET_P99_MS: f64 = 400.0;
/// The salesperson logged in to the host (extension 1001, tenant acme).
const AGENT: &str = "acme-1001";
/// With the browser phone: a salesperson added with one (extension 1005).
const BROWSER_AGENT: &str = "bruna";
/// The trunk leg's channel name starts with this.
const TRUNK_CHANNEL: &str = "PJSIP/acme-trunk-";
/// Rows of the deal list below the last one clicked.
const SPARE_ROWS: usize = 5;
/// Pause after a call ended before the next click.
const SETTLE: Duration = Duration::from_millis(500);
/// How long a click may take to reach Asterisk before the bench gives up.
const CLICK_PATIENCE: Duration = Duration::from_secs(15);
/// DevTools round trips for one clock comparison.
const CLOCK_SAMPLES: usize = 10;

/// What the command line asked for.
struct Options {
    clicks: usize,
    warmup: usize,
    browser_phone: bool,
}

/// A `Newchannel` event, or a `Newstate` to `Up`, as the bench's AMI
/// session saw it.
struct Newchannel {
    /// `Newstate` (the channel answered), not `Newchannel`.
    up: bool,
    uniqueid: String,
    linkedid: String,
    channel: String,
    /// When it arrived here, epoch milliseconds.
    received_ms: f64,
    /// Asterisk's own stamp (`Timestamp:`), epoch milliseconds.
    stamped_ms: Option<f64>,
}

/// One measured click, in milliseconds after the click.
struct Sample {
    /// Newchannel received over AMI: the measure.
    received: f64,
    /// Newchannel stamped by Asterisk.
    stamped: Option<f64>,
    /// Call created in the backend (UUIDv7, middle of its millisecond).
    created: Option<f64>,
    /// With the browser phone: the agent leg answered (`Up` received).
    answered: Option<f64>,
    /// With the browser phone: the trunk leg's `Newchannel` received.
    lead: Option<f64>,
    /// With the browser phone, as the softphone measured it from the
    /// INVITE's arrival: the microphone stream ready (`getUserMedia`), and
    /// the 200 OK sent (after ICE gathering).
    microphone: Option<f64>,
    answer: Option<f64>,
}

/// The page's clock minus the bench's, and its uncertainty (half the best
/// round trip), in milliseconds.
struct ClockOffset {
    offset: f64,
    within: f64,
}

#[tokio::main]
async fn main() {
    let options = options();
    let total = options.warmup + options.clicks;
    let host = build_host();
    println!("machine: {}", machine::cpu());
    println!("browser: {}", machine::chromium_version());
    println!("load average at start: {}", machine::load_average());

    let lab = if options.browser_phone {
        Lab::start_with_websocket(PeerBehavior::Busy, PeerBehavior::Busy).await
    } else {
        Lab::start(PeerBehavior::Busy, PeerBehavior::AnswerAndWait).await
    };
    println!("asterisk: {}", asterisk_version(&lab.pbx).await);
    let stamped = enable_event_timestamps(&lab.pbx).await;
    let mut newchannels = listen_for_newchannels(&lab.pbx).await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let (backend, home, browser) = if options.browser_phone {
        let mut backend = Backend::start_with_browser_phones(&lab.pbx).await;
        let token = backend
            .add_browser_user(BROWSER_AGENT, "acme", "1005")
            .await;
        let home = HostHome::logged_in(host, &backend.base, &token).await;
        let microphone = dir.path().join("tone.wav");
        write_tone(&microphone, 440.0, 60.0).expect("the microphone's tone");
        let browser = ExtensionBrowser::launch_with_microphone(&home, &microphone).await;
        (backend, home, browser)
    } else {
        let backend = Backend::start(&lab.pbx, lab.pbx.ami_addr).await;
        let home = HostHome::logged_in(host, &backend.base, backend.token(AGENT)).await;
        let browser = ExtensionBrowser::launch(&home).await;
        (backend, home, browser)
    };
    wait_until_host_ready(&browser, &home).await;
    let phone_worker = if options.browser_phone {
        wait_until_phone_registered(&browser, &home).await;
        Some(browser.worker().await)
    } else {
        None
    };

    // A few rows more than are clicked: scrolled into view at the bottom
    // edge of the window, the last rows' numbers are partly hidden, and a
    // click there does not reach them.
    let page = browser
        .open(&format!("/app/deals?rows={}", total + SPARE_ROWS))
        .await;
    wait_for_controls(&page, total).await;
    let clock_before = clock_offset(&page).await;

    let mut samples = Vec::with_capacity(options.clicks);
    for row in 0..total {
        let sample = click_once(
            &options,
            phone_worker.as_ref(),
            &page,
            &backend,
            &home,
            &mut newchannels,
            row,
        )
        .await;
        if row >= options.warmup {
            samples.push(sample);
        }
    }
    let clock_after = clock_offset(&page).await;

    report(&options, &samples, stamped);
    println!(
        "\npage clock − bench clock: {} before, {} after (machine real-time clock on both sides)",
        clock_before.describe(),
        clock_after.describe()
    );
    println!("load average at end: {}", machine::load_average());
    println!(
        "\nsamples, ms after the click, in click order: received (stamped by Asterisk / created in the backend): {}",
        sample_list(&samples)
    );
}

/// `--clicks N` and `--warmup N`; `--bench` (added by `cargo bench`) is
/// ignored.
fn options() -> Options {
    let mut options = Options {
        clicks: DEFAULT_CLICKS,
        warmup: DEFAULT_WARMUP,
        browser_phone: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let target = match arg.as_str() {
            "--bench" => continue,
            "--browser-phone" => {
                options.browser_phone = true;
                continue;
            }
            "--clicks" => &mut options.clicks,
            "--warmup" => &mut options.warmup,
            other => usage(&format!("unknown argument {other:?}")),
        };
        *target = args
            .next()
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| usage(&format!("{arg} needs a number")));
    }
    if options.clicks == 0 {
        usage("--clicks must be at least 1");
    }
    options
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: click_latency [--clicks N] [--warmup N] [--browser-phone]");
    std::process::exit(2);
}

/// Builds the release `disca-host` (cargo does not build a dependency's
/// binaries for a bench) and returns its path.
fn build_host() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repository_dir())
        .args(["build", "--quiet", "--release", "-p", "disca-host"])
        .status()
        .expect("cargo starts to build disca-host");
    assert!(status.success(), "building disca-host failed ({status})");
    host_binary()
}

/// Turns on `timestampevents` in this test instance's `manager.conf` (not
/// the repository's) and reloads the manager; says whether it worked.
async fn enable_event_timestamps(pbx: &TestPbx) -> bool {
    let file = pbx.instance().dir().join("etc").join("manager.conf");
    let Ok(conf) = std::fs::read_to_string(&file) else {
        eprintln!("cannot read {}: no Asterisk timestamps", file.display());
        return false;
    };
    let changed = conf.replace("timestampevents = no", "timestampevents = yes");
    if changed == conf || std::fs::write(&file, changed).is_err() {
        eprintln!("cannot turn on timestampevents: no Asterisk timestamps");
        return false;
    }
    match pbx.cli("manager reload").await {
        Ok(_) => true,
        Err(error) => {
            eprintln!("manager reload failed ({error:#}): no Asterisk timestamps");
            false
        }
    }
}

/// An AMI session on a thread of its own that sends every `Newchannel`,
/// stamped on arrival.
async fn listen_for_newchannels(pbx: &TestPbx) -> mpsc::UnboundedReceiver<Newchannel> {
    let (addr, username, secret) = (
        pbx.ami_addr,
        pbx.ami_username.clone(),
        pbx.ami_secret.clone(),
    );
    let (logged_in, ready) = tokio::sync::oneshot::channel();
    let (sender, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the AMI listener");
        runtime.block_on(async move {
            let mut ami = AmiSession::connect(addr).await.expect("AMI connects");
            ami.login(&username, &secret).await.expect("AMI login");
            let _ = logged_in.send(());
            forward_newchannels(ami, sender).await;
        });
    });
    ready.await.expect("the AMI listener logged in");
    receiver
}

async fn forward_newchannels(mut ami: AmiSession, sender: mpsc::UnboundedSender<Newchannel>) {
    // Never times out in practice: a timeout could cut a message in two.
    const IDLE: Duration = Duration::from_secs(24 * 3600);
    loop {
        let event = match ami.next_event(IDLE).await {
            Ok(event) => event,
            Err(error) => {
                // After the run, Asterisk stops before this thread does.
                if !sender.is_closed() {
                    eprintln!("AMI listener stopped: {error:#}");
                }
                return;
            }
        };
        let received_ms = epoch_ms();
        let up = event.is_event("Newstate") && event.get("ChannelStateDesc") == Some("Up");
        if !event.is_event("Newchannel") && !up {
            continue;
        }
        let newchannel = Newchannel {
            up,
            uniqueid: event.get("Uniqueid").unwrap_or_default().to_owned(),
            linkedid: event.get("Linkedid").unwrap_or_default().to_owned(),
            channel: event.get("Channel").unwrap_or_default().to_owned(),
            received_ms,
            stamped_ms: event
                .get("Timestamp")
                .and_then(|t| t.parse::<f64>().ok())
                .map(|seconds| seconds * 1000.0),
        };
        if sender.send(newchannel).is_err() {
            return;
        }
    }
}

/// Waits until the extension's worker has the host (the popup says so),
/// then closes the popup so that it does no work during the run.
async fn wait_until_host_ready(browser: &ExtensionBrowser, home: &HostHome) {
    let popup = browser.popup().await;
    popup
        .wait_for("document.body.dataset.host === 'ready'", PATIENCE)
        .await
        .unwrap_or_else(|error| panic!("the host never got ready: {error}\n{}", home.log()));
    popup.close().await.expect("the popup closes");
}

/// Waits until the extension's softphone has registered with the
/// credentials the backend issued.
async fn wait_until_phone_registered(browser: &ExtensionBrowser, home: &HostHome) {
    let worker = browser.worker().await;
    worker
        .wait_for(
            "globalThis.disca && disca.state.phone.state && disca.state.phone.state.registration === 'registered'",
            PATIENCE,
        )
        .await
        .unwrap_or_else(|error| panic!("the browser phone never registered: {error}
{}", home.log()));
}

/// Waits until the content script made a control for each row's number.
async fn wait_for_controls(page: &Page, rows: usize) {
    let all_there = format!(
        "Array.from({{ length: {rows} }}, (_, i) => window.phone(i).e164)\
         .every((n) => document.querySelector(`[data-disca-number=\"${{n}}\"]`))"
    );
    page.wait_for(&all_there, Duration::from_secs(30))
        .await
        .unwrap_or_else(|error| panic!("not every row got a control: {error}"));
}

/// One click on row `row`'s number, followed to Asterisk and to its end.
async fn click_once(
    options: &Options,
    worker: Option<&Worker>,
    page: &Page,
    backend: &Backend,
    home: &HostHome,
    newchannels: &mut mpsc::UnboundedReceiver<Newchannel>,
    row: usize,
) -> Sample {
    let agent = if options.browser_phone {
        BROWSER_AGENT
    } else {
        AGENT
    };
    let number = row_number(page, row).await;
    if let Ok(stale) = newchannels.try_recv() {
        panic!(
            "a channel {} appeared between clicks (a call overlapping, or a second channel of \
             the last one): the first channel after a click would not be its Originate's",
            stale.uniqueid
        );
    }
    arm_click_listener(page).await;
    page.click(&format!("[data-disca-number=\"{number}\"]"))
        .await
        .unwrap_or_else(|error| panic!("clicking {number}: {error}"));
    let newchannel = first_newchannel(page, home, newchannels, &number).await;
    let clicked_ms = click_time(page, &number).await;

    let id = backend_call_id(backend, agent, &number).await;
    assert!(
        !newchannel.up && newchannel.uniqueid == id,
        "the first channel after the click is the agent leg of the call to {number}"
    );
    let (answered, lead) = if options.browser_phone {
        let answered = next_event(backend, agent, newchannels, "answer by the browser", |e| {
            e.up && e.uniqueid == id
        })
        .await;
        let lead = next_event(backend, agent, newchannels, "channel to the lead", |e| {
            !e.up && e.linkedid == id && e.channel.starts_with(TRUNK_CHANNEL)
        })
        .await;
        (
            Some(answered.received_ms - clicked_ms),
            Some(lead.received_ms - clicked_ms),
        )
    } else {
        (None, None)
    };
    backend.wait_until_ended(agent, &id).await;
    tokio::time::sleep(SETTLE).await;
    let (microphone, answer) = match worker {
        Some(worker) => answer_timing(worker, &id).await,
        None => (None, None),
    };
    // Whatever else the call announced (the browser phone's call answers,
    // its lead's channel) belongs to this click.
    while newchannels.try_recv().is_ok() {}
    Sample {
        received: newchannel.received_ms - clicked_ms,
        stamped: newchannel.stamped_ms.map(|at| at - clicked_ms),
        created: uuid_v7_ms(&id).map(|at| at - clicked_ms),
        answered,
        lead,
        microphone,
        answer,
    }
}

/// The softphone's own timing of its answer to call `id` (its last audio
/// figures, which it sends when the call ends).
async fn answer_timing(worker: &Worker, id: &str) -> (Option<f64>, Option<f64>) {
    let stats = worker
        .evaluate("disca.state.phone.stats")
        .await
        .unwrap_or_default();
    if stats["call_id"] != id {
        return (None, None);
    }
    (stats["microphone_ms"].as_f64(), stats["answer_ms"].as_f64())
}

/// The next event `wanted` picks (`what`), skipping the others; on a
/// timeout, the call as the backend has it.
async fn next_event(
    backend: &Backend,
    agent: &str,
    events: &mut mpsc::UnboundedReceiver<Newchannel>,
    what: &str,
    wanted: impl Fn(&Newchannel) -> bool,
) -> Newchannel {
    let deadline = tokio::time::Instant::now() + CLICK_PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) if wanted(&event) => return event,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the AMI listener stopped (see above)"),
            Err(_) => {
                let (_, calls) = backend.get(agent, "/v1/calls?limit=2").await;
                panic!("no {what} within {CLICK_PATIENCE:?}; the last calls: {calls:#}")
            }
        }
    }
}

async fn row_number(page: &Page, row: usize) -> String {
    page.evaluate(&format!("window.phone({row}).e164"))
        .await
        .ok()
        .and_then(|n| n.as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("row {row} has no number"))
}

/// Clears the last click time and makes sure the page's capturing listener
/// (main world, on `window`: see the top of this file) is there.
async fn arm_click_listener(page: &Page) {
    page.evaluate(
        "window.discaBenchClick = null; \
         if (!window.discaBenchListening) { \
           window.discaBenchListening = true; \
           window.addEventListener('click', (event) => { \
             const control = event.target.closest && event.target.closest('[data-disca-number]'); \
             window.discaBenchClick = { \
               at: performance.timeOrigin + event.timeStamp, \
               trusted: event.isTrusted, \
               number: control ? control.dataset.discaNumber : null, \
             }; \
           }, { capture: true }); \
         } \
         true",
    )
    .await
    .expect("the click listener is installed");
}

/// The first `Newchannel` after the click; on a timeout, what the page and
/// the host said.
async fn first_newchannel(
    page: &Page,
    home: &HostHome,
    newchannels: &mut mpsc::UnboundedReceiver<Newchannel>,
    number: &str,
) -> Newchannel {
    match tokio::time::timeout(CLICK_PATIENCE, newchannels.recv()).await {
        Ok(Some(newchannel)) => newchannel,
        Ok(None) => panic!("the AMI listener stopped (see above)"),
        Err(_) => {
            let toast = page
                .evaluate(&format!("JSON.stringify([document.querySelector('disca-toast')?.textContent ?? null, [...document.querySelectorAll('[data-disca-number=\"{number}\"]')].map((e) => e.dataset.discaState)])"))
                .await
                .unwrap_or(Value::Null);
            panic!(
                "no channel at Asterisk {CLICK_PATIENCE:?} after the click on {number}; \
                 toast: {toast}\nhost log:\n{}\npage console: {:#?}",
                home.log(),
                page.console()
            )
        }
    }
}

/// The click time the page's listener recorded, epoch milliseconds.
async fn click_time(page: &Page, number: &str) -> f64 {
    let click = page
        .wait_for("window.discaBenchClick", Duration::from_secs(5))
        .await
        .unwrap_or_else(|error| panic!("the page saw no click: {error}"));
    assert_eq!(click["trusted"], true, "a trusted click: {click}");
    assert_eq!(click["number"], number, "the click hit its number: {click}");
    click["at"]
        .as_f64()
        .unwrap_or_else(|| panic!("no click time in {click}"))
}

/// The id of the salesperson's call to `number` (newest first).
async fn backend_call_id(backend: &Backend, agent: &str, number: &str) -> String {
    let (_, calls) = backend.get(agent, "/v1/calls").await;
    calls["calls"]
        .as_array()
        .and_then(|calls| calls.iter().find(|call| call["to"] == number))
        .and_then(|call| call["id"].as_str())
        .unwrap_or_else(|| panic!("the backend has no call to {number}: {calls}"))
        .to_owned()
}

/// The millisecond a UUIDv7 was minted in, as its middle (epoch ms).
fn uuid_v7_ms(id: &str) -> Option<f64> {
    let (seconds, nanos) = uuid::Uuid::parse_str(id).ok()?.get_timestamp()?.to_unix();
    Some(seconds as f64 * 1000.0 + f64::from(nanos) / 1e6 + 0.5)
}

/// The page's clock against the bench's: the best of a few round trips.
async fn clock_offset(page: &Page) -> ClockOffset {
    let mut best: Option<(f64, f64)> = None;
    for _ in 0..CLOCK_SAMPLES {
        let before = epoch_ms();
        let page_ms = page
            .evaluate("performance.timeOrigin + performance.now()")
            .await
            .ok()
            .and_then(|t| t.as_f64())
            .expect("the page tells its time");
        let after = epoch_ms();
        let round_trip = after - before;
        if best.is_none_or(|(_, best_trip)| round_trip < best_trip) {
            best = Some((page_ms - (before + after) / 2.0, round_trip));
        }
    }
    let (offset, round_trip) = best.expect("at least one clock sample");
    ClockOffset {
        offset,
        within: round_trip / 2.0,
    }
}

impl ClockOffset {
    fn describe(&self) -> String {
        format!("{:+.2} ms (± {:.2})", self.offset, self.within)
    }
}

/// A summary of samples (milliseconds).
type Statistic = fn(&[f64]) -> f64;

/// Prints the table and the verdict.
fn report(options: &Options, samples: &[Sample], asterisk_stamps: bool) {
    let received: Vec<f64> = samples.iter().map(|s| s.received).collect();
    let stamped: Vec<f64> = samples.iter().filter_map(|s| s.stamped).collect();
    let created: Vec<f64> = samples.iter().filter_map(|s| s.created).collect();
    println!(
        "\n## Click → Originate received by Asterisk ({} clicks, after {} warm-up clicks not counted)\n",
        samples.len(),
        options.warmup
    );
    println!(
        "| | **click → Newchannel received over AMI** (the measure) | click → Newchannel stamped by Asterisk | click → call created in the backend (±0.5 ms) |"
    );
    println!("|---|---|---|---|");
    let rows: [(&str, Statistic); 5] = [
        ("p50", |v| percentile(v, 0.50)),
        ("p90", |v| percentile(v, 0.90)),
        ("p99", |v| percentile(v, 0.99)),
        ("max", |v| percentile(v, 1.0)),
        ("mean", mean),
    ];
    for (name, statistic) in rows {
        println!(
            "| {name} | **{}** | {} | {} |",
            cell(&received, statistic),
            cell(&stamped, statistic),
            cell(&created, statistic)
        );
    }
    if !asterisk_stamps {
        println!("\n(Asterisk's event timestamps could not be turned on: its column is empty.)");
    }
    let (measure, target) = if options.browser_phone {
        let answered: Vec<f64> = samples.iter().filter_map(|s| s.answered).collect();
        let lead: Vec<f64> = samples.iter().filter_map(|s| s.lead).collect();
        println!("\n## With the browser phone: click → the browser answers → the lead's INVITE\n");
        println!(
            "| | click → Originate (agent leg's Newchannel) | click → the browser answered (agent leg Up) | **click → the lead's INVITE (trunk leg's Newchannel)** (the measure) |"
        );
        println!("|---|---|---|---|");
        for (name, statistic) in rows {
            println!(
                "| {name} | {} | {} | **{}** |",
                cell(&received, statistic),
                cell(&answered, statistic),
                cell(&lead, statistic)
            );
        }
        let microphone: Vec<f64> = samples.iter().filter_map(|s| s.microphone).collect();
        let answer: Vec<f64> = samples.iter().filter_map(|s| s.answer).collect();
        println!(
            "\n### Inside the browser, from the INVITE's arrival ({} of {} calls reported)\n",
            answer.len(),
            samples.len()
        );
        println!(
            "| | INVITE → microphone stream (`getUserMedia`) | INVITE → 200 OK sent (after ICE gathering) |"
        );
        println!("|---|---|---|");
        for (name, statistic) in rows {
            println!(
                "| {name} | {} | {} |",
                cell(&microphone, statistic),
                cell(&answer, statistic)
            );
        }
        (lead, BROWSER_TARGET_P99_MS)
    } else {
        (received, TARGET_P99_MS)
    };
    let p99 = percentile(&measure, 0.99);
    let verdict = if p99 <= target { "met" } else { "NOT met" };
    println!(
        "\nverdict: p99 {p99:.1} ms vs target ≤ {target:.0} ms: {verdict} ({} clicks)",
        samples.len()
    );
}

/// A statistic of `values` for the table, or "n/a" when there are none.
fn cell(values: &[f64], statistic: Statistic) -> String {
    if values.is_empty() {
        "n/a".to_owned()
    } else {
        format!("{:.1} ms", statistic(values))
    }
}

/// Nearest-rank percentile (`fraction` 1.0 is the maximum).
fn percentile(values: &[f64], fraction: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or(f64::NAN)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Every click's values: "received (stamped / created)", and with the
/// browser phone "→ answered → lead".
fn sample_list(samples: &[Sample]) -> String {
    let ms = |value: Option<f64>| value.map_or("n/a".to_owned(), |v| format!("{v:.1}"));
    samples
        .iter()
        .map(|s| {
            let mut text = format!("{:.1} ({} / {})", s.received, ms(s.stamped), ms(s.created));
            if s.lead.is_some() {
                text.push_str(&format!(" → {} → {}", ms(s.answered), ms(s.lead)));
            }
            text
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Now, in milliseconds since the Unix epoch (the real-time clock).
fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
        * 1000.0
}

async fn asterisk_version(pbx: &TestPbx) -> String {
    pbx.cli("core show version")
        .await
        .map(|v| v.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
