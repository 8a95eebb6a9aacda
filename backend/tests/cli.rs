//! The `disca-backend` binary's administration commands, on a real database
//! file: the token is printed once and only its hash is stored.

use std::process::{Command, Output};

use disca_backend::storage::testing;

fn disca(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_disca-backend"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("disca-backend runs")
}

/// Runs a command that must succeed; its standard output and error.
fn disca_ok(data_dir: &std::path::Path, args: &[&str]) -> (String, String) {
    let out = disca(data_dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn tenant_and_user_add_print_the_token_once_and_store_only_its_hash() {
    let dir = tempfile::tempdir().unwrap();
    let out = disca(
        dir.path(),
        &["tenant", "add", "--slug", "acme", "--name", "Acme Ltda"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = disca(
        dir.path(),
        &[
            "user",
            "add",
            "--tenant",
            "acme",
            "--name",
            "Ana Souza",
            "--email",
            "Ana@Acme.com.br",
            "--endpoint",
            "1001",
            "--role",
            "manager",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(
        disca_backend::auth::looks_like_token(&token),
        "stdout is exactly the token: {token:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("PJSIP/acme-1001"));

    let db = std::fs::read(dir.path().join("disca.sqlite3")).unwrap();
    let wal = std::fs::read(dir.path().join("disca.sqlite3-wal")).unwrap_or_default();
    let contains =
        |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(
        !contains(&db, &token) && !contains(&wal, &token),
        "the token itself is stored"
    );
    let hash = disca_backend::auth::hash_token(&token);
    assert!(
        contains(&db, &hash) || contains(&wal, &hash),
        "its hash is stored"
    );
}

/// `user add` in tenant `nope` with this e-mail and endpoint.
fn user_add(email: &'static str, endpoint: &'static str) -> Vec<&'static str> {
    vec![
        "user",
        "add",
        "--tenant",
        "nope",
        "--name",
        "A",
        "--email",
        email,
        "--endpoint",
        endpoint,
    ]
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for (args, says) in [
        (
            vec!["tenant", "add", "--slug", "Acme!", "--name", "x"],
            "tenant slug",
        ),
        (
            vec![
                "tenant", "add", "--slug", "acme", "--name", "x", "--region", "XX",
            ],
            "unknown region",
        ),
        (user_add("a@b.co", "1"), "no tenant"),
        (user_add("not-an-email", "1"), "e-mail"),
        (user_add("a@b.co", "10 01"), "extension"),
    ] {
        let out = disca(dir.path(), &args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "no token printed on failure");
    }
    let out = disca(
        dir.path(),
        &["tenant", "add", "--slug", "acme", "--name", "Acme"],
    );
    assert!(out.status.success());
    let again = disca(
        dir.path(),
        &["tenant", "add", "--slug", "acme", "--name", "Acme"],
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

/// `disca-backend` with `args`, the secret `env` and `stdin`.
fn disca_with(
    data_dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: &str,
) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_disca-backend"))
        .args(args)
        .env("DISCA_DATA_DIR", data_dir)
        .env_remove("DISCA_CONFIG")
        .env_remove("DISCA_CRM_TOKEN")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("disca-backend runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn a_tenant_connects_to_rd_station_and_its_token_is_stored_sealed() {
    let standin = rdstation_standin::StandIn::start(rdstation_standin::Config::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ok = |out: &Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let run = |args: &[&str], env: &[(&str, &str)], stdin: &str| {
        let (dir, args, env, stdin) = (
            dir.path().to_path_buf(),
            args.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>(),
            stdin.to_owned(),
        );
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            disca_with(&dir, &args, &env, &stdin)
        })
    };
    ok(&run(
        &["tenant", "add", "--slug", "acme", "--name", "Acme"],
        &[],
        "",
    )
    .await
    .unwrap());
    let user = [
        "user",
        "add",
        "--tenant",
        "acme",
        "--name",
        "Ana Souza",
        "--email",
        "ana@acme.com.br",
        "--endpoint",
        "1001",
        "--crm-user-id",
        "64b7f0c2a1e4d30000000a01",
    ];
    ok(&run(&user, &[], "").await.unwrap());
    let bad = [
        "user",
        "set-crm-user",
        "--tenant",
        "acme",
        "--email",
        "ana@acme.com.br",
        "--crm-user-id",
        "a&token=x",
    ];
    assert!(!run(&bad, &[], "").await.unwrap().status.success());

    let v1 = standin.v1_base();
    let token = "a3f9c2e17b4d48e6a0c5d2f1";
    // A wrong token is refused by RD Station and nothing is stored.
    let refused = run(
        &["crm", "connect-v1", "--tenant", "acme", "--url", &v1],
        &[],
        "wrong\n",
    )
    .await
    .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("did not accept the token"));
    let status = ok(&run(&["crm", "status", "--tenant", "acme"], &[], "")
        .await
        .unwrap());
    assert!(status.contains("not connected"), "{status}");
    // The token from stdin (never a flag).
    let connected = ok(&run(
        &["crm", "connect-v1", "--tenant", "acme", "--url", &v1],
        &[],
        &format!("{token}\n"),
    )
    .await
    .unwrap());
    assert!(connected.contains("as Ana Souza"), "{connected}");
    let status = ok(&run(&["crm", "status", "--tenant", "acme"], &[], "")
        .await
        .unwrap());
    assert!(status.contains(&format!("API v1 at {v1}")), "{status}");

    let key = dir.path().join("crm-secrets.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let db = std::fs::read(dir.path().join("disca.sqlite3")).unwrap();
    let wal = std::fs::read(dir.path().join("disca.sqlite3-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "token stored in clear"
        );
    }
}

/// `disca-backend serve` with `env` (and nothing from the caller's
/// environment): its exit status and standard error, or `None` when it is
/// still serving after `patience` (then it is killed).
fn serve_for(
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
    patience: std::time::Duration,
) -> Option<(std::process::ExitStatus, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_disca-backend"))
        .arg("serve")
        .env_remove("DISCA_CONFIG")
        .env_remove("DISCA_AMI_ADDR")
        .env_remove("DISCA_AMI_USERNAME")
        .env_remove("DISCA_AMI_SECRET")
        .env("DISCA_DATA_DIR", data_dir)
        .env("DISCA_LISTEN", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("disca-backend runs");
    let started = std::time::Instant::now();
    while started.elapsed() < patience {
        if child.try_wait().unwrap().is_some() {
            let output = child.wait_with_output().unwrap();
            return Some((
                output.status,
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    None
}

#[test]
fn serve_refuses_the_public_development_ami_secret_for_any_other_pbx() {
    let dir = tempfile::tempdir().unwrap();
    let patience = std::time::Duration::from_secs(10);
    // No secret configured, or the development one given on purpose, for a
    // PBX that is not the local development one: refused at once.
    for env in [
        &[("DISCA_AMI_ADDR", "10.20.30.40:5038")][..],
        &[("DISCA_AMI__ADDR", "10.20.30.40:5038")][..],
        &[("DISCA_AMI_ADDR", "127.0.0.1:5038")][..],
        &[("DISCA_AMI_ADDR", "pbx.example.com:15038")][..],
        &[
            ("DISCA_AMI_ADDR", "10.20.30.40:5038"),
            ("DISCA_AMI_SECRET", "disca-dev-secret"),
        ][..],
    ] {
        let Some((status, stderr)) = serve_for(dir.path(), env, patience) else {
            panic!("{env:?}: still serving with the public development AMI secret");
        };
        assert!(!status.success(), "{env:?}");
        assert!(
            stderr.contains("no AMI secret is configured")
                || stderr.contains("public development AMI secret"),
            "{env:?}: {stderr}"
        );
        assert!(stderr.contains("DISCA_AMI__SECRET"), "{env:?}: {stderr}");
    }
    // The development PBX (`cargo xtask asterisk up`) works with the
    // built-in defaults, and any PBX with a secret of its own (here also
    // read from a file, as a container secret would be).
    let secret_file = dir.path().join("ami-secret");
    std::fs::write(&secret_file, "a-secret-of-its-own\n").unwrap();
    for env in [
        &[][..],
        &[("DISCA_AMI_ADDR", "127.0.0.1:15038")][..],
        &[
            ("DISCA_AMI_ADDR", "10.20.30.40:5038"),
            ("DISCA_AMI_SECRET", "a-secret-of-its-own"),
        ][..],
        &[
            ("DISCA_AMI__ADDR", "10.20.30.40:5038"),
            ("DISCA_AMI__SECRET_FILE", secret_file.to_str().unwrap()),
        ][..],
    ] {
        let exited = serve_for(dir.path(), env, std::time::Duration::from_secs(3));
        assert!(exited.is_none(), "{env:?}: {exited:?}");
    }
}

/// A backend whose CRM secrets key is not the one the database's secrets
/// are sealed with (a second node set up without copying the first one's
/// key file, a database restored without its key) is refused at start,
/// naming the file, instead of failing to open every stored token later.
#[tokio::test]
async fn serve_refuses_a_crm_secrets_key_other_than_the_databases() {
    let dir = tempfile::tempdir().unwrap();
    let database = testing::fresh_database().await.unwrap();
    let mut env = vec![("DISCA_AMI_ADDR", "127.0.0.1:15038")];
    if let Some(url) = &database {
        env.push(("DISCA_DATABASE_URL", url));
    }
    // Long enough for the first backend to migrate and record its key.
    let patience = std::time::Duration::from_secs(8);
    let first = serve_for(dir.path(), &env, patience);
    assert!(
        first.is_none(),
        "the first backend does not serve: {first:?}"
    );
    let other = dir.path().join("elsewhere.key");
    env.push(("DISCA_CRM__SECRETS_KEY_FILE", other.to_str().unwrap()));
    let Some((status, stderr)) = serve_for(dir.path(), &env, patience) else {
        panic!("a backend served with another secrets key");
    };
    assert!(!status.success());
    assert!(
        stderr.contains("elsewhere.key") && stderr.contains("same key file"),
        "{stderr}"
    );
    assert!(stderr.contains("crm forget-secrets-key"), "{stderr}");

    // The first key lost for good: this one is adopted, and serves.
    let mut forget = Command::new(env!("CARGO_BIN_EXE_disca-backend"));
    forget
        .args(["crm", "forget-secrets-key", "--data-dir"])
        .arg(dir.path())
        .envs(env.iter().copied());
    let out = forget.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("elsewhere.key"));
    let adopted = serve_for(dir.path(), &env, patience);
    assert!(
        adopted.is_none(),
        "refused after forget-secrets-key: {adopted:?}"
    );
}

/// A tenant is placed on a PBX of the configuration (`tenant add --pbx`,
/// `tenant set-pbx`), never on one it does not name; the change is in the
/// tenant's audit log; and `serve` wants a secret of its own for each PBX.
#[tokio::test]
async fn tenants_are_placed_on_configured_pbxs_each_with_its_own_secret() {
    let dir = tempfile::tempdir().unwrap();
    let campinas = [
        ("DISCA_PBXS__CAMPINAS__ADDR", "10.0.1.5:5038"),
        ("DISCA_PBXS__CAMPINAS__SECRET", "campinas-secret"),
    ];
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = disca_with(dir.path(), args, env, "");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = run(
        &[
            "tenant", "add", "--slug", "acme", "--name", "Acme", "--pbx", "campinas",
        ],
        &[],
    );
    assert!(
        !ok && err.contains("no PBX \"campinas\"") && err.contains("default"),
        "{err}"
    );
    let (ok, _, err) = run(&["tenant", "add", "--slug", "acme", "--name", "Acme"], &[]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(
        &[
            "tenant", "add", "--slug", "globex", "--name", "Globex", "--pbx", "campinas",
        ],
        &campinas,
    );
    assert!(ok, "{err}");
    let set = ["tenant", "set-pbx", "--tenant", "acme", "--pbx", "campinas"];
    let (ok, _, err) = run(&set, &[]);
    assert!(!ok && err.contains("no PBX"), "{err}");
    let (ok, out, err) = run(&set, &campinas);
    assert!(ok, "{err}");
    assert!(out.contains("PBX campinas (before: default)"), "{out}");
    let (ok, _, err) = run(
        &[
            "tenant", "set-pbx", "--tenant", "initech", "--pbx", "default",
        ],
        &campinas,
    );
    assert!(!ok && err.contains("no tenant \"initech\""), "{err}");

    let store = disca_backend::storage::Store::open(dir.path())
        .await
        .unwrap();
    for slug in ["acme", "globex"] {
        assert_eq!(store.tenant(slug).await.unwrap().pbx.as_str(), "campinas");
    }
    let log = store.audit_log("acme", None, 10).await.unwrap();
    assert_eq!(log[0].detail, "Central telefônica: default → campinas");
    assert_eq!(log[0].actor, "Operador do servidor (linha de comando)");
    drop(store);

    // Each PBX needs a secret of its own.
    let env = [
        ("DISCA_AMI__ADDR", "10.0.0.5:5038"),
        ("DISCA_AMI__SECRET", "main-secret"),
        ("DISCA_PBXS__CAMPINAS__ADDR", "10.0.1.5:5038"),
    ];
    let patience = std::time::Duration::from_secs(10);
    let Some((status, stderr)) = serve_for(dir.path(), &env, patience) else {
        panic!("still serving with the public development AMI secret for campinas");
    };
    assert!(!status.success());
    assert!(
        stderr.contains("pbxs") && stderr.contains("secret of its own"),
        "{stderr}"
    );
}

/// Every command reads the same configuration as `serve`: a data directory
/// set only in the `--config` file (or `DISCA_CONFIG`) is the one
/// `tenant add`, `user add` and `crm status` use, not `./disca-data`.
#[test]
fn admin_commands_use_the_data_dir_of_the_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-the-file");
    let config = dir.path().join("disca.toml");
    std::fs::write(
        &config,
        format!("data_dir = {:?}\n", data.to_str().unwrap()),
    )
    .unwrap();
    let run = |args: &[&str], config_env: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_disca-backend"));
        command
            .args(args)
            .current_dir(dir.path())
            .env_remove("DISCA_CONFIG")
            .env_remove("DISCA_DATA_DIR");
        if config_env {
            command.env("DISCA_CONFIG", &config);
        } else {
            command.arg("--config").arg(&config);
        }
        let out = command.output().expect("disca-backend runs");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    run(
        &["tenant", "add", "--slug", "acme", "--name", "Acme"],
        false,
    );
    assert!(
        data.join("disca.sqlite3").exists(),
        "not in the file's data_dir"
    );
    assert!(
        !dir.path().join("disca-data").exists(),
        "a new database in ./disca-data"
    );
    let token = run(&user_add_to("acme"), true);
    assert!(disca_backend::auth::looks_like_token(token.trim()));
    let status = run(&["crm", "status", "--tenant", "acme"], false);
    assert!(status.contains("acme: not connected"), "{status}");
    assert!(!dir.path().join("disca-data").exists());
}

fn user_add_to(tenant: &'static str) -> [&'static str; 10] {
    [
        "user",
        "add",
        "--tenant",
        tenant,
        "--name",
        "Ana",
        "--email",
        "ana@acme.com.br",
        "--endpoint",
        "1001",
    ]
}

/// A setting the command cannot use is refused with its name and where it
/// came from.
#[test]
fn a_bad_setting_names_its_key_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("disca.toml");
    std::fs::write(&config, "[http]\nsse_streams_per_user = \"many\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_disca-backend"))
        .args([
            "tenant", "add", "--slug", "acme", "--name", "Acme", "--config",
        ])
        .arg(&config)
        .env("DISCA_DATA_DIR", dir.path())
        .output()
        .expect("disca-backend runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sse_streams_per_user"), "{err}");
    assert!(err.contains(config.to_str().unwrap()), "{err}");
}

/// The database, its WAL and shared memory, the CRM key and the worker's
/// lock are the backend's user's alone, in a folder only it can enter —
/// whatever the umask it was started with, and even in a folder that was
/// world-readable before.
#[test]
fn the_data_dir_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let dir = tempfile::tempdir().unwrap();
    // A new folder, created by the command itself.
    let fresh = dir.path().join("fresh");
    let out = disca(
        &fresh,
        &["tenant", "add", "--slug", "acme", "--name", "Acme Ltda"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&fresh), 0o700);
    assert_eq!(mode(&fresh.join("disca.sqlite3")), 0o600);

    // A folder that was open to everybody, with the server running in it:
    // every file it holds open is private too.
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_disca-backend"))
        .arg("serve")
        .env_remove("DISCA_CONFIG")
        .env("DISCA_DATA_DIR", &open)
        .env("DISCA_LISTEN", "127.0.0.1:0")
        .env("DISCA_AMI_ADDR", "127.0.0.1:15038")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("disca-backend runs");
    let files = [
        "disca.sqlite3",
        "disca.sqlite3-wal",
        "disca.sqlite3-shm",
        "crm-worker.lock",
    ];
    let started = std::time::Instant::now();
    while !files.iter().all(|f| open.join(f).exists()) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "serve never created {files:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let modes: Vec<(&str, u32)> = files.iter().map(|f| (*f, mode(&open.join(f)))).collect();
    let folder = mode(&open);
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert_eq!(folder, 0o700);
    for (file, mode) in modes {
        assert_eq!(mode, 0o600, "{file} is {mode:o}");
    }
}

/// The binary runs on jemalloc and `/metrics` reports what it holds, read
/// at each scrape (the soak bench follows this against resident memory).
#[test]
fn metrics_report_the_heap() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_disca-backend"))
        .arg("serve")
        .env_remove("DISCA_CONFIG")
        .env("DISCA_DATA_DIR", dir.path())
        .env("DISCA_LISTEN", format!("127.0.0.1:{port}"))
        .env("DISCA_AMI_ADDR", "127.0.0.1:15038")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("disca-backend runs");
    let started = std::time::Instant::now();
    let metrics = loop {
        let scrape = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut stream| {
            use std::io::{Read, Write};
            stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut text = String::new();
            stream.read_to_string(&mut text)?;
            Ok(text)
        });
        match scrape {
            Ok(text) => break text,
            Err(error) => {
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(20),
                    "no /metrics: {error}"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    };
    serve.kill().unwrap();
    serve.wait().unwrap();
    let gauge = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    let allocated = gauge("disca_heap_allocated_bytes");
    let resident = gauge("disca_heap_resident_bytes");
    assert!(allocated > 100_000, "{allocated} bytes allocated");
    assert!(resident >= allocated, "{resident} resident < {allocated}");
}

#[test]
fn api_tokens_are_listed_and_revoked_and_invitations_printed_without_smtp() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| disca_ok(dir.path(), args);
    run(&["tenant", "add", "--slug", "acme", "--name", "Acme Ltda"]);
    let who = ["--tenant", "acme", "--email", "ana@acme.com.br"];
    let (link, told) = run(&[
        "user",
        "invite",
        "--tenant",
        "acme",
        "--name",
        "Ana",
        "--email",
        "ana@acme.com.br",
        "--endpoint",
        "1001",
        "--phone",
        "desk",
    ]);
    assert!(told.contains("no SMTP server is configured"), "{told}");
    assert!(
        link.trim()
            .starts_with("http://127.0.0.1:8080/account/password#"),
        "{link}"
    );
    // Invited people have no token; scripts get theirs from `token create`.
    let (list, _) = run(&[&["token", "list"][..], &who].concat());
    assert_eq!(list, "");
    let (token, _) = run(&[&["token", "create", "--label", "relatórios"][..], &who].concat());
    assert!(
        disca_backend::auth::looks_like_token(token.trim()),
        "{token}"
    );
    let (list, _) = run(&[&["token", "list"][..], &who].concat());
    let fields: Vec<&str> = list.trim().split('\t').collect();
    assert_eq!(fields.len(), 4, "{list}");
    assert_eq!((fields[1], fields[3]), ("api", "relatórios"));
    let (revoked, _) = run(&[&["token", "revoke", "--id", fields[0]][..], &who].concat());
    assert!(revoked.contains("revoked"), "{revoked}");
    let (list, _) = run(&[&["token", "list"][..], &who].concat());
    assert_eq!(list, "");
    // An unknown token id is an error naming it.
    let out = disca(
        dir.path(),
        &[&["token", "revoke", "--id", "nope"][..], &who].concat(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no token \"nope\""));
    // Invited again before setting a password: a new link replaces the old.
    let (again, told) = run(&[
        "user",
        "invite",
        "--tenant",
        "acme",
        "--name",
        "Ana",
        "--email",
        "ana@acme.com.br",
        "--endpoint",
        "1001",
        "--phone",
        "desk",
    ]);
    assert!(told.contains("new link replaces the old one"), "{told}");
    assert_ne!(again, link);
}

#[tokio::test]
async fn the_clis_changes_to_people_are_in_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| disca_ok(dir.path(), args).0;
    run(&["tenant", "add", "--slug", "acme", "--name", "Acme Ltda"]);
    run(&[
        "user",
        "invite",
        "--tenant",
        "acme",
        "--name",
        "Ivo TI",
        "--email",
        "ivo@acme.com.br",
        "--endpoint",
        "1099",
        "--phone",
        "desk",
        "--role",
        "manager",
        "--admin",
    ]);
    let who = ["--tenant", "acme", "--email", "ivo@acme.com.br"];
    assert!(
        run(&[&["user", "set-admin", "--admin", "false"][..], &who].concat()).contains("no longer")
    );
    run(&[&["user", "disable"][..], &who].concat());
    run(&[&["user", "disable"][..], &who].concat());
    let store = disca_backend::storage::Store::open(dir.path())
        .await
        .unwrap();
    let ivo = store
        .user_by_email("acme", "ivo@acme.com.br")
        .await
        .unwrap();
    assert!(!ivo.admin);
    let log = store.audit_log("acme", None, 10).await.unwrap();
    let details: Vec<&str> = log.iter().map(|r| r.detail.as_str()).collect();
    assert_eq!(
        details,
        [
            "Desativado",
            "Administrador: sim → não",
            "Ivo TI (Gestor); ramal 1099; telefone: Telefone de mesa; administrador",
        ],
        "a second disable changes nothing and records nothing"
    );
    assert!(
        log.iter()
            .all(|r| r.actor == "Operador do servidor (linha de comando)")
    );
}

#[tokio::test]
async fn a_desk_phone_gets_its_credentials_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let directory_db = dir.path().join("directory.sqlite3");
    let with_directory = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_disca-backend"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .env("DISCA_PHONES__DIRECTORY_DB", &directory_db)
            .env("DISCA_PHONES__DESK_SERVER", "pbx.acme.com.br")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    with_directory(&["tenant", "add", "--slug", "acme", "--name", "Acme Ltda"]);
    with_directory(&[
        "user",
        "add",
        "--tenant",
        "acme",
        "--name",
        "Ana",
        "--email",
        "ana@acme.com.br",
        "--endpoint",
        "1001",
        "--phone",
        "desk",
    ]);
    let printed = with_directory(&[
        "user",
        "rotate-phone-password",
        "--tenant",
        "acme",
        "--email",
        "ana@acme.com.br",
    ]);
    assert!(printed.contains("server:    pbx.acme.com.br"), "{printed}");
    assert!(printed.contains("user:      acme-1001"), "{printed}");
    let password = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("password:"))
        .unwrap()
        .trim();
    let directory = disca_backend::phones::Directory::open(&directory_db)
        .await
        .unwrap();
    assert_eq!(
        directory
            .password("acme-1001", disca_backend::phones::directory::Line::DeskUdp)
            .await
            .unwrap()
            .unwrap()
            .expose(),
        password,
        "the printed password is the one Asterisk checks"
    );
    let store = disca_backend::storage::Store::open(dir.path())
        .await
        .unwrap();
    let log = store.audit_log("acme", None, 10).await.unwrap();
    assert_eq!(log[0].action, "person.desk_phone_credentials");
    assert!(!log[0].detail.contains(password));
}

/// `backup --to` copies the database, the secrets key and the phone
/// directory while they are in use, privately; restoring is copying them
/// back (README, "Backup and restore"), and the restored backend has the
/// same people, tokens and phone passwords.
#[tokio::test]
async fn a_backup_restores_people_tokens_and_phone_passwords() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let directory_db = dir.path().join("directory.sqlite3");
    // On PostgreSQL when the tests run there, on SQLite in `data` otherwise.
    let database = testing::fresh_database().await.unwrap();
    let run = |data: &std::path::Path,
               (database, directory): (&Option<String>, &std::path::Path),
               args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_disca-backend"));
        if let Some(url) = database {
            command.env("DISCA_DATABASE_URL", url);
        }
        command
            .args(args)
            .arg("--data-dir")
            .arg(data)
            .env("DISCA_PHONES__DIRECTORY_DB", directory)
            .output()
            .unwrap()
    };
    let ok = |out: Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    ok(run(
        &data,
        (&database, &directory_db),
        &["tenant", "add", "--slug", "acme", "--name", "Acme Ltda"],
    ));
    ok(run(
        &data,
        (&database, &directory_db),
        &[
            "user",
            "add",
            "--tenant",
            "acme",
            "--name",
            "Ana",
            "--email",
            "ana@acme.com.br",
            "--endpoint",
            "1001",
            "--phone",
            "desk",
        ],
    ));
    let printed = ok(run(
        &data,
        (&database, &directory_db),
        &[
            "user",
            "rotate-phone-password",
            "--tenant",
            "acme",
            "--email",
            "ana@acme.com.br",
        ],
    ));
    let password = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("password:"))
        .unwrap()
        .trim()
        .to_owned();
    let tokens = ok(run(
        &data,
        (&database, &directory_db),
        &[
            "token",
            "list",
            "--tenant",
            "acme",
            "--email",
            "ana@acme.com.br",
        ],
    ));
    // A file in the secrets key's place, as a CRM connection leaves (on
    // PostgreSQL, the data folder holds only such files).
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("crm-secrets.key"), [7u8; 32]).unwrap();

    let backup = dir.path().join("backup");
    let said = ok(run(
        &data,
        (&database, &directory_db),
        &["backup", "--to", backup.to_str().unwrap()],
    ));
    assert!(said.contains("phone directory:"), "{said}");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&backup), 0o700);
    let database_file = match database {
        Some(_) => "disca.pgdump",
        None => "disca.sqlite3",
    };
    for file in [database_file, "crm-secrets.key", "phones.sqlite3"] {
        assert_eq!(mode(&backup.join(file)), 0o600, "{file}");
    }
    // Never over an earlier backup.
    let again = run(
        &data,
        (&database, &directory_db),
        &["backup", "--to", backup.to_str().unwrap()],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));

    // Restore on another machine: the files copied back, then the backend.
    let restored = dir.path().join("restored");
    std::fs::create_dir_all(&restored).unwrap();
    let restored_database = match database {
        // README: pg_restore into a new, empty database.
        Some(_) => {
            let url = testing::fresh_database().await.unwrap().unwrap();
            let status = Command::new("pg_restore")
                .args(["--no-owner", "--exit-on-error"])
                .arg(format!("--dbname={url}"))
                .arg(backup.join("disca.pgdump"))
                .status()
                .unwrap();
            assert!(status.success(), "pg_restore: {status}");
            Some(url)
        }
        None => {
            std::fs::copy(backup.join("disca.sqlite3"), restored.join("disca.sqlite3")).unwrap();
            None
        }
    };
    std::fs::copy(
        backup.join("crm-secrets.key"),
        restored.join("crm-secrets.key"),
    )
    .unwrap();
    let restored_directory = dir.path().join("restored-directory.sqlite3");
    std::fs::copy(backup.join("phones.sqlite3"), &restored_directory).unwrap();
    let listed = ok(run(
        &restored,
        (&restored_database, &restored_directory),
        &[
            "token",
            "list",
            "--tenant",
            "acme",
            "--email",
            "ana@acme.com.br",
        ],
    ));
    assert_eq!(listed, tokens, "the same tokens");
    assert_eq!(
        std::fs::read(restored.join("crm-secrets.key")).unwrap(),
        [7u8; 32]
    );
    let directory = disca_backend::phones::Directory::open(&restored_directory)
        .await
        .unwrap();
    assert_eq!(
        directory
            .password("acme-1001", disca_backend::phones::directory::Line::DeskUdp)
            .await
            .unwrap()
            .unwrap()
            .expose(),
        password,
        "the desk phone's password survives"
    );
}
