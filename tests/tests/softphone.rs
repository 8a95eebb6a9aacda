//! The browser phone — the extension's offscreen softphone (SIP.js over
//! WebSocket) — against a real Asterisk 22, in headless Chromium with the
//! built extension, driven directly (no backend yet): the test gives it the
//! overlay's static WebRTC agent (`acme-1090`) through the worker's
//! `disca.phone.use`, as the worker does with the host's `phone.config`,
//! and places calls with a raw AMI Originate the way the backend does,
//! with the call id in the `X-Disca-Call` header.
//!
//! - It registers, and a call this browser asked for (click, then click
//!   result, the INVITE arriving in between) is answered by itself; the
//!   lead (SIPp playing a voice recording) is bridged, and the browser
//!   measures packets and a non-zero audio level both ways (its microphone
//!   is a 440 Hz tone), and at the PBX (a recording per direction of the
//!   agent's leg is not silence). In the popup, mute silences what the
//!   browser sends, a keypad digit reaches Asterisk as an RFC 4733 event,
//!   and hang-up ends both legs.
//! - Wrong credentials are `refused`. An INVITE without the header, and
//!   one with a call id nobody asked for, only ring (with the "Atender / Recusar" notification).
//! - After Asterisk restarts, or its WebSocket is cut, the phone
//!   reconnects, registers again (once: the old registration is gone) and
//!   answers the next call it asks for.
//! - With the service worker stopped, the phone stays registered; a call
//!   that rings wakes the worker, which shows the notification.

use std::time::Duration;

use disca_testkit::audio::{analyse, write_tone};
use disca_testkit::chromium::{Chromium, ChromiumOptions, Worker};
use disca_testkit::extension::{EXTENSION_ID, built};
use disca_testkit::pbx::{WEBRTC_AGENT, WEBRTC_AGENT_PASSWORD};
use disca_testkit::system::TcpProxy;
use disca_testkit::{
    AmiSession, AsteriskRoot, PeerBehavior, SipPeer, TestPbx, TestPbxOptions, free_udp_port,
};
use serde_json::{Value, json};

const LEAD_E164: &str = "+5511987654321";
const PATIENCE: Duration = Duration::from_secs(30);
/// The worker's view of the softphone's state.
const PHONE: &str = "disca.state.phone.state";

/// A PBX with SIP over WebSocket, the lead's SIPp, and Chromium running the
/// extension with a fake microphone playing a tone.
struct Bed {
    pbx: TestPbx,
    trunk: SipPeer,
    chromium: Chromium,
    worker: Worker,
    ami: AmiSession,
    /// Where the softphone connects: the PBX's WebSocket, or a proxy.
    ws_url: String,
    _dir: tempfile::TempDir,
}

impl Bed {
    async fn start() -> Bed {
        let root = AsteriskRoot::locate().expect("provisioned Asterisk root");
        let trunk_port = free_udp_port();
        let trunk = SipPeer::start(trunk_port, PeerBehavior::AnswerPlayingAudio)
            .await
            .expect("trunk's SIPp");
        let options = TestPbxOptions {
            // No agent on UDP takes part: nothing listens there.
            agent_sip_port: free_udp_port(),
            trunk_sip_port: trunk_port,
            lead_ring_timeout_secs: 10,
            extra_agents: 0,
            websocket: true,
        };
        let pbx = TestPbx::start(&root, options)
            .await
            .expect("Asterisk started");
        let dir = tempfile::tempdir().expect("temporary directory");
        let tone = dir.path().join("tone.wav");
        write_tone(&tone, 440.0, 10.0).expect("the microphone's tone");
        let browser = ChromiumOptions::new(dir.path().join("profile"))
            .extension(built())
            .arg("--use-fake-ui-for-media-stream")
            .arg("--use-fake-device-for-media-stream")
            .arg(format!(
                "--use-file-for-fake-audio-capture={}",
                tone.display()
            ));
        let chromium = Chromium::launch(browser).await.expect("chromium starts");
        let worker = chromium
            .worker(
                &format!("chrome-extension://{EXTENSION_ID}/"),
                Duration::from_secs(20),
            )
            .await
            .expect("the service worker runs");
        worker
            .wait_for("globalThis.disca !== undefined", Duration::from_secs(10))
            .await
            .expect("the worker exposes its state");
        let ami = login(&pbx).await;
        Bed {
            ws_url: pbx.ws_url(),
            pbx,
            trunk,
            chromium,
            worker,
            ami,
            _dir: dir,
        }
    }

