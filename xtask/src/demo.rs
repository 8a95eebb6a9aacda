//! `cargo xtask run`: the whole product on this machine. The development
//! PBX (Asterisk 22, with the trunk's SIPp robot whose lead answers, speaks
//! and hangs up a few seconds later), the salesperson's phone in the
//! browser (the extension's softphone, registered with the credentials the
//! backend issues), the RD Station stand-in (unless RD Station credentials are
//! given), the backend with a demo company, salesperson and manager and
//! its CRM connection, the salesperson and the manager invited (no SMTP:
//! the invitation links are printed), `disca-host` installed for a
//! dedicated Chromium profile, and Chromium with the extension: the demo
//! sets both passwords on the backend's invitation page and signs Ana in
//! from the popup ("Entrar", the backend's sign-in page, the host's OAuth
//! flow), then opens a demo deal page served under RD Station's host name.
//!
//! With a display, Chromium opens and every call placed from it is printed
//! once its note is written, until Ctrl-C. Without one, the demo clicks the
//! lead's number itself (a real, trusted click through the DevTools
//! protocol), prints the call record and the note RD Station holds, and
//! stops. Everything it starts, except the development PBX, stops with it,
//! also on Ctrl-C or SIGTERM at any step ([`run_until_interrupted`]).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use disca_testkit::chromium::{Chromium, ChromiumOptions, Page};
use disca_testkit::crm::{ANA, ANA_TOKEN};
use disca_testkit::crm_pages::{CRM_HOST, CrmPages, DEAL_ID};
use disca_testkit::extension::{EXTENSION_ID, set_password_from_link, sign_in_from_popup};
use disca_testkit::host::HostHome;
use disca_testkit::instance::repository_dir;
use disca_testkit::system::LEAD_E164;
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep};

use crate::process::step;

/// The backend's address (its built-in default).
const BACKEND_LISTEN: &str = "127.0.0.1:8080";
const BACKEND: &str = "http://127.0.0.1:8080";
/// Where the stand-in listens (its built-in default).
const STANDIN_LISTEN: &str = "127.0.0.1:8787";
/// RD Station credentials for a real account, instead of the stand-in.
const TOKEN_ENV: &str = "DISCA_RDSTATION_TOKEN";
const USER_ENV: &str = "DISCA_RDSTATION_USER_ID";
/// How long a step (a start, a call, a note) may take.
const PATIENCE: Duration = Duration::from_secs(60);
/// The demo people's passwords (set from their invitations by the demo).
const ANA_PASSWORD: &str = "demo-vendas-2026";
const MANAGER_PASSWORD: &str = "demo-gestao-2026";

pub struct Options {
    /// Click and stop even when a display is available.
    pub headless: bool,
    /// Where the development PBX records calls (played on the manager page).
    pub recordings: PathBuf,
}

/// The CRM account the salesperson's notes go to.
struct CrmAccount {
    v1_url: String,
    token: String,
    user_id: String,
}

impl CrmAccount {
    fn from_env() -> anyhow::Result<Option<CrmAccount>> {
        match (std::env::var(TOKEN_ENV), std::env::var(USER_ENV)) {
            (Ok(token), Ok(user_id)) => Ok(Some(CrmAccount {
                v1_url: "https://crm.rdstation.com/api/v1".into(),
                token,
                user_id,
            })),
            (Err(_), Err(_)) => Ok(None),
            _ => bail!(
                "set both {TOKEN_ENV} (the salesperson's RD Station CRM instance token) and \
                 {USER_ENV} (their RD Station user id), or neither (the stand-in)"
            ),
        }
    }

    fn standin() -> CrmAccount {
        CrmAccount {
            v1_url: format!("http://{STANDIN_LISTEN}/api/v1"),
            // The stand-in's demo company: Ana Souza's instance token and id.
            token: ANA_TOKEN.into(),
            user_id: ANA.into(),
        }
    }
}

/// [`run`], stopped early by Ctrl-C or SIGTERM: the demo is dropped, and
/// with it what it started (Chromium and its host, the servers, the host's
/// login).
pub async fn run_until_interrupted(options: Options, dist: PathBuf) -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = run(options, dist) => result,
        _ = tokio::signal::ctrl_c() => {
            println!("\nInterrupted: the demo stopped (the PBX still runs: `cargo xtask asterisk down`).");
            Ok(())
        }
        _ = terminate.recv() => Ok(()),
    }
}

