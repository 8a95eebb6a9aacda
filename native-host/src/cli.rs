//! The commands a person runs: `login`, `logout`, `status`, `install`,
//! `uninstall`. Their output is for the salesperson (Portuguese); errors go
//! to stderr with a non-zero exit code.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zeroize::Zeroizing;

use crate::backend::{BackendClient, BackendError, BackendUrl};
use crate::config::{HostConfig, Login, Paths};
use crate::credentials::{CredentialStore, StoreKind};
use crate::install::{self, Browser, ExtensionId, Target};

/// Disca's native messaging host. The browser starts it with the extension's
/// origin as its only argument; people run the commands below.
#[derive(Debug, Parser)]
#[command(name = "disca-host", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Checks a token with the backend and keeps it in the OS credential
    /// store. The token is read from the terminal (hidden) or from stdin,
    /// never from the command line.
    Login {
        /// The backend's address, e.g. https://disca.example.com.
        #[arg(long)]
        backend: String,
        /// Where to keep the token (default: the platform's store; on Linux
        /// the Secret Service when one runs, else the kernel keyring).
        #[arg(long, value_enum)]
        store: Option<StoreKind>,
    },
    /// Removes the token from the credential store.
    Logout,
    /// Who is logged in, whether the backend answers, where the token is.
    Status,
    /// Registers the host with the browser(s) for one extension.
    Install {
        /// The extension's id (chrome://extensions).
        #[arg(long)]
        extension_id: String,
        #[arg(long, value_enum, default_value = "all")]
        browser: Browser,
        /// For a browser run with --user-data-dir (Linux, macOS).
        #[arg(long)]
        user_data_dir: Option<PathBuf>,
    },
    /// Removes the host's registration.
    Uninstall {
        #[arg(long, value_enum, default_value = "all")]
        browser: Browser,
        #[arg(long)]
        user_data_dir: Option<PathBuf>,
    },
}

/// Runs a command; messages and errors are printed here.
pub fn run(cli: Cli, paths: &Paths) -> ExitCode {
    let outcome = match cli.command {
        Command::Login { backend, store } => login(paths, &backend, store),
        Command::Logout => logout(paths),
        Command::Status => status(paths),
        Command::Install {
            extension_id,
            browser,
            user_data_dir,
        } => install_host(paths, &extension_id, targets(browser, user_data_dir)),
        Command::Uninstall {
            browser,
            user_data_dir,
        } => uninstall_host(paths, browser, user_data_dir),
    };
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("disca-host: {message}");
            ExitCode::FAILURE
        }
    }
}

type Outcome = Result<ExitCode, String>;

fn targets(browser: Browser, user_data_dir: Option<PathBuf>) -> Vec<Target> {
    match user_data_dir {
        Some(dir) => vec![Target::UserDataDir(dir)],
        None => browser.expand().into_iter().map(Target::Browser).collect(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("não foi possível iniciar: {e}"))
}

fn login(paths: &Paths, backend: &str, store: Option<StoreKind>) -> Outcome {
    let url = BackendUrl::parse(backend).map_err(|e| e.to_string())?;
    let token = read_token()?;
    let client = BackendClient::new(url.clone(), &token)
        .map_err(|_| "o token tem caracteres inválidos".to_owned())?;
    let me = runtime()?.block_on(client.me()).map_err(|e| match e {
        BackendError::Unauthorized => {
            "o servidor recusou este token: confira se foi copiado inteiro".to_owned()
        }
        BackendError::Unreachable(detail) => {
            format!("não foi possível falar com {} ({detail})", url.as_str())
        }
        BackendError::Api { detail, .. } => detail.message,
    })?;
    let store = match store {
        Some(kind) => CredentialStore::new(kind),
        None => CredentialStore::detect(url.as_str()),
    };
    let mut config = HostConfig::load(paths).map_err(|e| e.to_string())?;
    store
        .save(url.as_str(), &token)
        .map_err(|e| format!("não foi possível guardar o token: {e}"))?;
    if let Some(old) = &config.login
        && (old.backend_url != url.as_str() || old.credential_store != store.kind())
    {
        // The previous token must not linger where nobody will look for it.
        let _ = CredentialStore::new(old.credential_store).delete(&old.backend_url);
    }
    config.login = Some(Login {
        backend_url: url.as_str().to_owned(),
        credential_store: store.kind(),
        user: me.clone(),
    });
    config.save(paths).map_err(|e| e.to_string())?;
    println!(
        "Conectado como {} <{}> (empresa {}, ramal {}) em {}.",
        me.name,
        me.email,
        me.tenant,
        me.extension,
        url.as_str()
    );
    println!("Token guardado em: {}.", store.kind().label());
    Ok(ExitCode::SUCCESS)
}

/// The token, from a hidden prompt on a terminal or the first line of stdin.
fn read_token() -> Result<Zeroizing<String>, String> {
    let raw = if std::io::stdin().is_terminal() {
        Zeroizing::new(
            rpassword::prompt_password("Cole o token do Disca (ele não aparece na tela): ")
                .map_err(|e| format!("não foi possível ler o token: {e}"))?,
        )
    } else {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("não foi possível ler o token: {e}"))?;
        line
    };
    let token = Zeroizing::new(raw.trim().to_owned());
    if token.is_empty() {
        return Err("nenhum token informado".into());
    }
    if token.len() > 512 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(
            "isso não parece um token do Disca (espaços, caracteres de controle ou longo demais)"
                .into(),
        );
    }
    Ok(token)
}

