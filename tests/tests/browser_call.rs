//! A salesperson with only Chrome and the extension talks to the lead: the
//! whole chain with the browser phone and every real part. The backend
//! issues the phone's credentials and writes it into the phone directory;
//! the extension asks the real `disca-host` for them and its softphone
//! registers with the real Asterisk 22 over WebSocket; a click on a CRM
//! page goes through the host to the backend, whose Originate rings the
//! browser with the call's id in `X-Disca-Call`; the softphone answers by
//! itself (the click asked for it); the dialplan dials the lead (SIPp
//! speaking from a recording, then hanging up).
//!
//! Audio both ways is proven twice: in the browser (`getStats`: packets and
//! level in and out) and at the PBX (a recording per direction of the
//! salesperson's leg: what came from the browser is the fake microphone's
//! 440 Hz tone, what went to it is the lead's voice). The lead hangs up
//! first: the browser's call ends and the popup shows the outcome.

use std::time::Duration;

use disca_testkit::PeerBehavior;
use disca_testkit::audio::{analyse, write_tone};
use disca_testkit::extension::{ExtensionBrowser, ended_outcome};
use disca_testkit::host::{HostHome, host_binary};
use disca_testkit::system::{Backend, Lab, PATIENCE};

/// The fake microphone's tone.
const TONE_HZ: f64 = 440.0;
/// How long the lead stays: its recording lasts 7 s.
const LEAD_TALK: Duration = Duration::from_secs(9);
/// The worker's view of the softphone.
const PHONE: &str = "disca.state.phone";

#[tokio::test]
async fn a_click_rings_the_browser_which_answers_and_talks_with_the_lead_both_ways() {
    let lab = Lab::start_with_websocket(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::SpeakThenHangup { talk: LEAD_TALK },
    )
    .await;
    let mut backend = Backend::start_with_browser_phones(&lab.pbx).await;
    let token = backend.add_browser_user("bruna", "acme", "1005").await;
    let home = HostHome::logged_in(host_binary(), &backend.base, &token).await;
    let dir = tempfile::tempdir().unwrap();
    let microphone = dir.path().join("tone.wav");
    write_tone(&microphone, TONE_HZ, 30.0).unwrap();
    let browser = ExtensionBrowser::launch_with_microphone(&home, &microphone).await;
    let worker = browser.worker().await;
    let wait = |condition: String, what: &'static str| {
        let worker = &worker;
        let home = &home;
        async move {
            match worker.wait_for(&condition, PATIENCE).await {
                Ok(value) => value,
                Err(error) => panic!(
                    "{what}: {error}\nphone: {:?}\nworker console: {:#?}\nhost log:\n{}",
                    worker.evaluate(PHONE).await,
                    worker.console(),
                    home.log()
                ),
            }
        }
    };

    // Signed in, the extension fetched the credentials and registered.
    wait(
        format!("{PHONE}.state && {PHONE}.state.registration === 'registered'"),
        "the browser phone registers with the backend's credentials",
    )
    .await;
    let popup = browser.popup().await;

    let list = browser.open("/app/deals?rows=5").await;
    let number = list
        .evaluate("window.phone(2).e164")
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    list.click(&format!("[data-disca-number=\"{number}\"]"))
        .await
        .unwrap();

    // The browser answered by itself; the lead answered.
    let answered = wait(
        format!("{PHONE}.state.call && !{PHONE}.state.call.ringing && {PHONE}.state.call.call_id"),
        "the softphone answers the call it asked for",
    )
    .await;
    let call_id = answered.as_str().unwrap().to_owned();
    let call = backend.wait_for_state("bruna", &call_id, "connected").await;
    assert_eq!(call["to"], number.as_str(), "{call}");

    // At the PBX: each direction of the salesperson's leg, recorded.
    let channels = lab.pbx.cli("core show channels concise").await.unwrap();
    let channel = channels
        .lines()
        .filter_map(|line| line.split('!').next())
        .find(|name| name.starts_with("PJSIP/acme-1005-"))
        .unwrap_or_else(|| panic!("no channel of acme-1005 in {channels}"))
        .to_owned();
    lab.pbx
        .cli(&format!(
            "mixmonitor start {channel} both.wav,r(from-browser.wav)t(to-browser.wav)"
        ))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    lab.pbx
        .cli(&format!("mixmonitor stop {channel}"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let from_browser = analyse(&lab.pbx.recordings_dir.join("from-browser.wav")).unwrap();
    let to_browser = analyse(&lab.pbx.recordings_dir.join("to-browser.wav")).unwrap();
    assert!(
        from_browser.rms > 0.01,
        "silence from the browser: {from_browser:?}"
    );
    assert!(
        (from_browser.frequency_hz - TONE_HZ).abs() < 40.0,
        "the browser sent something else than its microphone's tone: {from_browser:?}"
    );
    assert!(
        to_browser.rms > 0.01,
        "silence to the browser: {to_browser:?}"
    );
    // Speech comes and goes; the tone (coded, sent and recorded) does not.
    assert!(
        to_browser.loudness_variation > from_browser.loudness_variation + 0.3,
        "the browser was sent something as steady as its tone, not the lead's voice: \
         {to_browser:?} (the tone: {from_browser:?})"
    );

    // In the browser: the lead hangs up, and the audio figures of the call
    // are kept.
    wait(
        format!("{PHONE}.state.call === undefined || {PHONE}.state.call === null"),
        "the browser's call ends when the lead hangs up",
    )
    .await;
    let stats = worker.evaluate(&format!("{PHONE}.stats")).await.unwrap();
    assert_eq!(stats["call_id"], call_id.as_str(), "{stats}");
    for (figure, least) in [("packets_received", 100.0), ("packets_sent", 100.0)] {
        assert!(
            stats[figure].as_f64().unwrap() >= least,
            "{figure}: {stats}"
        );
    }
    for level in ["inbound_level", "outbound_level"] {
        assert!(stats[level].as_f64().unwrap() > 0.01, "{level}: {stats}");
    }
    let outcome = ended_outcome(&popup, &home).await;
    assert!(outcome.starts_with("Atendida · "), "{outcome}");
    let call = backend.wait_until_ended("bruna", &call_id).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    assert!(call["talk_seconds"].as_i64().unwrap() >= 5, "{call:#}");
    assert_eq!(lab.trunk.calls_received(), 1);
    assert_eq!(lab.agents.calls_received(), 0, "no desk phone rang");
}
