//! The `rdstation-standin` binary: serves a seed file, prints its base URL
//! on stdout, logs to stderr without tokens, and refuses a broken seed.

use std::process::Stdio;
use std::time::Duration;

use rdstation_standin::Seed;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const SEED: &str = r#"
[[tenants]]
name = "Loja Teste Ltda"

[[tenants.stages]]
id = "0000000000000000000000a1"
name = "Proposta"

[[tenants.users]]
id = "0123456789abcdef01234567"
name = "Paula Nunes"
email = "paula@lojateste.example.com.br"
token = "token-secreto-da-paula"

[[tenants.contacts]]
id = "0000000000000000000000c1"
name = "João Silva"
phones = [{ phone = "+55 11 4004-0001", type = "work" }]

[[tenants.deals]]
id = "0000000000000000000000d1"
name = "Loja Teste - piloto"
owner_id = "0123456789abcdef01234567"
stage_id = "0000000000000000000000a1"
contact_ids = ["0000000000000000000000c1"]
"#;

fn standin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rdstation-standin"));
    command.kill_on_drop(true).env("RUST_LOG", "info");
    command
}

#[tokio::test]
async fn serves_a_toml_seed_and_prints_its_base_url() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.toml");
    std::fs::write(&seed, SEED).unwrap();
    let mut child: Child = standin()
        .args(["--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
        .await
        .expect("the base URL is printed")
        .unwrap()
        .unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let http = reqwest::Client::new();
    let me: serde_json::Value = http
        .get(format!(
            "{base}/api/v1/token/check?token=token-secreto-da-paula"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["organization"], "Loja Teste Ltda");
    let found: serde_json::Value = http
        .get(format!(
            "{base}/api/v1/contacts?token=token-secreto-da-paula&phone=1140040001"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["contacts"][0]["name"], "João Silva");

    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .await
        .unwrap();
    assert!(
        logs.contains("/api/v1/token/check"),
        "requests are logged: {logs}"
    );
    assert!(
        !logs.contains("token-secreto-da-paula"),
        "tokens are not: {logs}"
    );
}

#[tokio::test]
async fn prints_the_demo_seed_and_refuses_a_broken_one() {
    let out = standin().arg("--print-demo-seed").output().await.unwrap();
    assert!(out.status.success());
    let printed: Seed = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, Seed::demo());

    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    let mut broken = Seed::demo();
    broken.tenants[0].deals[0].stage_id = "ffffffffffffffffffffffff".into();
    std::fs::write(&seed, serde_json::to_string(&broken).unwrap()).unwrap();
    let out = standin()
        .args(["--listen", "127.0.0.1:0", "--seed"])
        .arg(&seed)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stage"), "{stderr}");
}

#[tokio::test]
async fn takes_its_settings_from_a_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.toml");
    std::fs::write(&seed, SEED).unwrap();
    let config = dir.path().join("standin.toml");
    std::fs::write(
        &config,
        format!(
            "seed = {:?}\n[rate_limit]\nrequests = 1\n",
            seed.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut child: Child = standin()
        .arg("--config")
        .arg(&config)
        .env("RDSTATION_STANDIN_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
        .await
        .expect("the base URL is printed")
        .unwrap()
        .unwrap();
    let check = format!("{base}/api/v1/token/check?token=token-secreto-da-paula");
    let http = reqwest::Client::new();
    let first = http.get(&check).send().await.unwrap();
    assert_eq!(first.status(), 200, "the file's seed is served");
    let second = http.get(&check).send().await.unwrap();
    assert_eq!(second.status(), 429, "the file's rate limit holds");
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    let out = standin()
        .arg("--config")
        .arg(&config)
        .env("RDSTATION_STANDIN_RATE_LIMIT__REQUESTS", "many")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("RATE_LIMIT.REQUESTS"), "{stderr}");
}
