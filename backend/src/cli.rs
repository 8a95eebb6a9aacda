//! The `disca-backend` command line: `serve`, and the administration
//! commands that add tenants and users.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::auth::issue_token;
use crate::configuration::{Overrides, Settings};
use crate::domain::{DestinationPolicy, Extension, Region, Role, Tenant, TenantSlug};
use crate::startup::Application;
use crate::storage::{NewUser, Store};
use crate::telemetry::init_logs;

#[derive(Parser)]
#[command(
    name = "disca-backend",
    version,
    about = "Disca backend: click-to-call through your own Asterisk"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the API (and follow calls over AMI).
    Serve(Overrides),
    /// Manage tenants (companies).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage users (salespeople and managers).
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Args)]
pub struct DataDir {
    /// Directory holding the database [default: ./disca-data].
    #[arg(long, env = "DISCA_DATA_DIR", default_value = "disca-data")]
    pub data_dir: PathBuf,
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
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user and print their API token (shown once; only its hash is kept).
    Add {
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
        #[command(flatten)]
        data: DataDir,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?} is not a role: use agent or manager"))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(overrides) => {
            let settings = Settings::load(overrides)?;
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
            data,
        }) => {
            let tenant = Tenant {
                slug: slug.parse::<TenantSlug>()?,
                name: checked_text("name", &name)?,
                region: Region::parse(&region)
                    .with_context(|| format!("unknown region {region:?}"))?,
                policy: DestinationPolicy {
                    allow_premium,
                    allow_collect,
                    allow_international,
                },
            };
            Store::open(&data.data_dir)
                .await?
                .add_tenant(&tenant)
                .await?;
            println!("tenant {} added", tenant.slug);
        }
        Command::User(UserCommand::Add {
            tenant,
            name,
            email,
            endpoint,
            role,
            data,
        }) => {
            let store = Store::open(&data.data_dir).await?;
            let extension: Extension = endpoint.parse()?;
            let email = checked_email(&email)?;
            let token = issue_token();
            let user = store
                .add_user(NewUser {
                    tenant: &tenant,
                    name: &checked_text("name", &name)?,
                    email: &email,
                    extension: &extension,
                    role,
                    token_hash: &token.hash,
                })
                .await
                .map_err(|e| match e {
                    crate::storage::StoreError::NotFound => anyhow::anyhow!("no tenant {tenant:?}"),
                    other => other.into(),
                })?;
            eprintln!(
                "user {} added to {} (id {}, endpoint PJSIP/{})",
                user.email,
                tenant,
                user.id,
                user.endpoint()
            );
            eprintln!("API token (shown once; store it now):");
            println!("{}", token.secret);
        }
    }
    Ok(())
}

fn checked_text(what: &str, value: &str) -> anyhow::Result<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control) {
        bail!("{what} must have 1 to 200 characters and no control characters");
    }
    Ok(value.to_owned())
}

fn checked_email(value: &str) -> anyhow::Result<String> {
    let value = value.trim().to_lowercase();
    let ok = value.len() <= 254
        && value
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        bail!("{value:?} is not an e-mail address");
    }
    Ok(value)
}