fn logout(paths: &Paths) -> Outcome {
    let mut config = HostConfig::load(paths).map_err(|e| e.to_string())?;
    let Some(login) = config.login.take() else {
        println!("Ninguém está conectado.");
        return Ok(ExitCode::SUCCESS);
    };
    let store = CredentialStore::new(login.credential_store);
    let removed = store
        .delete(&login.backend_url)
        .map_err(|e| format!("não foi possível remover o token: {e}"))?;
    config.save(paths).map_err(|e| e.to_string())?;
    if removed {
        println!(
            "Sessão encerrada; token removido de: {}.",
            store.kind().label()
        );
    } else {
        println!(
            "Sessão encerrada (o token já não estava em: {}).",
            store.kind().label()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn status(paths: &Paths) -> Outcome {
    let config = HostConfig::load(paths).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let mut healthy = true;
    let _ = writeln!(out, "disca-host {}", env!("CARGO_PKG_VERSION"));
    match &config.login {
        None => {
            healthy = false;
            let _ = writeln!(
                out,
                "Sessão: ninguém conectado (rode: disca-host login --backend <endereço>)"
            );
        }
        Some(login) => {
            let me = &login.user;
            let _ = writeln!(
                out,
                "Sessão: {} <{}> (empresa {}, ramal {})",
                me.name, me.email, me.tenant, me.extension
            );
            let _ = writeln!(out, "Token guardado em: {}", login.credential_store.label());
            let store = CredentialStore::new(login.credential_store);
            let backend = match store.load(&login.backend_url) {
                Err(e) => {
                    healthy = false;
                    format!("não foi possível ler o token ({e})")
                }
                Ok(None) => {
                    healthy = false;
                    "o token não está mais no chaveiro: rode login de novo".to_owned()
                }
                Ok(Some(token)) => {
                    let checked = BackendUrl::parse(&login.backend_url)
                        .map_err(|e| e.to_string())
                        .and_then(|url| BackendClient::new(url, &token).map_err(|e| e.to_string()));
                    match checked {
                        Err(e) => {
                            healthy = false;
                            e
                        }
                        Ok(client) => match runtime()?.block_on(client.me()) {
                            Ok(_) => "acessível, token válido".to_owned(),
                            Err(BackendError::Unauthorized) => {
                                healthy = false;
                                "token recusado: rode login de novo".to_owned()
                            }
                            Err(e) => {
                                healthy = false;
                                format!("inacessível ({e})")
                            }
                        },
                    }
                }
            };
            let _ = writeln!(out, "Servidor: {} — {backend}", login.backend_url);
        }
    }
    if config.allowed_origins.is_empty() {
        healthy = false;
        let _ = writeln!(
            out,
            "Extensão: nenhuma autorizada (rode: disca-host install --extension-id <id>)"
        );
    }
    for origin in &config.allowed_origins {
        let _ = writeln!(out, "Extensão autorizada: {origin}");
    }
    for browser in Browser::All.expand() {
        if let Ok(path) = install::manifest_path(&Target::Browser(browser))
            && path.exists()
        {
            let _ = writeln!(out, "Registrado no {}: {}", browser.name(), path.display());
        }
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn install_host(paths: &Paths, extension_id: &str, targets: Vec<Target>) -> Outcome {
    let id = ExtensionId::parse(extension_id).map_err(|e| e.to_string())?;
    let executable = install::current_executable().map_err(|e| e.to_string())?;
    let mut config = HostConfig::load(paths).map_err(|e| e.to_string())?;
    let origin = id.origin();
    if !config.allows(&origin) {
        config.allowed_origins.push(origin.clone());
    }
    // Every manifest allows what host.toml allows: the two never disagree.
    let written = install::install(&config.allowed_origins, &targets, &executable)
        .map_err(|e| e.to_string())?;
    config.save(paths).map_err(|e| e.to_string())?;
    println!("disca-host registrado para a extensão {origin}:");
    for place in written {
        println!("  {place}");
    }
    if config.login.is_none() {
        println!("Agora conecte-se: disca-host login --backend <endereço do servidor>");
    }
    Ok(ExitCode::SUCCESS)
}

fn uninstall_host(paths: &Paths, browser: Browser, user_data_dir: Option<PathBuf>) -> Outcome {
    let everything = browser == Browser::All && user_data_dir.is_none();
    let removed =
        install::uninstall(&targets(browser, user_data_dir)).map_err(|e| e.to_string())?;
    if everything {
        let mut config = HostConfig::load(paths).map_err(|e| e.to_string())?;
        config.allowed_origins.clear();
        config.save(paths).map_err(|e| e.to_string())?;
    }
    if removed.is_empty() {
        println!("Nada a remover: o disca-host não estava registrado aí.");
    } else {
        println!("Registro removido:");
        for place in removed {
            println!("  {place}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