    /// Gives the softphone the agent's credentials, as the worker does with
    /// the host's `phone.config`, and waits until it is registered.
    async fn register(&self) {
        self.register_with(WEBRTC_AGENT_PASSWORD).await;
        self.wait(
            &format!("{PHONE} && {PHONE}.registration === 'registered'"),
            "the softphone registers",
        )
        .await;
    }

    /// Gives the softphone the agent's credentials with `password`.
    async fn register_with(&self, password: &str) {
        let config = json!({
            "kind": "browser",
            "endpoint": WEBRTC_AGENT,
            "browser": {
                "ws_url": self.ws_url,
                "aor": format!("sip:{WEBRTC_AGENT}@127.0.0.1"),
                "username": WEBRTC_AGENT,
                "password": password,
                "ice_servers": [],
            },
        });
        self.worker
            .evaluate(&format!("disca.phone.use({config})"))
            .await
            .expect("the phone starts");
    }

    async fn wait(&self, condition: &str, what: &str) -> Value {
        match self.worker.wait_for(condition, PATIENCE).await {
            Ok(value) => value,
            Err(error) => panic!(
                "{what}: {error}\nphone: {:?}\nworker console: {:#?}\nAsterisk: {}",
                self.worker.evaluate("disca.state.phone").await,
                self.worker.console(),
                self.pbx.instance().dir().display(),
            ),
        }
    }

    /// An Originate to the browser phone the way the backend places a call
    /// (into the tenant's outbound context, the call id as the channel's
    /// id), with `header` as the `X-Disca-Call` header of its INVITE.
    async fn originate(&mut self, call_id: &str, header: Option<&str>) {
        let header = header.map(|id| format!("PJSIP_HEADER(add,X-Disca-Call)={id}"));
        let channel = format!("PJSIP/{WEBRTC_AGENT}");
        let call_variable = format!("DISCA_CALL_ID={call_id}");
        let mut headers = vec![
            ("Async", "true"),
            ("Timeout", "20000"),
            ("Channel", channel.as_str()),
            ("Context", "disca-acme-outbound"),
            ("Exten", LEAD_E164),
            ("Priority", "1"),
            ("ChannelId", call_id),
            ("Variable", call_variable.as_str()),
        ];
        if let Some(header) = &header {
            headers.push(("Variable", header.as_str()));
        }
        let response = self
            .ami
            .action("Originate", &headers)
            .await
            .expect("Originate answered");
        assert!(response.is_success(), "{response}");
    }

    /// A click, its INVITE held until the click's result names the call,
    /// then answered by the softphone by itself.
    async fn asked_for_call(&mut self) -> String {
        let call_id = new_id();
        let click = self.evaluate("disca.phone.click()").await;
        let click = click.as_str().expect("a click id").to_owned();
        self.originate(&call_id, Some(&call_id)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            self.evaluate(&format!("{PHONE}.call")).await,
            Value::Null,
            "a held INVITE is neither answered nor offered to the user"
        );
        self.evaluate(&format!("disca.phone.clickResult({click:?}, {call_id:?})"))
            .await;
        self.wait(
            &format!(
                "{PHONE}.call && !{PHONE}.call.ringing && {PHONE}.call.call_id === {call_id:?}"
            ),
            "the softphone answers the call it asked for",
        )
        .await;
        call_id
    }

    /// The agent's channel (`PJSIP/acme-1090-…`) of the call in progress.
    async fn agent_channel(&self) -> String {
        let channels = self.pbx.cli("core show channels concise").await.unwrap();
        channels
            .lines()
            .filter_map(|line| line.split('!').next())
            .find(|name| name.starts_with(&format!("PJSIP/{WEBRTC_AGENT}-")))
            .unwrap_or_else(|| panic!("no channel of {WEBRTC_AGENT} in {channels}"))
            .to_owned()
    }

    /// Records `channel` for a while, each direction in a file of its own
    /// (`MixMonitor`'s `r()` and `t()`, from the CLI); returns the RMS
    /// (0..1) of what it received (from the browser) and transmitted (to
    /// the browser).
    async fn record(&self, channel: &str, name: &str) -> (f64, f64) {
        let (heard, said) = (format!("{name}-heard.wav"), format!("{name}-said.wav"));
        let start = format!("mixmonitor start {channel} {name}.wav,r({heard})t({said})");
        self.pbx.cli(&start).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.pbx
            .cli(&format!("mixmonitor stop {channel}"))
            .await
            .unwrap();
        // MixMonitor closes its files in its own thread.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let dir = self.pbx.recordings_dir.clone();
        let rms = |file: String| analyse(&dir.join(file)).expect("a recording").rms;
        (rms(heard), rms(said))
    }

