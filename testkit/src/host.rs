//! The real `disca-host` binary, run the way a person runs its commands and
//! the way Chrome runs it for a port (pipes, the origin as first argument),
//! in a home folder of its own.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use disca_host::config::{HostConfig, Login, Paths};
use disca_host::credentials::{CredentialStore, StoreKind};
use disca_protocol::{Me, Role};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::system::PATIENCE;

/// The development extension id: the one `tests/browser-extension/manifest.json`
/// gets from its `key`, used by every install in the tests.
pub const TEST_EXTENSION_ID: &str = "keofekjiepbclilkdjjcaigdgbabkkpf";
pub const TEST_ORIGIN: &str = "chrome-extension://keofekjiepbclilkdjjcaigdgbabkkpf/";

/// `target/<profile>/disca-host`, next to the test binaries' folder. Cargo
/// builds it with the workspace (`cargo test --workspace`).
pub fn host_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let binary = profile_dir.join("disca-host");
    assert!(
        binary.exists(),
        "{} is missing: build it with `cargo build -p disca-host` (cargo test --workspace does)",
        binary.display()
    );
    binary
}

/// A user's home with the XDG folders the host uses, removed on drop (after
/// a `logout`, so no token is left in the kernel keyring).
pub struct HostHome {
    pub binary: PathBuf,
    dir: tempfile::TempDir,
}

