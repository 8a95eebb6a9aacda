//! The `disca-backend` command line: `serve`, and the administration
//! commands that add tenants and users.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::accounts::{Accounts, links};
use crate::admin::people;
use crate::auth::issue_token;
use crate::configuration::{
    AmiSettings, ConfigError, DEVELOPMENT_AMI_ADDR, DEVELOPMENT_AMI_SECRET, Flags, LogFormat,
    Settings,
};
use crate::crm::connect::{V2Grant, connect_v1, connect_v2};
use crate::crm::secrets::load_for;
use crate::crm::{Secret, SecretKey};
use crate::domain::{
    CrmUserId, DestinationPolicy, Extension, PbxName, Region, Role, Tenant, TenantSlug, User,
};
use crate::mail::Mailer;
use crate::pbx::tenant_move;
use crate::phones;
use crate::phones::directory::RegistrationChange;
use crate::phones::pbx_directories;
use crate::startup::{Application, crm_http_client};
use crate::storage::{
    Actor, AuditAction, AuditEntry, LinkPurpose, NewPerson, NewUser, Person, PersonChange, Store,
    StoreError, TokenKind,
};
use crate::telemetry::init_logs;
use disca_protocol::phone::PhoneKind;

#[derive(Parser)]
#[command(
    name = "disca-backend",
    version,
    about = "Disca backend: click-to-call through your own Asterisk",
    after_help = "Every command reads the same settings: built-in defaults, then the TOML file \
                  (--config or DISCA_CONFIG), then DISCA_* environment variables (DISCA_LISTEN, \
                  DISCA_AMI__ADDR: a section's key after `__`; the AMI secret also from a file \
                  named by DISCA_AMI__SECRET_FILE), then flags. See README, \"Configuration\"."
)]
pub struct Cli {
    /// TOML configuration file, read by every command (none by default).
    #[arg(long, env = "DISCA_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory holding the database [default: ./disca-data].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API (and follow calls over AMI).
    Serve(ServeFlags),
    /// Manage tenants (companies).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users (salespeople and managers).
    #[command(subcommand)]
    User(UserCommand),
    /// Manage users' API tokens and signed-in computers.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Connect a tenant to RD Station CRM and follow the notes written there.
    #[command(subcommand)]
    Crm(CrmCommand),
    /// Copy everything the backend keeps into a new folder, while it runs:
    /// the database, the key its CRM secrets are sealed with, and the
    /// phone directory (the phones' passwords live only there).
    Backup {
        /// A folder that does not exist yet (or is empty).
        #[arg(long)]
        to: PathBuf,
    },
}

/// `serve`'s flags: each overrides the setting of the same name from the
/// file or the environment (the AMI secret is never a flag: flags show in
/// `ps`).
#[derive(Args)]
pub struct ServeFlags {
    /// Address to serve the API on [default: 127.0.0.1:8080].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Log format [default: text].
    #[arg(long)]
    pub log_format: Option<LogFormat>,
    /// Asterisk AMI address [default: 127.0.0.1:15038].
    #[arg(long)]
    pub ami_addr: Option<String>,
    /// AMI user [default: disca].
    #[arg(long)]
    pub ami_username: Option<String>,
    /// Seconds the salesperson's phone rings [default: 30].
    #[arg(long)]
    pub agent_ring_timeout_secs: Option<u64>,
    /// Channel rung first; `{endpoint}` is the agent's endpoint [default: PJSIP/{endpoint}].
    #[arg(long)]
    pub agent_channel: Option<String>,
    /// The backend's address as managers reach it, for links in CRM notes.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Asterisk's recordings directory, for playback on the manager page.
    #[arg(long)]
    pub recordings_dir: Option<PathBuf>,
    #[command(flatten)]
    pub key: SecretsKeyFlag,
    /// HTTP connections served at once [default: from the open file limit].
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Milliseconds a connection may take to send a request head, from
    /// when it opens or its last response ended [default: 10000].
    #[arg(long)]
    pub header_read_timeout_ms: Option<u64>,
    /// Milliseconds a write to a connection may wait on a client that
    /// reads nothing before it is closed [default: 30000].
    #[arg(long)]
    pub write_timeout_ms: Option<u64>,
    /// Event streams one user may have open at once [default: 8].
    #[arg(long)]
    pub sse_streams_per_user: Option<usize>,
    /// Event streams one tenant may have open at once [default: 500].
    #[arg(long)]
    pub sse_streams_per_tenant: Option<usize>,
}

