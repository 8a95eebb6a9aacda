//! The real `disca-backend` binary under resource limits, for the
//! connection-limit tests and the SSE memory benchmark: started through
//! `prlimit` (util-linux) with a chosen open-file limit and settings given
//! as environment variables, against a stand-in AMI server that logs it in
//! and answers every action (so `/healthz` is 200); plus raw sockets and
//! event streams to hold connections open.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// An AMI server that logs anyone in and answers every action with
/// success; it sends no events.
pub async fn answering_ami() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                if write
                    .write_all(b"Asterisk Call Manager/11.0.0\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
                let (mut action, mut id) = (String::new(), String::new());
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some((k, v)) = line.split_once(':') {
                        match k.trim().to_ascii_lowercase().as_str() {
                            "action" => action = v.trim().to_ascii_lowercase(),
                            "actionid" => id = v.trim().to_owned(),
                            _ => {}
                        }
                        continue;
                    }
                    if !line.is_empty() {
                        continue;
                    }
                    let answer = match action.as_str() {
                        "challenge" => format!(
                            "Response: Success\r\nActionID: {id}\r\nChallenge: 123456789\r\n\r\n"
                        ),
                        // No channels.
                        "coreshowchannels" => format!(
                            "Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\nEvent: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n"
                        ),
                        _ => format!("Response: Success\r\nActionID: {id}\r\n\r\n"),
                    };
                    if write.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Adds tenants and users to `data_dir` with the binary's own commands
/// (`tenant add`, `user add`), so the database is the one that binary
/// makes; returns each user's token by `<tenant>-<extension>`, for
/// `users` given as `(tenant, extension, role)`.
pub fn seed_with_cli(
    binary: &Path,
    data_dir: &Path,
    tenants: &[&str],
    users: &[(&str, &str, &str)],
) -> std::collections::HashMap<String, String> {
    seed_with_cli_env(binary, data_dir, &[], tenants, users)
}

/// [`seed_with_cli`] with settings in the environment (`DISCA_DATABASE_URL`
/// for a backend on PostgreSQL).
pub fn seed_with_cli_env(
    binary: &Path,
    data_dir: &Path,
    env: &[(&str, &str)],
    tenants: &[&str],
    users: &[(&str, &str, &str)],
) -> std::collections::HashMap<String, String> {
    let run = |args: &[&str]| {
        let out = Command::new(binary)
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .output()
            .expect("disca-backend runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    for tenant in tenants {
        run(&["tenant", "add", "--slug", tenant, "--name", tenant]);
    }
    let mut tokens = std::collections::HashMap::new();
    for (tenant, ext, role) in users {
        let name = format!("{tenant}-{ext}");
        let email = format!("{ext}@{tenant}.example.com");
        let out = run(&[
            "user",
            "add",
            "--tenant",
            tenant,
            "--name",
            &name,
            "--email",
            &email,
            "--endpoint",
            ext,
            "--role",
            role,
        ]);
        tokens.insert(name, out.trim().to_owned());
    }
    tokens
}

/// The backend binary as a child process (killed on drop).
pub struct LimitedBackend {
    pub base: String,
    pub addr: SocketAddr,
    child: Child,
}

/// How to start a [`LimitedBackend`].
pub struct LimitedOptions<'a> {
    pub binary: &'a Path,
    pub data_dir: &'a Path,
    pub ami_addr: SocketAddr,
    /// `(soft, hard)` open-file limit, set with `prlimit` before exec.
    pub nofile: Option<(u64, u64)>,
    /// Settings as environment variables (`DISCA_MAX_CONNECTIONS`...).
    pub env: &'a [(&'a str, &'a str)],
}

impl LimitedBackend {
    /// Starts the binary and waits until `/healthz` answers 200.
    pub async fn start(options: LimitedOptions<'_>) -> LimitedBackend {
        let port = crate::free_tcp_port();
        let mut command = match options.nofile {
            Some((soft, hard)) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={soft}:{hard}"))
                    .arg("--")
                    .arg(options.binary);
                c
            }
            None => Command::new(options.binary),
        };
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--ami-addr", &options.ami_addr.to_string()])
            .arg("--data-dir")
            .arg(options.data_dir)
            .envs(options.env.iter().copied())
            .env("DISCA_AMI_SECRET", "stand-in")
            .env(
                "RUST_LOG",
                std::env::var("DISCA_TEST_BACKEND_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::null());
        let child = command.spawn().expect("disca-backend starts");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let backend = LimitedBackend {
            base: format!("http://{addr}"),
            addr,
            child,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while healthz(addr, Duration::from_secs(1)).await != Some(200) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "disca-backend never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        backend
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Descriptors the process has open.
    pub fn open_fds(&self) -> usize {
        crate::procfs::open_fds(self.pid())
    }

    /// `(soft, hard)` open-file limit of the running process.
    pub fn nofile(&self) -> (String, String) {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.pid())).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        let mut fields = line["Max open files".len()..].split_whitespace();
        (
            fields.next().unwrap().to_owned(),
            fields.next().unwrap().to_owned(),
        )
    }

    /// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`).
    pub fn status_kib(&self, field: &str) -> u64 {
        crate::procfs::status_kib(self.pid(), field)
    }
}

impl Drop for LimitedBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET /healthz` on a fresh connection; its status, or `None` when the
/// server did not answer within `within` (or closed the connection).
pub async fn healthz(addr: SocketAddr, within: Duration) -> Option<u16> {
    healthz_answer(addr, within).await.map(|(status, _)| status)
}

/// [`healthz`] with the whole answer.
pub async fn healthz_answer(addr: SocketAddr, within: Duration) -> Option<(u16, String)> {
    tokio::time::timeout(within, async {
        let mut socket = TcpStream::connect(addr).await.ok()?;
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: disca\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let head = read_head(&mut socket).await?;
        let mut body = String::new();
        let _ = socket.read_to_string(&mut body).await;
        Some((status_of(&head)?, format!("{head}{body}")))
    })
    .await
    .ok()
    .flatten()
}

/// Reads up to the end of a response head.
pub async fn read_head(socket: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match socket.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    String::from_utf8(head).ok()
}

pub fn status_of(head: &str) -> Option<u16> {
    head.split_whitespace().nth(1)?.parse().ok()
}

/// Opens `GET /v1/events` with `token` and reads the response head (and,
/// on 200, the first event): the socket (to hold the stream open) and the
/// status; `None` when the server closed the connection first.
pub async fn open_stream(
    addr: SocketAddr,
    token: &str,
    last_event_id: Option<&str>,
) -> Option<(TcpStream, u16, String)> {
    // A server out of descriptors never answers: give up after a while.
    tokio::time::timeout(
        Duration::from_secs(5),
        try_open_stream(addr, token, last_event_id),
    )
    .await
    .ok()
    .flatten()
}

async fn try_open_stream(
    addr: SocketAddr,
    token: &str,
    last_event_id: Option<&str>,
) -> Option<(TcpStream, u16, String)> {
    let mut socket = TcpStream::connect(addr).await.ok()?;
    let resume = last_event_id
        .map(|id| format!("Last-Event-ID: {id}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /v1/events HTTP/1.1\r\nHost: disca\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n{resume}\r\n"
    );
    socket.write_all(request.as_bytes()).await.ok()?;
    let head = read_head(&mut socket).await?;
    let status = status_of(&head)?;
    let mut first = String::new();
    if status == 200 {
        // The first chunk carries `stream.start`.
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        first = String::from_utf8_lossy(&buf[..n]).into_owned();
    } else {
        let mut buf = [0u8; 4096];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(500), socket.read(&mut buf)).await
        {
            first = String::from_utf8_lossy(&buf[..n]).into_owned();
        }
        first = format!("{head}{first}");
    }
    Some((socket, status, first))
}

/// Whether the server closed `socket` within `within` (reading and
/// discarding whatever it sends meanwhile).
pub async fn closed_within(socket: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}
