//! [`TestPbx`]: a real Asterisk 22 for one test, configured from
//! `asterisk-config/` plus the test overlay (`tests/asterisk-overlay/`).
//!
//! The overlay defines tenant `acme` (agents `acme-1001`, `acme-1002`) and
//! tenant `globex` (agent `globex-2001`). Every agent's AOR has a static
//! contact at `127.0.0.1:<agent_sip_port>` (one SIP peer answers for all
//! agents) and both tenants' trunks point at `127.0.0.1:<trunk_sip_port>`.
//! AMI, SIP and the disabled HTTP server get free loopback ports.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use rustix::process::{Pid, Signal, kill_process};
use tokio::process::Child;
use tokio::time::timeout;

use crate::instance::{PbxInstance, repository_dir};
use crate::ports::{free_tcp_port, free_udp_port};
use crate::render::SiteVars;
use crate::root::{AsteriskRoot, running_as_root};

/// How long Asterisk may take to start before [`TestPbx::start`] fails.
const START_PATIENCE: Duration = Duration::from_secs(20);
/// How long Asterisk may take to exit on SIGTERM before it is killed.
const STOP_PATIENCE: Duration = Duration::from_secs(5);
/// Instances of test PBXs live in `<root>/disca/tests/<id>`.
const TESTS_DIR: &str = "tests";
/// File in an instance directory holding the PID of the test process.
const OWNER_FILE: &str = "owner.pid";
/// File in an instance directory holding the PID of its Asterisk.
const ASTERISK_PID_FILE: &str = "asterisk.pid";

/// What a test chooses about its PBX.
#[derive(Debug, Clone, Copy)]
pub struct TestPbxOptions {
    /// UDP port on 127.0.0.1 where the agents' SIP peer listens.
    pub agent_sip_port: u16,
    /// UDP port on 127.0.0.1 where the trunk's SIP peer (the leads) listens.
    pub trunk_sip_port: u16,
    /// How long Asterisk lets a lead's phone ring (both tenants).
    pub lead_ring_timeout_secs: u32,
}

/// A running Asterisk for one test. Dropping it kills Asterisk and removes
/// its instance directory.
pub struct TestPbx {
    /// AMI address (127.0.0.1, a free port).
    pub ami_addr: SocketAddr,
    /// The AMI user, with the production privileges (see `manager.conf`).
    pub ami_username: String,
    /// The AMI user's secret (random per instance).
    pub ami_secret: String,
    /// Host path of the monitor spool, where `<tenant>-<call id>.wav` appear.
    pub recordings_dir: PathBuf,
    /// Asterisk's SIP (UDP) address.
    pub sip_addr: SocketAddr,
    instance: PbxInstance,
    child: Option<Child>,
}

