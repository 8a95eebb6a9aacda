//! [`SipPeer`]: a real SIP user agent (SIPp in UAS mode) that plays an agent's
//! phone or the far end of a trunk, with one [`PeerBehavior`] for every call
//! it receives. Scenarios are in `testkit/sipp/`.

use std::ffi::OsString;
use std::fs;
use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};

use crate::instance::repository_dir;

/// How a [`SipPeer`] treats every INVITE it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerBehavior {
    /// Answers at once, talks for `talk`, then hangs up (sends BYE).
    AnswerThenHangup {
        /// Time between the answer and the BYE (millisecond precision).
        talk: Duration,
    },
    /// Answers at once in G.711 A-law, plays SIPp's 7 s recording of
    /// speech (`g711a.pcap`, from the Debian package) to the caller, and
    /// hangs up `talk` after the answer.
    SpeakThenHangup {
        /// Time between the answer and the BYE (millisecond precision).
        talk: Duration,
    },
    /// Answers at once and stays in the call until the other side hangs up.
    AnswerAndWait,
    /// As `AnswerAndWait`, playing SIPp's 7 s voice recording (G.711 A-law)
    /// to the caller once the call is up.
    AnswerPlayingAudio,
    /// Rejects with `486 Busy Here`.
    Busy,
    /// As `AnswerAndWait`, sending back every RTP packet it receives
    /// (SIPp's `-rtp_echo`): audio flows both ways for as long as the call
    /// lasts.
    AnswerEchoing,
    /// Rings (`180`) and never answers; a CANCEL gets `200` then `487`.
    RingForever,
    /// Rejects with `603 Decline`.
    Decline,
    /// Rejects with `404 Not Found`: a number that does not exist.
    NotFound,
}

impl PeerBehavior {
    /// The SIPp arguments that give this behavior to a UAS: scenario file,
    /// talk time, keyboard control off, and an automatic 200 OK to in-dialog
    /// OPTIONS/UPDATE/INFO/NOTIFY (e.g. connected line updates).
    pub fn sipp_args(self) -> Vec<OsString> {
        let scenario = match self {
            PeerBehavior::AnswerThenHangup { .. } => "answer_then_hangup.xml",
            PeerBehavior::SpeakThenHangup { .. } => "speak_then_hangup.xml",
            PeerBehavior::AnswerAndWait | PeerBehavior::AnswerEchoing => "answer_and_wait.xml",
            PeerBehavior::AnswerPlayingAudio => "answer_playing_audio.xml",
            PeerBehavior::Busy => "busy.xml",
            PeerBehavior::RingForever => "ring_forever.xml",
            PeerBehavior::Decline => "decline.xml",
            PeerBehavior::NotFound => "not_found.xml",
        };
        let mut args: Vec<OsString> = vec![
            "-sf".into(),
            repository_dir().join("testkit/sipp").join(scenario).into(),
            "-nostdin".into(),
            "-aa".into(),
        ];
        match self {
            PeerBehavior::AnswerThenHangup { talk } => {
                args.extend(["-d".into(), talk.as_millis().to_string().into()]);
            }
            PeerBehavior::SpeakThenHangup { talk } => {
                args.extend(["-d".into(), talk.as_millis().to_string().into()]);
            }
            _ => {}
        }
        if self == PeerBehavior::AnswerEchoing {
            args.push("-rtp_echo".into());
        }
        if matches!(
            self,
            PeerBehavior::AnswerPlayingAudio
                | PeerBehavior::SpeakThenHangup { .. }
                | PeerBehavior::AnswerEchoing
        ) {
            // SIPp's default media port (6000) is often taken; it binds
            // the media port and the three after it.
            let port = crate::ports::free_udp_ports(4);
            args.extend(["-mp".into(), port.to_string().into()]);
        }
        args
    }
}

/// An INVITE a [`SipPeer`] received (the first one of each call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedInvite {
    /// E.g. `sip:+5511987654321@127.0.0.1:40000`.
    pub request_uri: String,
    /// Header lines in order, as (name, value).
    pub headers: Vec<(String, String)>,
}

