//! The `disca-backend` binary's administration commands, on a real database
//! file: the token is printed once and only its hash is stored.

use std::process::{Command, Output};

fn disca(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_disca-backend"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("disca-backend runs")
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