impl ServeFlags {
    fn flags(self) -> Flags {
        self.key
            .flags()
            .set("listen", "--listen", self.listen)
            .set("log_format", "--log-format", self.log_format)
            .set("ami.addr", "--ami-addr", self.ami_addr)
            .set("ami.username", "--ami-username", self.ami_username)
            .set(
                "calls.agent_ring_timeout_secs",
                "--agent-ring-timeout-secs",
                self.agent_ring_timeout_secs,
            )
            .set("calls.agent_channel", "--agent-channel", self.agent_channel)
            .set("crm.public_url", "--public-url", self.public_url)
            .set(
                "crm.recordings_dir",
                "--recordings-dir",
                self.recordings_dir,
            )
            .set(
                "http.max_connections",
                "--max-connections",
                self.max_connections,
            )
            .set(
                "http.header_read_timeout_ms",
                "--header-read-timeout-ms",
                self.header_read_timeout_ms,
            )
            .set(
                "http.write_timeout_ms",
                "--write-timeout-ms",
                self.write_timeout_ms,
            )
            .set(
                "http.sse_streams_per_user",
                "--sse-streams-per-user",
                self.sse_streams_per_user,
            )
            .set(
                "http.sse_streams_per_tenant",
                "--sse-streams-per-tenant",
                self.sse_streams_per_tenant,
            )
    }
}

/// Where the CRM secrets key is, for the commands that open it.
#[derive(Args)]
pub struct SecretsKeyFlag {
    /// Key file sealing CRM secrets [default: <data dir>/crm-secrets.key].
    #[arg(long)]
    pub crm_secrets_key: Option<PathBuf>,
}

impl SecretsKeyFlag {
    fn flags(self) -> Flags {
        Flags::default().set(
            "crm.secrets_key_file",
            "--crm-secrets-key",
            self.crm_secrets_key,
        )
    }
}

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Add a tenant.
    Add {
        /// Short name used in Asterisk objects: lowercase letters and digits.
        #[arg(long)]
        slug: String,
        /// Company name.
        #[arg(long)]
        name: String,
        /// Numbering plan for numbers written without + (ISO country code).
        #[arg(long, default_value = "BR")]
        region: String,
        /// Allow premium-rate numbers (0900/0500).
        #[arg(long)]
        allow_premium: bool,
        /// Allow collect calls (90).
        #[arg(long)]
        allow_collect: bool,
        /// Allow international numbers.
        #[arg(long)]
        allow_international: bool,
        /// The PBX its calls go through: `default` (the one under [ami])
        /// or a name under [pbxs] in the configuration.
        #[arg(long, default_value = crate::domain::DEFAULT_PBX)]
        pbx: String,
    },
    /// Place the tenant's calls through another PBX from now on (its
    /// calls in progress stay on theirs). Every backend must have this PBX
    /// in its configuration.
    SetPbx {
        #[arg(long)]
        tenant: String,
        /// `default` (the one under [ami]) or a name under [pbxs].
        #[arg(long)]
        pbx: String,
    },
}