impl ReceivedInvite {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A SIPp UAS on `127.0.0.1:<port>`; killed when dropped.
pub struct SipPeer {
    port: u16,
    child: Child,
    work_dir: tempfile::TempDir,
}

/// Registers `user` with `password` at the PBX's SIP address `pbx` from a
/// SIPp phone on a free local port (`testkit/sipp/register.xml`): whether
/// the PBX answered 200 OK after the digest challenge.
pub async fn register(
    pbx: std::net::SocketAddr,
    user: &str,
    password: &str,
) -> anyhow::Result<bool> {
    run_registration("register.xml", pbx, user, password).await
}

/// Registers `user` as [`register`] does, then removes that registration
/// (`Expires: 0`, `testkit/sipp/unregister.xml`), as a softphone does on
/// sign-out: whether the PBX accepted both.
pub async fn register_then_unregister(
    pbx: std::net::SocketAddr,
    user: &str,
    password: &str,
) -> anyhow::Result<bool> {
    run_registration("unregister.xml", pbx, user, password).await
}

async fn run_registration(
    scenario: &str,
    pbx: std::net::SocketAddr,
    user: &str,
    password: &str,
) -> anyhow::Result<bool> {
    let work_dir = tempfile::Builder::new()
        .prefix("disca-sipp-register-")
        .tempdir()
        .context("creating a SIPp work directory")?;
    let port = crate::free_udp_port();
    let output = Command::new("sipp")
        .arg(pbx.to_string())
        .arg("-sf")
        .arg(repository_dir().join("testkit/sipp").join(scenario))
        .args(["-s", user, "-au", user, "-ap", password])
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", "1", "-nostdin", "-timeout", "10s", "-timeout_error"])
        .args(["-trace_err", "-trace_msg"])
        .current_dir(work_dir.path())
        .stdin(Stdio::null())
        .output()
        .await
        .context("starting sipp (Debian package sip-tester)")?;
    match output.status.code() {
        Some(0) => Ok(true),
        Some(1) => {
            // Why, for the test's output: the messages exchanged.
            for entry in fs::read_dir(work_dir.path())?.flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .ends_with("_messages.log")
                {
                    eprintln!(
                        "REGISTER of {user} refused:\n{}",
                        fs::read_to_string(entry.path()).unwrap_or_default()
                    );
                }
            }
            Ok(false)
        }
        _ => bail!(
            "sipp failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// A desk phone registered at the PBX: SIPp registers as `user` from a
/// free local port (`testkit/sipp/desk_phone_register.xml`), then answers
/// Asterisk's qualify and every call from that port, as a phone does
/// (`desk_phone_answer.xml`, SIPp's out-of-call scenario). Killed when
/// dropped.
pub struct DeskPhone {
    peer: SipPeer,
}

impl DeskPhone {
    /// Registers and waits for the PBX's 200 OK; an error when the PBX
    /// refused the registration or did not answer within 10 s.
    pub async fn register(
        pbx: std::net::SocketAddr,
        user: &str,
        password: &str,
    ) -> anyhow::Result<DeskPhone> {
        let work_dir = tempfile::Builder::new()
            .prefix("disca-sipp-desk-")
            .tempdir()
            .context("creating a SIPp work directory")?;
        let port = crate::free_udp_port();
        let scenarios = repository_dir().join("testkit/sipp");
        let mut child = Command::new("sipp")
            .arg(pbx.to_string())
            .arg("-sf")
            .arg(scenarios.join("desk_phone_register.xml"))
            .arg("-oocsf")
            .arg(scenarios.join("desk_phone_answer.xml"))
            .args(["-s", user, "-au", user, "-ap", password])
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", "1", "-nostdin", "-aa"])
            .arg("-mp")
            .arg(crate::ports::free_udp_ports(4).to_string())
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(work_dir.path().join("messages.log"))
            .current_dir(work_dir.path())
            .stdin(Stdio::null())
            .stdout(fs::File::create(work_dir.path().join("output.log"))?)
            .stderr(fs::File::create(work_dir.path().join("errors.log"))?)
            .kill_on_drop(true)
            .spawn()
            .context("starting sipp (Debian package sip-tester)")?;
        let messages = work_dir.path().join("messages.log");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = fs::read_to_string(&messages).unwrap_or_default();
            if registered(&log) {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "the desk phone {user} did not register (sipp exited, {status}):\n{log}{}",
                    fs::read_to_string(work_dir.path().join("errors.log")).unwrap_or_default()
                );
            }
            if Instant::now() >= deadline {
                bail!("the desk phone {user} did not register within 10 s:\n{log}");
            }
            sleep(Duration::from_millis(50)).await;
        }
        Ok(DeskPhone {
            peer: SipPeer {
                port,
                child,
                work_dir,
            },
        })
    }

    /// The initial INVITE of every call the phone received so far.
    pub fn invites(&self) -> Vec<ReceivedInvite> {
        self.peer.invites()
    }
}

/// Whether SIPp's message log holds the PBX's 200 OK to the authenticated
/// REGISTER (`CSeq: 2`).
fn registered(log: &str) -> bool {
    log.split("\n-----------------------------------------------")
        .filter(|entry| entry.contains("message received"))
        .any(|entry| {
            entry.contains("SIP/2.0 200")
                && entry
                    .lines()
                    .any(|l| l.trim().eq_ignore_ascii_case("CSeq: 2 REGISTER"))
        })
}

impl SipPeer {
    /// Starts SIPp on `127.0.0.1:<port>` (UDP) and waits until it listens.
    pub async fn start(port: u16, behavior: PeerBehavior) -> anyhow::Result<SipPeer> {
        let work_dir = tempfile::Builder::new()
            .prefix("disca-sipp-")
            .tempdir()
            .context("creating a SIPp work directory")?;
        SipPeer::spawn(port, behavior.sipp_args(), work_dir).await
    }

