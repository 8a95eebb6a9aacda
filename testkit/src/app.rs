//! [`TestApp`]: the one way a test starts the backend in-process (as
//! zero2prod's `spawn_app`): the real `Application` on a random loopback
//! port, its own database (a SQLite file in a temporary folder, or a new
//! PostgreSQL database when `DISCA_TEST_POSTGRES` names a server: see
//! `disca_backend::storage::testing`), and by default no PBX
//! behind it (the AMI address is a closed port) — everything decided before
//! a call reaches Asterisk. The builder sets what tests vary: the AMI to
//! log in to, where the data lives, any other setting ([`TestAppBuilder::configure`]).
//!
//! Tests seed tenants and users through [`TestApp::store`], the
//! application's own store, so calls ended through it wake the CRM worker
//! at once, as the PBX tracker's do.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use disca_backend::configuration::Settings;
use disca_backend::startup::Application;
use disca_backend::storage::{Store, testing};
use reqwest::StatusCode;
use serde_json::Value;

/// How long [`TestApp::wait_until_healthy`] waits.
const HEALTHY_WITHIN: Duration = Duration::from_secs(40);

/// The settings a test starts from: the backend's defaults, listening on
/// a random loopback port, with its data in `data_dir`; a call's note does
/// not wait for the salesperson's report (tests of the report set a wait).
fn default_settings(data_dir: &Path) -> Settings {
    let mut settings = Settings {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.to_path_buf(),
        ..Settings::default()
    };
    settings.crm.report_wait = Duration::ZERO;
    settings
}

/// Where the backend's data lives.
enum DataDir {
    /// `data/` in a temporary folder of the app's own.
    Fresh,
    /// This folder (a small file system, say), removed with the app.
    Owned(tempfile::TempDir),
    /// Another app's folder and database: two backends on one database.
    Shared(PathBuf, Option<String>),
}

/// A change to the settings, made before the app starts.
type SettingsChange = Box<dyn FnOnce(&mut Settings)>;

/// Options for a [`TestApp`]; see [`TestApp::builder`].
pub struct TestAppBuilder {
    data: DataDir,
    /// A PostgreSQL database already made (and seeded) for this app.
    database_url: Option<String>,
    /// SQLite even when `DISCA_TEST_POSTGRES` is set.
    sqlite: bool,
    ami: Option<(SocketAddr, String, String)>,
    configure: Vec<SettingsChange>,
    follow_redirects: bool,
}

/// The backend running in this test process.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client with a 10 s timeout (and no redirects followed when the
    /// builder said so).
    pub http: reqwest::Client,
    /// The application's own store.
    pub store: Store,
    /// The settings it runs with.
    pub settings: Settings,
    /// The temporary folder the app owns (its data is `data_dir()`), if any.
    dir: Option<tempfile::TempDir>,
}

impl TestApp {
    /// A backend with the default options.
    pub async fn spawn() -> TestApp {
        TestApp::builder().start().await
    }

    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            data: DataDir::Fresh,
            database_url: None,
            sqlite: false,
            ami: None,
            configure: Vec::new(),
            follow_redirects: true,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The backend's data folder (its database is `disca.sqlite3` there,
    /// unless it runs on PostgreSQL: `settings.database_url`).
    pub fn data_dir(&self) -> &Path {
        &self.settings.data_dir
    }