impl TestPbx {
    /// Renders the configuration into a fresh instance directory, starts
    /// Asterisk and waits until AMI answers and Asterisk is fully booted.
    pub async fn start(root: &AsteriskRoot, opts: TestPbxOptions) -> anyhow::Result<TestPbx> {
        if !running_as_root() {
            bail!("the test bed starts Asterisk with chroot(2) and must run as root");
        }
        collect_abandoned_instances(root);
        let id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        let instance = PbxInstance::new(root, &format!("{TESTS_DIR}/{id}"));
        fs::create_dir_all(instance.dir())
            .with_context(|| format!("creating {}", instance.dir().display()))?;
        fs::write(
            instance.dir().join(OWNER_FILE),
            std::process::id().to_string(),
        )?;

        let ami_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_tcp_port()));
        let sip_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_udp_port()));
        let mut vars = SiteVars::new();
        let ami_secret = uuid::Uuid::new_v4().simple().to_string();
        for (name, value) in [
            ("AMI_PORT", ami_addr.port().to_string()),
            ("AMI_SECRET", ami_secret.clone()),
            ("SIP_UDP_BIND", sip_addr.to_string()),
            ("SIP_TLS_BIND", format!("127.0.0.1:{}", free_tcp_port())),
            ("HTTP_LOOPBACK_PORT", free_tcp_port().to_string()),
            ("HTTPS_BIND", format!("127.0.0.1:{}", free_tcp_port())),
            ("AGENT_SIP_PORT", opts.agent_sip_port.to_string()),
            ("TRUNK_SIP_PORT", opts.trunk_sip_port.to_string()),
            (
                "LEAD_RING_TIMEOUT_SECS",
                opts.lead_ring_timeout_secs.to_string(),
            ),
        ] {
            vars.define(name, &value)?;
        }
        let prepared = instance.prepare(&repository_dir().join("tests/asterisk-overlay"), vars);
        let vars = match prepared {
            Ok(vars) => vars,
            Err(error) => {
                // Best effort: the render error is what matters.
                let _ = instance.remove();
                return Err(error);
            }
        };
        let mut pbx = TestPbx {
            ami_addr,
            ami_username: vars.require("AMI_USERNAME")?.to_owned(),
            ami_secret,
            recordings_dir: instance.recordings_dir(),
            sip_addr,
            instance,
            child: None,
        };
        pbx.launch().await?;
        Ok(pbx)
    }

    /// Stops Asterisk: SIGTERM, then SIGKILL if it is still running after a
    /// few seconds (Asterisk with live channels can be slow to exit).
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id().and_then(|id| Pid::from_raw(id as i32)) {
            // The process may already be gone; then there is nothing to do.
            let _ = kill_process(pid, Signal::TERM);
        }
        if timeout(STOP_PATIENCE, child.wait()).await.is_err() {
            // An error means Asterisk has exited meanwhile.
            let _ = child.kill().await;
        }
    }

    /// Stops and starts Asterisk again with the same ports and configuration
    /// (what a crash or an upgrade looks like to the backend).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        self.launch().await
    }

    /// Runs one Asterisk CLI command (`asterisk -rx`) and returns its output.
    pub async fn cli(&self, command: &str) -> anyhow::Result<String> {
        self.instance.cli(command).await
    }

    /// The instance directory and its logs (`messages.log`, console output).
    pub fn instance(&self) -> &PbxInstance {
        &self.instance
    }

    async fn launch(&mut self) -> anyhow::Result<()> {
        let mut command = tokio::process::Command::from(self.instance.asterisk_command()?);
        command.kill_on_drop(true);
        let child = command.spawn().context("starting Asterisk with chroot")?;
        if let Some(pid) = child.id() {
            fs::write(self.instance.dir().join(ASTERISK_PID_FILE), pid.to_string())?;
        }
        self.child = Some(child);
        let ready = {
            let child = &mut self.child;
            self.instance
                .wait_until_ready(self.ami_addr, START_PATIENCE, || exited(child.as_mut()))
                .await
        };
        if ready.is_err() {
            self.stop().await;
        }
        ready
    }
}

/// Fails when the process has exited.
fn exited(child: Option<&mut Child>) -> anyhow::Result<()> {
    let Some(child) = child else {
        bail!("Asterisk is not running")
    };
    match child.try_wait() {
        Ok(None) => Ok(()),
        Ok(Some(status)) => bail!("Asterisk exited during start-up ({status})"),
        Err(error) => Err(error).context("checking on Asterisk"),
    }
}

impl Drop for TestPbx {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Errors mean the process is already gone.
            let _ = child.start_kill();
            for _ in 0..100 {
                if !matches!(child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if let Err(error) = self.instance.remove() {
            tracing::warn!("{error:#}");
        }
    }
}

/// Removes instances left behind by test processes that died without
/// dropping their [`TestPbx`] (killed, aborted), killing their Asterisk.
fn collect_abandoned_instances(root: &AsteriskRoot) {
    let tests_dir = PbxInstance::new(root, TESTS_DIR).dir();
    let Ok(entries) = fs::read_dir(&tests_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let owner = read_pid(&dir.join(OWNER_FILE));
        if owner.is_some_and(process_exists) {
            continue;
        }
        if let Some(pid) = read_pid(&dir.join(ASTERISK_PID_FILE)) {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let name = entry.file_name();
            let ours = String::from_utf8_lossy(&cmdline).contains(&*name.to_string_lossy());
            if ours && let Some(pid) = Pid::from_raw(pid) {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
        if owner.is_some() {
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

fn read_pid(path: &std::path::Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn process_exists(pid: i32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}