    /// Notes every registration state the worker sees (in `seen`), so a
    /// drop that is quickly mended is still seen.
    async fn watch_registration(&self) {
        self.evaluate(
            "globalThis.seen = []; setInterval(() => seen.push(disca.state.phone.state.registration), 50)",
        )
        .await;
    }

    /// After a drop ([`Bed::watch_registration`] first): the phone was
    /// disconnected and registers again, once (the registration from before
    /// is gone: Asterisk cannot delete it from the directory, its trigger
    /// does), and answers the next call it asks for.
    async fn registers_again_and_answers(&mut self) {
        self.wait(
            "seen.includes('disconnected') && disca.state.phone.state.registration === 'registered'",
            "the phone reconnects and registers again",
        )
        .await;
        let contacts = self.pbx.cli("pjsip show contacts").await.unwrap();
        assert_eq!(
            contacts.matches(&format!("{WEBRTC_AGENT}/sip:")).count(),
            1,
            "{contacts}"
        );
        self.asked_for_call().await;
        self.evaluate("disca.phone.hangup()").await;
        self.wait(&format!("{PHONE}.call === null"), "the call ends")
            .await;
    }

    async fn evaluate(&self, expression: &str) -> Value {
        self.worker
            .evaluate(expression)
            .await
            .unwrap_or_else(|error| panic!("{expression}: {error}"))
    }
}