/// What a command printed.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl HostHome {
    pub fn new(binary: PathBuf) -> HostHome {
        HostHome {
            binary,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A `--user-data-dir` for a browser of this user.
    pub fn browser_dir(&self) -> PathBuf {
        self.dir.path().join("browser")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state/disca/host.log")).unwrap_or_default()
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("config/disca/host.toml")
    }

    /// The variables that give a process this home.
    pub fn environment(&self) -> [(&'static str, PathBuf); 4] {
        let home = self.dir.path();
        [
            ("HOME", home.to_path_buf()),
            ("XDG_CONFIG_HOME", home.join("config")),
            ("XDG_STATE_HOME", home.join("state")),
            ("XDG_DATA_HOME", home.join("data")),
        ]
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command.envs(self.environment()).kill_on_drop(true);
        command
    }

    /// Runs `disca-host <args>` with `stdin` as its input.
    pub async fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("disca-host runs");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
            .await
            .expect("disca-host finished in time")
            .unwrap();
        Output {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `install` for the test extension, into this user's browser folder.
    pub async fn install(&self) {
        let dir = self.browser_dir();
        let out = self
            .run(
                &[
                    "install",
                    "--extension-id",
                    TEST_EXTENSION_ID,
                    "--user-data-dir",
                    dir.to_str().unwrap(),
                ],
                "",
            )
            .await;
        assert!(out.status.success(), "install failed: {}", out.stderr);
    }

    /// `login` with `token` on stdin, into the kernel keyring.
    pub async fn login(&self, backend: &str, token: &str) -> Output {
        self.run(
            &["login", "--backend", backend, "--store", "kernel-keyring"],
            &format!("{token}\n"),
        )
        .await
    }

    /// A home installed for the test extension and logged in to `backend`
    /// with `token` through the real commands.
    pub async fn logged_in(binary: PathBuf, backend: &str, token: &str) -> HostHome {
        let home = HostHome::new(binary);
        home.install().await;
        let login = home.login(backend, token).await;
        assert!(login.status.success(), "login failed: {}", login.stderr);
        home
    }

    /// Records a login to `backend` without asking it (for a backend that
    /// is down, or a stand-in): `host.toml` names Ana of `acme`, and `token`
    /// goes to the kernel keyring, as `login` would leave them.
    pub fn write_login(&self, backend: &str, token: &str) {
        let paths = Paths {
            config_dir: self.dir.path().join("config/disca"),
            state_dir: self.dir.path().join("state/disca"),
        };
        let mut config = HostConfig::load(&paths).unwrap();
        config.login = Some(Login {
            backend_url: backend.into(),
            credential_store: StoreKind::KernelKeyring,
            user: Me {
                id: "u1".into(),
                name: "Ana".into(),
                email: "ana@example.com".into(),
                tenant: "acme".into(),
                role: Role::Agent,
                extension: "1001".into(),
            },
        });
        config.save(&paths).unwrap();
        CredentialStore::new(StoreKind::KernelKeyring)
            .save(backend, token)
            .unwrap();
    }

    /// Opens a port as Chrome does.
    pub fn open_port(&self) -> HostPort {
        self.open_port_for(TEST_ORIGIN)
    }

    pub fn open_port_for(&self, origin: &str) -> HostPort {
        let mut child = self
            .command()
            .arg(origin)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("disca-host starts");
        HostPort {
            stdin: Some(child.stdin.take().unwrap()),
            stdout: child.stdout.take().unwrap(),
            child,
            received: VecDeque::new(),
        }
    }
}

impl Drop for HostHome {
    fn drop(&mut self) {
        let _ = std::process::Command::new(&self.binary)
            .arg("logout")
            .envs(self.environment())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// One native messaging port: the host process and its pipes.
pub struct HostPort {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Messages read but not yet asked for.
    received: VecDeque<Value>,
}

impl HostPort {
    pub async fn send(&mut self, message: &Value) {
        let json = serde_json::to_vec(message).unwrap();
        let mut frame = (json.len() as u32).to_ne_bytes().to_vec();
        frame.extend_from_slice(&json);
        self.send_raw(&frame).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("port still open");
        stdin.write_all(bytes).await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Closes the browser's side, as Chrome does when the port is dropped.
    pub fn close_input(&mut self) {
        self.stdin = None;
    }

    /// The next frame, or `None` when the host closed stdout.
    async fn read_frame(&mut self) -> Option<Value> {
        let mut length = [0u8; 4];
        self.stdout.read_exact(&mut length).await.ok()?;
        let mut payload = vec![0u8; u32::from_ne_bytes(length) as usize];
        self.stdout.read_exact(&mut payload).await.ok()?;
        Some(serde_json::from_slice(&payload).expect("the host writes JSON frames"))
    }

    /// The next message, in order.
    pub async fn next(&mut self) -> Option<Value> {
        if let Some(message) = self.received.pop_front() {
            return Some(message);
        }
        tokio::time::timeout(PATIENCE, self.read_frame())
            .await
            .expect("the host answered in time")
    }

    /// The first message (read or still to come) matching `wanted`; others
    /// are kept for later.
    pub async fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.received.iter().position(&wanted) {
            return self.received.remove(i).unwrap();
        }
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.read_frame())
                .await
                .unwrap_or_else(|_| panic!("no {what} from the host; got {:?}", self.received))
                .unwrap_or_else(|| panic!("the host closed stdout before {what}"));
            if wanted(&frame) {
                return frame;
            }
            self.received.push_back(frame);
        }
    }

    /// The reply to request `id`.
    pub async fn reply(&mut self, id: &Value) -> Value {
        let id = id.clone();
        self.wait_for(&format!("reply to {id}"), move |m| {
            m["id"] == id && m["type"] != "call.update"
        })
        .await
    }

    /// Sends a request and returns its reply.
    pub async fn request(&mut self, request: Value) -> Value {
        let id = request["id"].clone();
        self.send(&request).await;
        self.reply(&id).await
    }

    /// The next event of type `kind`.
    pub async fn event(&mut self, kind: &str) -> Value {
        let kind = kind.to_owned();
        self.wait_for(&kind.clone(), move |m| m["type"] == kind.as_str())
            .await
    }

    /// Waits for the process to end.
    pub async fn wait(mut self) -> ExitStatus {
        self.stdin = None;
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the host exited in time")
            .unwrap()
    }
}