    /// A carrier that wants the PBX to register (`testkit/sipp/registrar.xml`)
    /// with the account `user`/`password` on `127.0.0.1:<port>`; it answers
    /// every call and hangs up after `talk`.
    pub async fn registrar(
        port: u16,
        user: &str,
        password: &str,
        talk: Duration,
    ) -> anyhow::Result<SipPeer> {
        let work_dir = tempfile::Builder::new()
            .prefix("disca-sipp-registrar-")
            .tempdir()
            .context("creating a SIPp work directory")?;
        let scenario = fs::read_to_string(repository_dir().join("testkit/sipp/registrar.xml"))?
            .replace("{{USER}}", user)
            .replace("{{PASSWORD}}", password);
        let path = work_dir.path().join("registrar.xml");
        fs::write(&path, scenario)?;
        let args: Vec<OsString> = vec![
            "-sf".into(),
            path.into(),
            "-nostdin".into(),
            "-aa".into(),
            "-d".into(),
            talk.as_millis().to_string().into(),
            // A registration's refreshes reuse its Call-ID: they must start
            // the scenario again, not be dropped as a finished call's.
            "-deadcall_wait".into(),
            "1".into(),
        ];
        SipPeer::spawn(port, args, work_dir).await
    }

    async fn spawn(
        port: u16,
        args: Vec<OsString>,
        work_dir: tempfile::TempDir,
    ) -> anyhow::Result<SipPeer> {
        let mut command = Command::new("sipp");
        command
            .args(args)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(work_dir.path().join("messages.log"))
            .current_dir(work_dir.path())
            .stdin(Stdio::null())
            .stdout(fs::File::create(work_dir.path().join("output.log"))?)
            .stderr(fs::File::create(work_dir.path().join("errors.log"))?)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .context("starting sipp (Debian package sip-tester)")?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "sipp exited ({status}) on port {port}: {}{}",
                    fs::read_to_string(work_dir.path().join("errors.log")).unwrap_or_default(),
                    fs::read_to_string(work_dir.path().join("output.log")).unwrap_or_default()
                );
            }
            // SIPp listens once the port cannot be bound any more.
            if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
                break;
            }
            if Instant::now() >= deadline {
                bail!("sipp did not listen on UDP port {port} within 5 s");
            }
            sleep(Duration::from_millis(50)).await;
        }
        Ok(SipPeer {
            port,
            child,
            work_dir,
        })
    }

    /// Kills SIPp and waits until it is gone, so that the port is free again
    /// (e.g. to start a peer with another behavior on the same port).
    pub async fn stop(mut self) {
        // An error means SIPp has already exited.
        let _ = self.child.kill().await;
    }

    /// The UDP port on 127.0.0.1.
    /// SIPp's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many calls reached this peer (distinct Call-IDs of initial
    /// INVITEs; retransmissions and re-INVITEs are not counted).
    pub fn calls_received(&self) -> usize {
        self.invites().len()
    }

    /// Every request of `method` received so far (retransmissions too),
    /// in order.
    pub fn requests(&self, method: &str) -> Vec<ReceivedInvite> {
        let log = fs::read_to_string(self.message_log()).unwrap_or_default();
        parse_received(&log, method)
    }

    /// The initial INVITE of every call received so far, in order.
    pub fn invites(&self) -> Vec<ReceivedInvite> {
        let mut invites: Vec<ReceivedInvite> = Vec::new();
        for invite in self.requests("INVITE") {
            let initial = invite.header("To").is_some_and(|to| !to.contains(";tag="));
            let call_id = invite.header("Call-ID");
            let repeated = invites.iter().any(|seen| seen.header("Call-ID") == call_id);
            if initial && call_id.is_some() && !repeated {
                invites.push(invite);
            }
        }
        invites
    }

    fn message_log(&self) -> PathBuf {
        self.work_dir.path().join("messages.log")
    }
}

