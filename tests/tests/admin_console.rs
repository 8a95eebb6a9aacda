//! The admin console in real headless Chromium, against the real backend
//! (in-process, random port) with a real phone directory (the SQLite file
//! Asterisk reads browser phones from): an admin logs in through the form,
//! invites a salesperson (no SMTP here: the console shows the link to
//! send), gives a desk-phone salesperson a browser phone (written into the
//! directory), disables another (their browser phone's password rotates),
//! blocks calls to mobiles, edits the outcomes salespeople choose after a
//! call (a name stays text), sets the carrier and caller IDs (written into
//! the directory), connects RD Station through the stand-in's authorization
//! page, keeps recordings 30 days, and reads all of it in the audit log.
//!
//! With `DISCA_UPDATE_SCREENSHOTS=1` the console's screenshots are also
//! written to `docs/screenshots/` for the README.

use std::time::Duration;

use disca_backend::domain::{PhoneKind, Role};
use disca_backend::phones::Directory;
use disca_backend::phones::directory::Line;
use disca_testkit::TestApp;
use disca_testkit::accounts::{Someone, give_password};
use disca_testkit::chromium::{Chromium, ChromiumOptions, Page};
use disca_testkit::limited::answering_ami;
use disca_testkit::screenshots::ReadmeScreenshots;
use rdstation_standin::{Config, StandIn};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(20);
const MARTA_PASSWORD: &str = "console-paulista-2026";

/// A JavaScript string literal.
fn js(text: &str) -> String {
    Value::from(text).to_string()
}

/// The people table: per row, the e-mail and each cell's text (a cell with
/// a control shows the control's value).
async fn people(page: &Page) -> Vec<Value> {
    page.evaluate(
        r#"[...document.querySelectorAll('#tabela-pessoas tbody tr')].map((tr) => ({
            email: tr.dataset.email,
            cells: [...tr.cells].map((td) => {
                const control = td.querySelector('select, input');
                if (!control) return td.textContent.trim();
                return control.type === 'checkbox' ? String(control.checked) : control.value;
            }),
        }))"#,
    )
    .await
    .unwrap()
    .as_array()
    .unwrap()
    .clone()
}

/// Waits until the row of `email` has `text` in cell `cell`.
async fn wait_cell(page: &Page, email: &str, cell: usize, text: &str) {
    let script = format!(
        r#"(() => {{
            const tr = document.querySelector('#tabela-pessoas tr[data-email={}]');
            if (!tr) return false;
            const td = tr.cells[{cell}];
            const control = td.querySelector('select, input');
            return (control ? control.value : td.textContent.trim()) === {};
        }})()"#,
        js(email),
        js(text)
    );
    if let Err(e) = page.wait_for(&script, PATIENCE).await {
        panic!(
            "{email}'s cell {cell} never showed {text:?}: {e}\n{:#?}",
            people(page).await
        );
    }
}