/// Who a new user is (`user add`, `user invite`).
#[derive(Args)]
pub struct NewUserArgs {
    #[arg(long)]
    tenant: String,
    #[arg(long)]
    name: String,
    #[arg(long)]
    email: String,
    /// The user's extension; their phone is the PJSIP endpoint `<tenant>-<endpoint>`.
    #[arg(long)]
    endpoint: String,
    /// `agent` or `manager`.
    #[arg(long, value_parser = parse_role, default_value = "agent")]
    role: Role,
    /// The user's `_id` in RD Station CRM, the author of their notes.
    #[arg(long)]
    crm_user_id: Option<String>,
    /// What rings when they click: `browser` (the extension's softphone;
    /// needs a phone directory for the tenant's PBX: `[phones] directory_db`
    /// or the PBX's `directory_url`) or `desk` (a desk phone).
    #[arg(long, default_value = "browser")]
    phone: PhoneKind,
    /// May use the admin console (`/manager/admin`).
    #[arg(long)]
    admin: bool,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make an API token for the user (for scripts) and print it (shown
    /// once; only its hash is kept).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// What it is for, shown by `token list`.
        #[arg(long)]
        label: String,
    },
    /// The user's tokens: API tokens and the computers signed in.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
    },
    /// Revoke one of the user's tokens (its id from `token list`): it stops
    /// working at once on every backend.
    Revoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Set the user's RD Station CRM user id: the author of their notes (API v1).
    SetCrmUser {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// The user's `_id` in RD Station CRM (`GET /users`); omit to clear.
        #[arg(long)]
        crm_user_id: Option<String>,
    },
    /// Add a user and print their API token (shown once; only its hash is
    /// kept): for scripts. People get `invite` instead.
    Add(NewUserArgs),
    /// Add a user who signs in with e-mail and password, and make their
    /// invitation link (valid 7 days, used once): e-mailed when [mail] is
    /// configured, else printed for you to send. Run it again for a user
    /// who has not set a password yet to replace their link.
    Invite(NewUserArgs),
    /// Make a password reset link for the user (valid 1 hour, used once):
    /// e-mailed when [mail] is configured, else printed for you to send.
    /// Setting the new password signs them out of every browser.
    ResetPassword {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
    },
    /// Set what rings when the user clicks (`browser` or `desk`).
    SetPhone {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        kind: PhoneKind,
    },
    /// Let the user use the admin console (`--admin true`) or not
    /// (`--admin false`).
    SetAdmin {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        #[arg(long, action = clap::ArgAction::Set)]
        admin: bool,
    },
    /// Disable the user: their API tokens stop working, the computers they
    /// signed in and their manager sessions are signed out (running
    /// backends learn of it within a second, and close their event
    /// streams), and their browser phone gets a new SIP password, so its
    /// registration is dropped at once. Their calls and notes stay.
    Disable {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled user again: their token works again, and their
    /// browser phone fetches its new password.
    Enable {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
    },
    /// Give the user's phone a new SIP password: its registration is
    /// dropped at once. A browser phone fetches the new one; a desk phone's
    /// credentials are printed, to be typed into it.
    RotatePhonePassword {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
pub enum CrmCommand {
    /// Connect with API v1: reads the instance token (an RD Station CRM
    /// user's, who can see the team's deals) from DISCA_CRM_TOKEN or stdin.
    ConnectV1 {
        #[arg(long)]
        tenant: String,
        /// API v1 base URL.
        #[arg(long, default_value = crate::crm::connect::DEFAULT_V1_URL)]
        url: String,
        #[command(flatten)]
        key: SecretsKeyFlag,
    },
    /// Connect with API v2 (OAuth2): exchanges the authorization code; reads
    /// the client secret from DISCA_CRM_CLIENT_SECRET or stdin.
    ConnectV2 {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        client_id: String,
        /// The `code` RD Station sent to the redirect URI.
        #[arg(long)]
        code: String,
        #[arg(long)]
        redirect_uri: String,
        /// API v2 base URL.
        #[arg(long, default_value = crate::crm::connect::DEFAULT_V2_URL)]
        url: String,
        #[arg(long, default_value = crate::crm::connect::DEFAULT_TOKEN_URL)]
        token_url: String,
        #[command(flatten)]
        key: SecretsKeyFlag,
    },
    /// The tenant's connection and its notes, by delivery state.
    Status {
        #[arg(long)]
        tenant: String,
    },
    /// Queue again the notes that stopped (refused, no deal, no connection).
    Retry {
        #[arg(long)]
        tenant: String,
        /// Only this call's note.
        #[arg(long)]
        call: Option<String>,
    },
    /// The key the secrets were sealed with is lost for good: seal with
    /// this backend's key from now on (creating it if needed). The secrets
    /// sealed before stay unreadable: connect each tenant to RD Station
    /// again and enter the trunk passwords again.
    ForgetSecretsKey {
        #[command(flatten)]
        key: SecretsKeyFlag,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?} is not a role: use agent or manager"))
}

/// Refuses the public development AMI secret (the built-in default, in
/// the repository for everyone to read) for any PBX but the local
/// development one: an AMI reachable elsewhere must have a secret of its
/// own, and a forgotten setting must not go unnoticed.
fn check_ami_secret(pbx: &crate::domain::PbxName, ami: &AmiSettings) -> anyhow::Result<()> {
    if ami.secret != DEVELOPMENT_AMI_SECRET || is_development_pbx(&ami.addr) {
        return Ok(());
    }
    let (variable, section) = if pbx.is_default() {
        ("DISCA_AMI__SECRET".to_owned(), "[ami]".to_owned())
    } else {
        (
            format!("DISCA_PBXS__{}__SECRET", pbx.as_str().to_ascii_uppercase()),
            format!("[pbxs.{pbx}]"),
        )
    };
    bail!(
        "refusing to start: no AMI secret is configured for PBX {pbx} (or it is the public \
         development AMI secret {DEVELOPMENT_AMI_SECRET:?}), and its AMI address {addr} is not \
         the local development PBX ({DEVELOPMENT_AMI_ADDR}, `cargo xtask asterisk up`). Set \
         the AMI user's secret in {variable}, in a file named by {variable}_FILE, or in the \
         configuration file ({section} secret).",
        addr = ami.addr,
    )
}

/// `name` when it is a PBX of `settings`.
fn configured_pbx(settings: &Settings, name: &str) -> anyhow::Result<crate::domain::PbxName> {
    let known: Vec<_> = settings.all_pbxs().into_iter().map(|(n, _)| n).collect();
    match known.iter().find(|n| n.as_str() == name) {
        Some(found) => Ok(found.clone()),
        None => bail!(
            "no PBX {name:?} in the configuration (PBXs: {})",
            known
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The development PBX's AMI: a loopback address (or `localhost`) on its
/// fixed port.
fn is_development_pbx(addr: &str) -> bool {
    let port = DEVELOPMENT_AMI_ADDR
        .rsplit_once(':')
        .map_or("", |(_, port)| port);
    match addr.parse::<std::net::SocketAddr>() {
        Ok(socket) => socket.ip().is_loopback() && socket.port().to_string() == port,
        Err(_) => addr.eq_ignore_ascii_case(&format!("localhost:{port}")),
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // Every command reads the same settings as `serve`: the file, the
    // environment, then `--data-dir` and the command's own flags.
    let flags = Flags::default().set("data_dir", "--data-dir", cli.data_dir);
    let load = |flags: Flags| Settings::load(cli.config.as_deref(), flags);
    match cli.command {
        Command::Serve(serve) => {
            let settings = load(serve.flags().merged(flags))?;
            for (name, ami) in settings.all_pbxs() {
                check_ami_secret(&name, ami)?;
            }
            init_logs(settings.log_format);
            Application::build(&settings)
                .await?
                .run_until_stopped()
                .await?;
        }
        Command::Tenant(TenantCommand::Add {
            slug,
            name,
            region,
            allow_premium,
            allow_collect,
            allow_international,
            pbx,
        }) => {
            let settings = load(flags)?;
            let tenant = Tenant {
                pbx: configured_pbx(&settings, &pbx)?,
                slug: slug.parse::<TenantSlug>()?,
                name: checked_text("name", &name)?,
                region: Region::parse(&region)
                    .with_context(|| format!("unknown region {region:?}"))?,
                policy: DestinationPolicy {
                    allow_premium,
                    allow_collect,
                    allow_international,
                    ..DestinationPolicy::default()
                },
            };
            Store::from_settings(&settings)
                .await?
                .add_tenant(&tenant)
                .await?;
            println!("tenant {} added", tenant.slug);
        }
        Command::Tenant(TenantCommand::SetPbx { tenant, pbx }) => {
            let settings = load(flags)?;
            let pbx = configured_pbx(&settings, &pbx)?;
            let store = Store::from_settings(&settings).await?;
            // Everything the move needs, before the tenant moves.
            let key = load_for(&settings.secrets_key_file(), &store).await?;
            let to = pbx_directories::open(&settings, &pbx).await?;
            let mut others = Vec::new();
            for (name, _) in settings.all_pbxs() {
                if name != pbx
                    && let Some(phones) = pbx_directories::open(&settings, &name).await?
                {
                    others.push((name, phones));
                }
            }
            let before = match store
                .set_tenant_pbx(&tenant, &pbx, to.is_some(), &Actor::cli())
                .await
            {
                Err(StoreError::NotFound) => bail!("no tenant {tenant:?}"),
                Err(StoreError::Conflict(_)) => bail!(
                    "tenant {tenant}'s telephony (trunk, caller IDs) is set in the admin console \
                     and lives in its PBX's phone directory; PBX {pbx} has none here \
                     ([pbxs.{pbx}] directory_url): the tenant stays"
                ),
                other => other?,
            };
            println!("tenant {tenant}: calls now go through PBX {pbx} (before: {before})");
            move_tenant(&settings, &store, &key, &tenant, &pbx, to.as_ref(), &others)
                .await
                .with_context(|| {
                    format!(
                        "tenant {tenant} is on PBX {pbx}, but its phones did not all move: \
                         run the same command again to finish"
                    )
                })?;
        }
        Command::User(UserCommand::Add(args)) => {
            let settings = load(flags)?;
            let store = Store::from_settings(&settings).await?;
            let token = issue_token();
            add_user(&settings, &store, args, Some(&token.hash)).await?;
            eprintln!("API token (shown once; store it now):");
            println!("{}", token.secret);
        }
        Command::User(UserCommand::Invite(args)) => {
            let settings = load(flags)?;
            let store = Store::from_settings(&settings).await?;
            let email = checked_email(&args.email)?;
            let tenant = args.tenant.clone();
            let user = match store.user_by_email(&tenant, &email).await {
                Ok(existing) => {
                    let has_password = store
                        .password_accounts(&email)
                        .await?
                        .iter()
                        .any(|a| a.user.id == existing.id);
                    if has_password {
                        bail!(
                            "{email} already has a password; use `user reset-password` to send them a new one"
                        );
                    }
                    eprintln!("{email} was invited before; their new link replaces the old one");
                    existing
                }
                Err(StoreError::NotFound) => add_user(&settings, &store, args, None).await?,
                Err(e) => return Err(e.into()),
            };
            send_link(&settings, &store, &user, LinkPurpose::Invite).await?;
        }
        Command::User(UserCommand::ResetPassword { tenant, email }) => {
            let settings = load(flags)?;
            let store = Store::from_settings(&settings).await?;
            let email = checked_email(&email)?;
            let user = store
                .user_by_email(&tenant, &email)
                .await
                .map_err(|e| no_user(e, &tenant, &email))?;
            send_link(&settings, &store, &user, LinkPurpose::Reset).await?;
        }
        Command::Token(command) => token_command(command, load(flags)?).await?,
        Command::User(UserCommand::SetCrmUser {
            tenant,
            email,
            crm_user_id,
        }) => {
            let crm_user_id = crm_user_id.as_deref().map(CrmUserId::parse).transpose()?;
            let change = PersonChange {
                crm_user_id: Some(crm_user_id.clone()),
                ..PersonChange::default()
            };
            let person = change_user(&load(flags)?, &tenant, &email, change).await?;
            match crm_user_id {
                Some(id) => println!(
                    "{} writes CRM notes as RD Station user {id}",
                    person.user.email
                ),
                None => println!("{} has no RD Station user any more", person.user.email),
            }
        }
        Command::User(UserCommand::SetPhone {
            tenant,
            email,
            kind,
        }) => {
            let settings = load(flags)?;
            let change = PersonChange {
                phone: Some(kind),
                ..PersonChange::default()
            };
            let person = change_user(&settings, &tenant, &email, change).await?;
            println!("{} now uses a {} phone", person.user.email, kind.as_str());
            if kind == PhoneKind::Desk {
                eprintln!("{DESK_CREDENTIALS_HINT}");
            }
        }
        Command::User(UserCommand::SetAdmin {
            tenant,
            email,
            admin,
        }) => {
            let change = PersonChange {
                admin: Some(admin),
                ..PersonChange::default()
            };
            let person = change_user(&load(flags)?, &tenant, &email, change).await?;
            if admin {
                println!("{} may use the admin console", person.user.email);
            } else {
                println!("{} may no longer use the admin console", person.user.email);
            }
        }
        Command::User(UserCommand::Disable { tenant, email }) => {
            let change = PersonChange {
                disabled: Some(true),
                ..PersonChange::default()
            };
            let person = change_user(&load(flags)?, &tenant, &email, change).await?;
            println!("{} is disabled", person.user.email);
        }
        Command::User(UserCommand::Enable { tenant, email }) => {
            let change = PersonChange {
                disabled: Some(false),
                ..PersonChange::default()
            };
            let person = change_user(&load(flags)?, &tenant, &email, change).await?;
            println!("{} is enabled", person.user.email);
        }
        Command::User(UserCommand::RotatePhonePassword { tenant, email }) => {
            let settings = load(flags)?;
            let email = checked_email(&email)?;
            let store = Store::from_settings(&settings).await?;
            let user = store
                .user_by_email(&tenant, &email)
                .await
                .map_err(|e| no_user(e, &tenant, &email))?;
            let pbx = open_phones(&settings, &user).await?;
            match user.phone {
                PhoneKind::Browser => {
                    phones::rotate(&pbx.directory, &pbx.settings, &user).await?;
                    println!(
                        "{email}'s browser phone has a new password; its registration was dropped"
                    );
                }
                PhoneKind::Desk => {
                    if store.person(&tenant, &user.id).await?.disabled {
                        bail!("{email} is disabled: enable them before setting up their phone");
                    }
                    // Recorded before the password is shown, as the console does.
                    let entry = AuditEntry {
                        action: AuditAction::DeskPhoneCredentials,
                        target: email.clone(),
                        detail: format!(
                            "Nova senha SIP do ramal {} gerada e mostrada na linha de comando",
                            user.extension.as_str()
                        ),
                    };
                    let desk =
                        phones::desk_credentials(&pbx.directory, &pbx.settings, &user).await?;
                    store.record_audit(&tenant, &Actor::cli(), &entry).await?;
                    println!(
                        "{email}'s desk phone has a new password; its registration was dropped. Set the phone up with:"
                    );
                    println!("  server:    {}", desk.server);
                    println!("  transport: {}", desk.transport);
                    println!("  user:      {}", desk.username);
                    println!("  password:  {}", desk.password);
                    if desk.srtp {
                        println!("  media:     SRTP (SDES)");
                    }
                }
            }
        }
        Command::Crm(command) => crm_command(command, load, flags).await?,
        Command::Backup { to } => backup(&load(flags)?, &to).await?,
    }
    Ok(())
}

/// Adds the user `args` describe (with an API token whose hash is
/// `token_hash`, or none) and sets up their phone.
async fn add_user(
    settings: &Settings,
    store: &Store,
    args: NewUserArgs,
    token_hash: Option<&str>,
) -> anyhow::Result<User> {
    let tenant = args.tenant;
    let extension: Extension = args.endpoint.parse()?;
    let email = checked_email(&args.email)?;
    let crm_user_id = args
        .crm_user_id
        .as_deref()
        .map(CrmUserId::parse)
        .transpose()?;
    let new = NewPerson {
        user: NewUser {
            tenant: &tenant,
            name: &checked_text("name", &args.name)?,
            email: &email,
            extension: &extension,
            role: args.role,
            phone: args.phone,
            token_hash,
        },
        admin: args.admin,
        crm_user_id: crm_user_id.as_ref(),
    };
    let entry = AuditEntry {
        action: AuditAction::PersonInvited,
        target: email.clone(),
        detail: people::invited_detail(&new),
    };
    let user = store
        .add_people(std::slice::from_ref(&new), &Actor::cli(), &[entry])
        .await
        .map_err(|e| match e {
            StoreError::NotFound => anyhow::anyhow!("no tenant {tenant:?}"),
            other => other.into(),
        })?
        .remove(0);
    eprintln!(
        "user {} added to {} (id {}, endpoint PJSIP/{})",
        user.email,
        tenant,
        user.id,
        user.endpoint()
    );
    apply_phone(settings, &user).await?;
    Ok(user)
}

/// Makes a link of `purpose` for `user` and says where it went: e-mailed,
/// or printed (stdout: the link alone) for whoever runs the command to send.
async fn send_link(
    settings: &Settings,
    store: &Store,
    user: &User,
    purpose: LinkPurpose,
) -> anyhow::Result<()> {
    let accounts = Accounts::new(
        &settings.public_base_url(settings.listen),
        Mailer::from_settings(&settings.mail)?,
    );
    let issued = links::issue(&accounts, store, user, purpose).await?;
    let what = match purpose {
        LinkPurpose::Invite => "invitation",
        LinkPurpose::Reset => "password reset link",
    };
    let until = issued
        .expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    match issued.mailed {
        Ok(true) => {
            eprintln!("{what} e-mailed to {} (valid until {until})", user.email);
        }
        Ok(false) => {
            eprintln!(
                "no SMTP server is configured ([mail] smtp_host): send this {what} to {} yourself (valid until {until}, works once):",
                user.email
            );
            println!("{}", issued.url);
        }
        Err(e) => {
            eprintln!(
                "could not e-mail the {what} ({e}); send it to {} yourself (valid until {until}, works once):",
                user.email
            );
            println!("{}", issued.url);
        }
    }
    Ok(())
}

async fn token_command(command: TokenCommand, settings: Settings) -> anyhow::Result<()> {
    let store = Store::from_settings(&settings).await?;
    let user_of = |tenant: String, email: String| {
        let store = store.clone();
        async move {
            let email = checked_email(&email)?;
            store
                .user_by_email(&tenant, &email)
                .await
                .map_err(|e| no_user(e, &tenant, &email))
        }
    };
    match command {
        TokenCommand::Create {
            tenant,
            email,
            label,
        } => {
            let user = user_of(tenant, email).await?;
            let token = issue_token();
            let id = store
                .add_token(
                    &user.id,
                    TokenKind::Api,
                    &checked_text("label", &label)?,
                    &token.hash,
                )
                .await?;
            eprintln!(
                "API token {id} for {} (shown once; store it now):",
                user.email
            );
            println!("{}", token.secret);
        }
        TokenCommand::List { tenant, email } => {
            let user = user_of(tenant, email).await?;
            for token in store.tokens(&user.id).await? {
                let created = token
                    .created_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                println!(
                    "{}\t{}\t{created}\t{}",
                    token.id,
                    token.kind.as_str(),
                    token.label
                );
            }
        }
        TokenCommand::Revoke { tenant, email, id } => {
            let user = user_of(tenant, email).await?;
            store
                .revoke_token(&user.id, &id)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => anyhow::anyhow!("{} has no token {id:?}", user.email),
                    other => other.into(),
                })?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// Applies `change` to the tenant's user with `email` as the console does:
/// one transaction with its audit row (the operator as the actor), then the
/// phone directory follows. Running backends learn of it within a second
/// (the auth epoch).
async fn change_user(
    settings: &Settings,
    tenant: &str,
    email: &str,
    change: PersonChange,
) -> anyhow::Result<Person> {
    let store = Store::from_settings(settings).await?;
    let email = checked_email(email)?;
    let user = store
        .user_by_email(tenant, &email)
        .await
        .map_err(|e| no_user(e, tenant, &email))?;
    let before = store.person(tenant, &user.id).await?;
    let change = people::effective(change, &before);
    let Some(detail) = people::change_detail(&before, &change) else {
        return Ok(before);
    };
    let entry = AuditEntry {
        action: AuditAction::PersonChanged,
        target: email.clone(),
        detail,
    };
    let after = store
        .change_person(tenant, &user.id, &change, &Actor::cli(), &entry)
        .await?;
    if people::moves_phone(&change)
        && let Some(pbx) = pbx_directories::open(settings, &after.user.tenant.pbx).await?
    {
        phones::follow(
            &pbx.directory,
            &pbx.settings,
            &before.user.endpoint(),
            &after.user,
            after.disabled,
        )
        .await?;
    }
    Ok(after)
}

fn no_user(e: StoreError, tenant: &str, email: &str) -> anyhow::Error {
    match e {
        StoreError::NotFound => anyhow::anyhow!("no user {email:?} in tenant {tenant:?}"),
        other => other.into(),
    }
}

/// Moves `tenant`'s phones, telephony and recording rules from the
/// directories of the other PBXs (`from`) into that of `to` (`to_phones`),
/// and tells every PBX with a directory about its trunk's registration.
/// Done again, it finishes a move cut short.
async fn move_tenant(
    settings: &Settings,
    store: &Store,
    key: &SecretKey,
    tenant: &str,
    to: &PbxName,
    to_phones: Option<&phones::PbxPhones>,
    from: &[(PbxName, phones::PbxPhones)],
) -> anyhow::Result<()> {
    let from_phones: Vec<&phones::PbxPhones> = from.iter().map(|(_, phones)| phones).collect();
    let moved = tenant_move::move_directory(
        store,
        key,
        &settings.recordings,
        tenant,
        &from_phones,
        to_phones,
    )
    .await?;
    if moved.phones > 0 {
        println!(
            "{} phone(s) moved into PBX {to}'s directory with their passwords: \
             desk phones now register to its address; browser phones get it \
             when the old PBX refuses their next registration refresh",
            moved.phones
        );
    }
    if moved.dropped > 0 {
        println!(
            "{} phone(s) left the other PBXs' directories: PBX {to} has none here, \
             its phones are in its site files",
            moved.dropped
        );
    }
    if moved.telephony {
        println!("the console's telephony is now written for PBX {to}");
    }
    if moved.registers {
        let trunk = format!("{tenant}-trunk");
        // The PBXs whose directory may have held the trunk: a PBX without
        // one only has site-file registrations, which are not ours.
        let with_directory = settings.all_pbxs().into_iter().filter(|(pbx, _)| {
            (pbx == to && to_phones.is_some()) || from.iter().any(|(name, _)| name == pbx)
        });
        for (pbx, ami) in with_directory {
            let change = if pbx == *to {
                RegistrationChange::Added
            } else {
                RegistrationChange::Removed
            };
            match tenant_move::tell_registration(ami, &trunk, change, Duration::from_secs(10)).await
            {
                Ok(()) => println!("PBX {pbx} was told about {trunk}'s registration"),
                Err(error) => eprintln!(
                    "warning: PBX {pbx} was not told about {trunk}'s registration ({error}): \
                     run this command again once it answers"
                ),
            }
        }
    }
    Ok(())
}

/// The phones of `user`'s PBX, whose directory must be configured.
async fn open_phones(settings: &Settings, user: &User) -> anyhow::Result<phones::PbxPhones> {
    match pbx_directories::open(settings, &user.tenant.pbx).await? {
        Some(pbx) => Ok(pbx),
        None => bail!(
            "{}",
            NO_DIRECTORY.replace("{pbx}", user.tenant.pbx.as_str())
        ),
    }
}

const NO_DIRECTORY: &str = "the phone directory of PBX {pbx} is not configured: \
    [phones] directory_db or [ami] directory_url for the default PBX, \
    [pbxs.<name>] directory_url for another";

/// Puts `user`'s phone into the directory. Without a directory, a browser
/// phone only gets a warning (the user exists, and the phone works once the
/// directory is configured), and a desk phone is the site files' business.
async fn apply_phone(settings: &Settings, user: &User) -> anyhow::Result<()> {
    match (
        user.phone,
        pbx_directories::open(settings, &user.tenant.pbx).await?,
    ) {
        (_, Some(pbx)) => {
            phones::ensure(&pbx.directory, &pbx.settings, user).await?;
            eprintln!("PJSIP/{} is in the phone directory", user.endpoint());
            if user.phone == PhoneKind::Desk {
                eprintln!("{DESK_CREDENTIALS_HINT}");
            }
        }
        (PhoneKind::Browser, None) => eprintln!(
            "warning: {}; {}'s browser phone works once it is",
            NO_DIRECTORY.replace("{pbx}", user.tenant.pbx.as_str()),
            user.email
        ),
        (PhoneKind::Desk, None) => {
            eprintln!(
                "PJSIP/{} must be configured on the PBX (pjsip.d): the phone directory is not configured",
                user.endpoint()
            );
        }
    }
    Ok(())
}

const DESK_CREDENTIALS_HINT: &str = "its SIP credentials: disca-backend user rotate-phone-password --tenant <tenant> --email <email>";

async fn crm_command(
    command: CrmCommand,
    load: impl FnOnce(Flags) -> Result<Settings, ConfigError>,
    flags: Flags,
) -> anyhow::Result<()> {
    match command {
        CrmCommand::ConnectV1 { tenant, url, key } => {
            let settings = load(key.flags().merged(flags))?;
            let token = read_secret("DISCA_CRM_TOKEN", "RD Station CRM instance token")?;
            let store = Store::from_settings(&settings).await?;
            let secrets = load_for(&settings.secrets_key_file(), &store).await?;
            let http = crm_http_client(&settings.crm)?;
            let owner = connect_v1(&store, &secrets, &http, &tenant, &url, token).await?;
            println!(
                "{tenant} connected to RD Station CRM (API v1) as {} <{}>, {}",
                owner.name, owner.email, owner.organization
            );
        }
        CrmCommand::ConnectV2 {
            tenant,
            client_id,
            code,
            redirect_uri,
            url,
            token_url,
            key,
        } => {
            let settings = load(key.flags().merged(flags))?;
            let client_secret = read_secret("DISCA_CRM_CLIENT_SECRET", "OAuth2 client secret")?;
            let store = Store::from_settings(&settings).await?;
            let secrets = load_for(&settings.secrets_key_file(), &store).await?;
            let http = crm_http_client(&settings.crm)?;
            let grant = V2Grant {
                base_url: &url,
                token_url: &token_url,
                client_id: &client_id,
                client_secret,
                code: &code,
                redirect_uri: &redirect_uri,
            };
            connect_v2(&store, &secrets, &http, &tenant, grant).await?;
            println!("{tenant} connected to RD Station CRM (API v2)");
        }
        CrmCommand::Status { tenant } => {
            let store = Store::from_settings(&load(flags)?).await?;
            match store.crm_account(&tenant).await? {
                Some(account) => println!("{tenant}: API {} at {}", account.api, account.base_url),
                None => println!("{tenant}: not connected to a CRM"),
            }
            for (state, count) in store.crm_delivery_counts(&tenant).await? {
                println!("  {state}: {count}");
            }
        }
        CrmCommand::Retry { tenant, call } => {
            let store = Store::from_settings(&load(flags)?).await?;
            let queued = store.requeue_deliveries(&tenant, call.as_deref()).await?;
            println!("{queued} note(s) queued again");
        }
        CrmCommand::ForgetSecretsKey { key } => {
            let settings = load(key.flags().merged(flags))?;
            let store = Store::from_settings(&settings).await?;
            let path = settings.secrets_key_file();
            let secrets = SecretKey::load_or_create(&path)?;
            secrets.adopt_for(&store).await?;
            println!(
                "secrets are sealed with {} from now on; connect each tenant to RD Station \
                 again and enter the trunk passwords again",
                path.display()
            );
        }
    }
    Ok(())
}

/// A secret from the environment, or else one line of stdin (never a flag:
/// flags show in `ps`).
fn read_secret(variable: &str, what: &str) -> anyhow::Result<Secret> {
    if let Ok(value) = std::env::var(variable)
        && !value.trim().is_empty()
    {
        return Ok(Secret::new(value.trim().to_owned()));
    }
    eprintln!("{what} (from {variable} or one line on stdin):");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let value = line.trim();
    if value.is_empty() || value.chars().any(char::is_control) {
        bail!("no {what} given");
    }
    Ok(Secret::new(value.to_owned()))
}

fn checked_text(what: &str, value: &str) -> anyhow::Result<String> {
    crate::domain::person_name(value).map_err(|_| {
        anyhow::anyhow!("{what} must have 1 to 200 characters and no control characters")
    })
}

fn checked_email(value: &str) -> anyhow::Result<String> {
    crate::domain::email_address(value)
        .map_err(|_| anyhow::anyhow!("{:?} is not an e-mail address", value.trim()))
}

/// The files of a backup, in its folder.
pub const BACKUP_DATABASE: &str = "disca.sqlite3";
/// The PostgreSQL database, in `pg_dump`'s custom format.
pub const BACKUP_POSTGRES: &str = "disca.pgdump";
pub const BACKUP_KEY: &str = "crm-secrets.key";
pub const BACKUP_DIRECTORY: &str = "phones.sqlite3";

/// `backup --to`: a consistent copy of the database (SQLite's `VACUUM
/// INTO`, or `pg_dump` of the PostgreSQL database, while the backend
/// serves), the secrets key, and the phone directory when one is
/// configured, each readable by its owner only. Restoring is copying them
/// back (`pg_restore` for PostgreSQL) with the backend stopped (README,
/// "Backup and restore").
async fn backup(settings: &Settings, to: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if to.exists() && std::fs::read_dir(to)?.next().is_some() {
        bail!("{} is not empty: back up into a new folder", to.display());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(to)
        .with_context(|| format!("cannot create {}", to.display()))?;
    let private = |file: &Path| {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", file.display()))
    };
    let database = match &settings.database_url {
        Some(url) => {
            let dump = to.join(BACKUP_POSTGRES);
            dump_postgres(url, &dump)?;
            dump
        }
        None => {
            let database = to.join(BACKUP_DATABASE);
            Store::from_settings(settings)
                .await?
                .backup_into(&database)
                .await
                .context("cannot copy the database")?;
            database
        }
    };
    private(&database)?;
    println!("database:        {}", database.display());
    let key = settings.secrets_key_file();
    if key.exists() {
        let copy = to.join(BACKUP_KEY);
        std::fs::copy(&key, &copy).with_context(|| format!("cannot copy {}", key.display()))?;
        private(&copy)?;
        println!("secrets key:     {}", copy.display());
    }
    if let Some(path) = &settings.phones.directory_db {
        let copy = to.join(BACKUP_DIRECTORY);
        crate::phones::Directory::open(path)
            .await?
            .backup_into(&copy)
            .await
            .context("cannot copy the phone directory")?;
        private(&copy)?;
        println!("phone directory: {}", copy.display());
    }
    for (pbx, ami) in settings.all_pbxs() {
        if ami.directory_url.is_some() {
            println!(
                "phone directory of PBX {pbx}: schema {} of its PostgreSQL database (pg_dump of that database keeps it)",
                pbx_directories::schema_of(&pbx)
            );
        }
    }
    Ok(())
}

/// Runs `pg_dump` (Debian's `postgresql-client`, of the server's version
/// or newer) into `file`: one consistent snapshot, in the custom format
/// `pg_restore` reads. (A password in `url` would show in the process
/// list while it runs: keep it in `~/.pgpass`, as the README says.)
fn dump_postgres(url: &str, file: &Path) -> anyhow::Result<()> {
    let status = std::process::Command::new("pg_dump")
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(file)
        .arg(format!("--dbname={url}"))
        .status()
        .context("cannot run pg_dump (Debian's postgresql-client package)")?;
    if !status.success() {
        bail!("pg_dump failed ({status}): nothing was backed up");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_development_pbx_takes_the_development_secret() {
        for dev in [
            "127.0.0.1:15038",
            "127.0.0.2:15038",
            "[::1]:15038",
            "LOCALHOST:15038",
        ] {
            assert!(is_development_pbx(dev), "{dev}");
        }
        for other in [
            "127.0.0.1:5038",
            "10.0.0.1:15038",
            "[::]:15038",
            "pbx.example.com:15038",
            "localhost",
        ] {
            assert!(!is_development_pbx(other), "{other}");
        }
    }
}