/// Parses SIPp's `-trace_msg` log for the requests of `method` received:
/// entries start with a dashed line, then "UDP message received [N] bytes
/// :" or "... sent ...", then the message.
fn parse_received(log: &str, method: &str) -> Vec<ReceivedInvite> {
    let mut invites = Vec::new();
    for entry in log.split("\n-----------------------------------------------") {
        let mut lines = entry
            .lines()
            .skip_while(|l| !l.contains("message received"))
            .skip(1)
            .skip_while(|l| l.trim().is_empty());
        let Some(request_line) = lines.next() else {
            continue;
        };
        let Some(rest) = request_line
            .strip_prefix(method)
            .and_then(|r| r.strip_prefix(' '))
        else {
            continue;
        };
        let request_uri = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let headers = lines
            .take_while(|l| !l.trim().is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
            .collect();
        invites.push(ReceivedInvite {
            request_uri,
            headers,
        });
    }
    invites
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "----------------------------------------------- 2026-11-21 05:07:12.529874
UDP message received [930] bytes :

INVITE sip:+5511987654321@127.0.0.1:35072 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:35060;rport;branch=z9hG4bKPj1
From: <sip:+551130000000@127.0.0.1>;tag=c2fa
To: <sip:+5511987654321@127.0.0.1>
Call-ID: 5ea213d8
CSeq: 31678 INVITE
Content-Length:   0

----------------------------------------------- 2026-11-21 05:07:12.530000
UDP message sent (326 bytes):

SIP/2.0 100 Trying
Call-ID: 5ea213d8

----------------------------------------------- 2026-11-21 05:07:12.629874
UDP message received [930] bytes :

INVITE sip:+5511987654321@127.0.0.1:35072 SIP/2.0
To: <sip:+5511987654321@127.0.0.1>
Call-ID: 5ea213d8

----------------------------------------------- 2026-11-21 05:07:13.000000
UDP message received [398] bytes :

ACK sip:127.0.0.1:35072 SIP/2.0
Call-ID: 5ea213d8
";

    #[test]
    fn parses_invites_from_the_message_log() {
        let invites = parse_received(LOG, "INVITE");
        assert_eq!(invites.len(), 2, "the retransmission is parsed too");
        assert_eq!(invites[0].request_uri, "sip:+5511987654321@127.0.0.1:35072");
        assert_eq!(
            invites[0].header("from"),
            Some("<sip:+551130000000@127.0.0.1>;tag=c2fa")
        );
        assert_eq!(invites[0].header("Call-ID"), Some("5ea213d8"));
    }
}