/// The demo, once the PBX is up and everything is built.
async fn run(options: Options, dist: PathBuf) -> anyhow::Result<()> {
    let display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let headless = options.headless || !display;
    let real = CrmAccount::from_env()?;
    if headless && real.is_some() {
        bail!(
            "without a display the demo clicks on its demo deal page, whose deal exists only in \
             the RD Station stand-in: unset {TOKEN_ENV}/{USER_ENV}, or run with a display and \
             click a number in your own RD Station CRM"
        );
    }
    let state = repository_dir().join("target").join("demo");
    if state.exists() {
        std::fs::remove_dir_all(&state).with_context(|| format!("clearing {}", state.display()))?;
    }
    std::fs::create_dir_all(&state)?;
    let release = repository_dir().join("target").join("release");

    // The stand-in's process (stopped when dropped), unless RD Station is real.
    let (standin, account) = match real {
        Some(account) => (None, account),
        None => {
            step(&format!("RD Station stand-in on http://{STANDIN_LISTEN}"));
            let mut command = Command::new(release.join("rdstation-standin"));
            without_settings(&mut command, "RDSTATION_STANDIN_");
            let standin = Service::start(
                command.args(["--listen", STANDIN_LISTEN]),
                &state.join("rdstation-standin.log"),
                STANDIN_LISTEN,
                "/_standin/requests",
            )
            .await?;
            (Some(standin), CrmAccount::standin())
        }
    };

    step("Backend: a demo company, salesperson and manager, connected to RD Station");
    let backend = Backend {
        binary: release.join("disca-backend"),
        data: state.join("backend"),
        recordings: options.recordings.clone(),
        phone_directory: crate::dev_pbx::phone_directory()?,
        standin: standin
            .is_some()
            .then(|| format!("http://{STANDIN_LISTEN}")),
    };
    backend
        .cli(
            &["tenant", "add", "--slug", "acme", "--name", "Acme Ltda"],
            None,
        )
        .await?;
    // No SMTP server here: `user invite` prints each invitation link.
    let ana_invitation = backend
        .cli(
            &[
                "user",
                "invite",
                "--tenant",
                "acme",
                "--name",
                "Ana Souza",
                "--email",
                "ana@acme.com.br",
                "--endpoint",
                "1005",
                "--phone",
                "browser",
                "--crm-user-id",
                &account.user_id,
            ],
            None,
        )
        .await?;
    let manager_invitation = backend
        .cli(
            &[
                "user",
                "invite",
                "--tenant",
                "acme",
                "--name",
                "Marcos Lima",
                "--email",
                "marcos@acme.com.br",
                "--endpoint",
                "1001",
                "--phone",
                "desk",
                "--role",
                "manager",
                "--admin",
            ],
            None,
        )
        .await?;
    // What the demo itself reads (the calls and their notes): a script's
    // API token, as `token create` makes them.
    let report_token = backend
        .cli(
            &[
                "token",
                "create",
                "--tenant",
                "acme",
                "--email",
                "ana@acme.com.br",
                "--label",
                "cargo xtask demo",
            ],
            None,
        )
        .await?;
    backend
        .cli(
            &[
                "crm",
                "connect-v1",
                "--tenant",
                "acme",
                "--url",
                &account.v1_url,
            ],
            Some(&account.token),
        )
        .await?;
    let _server = Service::start(
        backend.command().arg("serve"),
        &state.join("backend.log"),
        BACKEND_LISTEN,
        "/healthz",
    )
    .await?;

    step("disca-host: installed for a dedicated Chromium profile");
    let home = HostHome::new(release.join("disca-host"));
    home.install().await;

    step("Chromium with the extension");
    let pages = CrmPages::start(Vec::new()).await;
    let mut browser_options = ChromiumOptions::new(home.browser_dir())
        .extension(&dist)
        .envs(home.environment());
    if standin.is_some() {
        browser_options = pages.browser(browser_options);
    }
    if headless {
        // No sound card: the browser phone's microphone plays a tone.
        let tone = state.join("microphone.wav");
        disca_testkit::audio::write_tone(&tone, 440.0, 60.0)?;
        browser_options = browser_options
            .arg("--use-fake-ui-for-media-stream")
            .arg("--use-fake-device-for-media-stream")
            .arg(format!(
                "--use-file-for-fake-audio-capture={}",
                tone.display()
            ));
    } else {
        // The host's home replaces HOME: X11 still needs the real cookie.
        let xauthority = std::env::var_os("XAUTHORITY")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".Xauthority")));
        browser_options = browser_options.headed();
        if let Some(xauthority) = xauthority.filter(|path| path.exists()) {
            browser_options = browser_options.envs([("XAUTHORITY", xauthority)]);
        }
    }
    let chromium = Chromium::launch(browser_options)
        .await
        .context("starting Chromium (Debian package chromium)")?;
    let start_url = match standin {
        Some(_) => pages.url(&format!("/app/deals/{DEAL_ID}")),
        None => "https://crm.rdstation.com/app/deals".to_owned(),
    };
    step("Ana's invitation: her password set on the backend's page, then Entrar in the popup");
    set_password_from_link(&chromium, &ana_invitation, ANA_PASSWORD).await?;
    set_password_from_link(&chromium, &manager_invitation, MANAGER_PASSWORD).await?;
    let popup = chromium
        .open(&format!(
            "chrome-extension://{EXTENSION_ID}/popup/popup.html"
        ))
        .await?;
    let name = sign_in_from_popup(&chromium, &popup, BACKEND, "ana@acme.com.br", ANA_PASSWORD)
        .await
        .with_context(|| format!("signing Ana in; host log:\n{}", home.log()))?;
    println!("The popup shows {name} signed in; her token is in the OS keyring only.");
    popup.close().await?;
    let page = chromium.open(&start_url).await?;
    println!(
        "\nThe product is up:
  deal page     {start_url}
  backend       {BACKEND} (data in {})
  manager page  {BACKEND}/manager (marcos@acme.com.br, password {MANAGER_PASSWORD})
  salesperson   Ana Souza (ana@acme.com.br, password {ANA_PASSWORD}), signed in from the popup;
                her phone in the browser (acme-1005; Chromium asks for the microphone once)
  RD Station    {}",
        state.join("backend").display(),
        match standin {
            Some(_) => format!("the stand-in, http://{STANDIN_LISTEN} (demo company)"),
            None => account.v1_url.clone(),
        }
    );
    let api = Api::new(&report_token, &account);
    if headless {
        let worker = chromium
            .worker(&format!("chrome-extension://{EXTENSION_ID}/"), PATIENCE)
            .await
            .context("the extension's service worker")?;
        step("Ana's phone in the browser: credentials from the backend, registered with Asterisk");
        worker
            .wait_for(
                "globalThis.disca && disca.state.phone.state && disca.state.phone.state.registration === 'registered'",
                PATIENCE,
            )
            .await
            .context("the browser phone did not register")?;
        click_and_report(&page, &api).await?;
        let stats = worker.evaluate("disca.state.phone.stats").await?;
        print_audio(&stats);
        Ok(())
    } else {
        println!(
            "\nClick a phone number on the page{}. Each finished call is printed below with its \
             note. Ctrl-C stops the demo (`cargo xtask asterisk down` stops the PBX).",
            if standin.is_none() {
                " (sign in to RD Station CRM first)"
            } else {
                ""
            }
        );
        report_calls(&api).await
    }
}

