//! A real TURN server for the tests: coturn's `turnserver` on loopback, with
//! the "TURN REST API" authentication the backend's short-lived
//! credentials are made for (`use-auth-secret`).

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::ports::{free_udp_port, free_udp_ports};

/// The realm the server announces.
pub const REALM: &str = "disca.test";

/// `turnserver` listening on `127.0.0.1` (UDP and TCP on one port),
/// relaying from `127.0.0.1`; killed when dropped.
pub struct TurnServer {
    pub addr: SocketAddr,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl TurnServer {
    /// Starts coturn (Debian package `coturn`) with `secret` as its
    /// `static-auth-secret`, and waits until it listens.
    pub async fn start(secret: &str) -> anyhow::Result<TurnServer> {
        let dir = tempfile::tempdir().context("a folder for coturn")?;
        // A port free for both UDP and TCP: coturn listens on both.
        let port = loop {
            let port = free_udp_port();
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
        // Relayed media: a block of ports no other part of the test takes.
        let relay_low = free_udp_ports(51);
        let child = Command::new("turnserver")
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
            .args(["--listening-port", &port.to_string()])
            .args(["--min-port", &relay_low.to_string()])
            .args(["--max-port", &(relay_low + 50).to_string()])
            .args(["--use-auth-secret", "--static-auth-secret", secret])
            .args(["--realm", REALM])
            .args(["--no-tls", "--no-dtls", "--no-cli", "--no-multicast-peers"])
            .args(["--fingerprint", "--log-file", "stdout", "--simple-log"])
            .arg("--userdb")
            .arg(dir.path().join("turndb"))
            .arg("--pidfile")
            .arg(dir.path().join("turnserver.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting turnserver (Debian package coturn)")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if tokio::time::Instant::now() >= deadline {
                bail!("turnserver did not listen on {addr} within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(TurnServer {
            addr,
            _child: child,
            _dir: dir,
        })
    }

    /// The server as a `turn:` URL for `transport` (`udp` or `tcp`).
    pub fn url(&self, transport: &str) -> String {
        format!("turn:{}?transport={transport}", self.addr)
    }
}
