//! The development PBX: Asterisk from `asterisk-config/` plus the dev overlay
//! (`xtask/dev-overlay/`) on fixed loopback ports, and two SIPp peers so that
//! a demo call completes with no phone and no internet:
//!
//! - AMI 127.0.0.1:15038, user `disca`, secret `disca-dev-secret` (the
//!   backend's built-in defaults);
//! - SIP 127.0.0.1:15060 (UDP): agent `acme-1001` registers from any SIP
//!   phone with password `acme-1001-dev`;
//! - agent `acme-1002` is a SIPp on 127.0.0.1:15071 that answers at once;
//! - the trunk of tenant `acme` is a SIPp on 127.0.0.1:15072 that plays
//!   every lead: it answers, speaks (SIPp's recorded voice), and hangs up
//!   after [`LEAD_TALK`];
//! - browser phones connect to `ws://127.0.0.1:15088/ws` ([`WS_URL`]) and
//!   are read from the phone directory ([`phone_directory`]), which the
//!   backend writes.
//!
//! Processes run detached and are tracked by PID files in the instance
//! directory (`<root>/disca/dev`); `down` stops them by PID.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use disca_asterisk_render::SiteVars;
use disca_testkit::root::running_as_root;
use disca_testkit::{AmiSession, AsteriskRoot, PbxInstance, PeerBehavior};
use rustix::process::{Pid, Signal, kill_process};

/// Instance name: `<root>/disca/dev`.
const INSTANCE: &str = "dev";
const AMI_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 15038);
const START_PATIENCE: Duration = Duration::from_secs(20);
const STOP_PATIENCE: Duration = Duration::from_secs(5);
/// How long the robot lead talks before hanging up: long enough to see the
/// call live in the popup, short enough for a demo.
pub const LEAD_TALK: Duration = Duration::from_secs(9);

/// A detached process of the development PBX.
struct Component {
    /// Shown to the user.
    label: &'static str,
    /// PID file name in the instance directory.
    pid_file: &'static str,
    /// A word of `/proc/<pid>/cmdline` that proves the PID is still ours.
    marker: &'static str,
}

const ASTERISK: Component = Component {
    label: "Asterisk",
    pid_file: "asterisk.pid",
    marker: "/disca/dev/etc/asterisk.conf",
};
const AGENT_PEER: Component = Component {
    label: "SIPp agent acme-1002 (127.0.0.1:15071)",
    pid_file: "agent-sipp.pid",
    marker: "15071",
};
const TRUNK_PEER: Component = Component {
    label: "SIPp trunk (127.0.0.1:15072)",
    pid_file: "trunk-sipp.pid",
    marker: "15072",
};

fn dev_overlay() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dev-overlay")
}

fn instance() -> anyhow::Result<PbxInstance> {
    if !running_as_root() {
        bail!("the development PBX runs Asterisk with chroot(2): run this as root");
    }
    Ok(PbxInstance::new(&AsteriskRoot::locate()?, INSTANCE))
}

/// `cargo xtask asterisk up`.
pub fn up() -> anyhow::Result<()> {
    let instance = instance()?;
    if running_pid(&instance, &ASTERISK).is_some() {
        println!("The development PBX is already running.");
        return status();
    }
    // Leftovers of a PBX that died: stop its peers before starting new ones.
    stop(&instance, &AGENT_PEER);
    stop(&instance, &TRUNK_PEER);
    instance.prepare(&dev_overlay(), SiteVars::new(), &SiteVars::new())?;
    tokio::runtime::Runtime::new()?.block_on(instance.create_phone_directory())?;
    start_peer(&instance, &AGENT_PEER, 15071, PeerBehavior::AnswerAndWait)?;
    start_peer(
        &instance,
        &TRUNK_PEER,
        15072,
        PeerBehavior::SpeakThenHangup { talk: LEAD_TALK },
    )?;

    let mut asterisk = instance.asterisk_command()?;
    asterisk.process_group(0);
    let mut child = asterisk.spawn().context("starting Asterisk with chroot")?;
    fs::write(
        instance.dir().join(ASTERISK.pid_file),
        child.id().to_string(),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ready = runtime.block_on(
        instance.wait_until_ready(AMI_ADDR, START_PATIENCE, || still_running(&mut child)),
    );
    if let Err(error) = ready {
        down()?;
        return Err(error);
    }
    println!(
        "Development PBX up.
  AMI        127.0.0.1:15038  user disca, secret disca-dev-secret
  SIP (UDP)  127.0.0.1:15060  agent acme-1001 registers with password acme-1001-dev
  agent      acme-1002        a SIPp that answers at once (127.0.0.1:15071)
  trunk      acme-trunk       a SIPp lead that answers, speaks, hangs up after {} s (127.0.0.1:15072)
  browsers   {WS_URL}  phones from the directory {}
  recordings {}
  logs       {}
Stop it with `cargo xtask asterisk down`.",
        LEAD_TALK.as_secs(),
        instance.phone_directory().display(),
        instance.recordings_dir().display(),
        instance.messages_log().display()
    );
    Ok(())
}

/// Where browser phones reach the development PBX (its loopback HTTP port).
pub const WS_URL: &str = "ws://127.0.0.1:15088/ws";

/// The development PBX's phone directory: the backend's
/// `[phones] directory_db`.
pub fn phone_directory() -> anyhow::Result<PathBuf> {
    Ok(instance()?.phone_directory())
}

/// Where the development PBX records calls.
pub fn recordings_dir() -> anyhow::Result<PathBuf> {
    Ok(instance()?.recordings_dir())
}

/// `cargo xtask asterisk down`.
pub fn down() -> anyhow::Result<()> {
    let instance = instance()?;
    for component in [&ASTERISK, &AGENT_PEER, &TRUNK_PEER] {
        stop(&instance, component);
    }
    println!("Development PBX down.");
    Ok(())
}

/// `cargo xtask asterisk status`.
pub fn status() -> anyhow::Result<()> {
    let instance = instance()?;
    for component in [&ASTERISK, &AGENT_PEER, &TRUNK_PEER] {
        match running_pid(&instance, component) {
            Some(pid) => println!("{:<40} running (PID {pid})", component.label),
            None => println!("{:<40} stopped", component.label),
        }
    }
    if running_pid(&instance, &ASTERISK).is_none() {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match AmiSession::connect(AMI_ADDR).await {
            Ok(ami) => println!("AMI {AMI_ADDR}: {}", ami.banner()),
            Err(error) => println!("AMI {AMI_ADDR}: not answering ({error:#})"),
        }
        for command in [
            "core show uptime",
            "pjsip show contacts",
            "core show channels count",
        ] {
            match instance.cli(command).await {
                Ok(output) => println!("\n> {command}\n{}", output.trim_end()),
                Err(error) => println!("\n> {command}\n{error:#}"),
            }
        }
    });
    Ok(())
}