/// The headless demo: the click, then the call and its note.
async fn click_and_report(page: &Page, api: &Api) -> anyhow::Result<()> {
    // Maria da Silva's mobile.
    let control = format!("[data-disca-number=\"{LEAD_E164}\"]");
    page.wait_for(&format!("document.querySelector('{control}')"), PATIENCE)
        .await
        .context("the extension made no button of Maria's number")?;
    step(&format!(
        "Clicking Maria da Silva's mobile, (11) 98765-4321, on https://{CRM_HOST}/app/deals/{DEAL_ID}"
    ));
    page.click(&control).await?;
    let id = api.first_call_id().await?;
    println!(
        "Call {id} placed: Ana's browser answers by itself, Maria's phone rings; Maria speaks and hangs up after a few seconds."
    );
    let call = api.call_with_note(&id).await?;
    print_call(&call, api).await
}

/// What the browser measured of the call's audio.
fn print_audio(stats: &Value) {
    let figure = |name: &str| stats[name].as_f64().unwrap_or_default();
    println!(
        "── The call's audio, as the browser measured it (getStats) ──
  from Maria to Ana: {:.0} packets, peak level {:.2}
  from Ana to Maria: {:.0} packets, peak level {:.2} (the microphone: a 440 Hz tone)",
        figure("packets_received"),
        figure("inbound_level"),
        figure("packets_sent"),
        figure("outbound_level"),
    );
}

