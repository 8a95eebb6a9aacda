//! The token in real credential stores, through the real `disca-host`
//! commands: the Secret Service (gnome-keyring on a private D-Bus session, as
//! on a desktop whose login keyring is unlocked) and the kernel keyring.
//! Each is checked from outside with its own tool (`secret-tool`, `keyctl`).

use std::process::Stdio;

use tokio::io::AsyncWriteExt;

use disca_testkit::host::HostHome;
use disca_testkit::system::Backend;

fn home() -> HostHome {
    HostHome::new(disca_testkit::host::host_binary())
}

/// Runs `script` with `sh` inside a fresh D-Bus session where gnome-keyring
/// runs with an unlocked, persistent login keyring under the home.
async fn in_desktop_session(
    home: &HostHome,
    script: &str,
    vars: &[(&str, &str)],
) -> (bool, String) {
    let host = home.binary.to_str().unwrap();
    let prelude = "echo -n disca-test-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 90\n";
    let output = tokio::process::Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &format!("{prelude}{script}")])
        .envs(home.environment())
        .env("HOST", host)
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("dbus-run-session (package dbus) runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_ne!(
        output.status.code(),
        Some(90),
        "gnome-keyring did not start: {text}"
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn secret_service_keeps_the_token_where_other_programs_of_the_user_find_it() {
    let backend = Backend::start_without_pbx().await;
    let home = home();
    let token = backend.token("acme-1001");
    // login picks the Secret Service by itself when one runs.
    let script = r#"
set -e
printf '%s\n' "$TOKEN" | "$HOST" login --backend "$BACKEND"
grep -q 'credential_store = "secret-service"' "$XDG_CONFIG_HOME/disca/host.toml"
"$HOST" status || true
echo "stored=$(secret-tool lookup service disca username "$BACKEND")"
"$HOST" logout
if secret-tool lookup service disca username "$BACKEND"; then echo still-there; exit 1; fi
echo gone
"#;
    let (ok, out) = in_desktop_session(
        &home,
        script,
        &[("TOKEN", token), ("BACKEND", &backend.base)],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("Secret Service"), "{out}");
    assert!(out.contains("acessível, token válido"), "{out}");
    assert!(out.contains(&format!("stored={token}")), "{out}");
    assert!(out.contains("gone"), "{out}");
    // The keyring file is under the home, encrypted: the token is not in
    // clear in it, nor in the host's settings.
    let keyrings = home.path().join("data/keyrings");
    for entry in std::fs::read_dir(&keyrings).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

#[tokio::test]
async fn the_kernel_keyring_is_used_where_no_secret_service_runs() {
    let backend = Backend::start_without_pbx().await;
    let home = home();
    let token = backend.token("acme-1002");
    let mut command = home.command();
    command
        .args(["login", "--backend", &backend.base])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("{token}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("kernel"), "{stdout}");

    let description = format!("disca:{}", backend.base);
    let keyctl = |args: Vec<String>| {
        std::process::Command::new("keyctl")
            .args(args)
            .output()
            .expect("keyctl (package keyutils) runs")
    };
    let found = keyctl(vec![
        "search".into(),
        "@u".into(),
        "user".into(),
        description.clone(),
    ]);
    assert!(found.status.success(), "not in the user keyring");
    let key = String::from_utf8_lossy(&found.stdout).trim().to_owned();
    let value = keyctl(vec!["pipe".into(), key]);
    assert_eq!(String::from_utf8_lossy(&value.stdout), token);

    let out = home.run(&["logout"], "").await;
    assert!(out.status.success(), "{}", out.stderr);
    let gone = keyctl(vec![
        "search".into(),
        "@u".into(),
        "user".into(),
        description,
    ]);
    assert!(!gone.status.success(), "the token is still in the keyring");
}