async fn login(pbx: &TestPbx) -> AmiSession {
    let mut ami = AmiSession::connect(pbx.ami_addr)
        .await
        .expect("AMI connection");
    ami.login(&pbx.ami_username, &pbx.ami_secret)
        .await
        .expect("AMI login");
    ami
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[tokio::test]
async fn the_browser_phone_answers_its_own_call_with_audio_both_ways() {
    let mut bed = Bed::start().await;
    bed.register().await;
    let contacts = bed.pbx.cli("pjsip show contacts").await.unwrap();
    assert!(
        contacts.contains(&format!("{WEBRTC_AGENT}/sip:")),
        "{contacts}"
    );

    // The click goes out, the PBX's INVITE arrives before the host's
    // reply (held), then the reply names the call: answered by itself.
    let call_id = bed.asked_for_call().await;

    // The lead is dialled and bridged; audio flows both ways.
    let stats = bed
        .wait(
            &format!(
                "(s => s && s.call_id === {call_id:?} && s.packets_received > 100 && s.packets_sent > 100 \
                 && s.inbound_level > 0.01 && s.outbound_level > 0.01 && s)(disca.state.phone.stats)"
            ),
            "audio flows both ways",
        )
        .await;
    assert_eq!(bed.trunk.calls_received(), 1, "{stats}");
    println!("browser audio figures: {stats}");

    // At the PBX, a recording per direction of the agent's leg: the
    // browser's tone comes in, the lead's voice goes out.
    let agent = bed.agent_channel().await;
    let (heard, said) = bed.record(&agent, "before-mute").await;
    assert!(heard > 0.01, "audio from the browser RMS {heard}");
    assert!(said > 0.01, "audio to the browser RMS {said}");

    // The popup shows the call; its mute silences what the browser sends.
    let popup = bed
        .chromium
        .open(&format!(
            "chrome-extension://{EXTENSION_ID}/popup/popup.html"
        ))
        .await
        .expect("popup opens");
    popup
        .wait_for(
            "!document.getElementById('in-call').hidden",
            Duration::from_secs(10),
        )
        .await
        .expect("the popup shows the keypad during the call");
    popup.click("#mute").await.unwrap();
    bed.wait(&format!("{PHONE}.call.muted === true"), "mute")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (muted, _) = bed.record(&agent, "muted").await;
    assert!(muted < heard / 20.0, "muted RMS {muted}, before {heard}");
    println!("agent leg RMS: from the browser {heard}, to it {said}, muted {muted}");

    // The keypad's digit reaches Asterisk as an RFC 4733 event.
    bed.pbx
        .cli("logger add channel disca-dtmf.log dtmf")
        .await
        .unwrap();
    popup.click("#keypad [data-digit='5']").await.unwrap();
    let dtmf_log = bed.pbx.instance().dir().join("log/disca-dtmf.log");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !std::fs::read_to_string(&dtmf_log)
        .unwrap_or_default()
        .contains(&format!("DTMF end '5' received on PJSIP/{WEBRTC_AGENT}"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no DTMF 5 from the browser in {}",
            dtmf_log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // No Disca call is live here (no backend): the phone's own hang-up.
    popup.click("#phone-hangup").await.unwrap();
    bed.wait(&format!("{PHONE}.call === null"), "the call ends")
        .await;
    bed.wait(
        &format!("{PHONE}.registration === 'registered'"),
        "still registered",
    )
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !bed
        .pbx
        .cli("core show channels count")
        .await
        .unwrap()
        .contains("0 active calls")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lead's leg never ended"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_browser_phone_only_rings_for_calls_it_did_not_ask_for() {
    let mut bed = Bed::start().await;
    // Wrong credentials are refused (the worker would ask the host again).
    bed.register_with("not-the-password").await;
    bed.wait(
        &format!("{PHONE} && {PHONE}.registration === 'refused'"),
        "the PBX refuses a wrong password",
    )
    .await;
    bed.register().await;

    // Without the header (a click pending or not), and with a call id
    // nobody asked for: each rings, with the notification, and is not
    // answered until the user says so; Recusar declines it.
    let pending = bed.evaluate("disca.phone.click()").await;
    assert!(pending.is_string(), "{pending}");
    for header in [None, Some(new_id())] {
        let call_id = new_id();
        bed.originate(&call_id, header.as_deref()).await;
        bed.wait(
            &format!("{PHONE}.call && {PHONE}.call.ringing"),
            "the call rings",
        )
        .await;
        bed.wait(
            "chrome.notifications.getAll().then((all) => 'disca-phone-ringing' in all)",
            "the notification shows",
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            bed.evaluate(&format!("{PHONE}.call.ringing")).await,
            Value::Bool(true),
            "still ringing, not answered ({header:?})"
        );
        assert_eq!(bed.trunk.calls_received(), 0, "the lead is never dialled");
        bed.evaluate("disca.phone.onNotificationButton('disca-phone-ringing', 1)")
            .await;
        bed.wait(&format!("{PHONE}.call === null"), "Recusar declines it")
            .await;
        if header.is_none() {
            // Let the click that was pending run out before the next call.
            bed.evaluate(&format!(
                "disca.phone.clickResult({:?})",
                pending.as_str().unwrap_or_default()
            ))
            .await;
        }
    }
}

#[tokio::test]
async fn the_browser_phone_registers_again_after_an_asterisk_restart() {
    let mut bed = Bed::start().await;
    bed.register().await;
    bed.watch_registration().await;
    bed.pbx.restart().await.expect("Asterisk restarts");
    bed.ami = login(&bed.pbx).await;
    bed.registers_again_and_answers().await;
}

#[tokio::test]
async fn the_browser_phone_reconnects_after_its_websocket_is_cut() {
    let mut bed = Bed::start().await;
    let proxy = TcpProxy::start(bed.pbx.http_addr).await;
    bed.ws_url = format!("ws://{}/ws", proxy.addr);
    bed.register().await;
    bed.watch_registration().await;
    // The network drops for two seconds: the connection is cut, and new
    // ones are refused meanwhile.
    proxy.cut_for(Duration::from_secs(2)).await;
    bed.registers_again_and_answers().await;
}

#[tokio::test]
async fn the_browser_phone_outlives_the_service_worker() {
    let mut bed = Bed::start().await;
    bed.register().await;
    let prefix = format!("chrome-extension://{EXTENSION_ID}/");
    bed.worker.stop().await.expect("the worker stops");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while let Ok(running) = bed.chromium.worker(&prefix, Duration::ZERO).await {
        drop(running);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker keeps running"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The softphone's document stays: still registered, it takes a call,
    // and its message wakes the worker, which shows the notification.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let contacts = bed.pbx.cli("pjsip show contacts").await.unwrap();
    assert!(
        contacts.contains(&format!("{WEBRTC_AGENT}/sip:")),
        "{contacts}"
    );
    bed.originate(&new_id(), None).await;
    bed.worker = bed
        .chromium
        .worker(&prefix, PATIENCE)
        .await
        .expect("the ringing call wakes the worker");
    bed.wait(
        &format!("{PHONE} && {PHONE}.call && {PHONE}.call.ringing"),
        "the woken worker knows the call rings",
    )
    .await;
    bed.wait(
        "chrome.notifications.getAll().then((all) => 'disca-phone-ringing' in all)",
        "the notification shows",
    )
    .await;
    bed.evaluate("disca.phone.onNotificationButton('disca-phone-ringing', 1)")
        .await;
    bed.wait(&format!("{PHONE}.call === null"), "Recusar declines it")
        .await;
}