/// The demo with a display: every call, once its note is written, until
/// the demo is interrupted (see [`run`]'s caller).
async fn report_calls(api: &Api) -> anyhow::Result<()> {
    let mut reported = std::collections::HashSet::new();
    loop {
        sleep(Duration::from_secs(1)).await;
        let calls = match api.calls().await {
            Ok(calls) => calls,
            Err(error) => {
                eprintln!("reading the calls: {error:#}");
                continue;
            }
        };
        for call in calls {
            let id = call["id"].as_str().unwrap_or_default().to_owned();
            if crm_settled(&call)
                && reported.insert(id)
                && let Err(error) = print_call(&call, api).await
            {
                eprintln!("reading the note: {error:#}");
            }
        }
    }
}

/// Whether the call ended and its note was written or stopped.
fn crm_settled(call: &Value) -> bool {
    call["state"] == "ended"
        && call["crm"]["state"]
            .as_str()
            .is_some_and(|s| s != "pending")
}

async fn print_call(call: &Value, api: &Api) -> anyhow::Result<()> {
    println!(
        "\n── The call record (GET /v1/calls) ──\n{}",
        serde_json::to_string_pretty(call)?
    );
    match call["crm"]["note_id"].as_str() {
        Some(note_id) => {
            let deal = call["crm"]["deal_id"].as_str().unwrap_or_default();
            let text = api.note_text(deal, note_id).await?;
            println!("\n── The note on deal {deal} in RD Station CRM ──\n{text}\n");
        }
        None => println!(
            "\nNo note: {}",
            call["crm"]["message"]
                .as_str()
                .unwrap_or("the CRM did not take it")
        ),
    }
    Ok(())
}

/// The backend's command line and its server.
struct Backend {
    binary: PathBuf,
    data: PathBuf,
    recordings: PathBuf,
    /// The development PBX's phone directory (browser phones).
    phone_directory: PathBuf,
    /// The RD Station stand-in's address, when the demo runs one: the
    /// admin console connects to it.
    standin: Option<String>,
}