fn start_peer(
    instance: &PbxInstance,
    component: &Component,
    port: u16,
    behavior: PeerBehavior,
) -> anyhow::Result<()> {
    let log = fs::File::create(
        instance
            .dir()
            .join(component.pid_file.replace(".pid", ".log")),
    )?;
    let mut child = Command::new("sipp")
        .args(behavior.sipp_args())
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .current_dir(instance.dir())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("starting sipp (Debian package sip-tester)")?;
    fs::write(
        instance.dir().join(component.pid_file),
        child.id().to_string(),
    )?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
        still_running(&mut child)
            .with_context(|| format!("{} (is UDP port {port} free?)", component.label))?;
        if Instant::now() >= deadline {
            bail!(
                "{} did not listen on UDP port {port} within 5 s",
                component.label
            );
        }
        sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn still_running(child: &mut Child) -> anyhow::Result<()> {
    match child.try_wait()? {
        None => Ok(()),
        Some(status) => bail!("exited during start-up ({status})"),
    }
}

/// The component's PID if its PID file names a live process that is ours.
fn running_pid(instance: &PbxInstance, component: &Component) -> Option<i32> {
    let pid: i32 = fs::read_to_string(instance.dir().join(component.pid_file))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let ours = cmdline
        .split(|&b| b == 0)
        .any(|word| String::from_utf8_lossy(word).contains(component.marker));
    ours.then_some(pid)
}

/// SIGTERM, a few seconds' patience, then SIGKILL; removes the PID file.
fn stop(instance: &PbxInstance, component: &Component) {
    if let Some(pid) = running_pid(instance, component).and_then(Pid::from_raw) {
        println!(
            "Stopping {} (PID {})",
            component.label,
            pid.as_raw_nonzero()
        );
        // Errors mean the process is already gone.
        let _ = kill_process(pid, Signal::TERM);
        let deadline = Instant::now() + STOP_PATIENCE;
        while running_pid(instance, component).is_some() && Instant::now() < deadline {
            sleep(Duration::from_millis(100));
        }
        if running_pid(instance, component).is_some() {
            let _ = kill_process(pid, Signal::KILL);
        }
    }
    // A missing file is fine.
    let _ = fs::remove_file(instance.dir().join(component.pid_file));
}

#[cfg(test)]
mod tests {
    use disca_asterisk_render::{SITE_VARS_FILE, Templates, render_config};
    use disca_testkit::instance::DIRECTORY_VARS;

    use super::*;

    #[test]
    fn dev_overlay_renders_with_the_backend_defaults() {
        let mut vars = SiteVars::load(&dev_overlay().join(SITE_VARS_FILE)).unwrap();
        for (name, sub) in DIRECTORY_VARS {
            vars.define(name, &format!("/disca/{INSTANCE}/{sub}"))
                .unwrap();
        }
        let directory = format!("/disca/{INSTANCE}/phones/directory.sqlite3");
        vars.define("PHONE_DIRECTORY_DB", &directory).unwrap();
        let out = tempfile::tempdir().unwrap();
        let etc = out.path().join("etc");
        render_config(&Templates::Embedded, &dev_overlay(), &vars, &etc).unwrap();
        let manager = fs::read_to_string(etc.join("manager.conf")).unwrap();
        assert!(manager.contains(&format!("port = {}", AMI_ADDR.port())));
        assert!(manager.contains("[disca]\nsecret = disca-dev-secret\n"));
        let pjsip = fs::read_to_string(etc.join("pjsip.conf")).unwrap();
        assert!(pjsip.contains("bind = 127.0.0.1:15060"));
        let realtime = fs::read_to_string(etc.join("res_config_sqlite3.conf")).unwrap();
        assert!(realtime.contains(&format!("dbfile = {directory}")));
        let http = fs::read_to_string(etc.join("http.conf")).unwrap();
        assert!(
            http.contains("bindport = 15088"),
            "browser phones: {WS_URL}"
        );
        assert!(
            fs::read_to_string(etc.join("pjsip.d/acme.conf"))
                .unwrap()
                .contains("contact = sip:127.0.0.1:15072")
        );
    }
}
