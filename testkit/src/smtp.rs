//! A real SMTP server for the tests: aiosmtpd (Debian package
//! `python3-aiosmtpd`) on loopback, delivering into a maildir the test
//! reads, with messages decoded (MIME, transfer encodings) by `mailparse`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::free_tcp_port;

/// `python3 -m aiosmtpd` on `127.0.0.1`, no TLS, no authentication (the
/// backend's `[mail] security = "none"`); killed when dropped.
pub struct SmtpServer {
    pub addr: SocketAddr,
    maildir: PathBuf,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// A message as received.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: String,
    pub subject: String,
    /// The text body, decoded.
    pub body: String,
}

impl SmtpServer {
    pub async fn start() -> anyhow::Result<SmtpServer> {
        let dir = tempfile::tempdir().context("a folder for the mail")?;
        // aiosmtpd's Mailbox handler creates the maildir itself (and fails
        // on one that exists).
        let maildir = dir.path().join("maildir");
        let port = free_tcp_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &addr.to_string()])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting aiosmtpd (Debian package python3-aiosmtpd)")?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if tokio::time::Instant::now() >= deadline {
                bail!("aiosmtpd did not listen on {addr} within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(SmtpServer {
            addr,
            maildir,
            _child: child,
            _dir: dir,
        })
    }

    /// Every message delivered so far.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.maildir.join("new"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|path| std::fs::read(path).ok())
            .filter_map(|bytes| {
                let parsed = mailparse::parse_mail(&bytes).ok()?;
                let header = |name: &str| {
                    parsed
                        .headers
                        .iter()
                        .find(|h| h.get_key().eq_ignore_ascii_case(name))
                        .map(mailparse::MailHeader::get_value)
                        .unwrap_or_default()
                };
                Some(ReceivedMail {
                    from: header("From"),
                    to: header("To"),
                    subject: header("Subject"),
                    body: parsed.get_body().ok()?,
                })
            })
            .collect()
    }

    /// Waits up to 10 s for a message to `to`.
    pub async fn wait_for_mail_to(&self, to: &str) -> anyhow::Result<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(mail) = self.messages().into_iter().find(|m| m.to.contains(to)) {
                return Ok(mail);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("no mail to {to} within 10 s; got {:?}", self.messages());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
