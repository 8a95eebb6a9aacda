//! Invitations and password resets by e-mail, through a real SMTP server
//! (aiosmtpd): `disca-backend user invite` (the real binary) mails the link
//! when `[mail]` is configured, "Esqueci minha senha" mails a reset link,
//! and an SMTP server that is down leaves the link printed for the manager
//! to send, never lost.

use std::process::Output;

use disca_backend::configuration::MailSecurity;
use disca_backend::domain::Tenant;
use disca_testkit::TestApp;
use disca_testkit::smtp::SmtpServer;
use disca_testkit::system::backend_binary;
use reqwest::StatusCode;
use serde_json::json;

/// `disca-backend <args>` on `app`'s data, mailing through `smtp` (if any).
fn backend(app: &TestApp, smtp: Option<std::net::SocketAddr>, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(backend_binary());
    command
        .args(args)
        .arg("--data-dir")
        .arg(app.data_dir())
        .env("DISCA_PUBLIC_URL", &app.base)
        .env("DISCA_MAIL__FROM", "Disca da Acme <disca@acme.com.br>")
        .env("DISCA_MAIL__SECURITY", "none")
        .env("DISCA_MAIL__TIMEOUT_SECS", "5");
    if let Some(addr) = smtp {
        command
            .env("DISCA_MAIL__SMTP_HOST", addr.ip().to_string())
            .env("DISCA_MAIL__SMTP_PORT", addr.port().to_string());
    }
    // On PostgreSQL (DISCA_TEST_POSTGRES), the app's database.
    if let Some(url) = &app.settings.database_url {
        command.env("DISCA_DATABASE_URL", url);
    }
    command.output().unwrap()
}

async fn app_with_tenant(smtp: Option<&SmtpServer>) -> TestApp {
    let smtp = smtp.map(|s| s.addr);
    let app = TestApp::builder()
        .configure(move |s| {
            if let Some(addr) = smtp {
                s.mail.smtp_host = Some(addr.ip().to_string());
                s.mail.smtp_port = addr.port();
                s.mail.security = MailSecurity::None;
            }
        })
        .start()
        .await;
    app.store
        .add_tenant(&Tenant::in_brazil("acme".parse().unwrap(), "Acme Ltda"))
        .await
        .unwrap();
    app
}

const INVITE: &[&str] = &[
    "user",
    "invite",
    "--tenant",
    "acme",
    "--name",
    "Ana Souza",
    "--email",
    "ana@acme.com.br",
    "--endpoint",
    "1001",
    "--phone",
    "desk",
];

#[tokio::test]
async fn an_invitation_is_mailed_and_its_link_sets_the_password() {
    let smtp = SmtpServer::start().await.unwrap();
    let app = app_with_tenant(Some(&smtp)).await;
    let out = backend(&app, Some(smtp.addr), INVITE);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("invitation e-mailed to ana@acme.com.br"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing to send by hand");

    let mail = smtp.wait_for_mail_to("ana@acme.com.br").await.unwrap();
    assert_eq!(mail.subject, "Seu convite para o Disca");
    assert!(mail.from.contains("disca@acme.com.br"), "{}", mail.from);
    assert!(mail.to.contains("Ana Souza"), "{}", mail.to);
    assert!(mail.body.contains("Olá, Ana Souza!"), "{}", mail.body);
    assert!(mail.body.contains("na Acme Ltda"), "{}", mail.body);
    let link = mail
        .body
        .split_whitespace()
        .find(|w| w.starts_with(&app.base))
        .expect("the link is in the mail");
    let secret = link
        .strip_prefix(&app.url("/account/password#"))
        .expect("a password link");
    let set = app
        .http
        .post(app.url("/account/api/password"))
        .header("x-disca-page", "1")
        .json(&json!({"token": secret, "password": "cavalo-correto-bateria"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);

    // "Esqueci minha senha" mails a reset link (and says it does).
    let forgot = app
        .http
        .post(app.url("/account/api/forgot"))
        .header("x-disca-page", "1")
        .json(&json!({"email": "ana@acme.com.br"}))
        .send()
        .await
        .unwrap();
    assert_eq!(forgot.status(), StatusCode::ACCEPTED);
    assert_eq!(
        forgot.json::<serde_json::Value>().await.unwrap(),
        json!({"mails": true})
    );
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let reset = loop {
        if let Some(m) = smtp
            .messages()
            .into_iter()
            .find(|m| m.subject == "Nova senha do Disca")
        {
            break m;
        }
        assert!(tokio::time::Instant::now() < deadline, "no reset mail");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(reset.body.contains("vale por 1 hora"), "{}", reset.body);
    assert!(reset.body.contains(&app.url("/account/password#")));
}

#[tokio::test]
async fn without_a_working_smtp_server_the_link_is_printed_to_send() {
    let app = app_with_tenant(None).await;
    // Not configured: printed.
    let out = backend(&app, None, INVITE);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("send this invitation to ana@acme.com.br yourself"),
        "{stderr}"
    );
    let link = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(link.starts_with(&app.url("/account/password#")), "{link}");

    // Configured but down: the mail fails, the link is printed, the user
    // can still set a password with it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap();
    drop(closed);
    let out = backend(&app, Some(dead), INVITE);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("could not e-mail the invitation"),
        "{stderr}"
    );
    let second = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        second.starts_with(&app.url("/account/password#")),
        "{second}"
    );
    let secret = |link: &str| link.split_once('#').unwrap().1.to_owned();
    let inspect = |secret: String| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/account/api/link"))
                .header("x-disca-page", "1")
                .json(&json!({"token": secret}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // The newer invitation replaced the older one.
    assert_eq!(inspect(secret(&link)).await, StatusCode::GONE);
    assert_eq!(inspect(secret(&second)).await, StatusCode::OK);
}