    /// A connection pool to the app's database (SQLite or PostgreSQL), for
    /// tests that read or change rows behind the backend's back.
    pub async fn database(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = match &self.settings.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                self.data_dir().join("disca.sqlite3").display()
            ),
        };
        sqlx::AnyPool::connect(&url)
            .await
            .expect("the app's database")
    }

    /// Everything the app's database holds, for tests that look for a
    /// secret in it: the SQLite files' bytes; on PostgreSQL every row of
    /// every table as text, each `bytea` value (written `\x` and hex)
    /// also decoded.
    pub async fn stored_bytes(&self) -> Vec<u8> {
        if self.settings.database_url.is_none() {
            let mut bytes = Vec::new();
            for file in ["disca.sqlite3", "disca.sqlite3-wal"] {
                bytes.extend(std::fs::read(self.data_dir().join(file)).unwrap_or_default());
            }
            return bytes;
        }
        let database = self.database().await;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&database)
        .await
        .expect("the table names");
        let mut bytes = Vec::new();
        for table in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
                    .fetch_all(&database)
                    .await
                    .expect("a table's rows");
            for row in rows {
                for word in row.split(|c: char| !c.is_ascii_alphanumeric() && c != '\\') {
                    // `\x…`, its backslash doubled inside a row's quotes.
                    let hex = word.strip_prefix('\\').map(|w| w.trim_start_matches('\\'));
                    if let Some(decoded) = hex
                        .and_then(|w| w.strip_prefix('x'))
                        .and_then(|h| hex::decode(h).ok())
                    {
                        bytes.extend(decoded);
                    }
                }
                bytes.extend(row.into_bytes());
            }
        }
        bytes
    }

    /// The temporary folder the app owns, for files beside its data
    /// (recordings, configuration files); `None` on a shared data folder.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }

    /// `GET /healthz`: its status and body.
    pub async fn health(&self) -> (StatusCode, Value) {
        let r = self.http.get(self.url("/healthz")).send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// Waits until `/healthz` answers 200 (logged in to AMI).
    pub async fn wait_until_healthy(&self) {
        let deadline = tokio::time::Instant::now() + HEALTHY_WITHIN;
        loop {
            let r = self.http.get(self.url("/healthz")).send().await;
            if r.is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "backend never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl TestAppBuilder {
    /// Logs in to the AMI at `addr` as `username` (default: a closed port).
    pub fn ami(mut self, addr: SocketAddr, username: &str, secret: &str) -> TestAppBuilder {
        self.ami = Some((addr, username.to_owned(), secret.to_owned()));
        self
    }

    /// Keeps the data in `dir` (removed with the app).
    pub fn data_in(mut self, dir: tempfile::TempDir) -> TestAppBuilder {
        self.data = DataDir::Owned(dir);
        self
    }

    /// Keeps the data in the PostgreSQL database at `url` (one of
    /// `disca_backend::storage::testing`'s, seeded before) instead of a new
    /// one; `None` changes nothing.
    pub fn database_url(mut self, url: Option<&str>) -> TestAppBuilder {
        self.database_url = url.map(str::to_owned);
        self
    }

    /// Keeps the data in SQLite (its data folder) even when
    /// `DISCA_TEST_POSTGRES` is set: for tests of SQLite's own faults.
    pub fn sqlite(mut self) -> TestAppBuilder {
        self.sqlite = true;
        self
    }

    /// Uses the database and data folder of another backend (same CRM
    /// secrets key).
    pub fn shared_with(mut self, other: &TestApp) -> TestAppBuilder {
        self.data = DataDir::Shared(
            other.settings.data_dir.clone(),
            other.settings.database_url.clone(),
        );
        self
    }

    /// Changes settings (timeouts, limits, CRM, recordings...) before the
    /// app starts; called in order, after the data folder and AMI are set.
    pub fn configure(mut self, change: impl FnOnce(&mut Settings) + 'static) -> TestAppBuilder {
        self.configure.push(Box::new(change));
        self
    }

    /// Browser phones written into the phone directory at `path` (the test
    /// PBX's [`crate::pbx::TestPbx::phone_directory`]).
    pub fn phone_directory(self, path: &Path) -> TestAppBuilder {
        let path = path.to_path_buf();
        self.configure(move |s| s.phones.directory_db = Some(path))
    }

    /// Whether [`TestApp::http`] follows redirects (default: yes).
    pub fn follow_redirects(mut self, follow: bool) -> TestAppBuilder {
        self.follow_redirects = follow;
        self
    }

    /// Opens the database, starts the application and serves it in a task.
    pub async fn start(self) -> TestApp {
        let given = self.database_url;
        let sqlite = self.sqlite;
        let fresh_database = || async {
            match given {
                Some(url) => Some(url),
                None if sqlite => None,
                None => testing::fresh_database()
                    .await
                    .expect("a new PostgreSQL database"),
            }
        };
        let (dir, data_dir, database_url) = match self.data {
            DataDir::Fresh => {
                let dir = tempfile::tempdir().expect("a temporary folder");
                let data = dir.path().join("data");
                (Some(dir), data, fresh_database().await)
            }
            DataDir::Owned(dir) => {
                let data = dir.path().to_path_buf();
                (Some(dir), data, fresh_database().await)
            }
            DataDir::Shared(data, url) => (None, data, url),
        };
        let mut settings = default_settings(&data_dir);
        settings.database_url = database_url;
        let (addr, username, secret) = self.ami.unwrap_or_else(|| {
            let closed = SocketAddr::from(([127, 0, 0, 1], crate::free_tcp_port()));
            (closed, "disca".into(), "no-pbx-here".into())
        });
        settings.ami.addr = addr.to_string();
        settings.ami.username = username;
        settings.ami.secret = secret;
        for change in self.configure {
            change(&mut settings);
        }
        let app = Application::build(&settings)
            .await
            .expect("the backend starts");
        let base = format!("http://{}", app.local_addr());
        let store = app.store();
        tokio::spawn(app.run_until_stopped());
        let redirects = if self.follow_redirects {
            reqwest::redirect::Policy::default()
        } else {
            reqwest::redirect::Policy::none()
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(redirects)
            .build()
            .expect("an HTTP client");
        TestApp {
            base,
            http,
            store,
            settings,
            dir,
        }
    }
}