impl Backend {
    /// `disca-backend` with the demo's data, recordings and address (the
    /// notes' recording links lead to the manager page).
    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        without_settings(&mut command, "DISCA_");
        command
            .env("DISCA_LISTEN", BACKEND_LISTEN)
            .env("DISCA_DATA_DIR", &self.data)
            .env("DISCA_RECORDINGS_DIR", &self.recordings)
            .env("DISCA_PUBLIC_URL", BACKEND)
            .env("DISCA_PHONES__DIRECTORY_DB", &self.phone_directory)
            .env("DISCA_PHONES__WS_URL", crate::dev_pbx::WS_URL)
            .env("DISCA_PHONES__SIP_DOMAIN", "127.0.0.1")
            .kill_on_drop(true);
        if let Some(base) = &self.standin {
            command
                .env("DISCA_CRM__V1_URL", format!("{base}/api/v1"))
                .env("DISCA_CRM__V2_URL", format!("{base}/crm/v2"))
                .env("DISCA_CRM__TOKEN_URL", format!("{base}/oauth2/token"))
                .env(
                    "DISCA_CRM__AUTHORIZE_URL",
                    format!("{base}/oauth2/authorize"),
                );
        }
        command
    }

    /// Runs `disca-backend <args>` (with `secret` as DISCA_CRM_TOKEN) and
    /// returns what it printed.
    async fn cli(&self, args: &[&str], secret: Option<&str>) -> anyhow::Result<String> {
        let mut command = self.command();
        command.args(args).stdin(Stdio::null());
        if let Some(secret) = secret {
            command.env("DISCA_CRM_TOKEN", secret);
        }
        let output = command.output().await.context("running disca-backend")?;
        ensure!(
            output.status.success(),
            "disca-backend {} failed: {}",
            args[..2].join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

/// What the demo reads: the salesperson's calls, and the note RD Station holds.
struct Api {
    http: reqwest::Client,
    token: String,
    crm_v1: String,
    crm_token: String,
}

impl Api {
    fn new(token: &str, account: &CrmAccount) -> Api {
        Api {
            http: reqwest::Client::new(),
            token: token.to_owned(),
            crm_v1: account.v1_url.clone(),
            crm_token: account.token.clone(),
        }
    }

    async fn calls(&self) -> anyhow::Result<Vec<Value>> {
        let page: Value = self
            .http
            .get(format!("{BACKEND}/v1/calls"))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(page["calls"].as_array().cloned().unwrap_or_default())
    }

    async fn first_call_id(&self) -> anyhow::Result<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(id) = self.calls().await?.first().and_then(|c| c["id"].as_str()) {
                return Ok(id.to_owned());
            }
            ensure!(Instant::now() < deadline, "the click placed no call");
            sleep(Duration::from_millis(100)).await;
        }
    }

    /// The call once it ended and its note was written (or stopped).
    async fn call_with_note(&self, id: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let calls = self.calls().await?;
            if let Some(call) = calls.iter().find(|c| c["id"] == id && crm_settled(c)) {
                return Ok(call.clone());
            }
            ensure!(
                Instant::now() < deadline,
                "call {id} not ended with its note within {PATIENCE:?}: {calls:?}"
            );
            sleep(Duration::from_millis(250)).await;
        }
    }

    /// The text of a note, read back from RD Station's API.
    async fn note_text(&self, deal: &str, note_id: &str) -> anyhow::Result<String> {
        let activities: Value = self
            .http
            .get(format!("{}/activities", self.crm_v1))
            .query(&[
                ("token", self.crm_token.as_str()),
                ("deal_id", deal),
                ("limit", "200"),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            // The URL holds the instance token: never in a message.
            .map_err(reqwest::Error::without_url)?
            .json()
            .await
            .map_err(reqwest::Error::without_url)?;
        activities["activities"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|note| note["_id"] == note_id)
            .and_then(|note| note["text"].as_str())
            .map(str::to_owned)
            .with_context(|| format!("note {note_id} not found on deal {deal}"))
    }
}

/// Takes the caller's settings for a program (the variables starting with
/// `prefix`) out of its environment: the demo's servers run with the
/// demo's settings only.
fn without_settings(command: &mut Command, prefix: &str) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with(prefix) {
            command.env_remove(name);
        }
    }
}

/// A process the demo started, serving HTTP on loopback; stopped when dropped.
struct Service {
    _child: Child,
}

impl Service {
    /// Starts `command` (output to `log`) to serve on `listen`, and waits
    /// until `health` (a path) answers 200. Fails at once when `listen` is
    /// taken (another demo's or a developer's server would answer for it)
    /// or the process exits, with the end of its log.
    async fn start(
        command: &mut Command,
        log: &Path,
        listen: &str,
        health: &str,
    ) -> anyhow::Result<Service> {
        let program = command
            .as_std()
            .get_program()
            .to_string_lossy()
            .into_owned();
        if std::net::TcpListener::bind(listen).is_err() {
            bail!(
                "{listen} is in use: stop what listens there (an earlier `cargo xtask run`?) first"
            );
        }
        let file = std::fs::File::create(log)?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {program}"))?;
        let url = format!("http://{listen}{health}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + PATIENCE;
        loop {
            if http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(Service { _child: child });
            }
            let tail = || {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(20)..].join("\n")
            };
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{program} exited ({status}); {}:\n{}",
                    log.display(),
                    tail()
                );
            }
            ensure!(
                Instant::now() < deadline,
                "{url} did not answer within {PATIENCE:?}; {}:\n{}",
                log.display(),
                tail()
            );
            sleep(Duration::from_millis(100)).await;
        }
    }
}