/// Sets the control `field` of `email`'s row to `value` and fires `change`.
async fn set_field(page: &Page, email: &str, field: &str, value: &str) {
    page.evaluate(&format!(
        r#"(() => {{
            const control = document.querySelector('#tabela-pessoas tr[data-email={}] [data-field={}]');
            control.value = {};
            control.dispatchEvent(new Event('change'));
        }})()"#,
        js(email),
        js(field),
        js(value)
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn an_admin_runs_the_team_from_the_console_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let directory_path = dir.path().join("directory.sqlite3");
    let standin = StandIn::start(Config::default()).await.unwrap();
    let (v2, token_url, authorize) = (
        standin.v2_base(),
        standin.oauth_token_url(),
        standin.oauth_authorize_url(),
    );
    // A PBX that logs the backend in: the console shows it connected.
    let app = TestApp::builder()
        .ami(answering_ami().await, "disca", "any-secret")
        .phone_directory(&directory_path)
        .configure(move |s| {
            s.crm.v2_url = v2;
            s.crm.token_url = token_url;
            s.crm.authorize_url = authorize;
        })
        .start()
        .await;
    let store = app.store.clone();
    disca_testkit::crm::add_tenant(&store, "paulista", "Paulista Soluções Comerciais").await;
    for (name, email, ext, role, admin, phone) in [
        (
            "Marta Lima",
            "marta@paulista.example.com.br",
            "1009",
            Role::Manager,
            true,
            PhoneKind::Desk,
        ),
        (
            "Ana Souza",
            "ana@paulista.example.com.br",
            "1001",
            Role::Agent,
            false,
            PhoneKind::Browser,
        ),
        (
            "Bruno Oliveira",
            "bruno@paulista.example.com.br",
            "1002",
            Role::Agent,
            false,
            PhoneKind::Desk,
        ),
    ] {
        let user = Someone {
            tenant: "paulista",
            name,
            email,
            extension: ext,
            role,
            phone,
            admin,
        }
        .add_invited(&store)
        .await;
        if admin {
            give_password(&app.base, &store, &user, MARTA_PASSWORD).await;
        }
    }
    let directory = Directory::open(&directory_path).await.unwrap();
    let ana = store
        .user_by_email("paulista", "ana@paulista.example.com.br")
        .await
        .unwrap();
    disca_backend::phones::ensure(&directory, &app.settings.phones, &ana)
        .await
        .unwrap();
    let ana_password = directory
        .password("paulista-1001", Line::Browser)
        .await
        .unwrap()
        .unwrap();
    assert!(
        directory
            .password("paulista-1002", Line::Browser)
            .await
            .unwrap()
            .is_none()
    );

    let profile = tempfile::tempdir().unwrap();
    let chromium = Chromium::launch(ChromiumOptions::new(profile.path().join("profile")))
        .await
        .unwrap();
    // Not signed in: the console sends the browser to the login, and back.
    let page = chromium
        .open(&format!("{}/manager/admin", app.base))
        .await
        .unwrap();
    page.set_viewport(1440, 800).await.unwrap();
    page.wait_for(
        r#"location.pathname === "/manager/login" && document.getElementById("senha") !== null"#,
        PATIENCE,
    )
    .await
    .unwrap();
    page.evaluate(&format!(
        "document.getElementById('email').value = 'marta@paulista.example.com.br'; \
         document.getElementById('senha').value = {}",
        js(MARTA_PASSWORD)
    ))
    .await
    .unwrap();
    page.click("#entrar button[type=submit]").await.unwrap();
    page.wait_for(
        r#"location.pathname === "/manager/admin" && document.querySelectorAll('#tabela-pessoas tbody tr').length === 3"#,
        PATIENCE,
    )
    .await
    .unwrap();
    assert_eq!(
        page.evaluate("document.getElementById('empresa').textContent")
            .await
            .unwrap(),
        "Paulista Soluções Comerciais"
    );
    assert_eq!(
        page.evaluate("document.getElementById('ligacoes').hidden")
            .await
            .unwrap(),
        false,
        "Marta is a manager too: the team's calls are a click away"
    );
    // Columns: name, e-mail, extension, role, admin, phone, RD user,
    // status, computers, actions.
    let rows = people(&page).await;
    let bruno = rows
        .iter()
        .find(|r| r["email"] == "bruno@paulista.example.com.br")
        .unwrap();
    assert_eq!(bruno["cells"][0], "Bruno Oliveira");
    assert_eq!(bruno["cells"][3], "agent");
    assert_eq!(bruno["cells"][5], "desk");
    assert_eq!(bruno["cells"][7], "Convidado");

    // Invite Carla: the link to send appears (no SMTP on this server).
    page.evaluate(
        "document.getElementById('convidar-caixa').open = true; \
         const f = document.forms.convidar.elements; \
         f.name.value = 'Carla Ribeiro'; f.email.value = 'carla@paulista.example.com.br'; \
         f.phone.value = 'browser';",
    )
    .await
    .unwrap();
    page.click("#convidar button[type=submit]").await.unwrap();
    let link = page
        .wait_for(
            r#"document.querySelector('#links-lista li[data-email="carla@paulista.example.com.br"] code')?.textContent"#,
            PATIENCE,
        )
        .await
        .unwrap();
    assert!(
        link.as_str()
            .unwrap()
            .starts_with(&format!("{}/account/password#", app.base)),
        "{link}"
    );
    wait_cell(&page, "carla@paulista.example.com.br", 2, "1010").await;
    wait_cell(&page, "carla@paulista.example.com.br", 3, "agent").await;
    wait_cell(&page, "carla@paulista.example.com.br", 7, "Convidado").await;
    assert!(
        directory
            .password("paulista-1010", Line::Browser)
            .await
            .unwrap()
            .is_some(),
        "Carla's browser phone is in the directory Asterisk reads"
    );

    // Bruno gets a browser phone: written into the directory at once.
    set_field(&page, "bruno@paulista.example.com.br", "phone", "browser").await;
    page.wait_for(
        r#"document.getElementById('aviso').textContent === 'Alteração salva: Bruno Oliveira.'"#,
        PATIENCE,
    )
    .await
    .unwrap();
    wait_cell(&page, "bruno@paulista.example.com.br", 5, "browser").await;
    assert!(
        directory
            .password("paulista-1002", Line::Browser)
            .await
            .unwrap()
            .is_some()
    );

    // Carla will use a desk phone: the console gives its SIP credentials
    // once, and they are what Asterisk checks.
    set_field(&page, "carla@paulista.example.com.br", "phone", "desk").await;
    page.wait_for(
        r#"document.querySelector('#tabela-pessoas tr[data-email="carla@paulista.example.com.br"] [data-action=desk-phone]') !== null"#,
        PATIENCE,
    )
    .await
    .unwrap();
    page.click(
        r#"#tabela-pessoas tr[data-email="carla@paulista.example.com.br"] [data-action=desk-phone]"#,
    )
    .await
    .unwrap();
    let shown = page
        .wait_for(
            r#"!document.getElementById('sip').hidden &&
               [document.getElementById('sip-usuario').textContent, document.getElementById('sip-senha').textContent]"#,
            PATIENCE,
        )
        .await
        .unwrap();
    assert_eq!(shown[0], "paulista-1010");
    assert_eq!(
        shown[1].as_str(),
        directory
            .password("paulista-1010", Line::DeskUdp)
            .await
            .unwrap()
            .as_ref()
            .map(|p| p.expose())
    );

    // Ana is disabled: her browser phone's password changes (its
    // registration is dropped) and her status says so.
    page.click(
        r#"#tabela-pessoas tr[data-email="ana@paulista.example.com.br"] [data-action=disable]"#,
    )
    .await
    .unwrap();
    wait_cell(&page, "ana@paulista.example.com.br", 7, "Desativado").await;
    let rotated = directory
        .password("paulista-1001", Line::Browser)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(rotated.expose(), ana_password.expose());
    assert!(
        store
            .user_by_email("paulista", "ana@paulista.example.com.br")
            .await
            .is_ok()
    );
    page.evaluate("window.scrollTo(0, 0); document.querySelector('.tabela').scrollLeft = 0;")
        .await
        .unwrap();
    let screenshots = ReadmeScreenshots::new();
    screenshots.take(&page, "admin-people.png").await;

    // Calls to mobiles are blocked from the next click.
    page.click(r#".aba[data-aba="destinos"]"#).await.unwrap();
    page.wait_for(
        r#"document.querySelector('#politica input[name="allow_mobile"]')?.checked === true"#,
        PATIENCE,
    )
    .await
    .unwrap();
    page.evaluate(
        r#"document.querySelector('#politica input[name="allow_mobile"]').checked = false"#,
    )
    .await
    .unwrap();
    page.click("#politica button[type=submit]").await.unwrap();
    page.wait_for(
        r#"document.getElementById('aviso').textContent.startsWith('Destinos salvos')"#,
        PATIENCE,
    )
    .await
    .unwrap();
    let tenant = store.tenant("paulista").await.unwrap();
    assert!(!tenant.policy.allow_mobile);
    assert!(tenant.policy.allow_fixed);

    // The outcomes salespeople choose after a call: "Retornar" renamed,
    // "Número errado" removed, one added.
    page.click(r#".aba[data-aba="resultados"]"#).await.unwrap();
    page.wait_for(
        "document.querySelectorAll('#lista-resultados li').length === 4",
        PATIENCE,
    )
    .await
    .unwrap();
    page.evaluate(
        "{ const rows = [...document.querySelectorAll('#lista-resultados li')]; \
           rows[1].querySelector('input').value = 'Pediu retorno'; \
           rows[3].querySelector('button').click(); }",
    )
    .await
    .unwrap();
    page.click("#novo-resultado").await.unwrap();
    page.evaluate(
        "document.querySelector('#lista-resultados li:last-child input').value = '<b>Agendou</b> reunião'",
    )
    .await
    .unwrap();
    page.click("#form-resultados button[type=submit]")
        .await
        .unwrap();
    page.wait_for(
        r#"document.getElementById('aviso').textContent.startsWith('Resultados salvos')"#,
        PATIENCE,
    )
    .await
    .unwrap();
    let labels: Vec<String> = store
        .dispositions("paulista")
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.label)
        .collect();
    assert_eq!(
        labels,
        [
            "Interessado",
            "Pediu retorno",
            "Sem interesse",
            "<b>Agendou</b> reunião"
        ]
    );
    let shown = page
        .evaluate("[...document.querySelectorAll('#lista-resultados input')].map((i) => i.value)")
        .await
        .unwrap();
    assert_eq!(shown[3], "<b>Agendou</b> reunião", "a name stays text");

    // The telephony: the carrier, the caller IDs (per DDD, per salesperson),
    // written where Asterisk reads them.
    page.click(r#".aba[data-aba="telefonia"]"#).await.unwrap();
    page.wait_for(
        r#"document.getElementById('telefonia-estado').textContent.includes('arquivos da central')"#,
        PATIENCE,
    )
    .await
    .unwrap();
    let central = page
        .evaluate("document.getElementById('central-estado').textContent")
        .await
        .unwrap();
    assert_eq!(
        central, "Central telefônica desta empresa: a principal — conectada.",
        "the console names the tenant's PBX and whether it is up"
    );
    page.evaluate(
        "{ const f = document.forms.discagem.elements; \
         f.trunk_host.value = 'sip.operadora.example.com.br'; f.trunk_port.value = '5060'; \
         f.number_format.value = 'national'; f.national_prefix.value = '0'; \
         f.caller_id.value = '+55 11 3000-0000'; f.lead_ring_secs.value = '25'; \
         f.areas.value = '21 = +552130000000'; \
         f.vendedores.value = 'bruno@paulista.example.com.br = +551130000002'; }",
    )
    .await
    .unwrap();
    page.click("#discagem button[type=submit]").await.unwrap();
    page.wait_for(
        r#"document.getElementById('aviso').textContent.startsWith('Telefonia salva')"#,
        PATIENCE,
    )
    .await
    .unwrap();
    let (trunk, allow, caller_id) = directory.tenant_row("paulista").await.unwrap().unwrap();
    assert_eq!(
        (trunk.as_str(), caller_id.as_str()),
        ("paulista-trunk", "+551130000000")
    );
    let rule = regex::Regex::new(&allow).unwrap();
    assert!(
        rule.is_match("+552123456789") && !rule.is_match("+5511987654321"),
        "{allow}"
    );
    assert_eq!(
        directory
            .caller_id("paulista-area-21")
            .await
            .unwrap()
            .as_deref(),
        Some("+552130000000")
    );
    assert_eq!(
        directory
            .caller_id("paulista-user-1002")
            .await
            .unwrap()
            .as_deref(),
        Some("+551130000002")
    );
    // The carrier wants the PBX to register: the account's fields appear,
    // and its registration is written where Asterisk reads it (this test
    // has no PBX to tell, and the console says so).
    page.evaluate(
        "{ const f = document.forms.discagem.elements; \
         f.trunk_mode.value = 'registration'; f.trunk_mode.dispatchEvent(new Event('change')); }",
    )
    .await
    .unwrap();
    assert_eq!(
        page.evaluate("document.querySelector('#discagem .registro').hidden")
            .await
            .unwrap(),
        serde_json::json!(false)
    );
    page.evaluate(
        "{ const f = document.forms.discagem.elements; \
         f.trunk_username.value = '1130000000'; f.trunk_password.value = 'S3nha-operadora'; }",
    )
    .await
    .unwrap();
    page.click("#discagem button[type=submit]").await.unwrap();
    page.wait_for(
        r#"document.getElementById('aviso').textContent.includes('não foi avisada')"#,
        PATIENCE,
    )
    .await
    .unwrap();
    page.wait_for(
        r#"document.getElementById('registro-estado').textContent.startsWith('Registro na operadora')"#,
        PATIENCE,
    )
    .await
    .unwrap();
    let registrations =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", directory_path.display()))
            .await
            .unwrap();
    let client_uri: String =
        sqlx::query_scalar("SELECT client_uri FROM ps_registrations WHERE id = 'paulista-trunk'")
            .fetch_one(&registrations)
            .await
            .unwrap();
    assert_eq!(client_uri, "sip:1130000000@sip.operadora.example.com.br");
    screenshots.take(&page, "admin-telephony.png").await;

    // RD Station by a button: the stand-in's authorization page (as RD
    // Station's), Ana picked there, back to the backend with a code.
    page.click(r#".aba[data-aba="rdstation"]"#).await.unwrap();
    page.wait_for(
        r#"document.getElementById('rd-estado').textContent.startsWith('Não conectado')"#,
        PATIENCE,
    )
    .await
    .unwrap();
    page.evaluate(
        "{ const f = document.forms['rd-v2'].elements; \
         f.client_id.value = 'disca-local'; f.client_secret.value = 'disca-local-secret'; }",
    )
    .await
    .unwrap();
    page.click("#rd-v2 button[type=submit]").await.unwrap();
    page.wait_for(
        r#"location.pathname === "/oauth2/authorize" && [...document.links].some((a) => a.textContent.startsWith('Ana Souza'))"#,
        PATIENCE,
    )
    .await
    .unwrap();
    page.evaluate("[...document.links].find((a) => a.textContent.startsWith('Ana Souza')).click()")
        .await
        .unwrap();
    let result = page
        .wait_for(
            r#"location.pathname === "/manager/admin/rdstation/callback" && document.getElementById('resultado')?.textContent"#,
            PATIENCE,
        )
        .await
        .unwrap();
    assert_eq!(result, "RD Station conectado");
    assert_eq!(
        store.crm_account("paulista").await.unwrap().unwrap().api,
        "v2"
    );
    page.click("a.botao").await.unwrap();
    page.wait_for(
        r#"location.pathname === "/manager/admin" && document.querySelectorAll('#tabela-pessoas tbody tr').length === 4"#,
        PATIENCE,
    )
    .await
    .unwrap();

    // Recordings kept 30 days (LGPD).
    page.click(r#".aba[data-aba="gravacoes"]"#).await.unwrap();
    page.wait_for(
        r#"document.forms['regras-gravacao'].elements.enabled.checked === true"#,
        PATIENCE,
    )
    .await
    .unwrap();
    page.evaluate("document.forms['regras-gravacao'].elements.retention_days.value = '30'")
        .await
        .unwrap();
    page.click("#regras-gravacao button[type=submit]")
        .await
        .unwrap();
    page.wait_for(
        r#"document.getElementById('aviso').textContent.startsWith('Regras de gravação salvas')"#,
        PATIENCE,
    )
    .await
    .unwrap();
    let rules = store.recording_rules("paulista").await.unwrap();
    assert_eq!((rules.enabled, rules.retention_days), (true, Some(30)));
    assert_eq!(
        directory.recording_row("paulista").await.unwrap(),
        Some(("yes".to_owned(), String::new()))
    );

    // The audit log says who did what.
    page.click(r#".aba[data-aba="auditoria"]"#).await.unwrap();
    let log = page
        .wait_for(
            r#"document.querySelectorAll('#tabela-auditoria tbody tr').length === 11 &&
               [...document.querySelectorAll('#tabela-auditoria tbody tr')].map((tr) => [...tr.cells].map((td) => td.textContent))"#,
            PATIENCE,
        )
        .await
        .unwrap();
    let log = log.as_array().unwrap();
    assert_eq!(log[0][2], "Regras de gravação alteradas");
    assert_eq!(log[0][4], "Gravação ligada; guarda: 30 dias");
    assert_eq!(log[1][2], "RD Station conectado");
    assert_eq!(log[2][2], "Telefonia alterada");
    assert!(
        log[2][4]
            .as_str()
            .unwrap()
            .contains("com registro (usuário 1130000000, senha nova)"),
        "{:?}",
        log[2]
    );
    assert_eq!(log[3][2], "Telefonia alterada");
    assert_eq!(log[4][2], "Resultados de ligação alterados");
    let log = &log[5..];
    assert_eq!(log[0][2], "Destinos permitidos alterados");
    assert_eq!(log[0][4], "Celulares: bloqueados");
    assert_eq!(log[1][3], "ana@paulista.example.com.br");
    assert_eq!(log[1][4], "Desativado");
    assert_eq!(log[2][2], "Nova senha do telefone de mesa");
    assert_eq!(log[3][4], "Telefone: Navegador → Telefone de mesa");
    assert_eq!(log[4][4], "Telefone: Telefone de mesa → Navegador");
    assert_eq!(log[5][2], "Pessoa convidada");
    assert!(
        log.iter()
            .all(|row| row[1] == "Marta Lima <marta@paulista.example.com.br>")
    );
    screenshots.take(&page, "admin-audit.png").await;
    // The login form asks whether a session is already open (a 401 before
    // signing in), and the stand-in's page has no icon; the console itself
    // logs no error.
    let standin_origin = standin.v2_base().replace("/crm/v2", "");
    let errors: Vec<_> = page
        .console()
        .into_iter()
        .filter(|m| m.is_error() && !m.text.contains("401"))
        .filter(|m| {
            !m.location
                .as_deref()
                .is_some_and(|l| l.starts_with(&standin_origin))
        })
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}
