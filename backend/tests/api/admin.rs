//! The admin console's API over HTTP, with a real SQLite file: who may use
//! it (admins of the tenant, nobody else), every action on people, the CSV
//! import (all or none), the destination policy (the next click follows
//! it), the audit log and its CSV, CSRF and tenant isolation. The console
//! in Chromium is tested in `tests/tests/admin_console.rs`.

use disca_backend::auth::issue_token;
use disca_backend::domain::{PhoneKind, Role};
use disca_testkit::TestApp;
use disca_testkit::accounts::Someone;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

const CSRF: (&str, &str) = ("x-disca-manager", "1");

/// Tenants acme and globex. acme: Marta (manager, admin), Ana (agent),
/// Gil (manager), Tadeu (agent, admin); globex: Gustavo (manager, admin).
struct Console {
    app: TestApp,
    tokens: Vec<(&'static str, String)>,
}

async fn spawn_console() -> Console {
    let app = TestApp::spawn().await;
    for slug in ["acme", "globex"] {
        disca_testkit::crm::add_tenant(&app.store, slug, &format!("{slug} Ltda")).await;
    }
    let mut tokens = Vec::new();
    for (key, tenant, name, ext, role, admin) in [
        (
            "marta",
            "acme",
            "Marta Gestora",
            "1009",
            Role::Manager,
            true,
        ),
        ("ana", "acme", "Ana Souza", "1001", Role::Agent, false),
        ("gil", "acme", "Gil Gerente", "1008", Role::Manager, false),
        ("tadeu", "acme", "Tadeu TI", "1007", Role::Agent, true),
        ("gustavo", "globex", "Gustavo", "2009", Role::Manager, true),
    ] {
        let email = format!("{key}@{tenant}.com.br");
        let (_, token) = Someone {
            tenant,
            name,
            email: &email,
            extension: ext,
            role,
            phone: PhoneKind::Desk,
            admin,
        }
        .add(&app.store)
        .await;
        tokens.push((key, token));
    }
    Console { app, tokens }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

impl Console {
    fn token(&self, key: &str) -> &str {
        &self.tokens.iter().find(|(k, _)| *k == key).unwrap().1
    }

    async fn login(&self, key: &str) -> (StatusCode, Value, Option<String>) {
        let r = self
            .app
            .http
            .post(self.app.url("/manager/login"))
            .header(CSRF.0, CSRF.1)
            .json(&json!({"token": self.token(key)}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let cookie = r
            .headers()
            .get(SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        (status, r.json().await.unwrap_or(Value::Null), cookie)
    }

    async fn session(&self, key: &str) -> String {
        let (status, body, cookie) = self.login(key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        cookie.unwrap()
    }

    async fn get(&self, cookie: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .app
            .http
            .get(self.app.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn send(
        &self,
        cookie: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .app
            .http
            .request(method, self.app.url(path))
            .header(COOKIE, cookie)
            .header(CSRF.0, CSRF.1);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn put_dialing(&self, cookie: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            cookie,
            reqwest::Method::PUT,
            "/manager/admin/api/dialing",
            Some(body),
        )
        .await
    }

    async fn post(&self, cookie: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(cookie, reqwest::Method::POST, path, Some(body))
            .await
    }

    async fn patch(&self, cookie: &str, id: &str, body: Value) -> (StatusCode, Value) {
        let path = format!("/manager/admin/api/people/{id}");
        self.send(cookie, reqwest::Method::PATCH, &path, Some(body))
            .await
    }

    async fn import(&self, cookie: &str, csv: &str) -> (StatusCode, Value) {
        let r = self
            .app
            .http
            .post(self.app.url("/manager/admin/api/people/import"))
            .header(COOKIE, cookie)
            .header(CSRF.0, CSRF.1)
            .header("content-type", "text/csv")
            .body(csv.to_owned())
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// The tenant's people as the console lists them, by e-mail.
    async fn people(&self, cookie: &str, q: &str) -> Vec<Value> {
        let (status, body) = self
            .get(cookie, &format!("/manager/admin/api/people?q={q}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["people"].as_array().unwrap().clone()
    }

    async fn person(&self, cookie: &str, email: &str) -> Value {
        self.people(cookie, "")
            .await
            .into_iter()
            .find(|p| p["email"] == email)
            .unwrap_or_else(|| panic!("{email} is not listed"))
    }

    async fn audit(&self, cookie: &str) -> Vec<Value> {
        let (status, body) = self.get(cookie, "/manager/admin/api/audit").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["entries"].as_array().unwrap().clone()
    }
}

#[tokio::test]
async fn only_the_tenants_admins_may_use_the_console() {
    let c = spawn_console().await;
    // Nobody signed in.
    let (status, body) = c.get("", "/manager/admin/api/people").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&body), "session_required");
    // A salesperson who is not an admin cannot even log in.
    let (status, body, _) = c.login("ana").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "not_a_manager");
    // A manager who is not an admin sees the team's calls, not the console.
    let gil = c.session("gil").await;
    let (status, body) = c.get(&gil, "/manager/admin/api/people").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(code(&body), "admins_only");
    let (status, _) = c
        .post(
            &gil,
            "/manager/admin/api/people",
            json!({"name": "X", "email": "x@acme.com.br"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(c.get(&gil, "/manager/api/session").await.0, StatusCode::OK);
    // A salesperson who is an admin: the console, and not the team's calls.
    let (status, body, cookie) = c.login("tadeu").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["next"], "/manager/admin");
    let tadeu = cookie.unwrap();
    assert_eq!(
        c.get(&tadeu, "/manager/admin/api/people").await.0,
        StatusCode::OK
    );
    let (status, body) = c.get(&tadeu, "/manager/api/calls").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A manager who is an admin: both, and the manager page says so.
    let marta = c.session("marta").await;
    let (_, info) = c.get(&marta, "/manager/api/session").await;
    assert_eq!(info["admin"], true);
    let (status, info) = c.get(&marta, "/manager/admin/api/session").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["tenant"]["slug"], "acme");
    assert_eq!(info["admin"]["manager"], true);
    assert_eq!(info["mail"], false);
}

#[tokio::test]
async fn an_admin_invites_changes_disables_and_signs_out_people() {
    let c = spawn_console().await;
    let marta = c.session("marta").await;
    // Invite: no SMTP here, so the console gets the link to send.
    let (status, invited) = c
        .post(
            &marta,
            "/manager/admin/api/people",
            json!({"name": "Bruno Lima", "email": " Bruno@Acme.com.br ", "role": "agent", "phone": "desk"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    let bruno = &invited["person"];
    assert_eq!(bruno["email"], "bruno@acme.com.br");
    assert_eq!(bruno["extension"], "1010", "the next free extension");
    assert_eq!(bruno["endpoint"], "acme-1010");
    assert_eq!(bruno["status"], "invited");
    assert_eq!(invited["link"]["mailed"], false);
    let url = invited["link"]["url"].as_str().unwrap();
    assert!(url.starts_with(&c.app.url("/account/password#")), "{url}");
    let id = bruno["id"].as_str().unwrap().to_owned();
    // The same e-mail or extension again: a clear conflict.
    let (status, body) = c
        .post(
            &marta,
            "/manager/admin/api/people",
            json!({"name": "B", "email": "bruno@acme.com.br"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(code(&body), "already_exists");
    let (status, _) = c
        .post(
            &marta,
            "/manager/admin/api/people",
            json!({"name": "C", "email": "c@acme.com.br", "extension": "1001"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = c
        .post(
            &marta,
            "/manager/admin/api/people",
            json!({"name": "D", "email": "não-é-email"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&body), "malformed_request");
    // Search by part of a name, e-mail or extension.
    let found = c.people(&marta, "LIMA").await;
    assert_eq!(found.len(), 1);
    assert_eq!(c.people(&marta, "1010").await.len(), 1);
    assert_eq!(
        c.people(&marta, "%").await.len(),
        0,
        "a % is taken literally"
    );
    // Role, admin, phone, extension, RD Station user.
    let (status, changed) = c
        .patch(
            &marta,
            &id,
            json!({"role": "manager", "admin": true, "phone": "browser", "extension": "1020", "crm_user_id": "rd-bruno"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    let p = &changed["person"];
    assert_eq!(p["role"], "manager");
    assert_eq!(p["admin"], true);
    assert_eq!(p["phone"], "browser");
    assert_eq!(p["endpoint"], "acme-1020");
    assert_eq!(p["crm_user_id"], "rd-bruno");
    assert!(
        changed["warning"].as_str().unwrap().contains("[phones]"),
        "no browser phones on this server: {changed}"
    );
    let (status, body) = c.patch(&marta, &id, json!({"extension": "1001"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = c.patch(&marta, &id, json!({"role": "boss"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, cleared) = c.patch(&marta, &id, json!({"crm_user_id": ""})).await;
    assert_eq!(cleared["person"]["crm_user_id"], Value::Null);
    // Links: a new invitation (not yet used), then — once a password is
    // set — only a reset.
    let (status, link) = c
        .post(
            &marta,
            &format!("/manager/admin/api/people/{id}/invitation"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{link}");
    assert_ne!(link["url"], invited["link"]["url"]);
    let (status, link) = c
        .post(
            &marta,
            &format!("/manager/admin/api/people/{id}/password-reset"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{link}");
    // Ana's API token works until Marta disables her; her devices and
    // sessions end, and she cannot log in any more.
    let ana = c.person(&marta, "ana@acme.com.br").await;
    let ana_id = ana["id"].as_str().unwrap();
    let me = |token: String| {
        let http = c.app.http.clone();
        let url = c.app.url("/v1/me");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(me(c.token("ana").to_owned()).await, StatusCode::OK);
    let device = issue_token();
    c.app
        .store
        .add_token(
            ana_id,
            disca_backend::storage::TokenKind::Device,
            "notebook",
            &device.hash,
        )
        .await
        .unwrap();
    assert_eq!(c.person(&marta, "ana@acme.com.br").await["devices"], 1);
    let (status, out) = c
        .post(
            &marta,
            &format!("/manager/admin/api/people/{ana_id}/sign-out"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(out["computers"], 1);
    assert_eq!(
        me(device.secret).await,
        StatusCode::UNAUTHORIZED,
        "signed out at once"
    );
    let (status, body) = c.patch(&marta, ana_id, json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["person"]["status"], "disabled");
    assert_eq!(
        me(c.token("ana").to_owned()).await,
        StatusCode::UNAUTHORIZED
    );
    let (_, body) = c.patch(&marta, ana_id, json!({"disabled": false})).await;
    assert_eq!(body["person"]["status"], "active");
    assert_eq!(me(c.token("ana").to_owned()).await, StatusCode::OK);
    // Demoting Gil ends his manager session at once.
    let gil = c.session("gil").await;
    let gil_id = c.person(&marta, "gil@acme.com.br").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.patch(&marta, &gil_id, json!({"role": "agent"})).await;
    assert_eq!(
        c.get(&gil, "/manager/api/calls").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Marta cannot lock herself out.
    let marta_id = c.person(&marta, "marta@acme.com.br").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for patch in [json!({"disabled": true}), json!({"admin": false})] {
        let (status, body) = c.patch(&marta, &marta_id, patch).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    }
    // Every change is in the log, newest first, with who made it.
    let audit = c.audit(&marta).await;
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "Pessoa alterada",
            "Pessoa alterada",
            "Pessoa alterada",
            "Computadores desconectados",
            "Link de nova senha enviado",
            "Convite enviado de novo",
            "Pessoa alterada",
            "Pessoa alterada",
            "Pessoa convidada",
        ]
    );
    assert!(
        audit
            .iter()
            .all(|e| e["actor"] == "Marta Gestora <marta@acme.com.br>")
    );
    assert_eq!(audit[0]["detail"], "Papel: Gestor → Vendedor");
    assert_eq!(audit[1]["detail"], "Reativado");
    assert_eq!(audit[2]["detail"], "Desativado");
    assert_eq!(
        audit[7]["detail"],
        "Papel: Vendedor → Gestor; Administrador: não → sim; Telefone: Telefone de mesa → Navegador; Ramal: 1010 → 1020; Usuário RD Station: nenhum → rd-bruno"
    );
    // The CSV.
    let r = c
        .app
        .http
        .get(c.app.url("/manager/admin/audit.csv"))
        .header(COOKIE, &marta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csv = r.text().await.unwrap();
    assert!(
        csv.starts_with("\u{feff}Data e hora;Quem;Ação;Sobre;O que mudou"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 1 + audit.len());
}

#[tokio::test]
async fn an_admin_of_one_tenant_can_do_nothing_to_another() {
    let c = spawn_console().await;
    let marta = c.session("marta").await;
    let gustavo = c.session("gustavo").await;
    let ana_id = c.person(&marta, "ana@acme.com.br").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        c.people(&gustavo, "")
            .await
            .iter()
            .all(|p| p["email"] != "ana@acme.com.br")
    );
    let (status, body) = c.patch(&gustavo, &ana_id, json!({"disabled": true})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(code(&body), "not_found");
    for action in ["invitation", "password-reset", "sign-out"] {
        let (status, _) = c
            .post(
                &gustavo,
                &format!("/manager/admin/api/people/{ana_id}/{action}"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
    }
    assert_eq!(
        c.person(&marta, "ana@acme.com.br").await["status"],
        "active"
    );
    let (_, policy) = c
        .send(
            &gustavo,
            reqwest::Method::PUT,
            "/manager/admin/api/policy",
            Some(
                json!({"allow_fixed": false, "allow_mobile": false, "allow_toll_free": false,
                "allow_premium": false, "allow_collect": false, "allow_international": false}),
            ),
        )
        .await;
    assert_eq!(policy["policy"]["allow_mobile"], false);
    let (_, acme) = c.get(&marta, "/manager/admin/api/policy").await;
    assert_eq!(
        acme["policy"]["allow_mobile"], true,
        "globex's policy is its own"
    );
    assert!(c.audit(&marta).await.is_empty());
    assert_eq!(c.audit(&gustavo).await.len(), 1);
}

#[tokio::test]
async fn changes_without_the_pages_header_are_refused() {
    let c = spawn_console().await;
    let marta = c.session("marta").await;
    let r = c
        .app
        .http
        .post(c.app.url("/manager/admin/api/people"))
        .header(COOKIE, &marta)
        .json(&json!({"name": "X", "email": "x@acme.com.br"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&r.json().await.unwrap()), "cross_site_request");
    assert_eq!(c.people(&marta, "x@").await.len(), 0);
}

#[tokio::test]
async fn a_csv_import_adds_everyone_or_nobody() {
    let c = spawn_console().await;
    let marta = c.session("marta").await;
    let before = c.people(&marta, "").await.len();
    // Problems on several lines: every one reported, nobody added.
    let (status, body) = c
        .import(
            &marta,
            "nome;email;ramal;papel\n\
             Carla;carla@acme.com.br;;vendedora\n\
             Davi;ana@acme.com.br;;\n\
             Elisa;elisa@acme.com.br;1001;\n\
             Fábio;fabio@acme;;\n",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(code(&body), "import_rejected");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Linha 5:"), "{message}");
    assert_eq!(c.people(&marta, "").await.len(), before, "nobody was added");
    let (status, body) = c
        .import(
            &marta,
            "nome;email;ramal;papel\n\
             Carla;carla@acme.com.br;;vendedora\n\
             Davi;ana@acme.com.br;;\n\
             Elisa;elisa@acme.com.br;1001;\n",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Linha 3: ana@acme.com.br já está"),
        "{message}"
    );
    assert!(message.contains("Linha 4: o ramal 1001"), "{message}");
    assert_eq!(c.people(&marta, "").await.len(), before);
    // A good file (commas, a spreadsheet's byte order mark): everyone, with
    // free extensions, and their invitation links.
    let (status, body) = c
        .import(
            &marta,
            "\u{feff}Nome,E-mail,Telefone,Admin,usuario_rd\n\
             Carla Dias,carla@acme.com.br,navegador,não,rd-carla\n\
             Davi Reis,davi@acme.com.br,mesa,,\n",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["imported"], 2);
    let people = body["people"].as_array().unwrap();
    assert_eq!(people[0]["person"]["extension"], "1010");
    assert_eq!(people[1]["person"]["extension"], "1011");
    assert_eq!(people[0]["person"]["crm_user_id"], "rd-carla");
    assert_eq!(people[1]["person"]["phone"], "desk");
    assert!(people.iter().all(|p| p["link"]["url"].is_string()));
    assert_eq!(c.people(&marta, "").await.len(), before + 2);
    let audit = c.audit(&marta).await;
    assert_eq!(audit.len(), 2);
    assert!(
        audit
            .iter()
            .all(|e| e["action"] == "Pessoas importadas (CSV)")
    );
}

#[tokio::test]
async fn the_next_click_follows_the_destination_policy() {
    let c = spawn_console().await;
    let marta = c.session("marta").await;
    let click = || {
        let http = c.app.http.clone();
        let url = c.app.url("/v1/calls");
        let token = c.token("ana").to_owned();
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"to": "(11) 98765-4321"}))
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    // Allowed: it gets as far as the PBX (there is none here).
    let (status, body) = click().await;
    assert_ne!(code(&body), "destination_not_allowed", "{status} {body}");
    let (_, policy) = c.get(&marta, "/manager/admin/api/policy").await;
    assert_eq!(policy["destinations"].as_array().unwrap().len(), 6);
    let mut new = policy["policy"].clone();
    new["allow_mobile"] = json!(false);
    let (status, body) = c
        .send(
            &marta,
            reqwest::Method::PUT,
            "/manager/admin/api/policy",
            Some(new),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = click().await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "destination_not_allowed");
    assert_eq!(
        body["error"]["message"],
        "Ligações para celulares não estão liberadas para a sua empresa."
    );
    let audit = c.audit(&marta).await;
    assert_eq!(audit[0]["detail"], "Celulares: bloqueados");
    // A body that is not the whole policy changes nothing.
    let (status, _) = c
        .send(
            &marta,
            reqwest::Method::PUT,
            "/manager/admin/api/policy",
            Some(json!({"allow_mobile": true})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn telephony_is_checked_kept_per_tenant_and_written_for_the_pbx() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("directory.sqlite3");
    let app = TestApp::builder().phone_directory(&path).start().await;
    let mut c = Console {
        app,
        tokens: Vec::new(),
    };
    for slug in ["acme", "globex"] {
        disca_testkit::crm::add_tenant(&c.app.store, slug, slug).await;
    }
    for (key, tenant, ext) in [("marta", "acme", "1009"), ("gustavo", "globex", "2009")] {
        let (_, token) = Someone {
            tenant,
            name: key,
            email: &format!("{key}@{tenant}.com.br"),
            extension: ext,
            role: Role::Manager,
            phone: PhoneKind::Desk,
            admin: true,
        }
        .add(&c.app.store)
        .await;
        c.tokens.push((key, token));
    }
    let marta = c.session("marta").await;
    let gustavo = c.session("gustavo").await;
    let (status, view) = c.get(&marta, "/manager/admin/api/dialing").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["configured"], false);
    assert_eq!(view["directory"], true);
    let good = json!({
        "trunk_host": "sip.operadora.com.br", "trunk_port": 5060, "number_format": "national",
        "national_prefix": "0", "caller_id": "+55 11 3000-0000", "lead_ring_secs": 30,
        "area_caller_ids": [{"area": "21", "number": "+552130000000"}],
    });
    // What the dialplan would refuse never gets in.
    for (field, value) in [
        ("trunk_host", json!("sip.op.com;transport=tcp")),
        ("trunk_port", json!(0)),
        ("number_format", json!("local")),
        ("national_prefix", json!("0,1")),
        ("caller_id", json!("1130000000")),
        ("lead_ring_secs", json!(500)),
        (
            "area_caller_ids",
            json!([{"area": "1a", "number": "+552130000000"}]),
        ),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let (status, answer) = c.put_dialing(&marta, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {answer}");
    }
    // A caller ID for another tenant's person: not found.
    let gustavo_id = c.person(&gustavo, "gustavo@globex.com.br").await["id"].clone();
    let mut body = good.clone();
    body["user_caller_ids"] = json!([{"user_id": gustavo_id, "number": "+551130000001"}]);
    let (status, _) = c.put_dialing(&marta, body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        c.get(&marta, "/manager/admin/api/dialing").await.1["configured"],
        false
    );

    let (status, saved) = c.put_dialing(&marta, good.clone()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["dialing"]["caller_id"], "+551130000000");
    let directory = disca_backend::phones::Directory::open(&path).await.unwrap();
    let (trunk, allow, caller_id) = directory.tenant_row("acme").await.unwrap().unwrap();
    assert_eq!(trunk, "acme-trunk");
    assert_eq!(caller_id, "+551130000000");
    assert_eq!(allow, disca_backend::domain::dial_rule(&Default::default()));
    assert!(directory.tenant_row("globex").await.unwrap().is_none());
    // Another company cannot send its calls to acme's carrier account.
    let mut same_carrier = good.clone();
    same_carrier["trunk_port"] = json!(5080);
    let (status, body) = c.put_dialing(&gustavo, same_carrier).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(directory.tenant_row("globex").await.unwrap().is_none());
    assert_eq!(
        c.get(&gustavo, "/manager/admin/api/dialing").await.1["configured"],
        false
    );
    // The policy's rule follows a policy change.
    c.send(
        &marta,
        reqwest::Method::PUT,
        "/manager/admin/api/policy",
        Some(
            json!({"allow_fixed": true, "allow_mobile": false, "allow_toll_free": true,
            "allow_premium": false, "allow_collect": false, "allow_international": true}),
        ),
    )
    .await;
    let (_, allow, _) = directory.tenant_row("acme").await.unwrap().unwrap();
    assert!(allow.contains("[1-46-9]"), "international allowed: {allow}");
    assert!(!allow.contains("9[0-9]{8}"), "mobiles barred: {allow}");
    let audit = c.audit(&marta).await;
    assert_eq!(audit[1]["action"], "Telefonia alterada");
    assert!(c.audit(&gustavo).await.is_empty());
}

/// The least telephony the console takes: a trunk known by its address.
fn ip_trunk() -> Value {
    json!({"trunk_host": "10.0.0.1", "trunk_port": 5060, "number_format": "e164",
        "caller_id": "+551130000000", "lead_ring_secs": 30})
}

#[tokio::test]
async fn telephony_needs_the_pbx_directory() {
    let c = spawn_console().await;
    let marta = c.session("marta").await;
    let (status, body) = c.put_dialing(&marta, ip_trunk()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("directory_db")
    );
}

/// A tenant the operator moved to another PBX: the console names it and
/// says whether it is up, its telephony is that PBX's (not set here), the
/// change is in the audit log, and the next click goes to that PBX (none
/// here: 503).
#[tokio::test]
async fn a_tenant_on_another_pbx_sees_it_and_sets_no_telephony_here() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("directory.sqlite3");
    let app = TestApp::builder().phone_directory(&path).start().await;
    let mut c = Console {
        app,
        tokens: Vec::new(),
    };
    for slug in ["acme", "globex"] {
        disca_testkit::crm::add_tenant(&c.app.store, slug, slug).await;
    }
    for (key, tenant, ext, phone) in [
        ("marta", "acme", "1009", PhoneKind::Desk),
        ("ana", "acme", "1001", PhoneKind::Browser),
        ("gustavo", "globex", "2009", PhoneKind::Desk),
    ] {
        let (_, token) = Someone {
            tenant,
            name: key,
            email: &format!("{key}@{tenant}.com.br"),
            extension: ext,
            role: Role::Manager,
            phone,
            admin: true,
        }
        .add(&c.app.store)
        .await;
        c.tokens.push((key, token));
    }
    let marta = c.session("marta").await;
    let (_, view) = c.get(&marta, "/manager/admin/api/dialing").await;
    assert_eq!(view["pbx"], "default");
    assert_eq!(view["directory"], true);
    let phone_of_ana = |c: &Console| {
        let r = c
            .app
            .http
            .get(c.app.url("/v1/phone"))
            .bearer_auth(c.token("ana"))
            .send();
        async move { r.await.unwrap().status() }
    };
    assert_eq!(phone_of_ana(&c).await, StatusCode::OK);

    // Globex's telephony is set in the console: globex stays on the
    // default PBX, whose directory holds it.
    let gustavo = c.session("gustavo").await;
    let (status, body) = c.put_dialing(&gustavo, ip_trunk()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let campinas: disca_backend::domain::PbxName = "campinas".parse().unwrap();
    let refused = c
        .app
        .store
        .set_tenant_pbx(
            "globex",
            &campinas,
            false,
            &disca_backend::storage::Actor::cli(),
        )
        .await;
    assert!(
        matches!(
            refused,
            Err(disca_backend::storage::StoreError::Conflict(_))
        ),
        "{refused:?}"
    );
    assert!(c.app.store.tenant("globex").await.unwrap().pbx.is_default());

    let before = c
        .app
        .store
        .set_tenant_pbx(
            "acme",
            &campinas,
            false,
            &disca_backend::storage::Actor::cli(),
        )
        .await
        .unwrap();
    assert!(before.is_default());
    assert_eq!(
        c.app.store.tenant("acme").await.unwrap().pbx.as_str(),
        "campinas"
    );
    let (status, view) = c.get(&marta, "/manager/admin/api/dialing").await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["pbx"], "campinas", "{view}");
    assert_eq!(view["pbx_connected"], false, "{view}");
    assert_eq!(view["directory"], false, "{view}");
    let (status, body) = c.put_dialing(&marta, ip_trunk()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("campinas"),
        "{body}"
    );
    let audit = c.audit(&marta).await;
    assert_eq!(audit[0]["detail"], "Central telefônica: default → campinas");
    // Setting it again changes nothing, and records nothing.
    c.app
        .store
        .set_tenant_pbx(
            "acme",
            &campinas,
            false,
            &disca_backend::storage::Actor::cli(),
        )
        .await
        .unwrap();
    assert_eq!(c.audit(&marta).await.len(), audit.len());
    // Its phones are that PBX's business: no browser phone from here (once
    // the backend has seen the change, within its revocation poll).
    let moved = std::time::Instant::now();
    while phone_of_ana(&c).await != StatusCode::CONFLICT {
        assert!(
            moved.elapsed() < std::time::Duration::from_secs(5),
            "the move was not seen"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (_, session) = c.get(&marta, "/manager/admin/api/session").await;
    assert_eq!(session["phone_directory"], false, "{session}");
    let r = c
        .app
        .http
        .post(c.app.url("/v1/calls"))
        .bearer_auth(c.token("marta"))
        .json(&json!({"to": "(11) 98765-4321"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(code(&body), "pbx_unavailable");
}

/// Ana's v1 instance token and RD Station user in the stand-in's seed.
const ANA_RD_TOKEN: &str = "a3f9c2e17b4d48e6a0c5d2f1";
const ANA_AT_RD: &str = "64b7f0c2a1e4d30000000a01";
const BRUNO_AT_RD: &str = "64b7f0c2a1e4d30000000a02";

#[tokio::test]
async fn rd_station_is_connected_from_the_console_with_a_token_or_by_oauth() {
    let standin = rdstation_standin::StandIn::start(rdstation_standin::Config::default())
        .await
        .unwrap();
    let (v1, v2, token_url, authorize) = (
        standin.v1_base(),
        standin.v2_base(),
        standin.oauth_token_url(),
        standin.oauth_authorize_url(),
    );
    let app = TestApp::builder()
        .configure(move |s| {
            s.crm.v1_url = v1;
            s.crm.v2_url = v2;
            s.crm.token_url = token_url;
            s.crm.authorize_url = authorize;
        })
        .start()
        .await;
    disca_testkit::crm::add_tenant(&app.store, "paulista", "Paulista").await;
    let mut c = Console {
        app,
        tokens: Vec::new(),
    };
    for (key, email, ext, admin) in [
        ("marta", "marta@paulista.example.com.br", "1009", true),
        ("ana", "ana.souza@paulista.example.com.br", "1001", false),
        (
            "bruno",
            "Bruno.Oliveira@paulista.example.com.br",
            "1002",
            false,
        ),
        ("davi", "davi@paulista.example.com.br", "1003", false),
    ] {
        let (_, token) = Someone {
            tenant: "paulista",
            name: key,
            email: &email.to_lowercase(),
            extension: ext,
            role: if admin { Role::Manager } else { Role::Agent },
            phone: PhoneKind::Desk,
            admin,
        }
        .add(&c.app.store)
        .await;
        c.tokens.push((key, token));
    }
    let marta = c.session("marta").await;
    let (status, rd) = c.get(&marta, "/manager/admin/api/rdstation").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rd["connected"], false);
    assert_eq!(rd["without_rd_user"].as_array().unwrap().len(), 4);
    assert_eq!(
        rd["redirect_uri"],
        c.app.url("/manager/admin/rdstation/callback")
    );

    // API v1: a wrong token is refused, checked with RD Station first.
    let (status, body) = c
        .post(
            &marta,
            "/manager/admin/api/rdstation/v1",
            json!({"token": "0000000000000000deadbeef"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(code(&body), "crm_connection_failed");
    assert_eq!(
        c.get(&marta, "/manager/admin/api/rdstation").await.1["connected"],
        false
    );
    let (status, owner) = c
        .post(
            &marta,
            "/manager/admin/api/rdstation/v1",
            json!({"token": ANA_RD_TOKEN}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{owner}");
    assert_eq!(owner["name"], "Ana Souza");
    // Salespeople matched by e-mail through RD Station's users.
    let (status, matched) = c
        .post(
            &marta,
            "/manager/admin/api/rdstation/match-users",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{matched}");
    let ids: Vec<&str> = matched["matched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["crm_user_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ANA_AT_RD, BRUNO_AT_RD]);
    assert_eq!(matched["missing"].as_array().unwrap().len(), 2, "{matched}");
    assert_eq!(
        c.person(&marta, "ana.souza@paulista.example.com.br").await["crm_user_id"],
        ANA_AT_RD
    );
    let (_, rd) = c.get(&marta, "/manager/admin/api/rdstation").await;
    assert_eq!(rd["api"], "v1");
    assert_eq!(rd["without_rd_user"].as_array().unwrap().len(), 2);

    // API v2 by OAuth2: RD Station's authorization page, back to the
    // callback with a code and the state.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize_as_ana = |client_secret: &'static str| {
        let c = &c;
        let marta = marta.clone();
        let browser = browser.clone();
        async move {
            let (status, start) = c
                .post(
                    &marta,
                    "/manager/admin/api/rdstation/v2",
                    json!({"client_id": "disca-local", "client_secret": client_secret}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{start}");
            let url = start["authorize_url"].as_str().unwrap().to_owned();
            assert!(
                url.contains("/oauth2/authorize?response_type=code&client_id=disca-local"),
                "{url}"
            );
            let consent = browser
                .get(format!("{url}&user_id={ANA_AT_RD}"))
                .send()
                .await
                .unwrap();
            assert_eq!(consent.status(), StatusCode::FOUND);
            consent.headers()["location"].to_str().unwrap().to_owned()
        }
    };
    // A wrong client secret: RD Station refuses the code; nothing changes.
    let back = authorize_as_ana("not-the-secret").await;
    let page = browser.get(&back).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_GATEWAY);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Não foi possível conectar")
    );
    assert_eq!(
        c.get(&marta, "/manager/admin/api/rdstation").await.1["api"],
        "v1"
    );
    let back = authorize_as_ana("disca-local-secret").await;
    assert!(
        back.starts_with(&c.app.url("/manager/admin/rdstation/callback?code=")),
        "{back}"
    );
    let page = browser.get(&back).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("RD Station conectado"));
    assert_eq!(
        c.get(&marta, "/manager/admin/api/rdstation").await.1["api"],
        "v2"
    );
    // The state works once.
    let replay = browser.get(&back).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.unwrap().contains("não vale mais"));
    let forged = browser
        .get(c.app.url(&format!(
            "/manager/admin/rdstation/callback?code=x&state={}",
            "ab".repeat(32)
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    // v2 writes notes as whoever authorized: no matching by e-mail.
    let (status, _) = c
        .post(
            &marta,
            "/manager/admin/api/rdstation/match-users",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let audit = c.audit(&marta).await;
    let actions: Vec<&str> = audit
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "RD Station conectado",
            "Usuários do RD Station associados",
            "Usuários do RD Station associados",
            "RD Station conectado",
        ]
    );
    assert!(
        audit
            .iter()
            .all(|e| e["actor"] == "marta <marta@paulista.example.com.br>")
    );
}

/// A WAV file: `seconds` of a 440 Hz tone at `rate`, `channels` channels.
fn wav(rate: u32, channels: u16, seconds: f64) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut out, spec).unwrap();
    for n in 0..(f64::from(rate) * seconds) as u32 {
        let v = (f64::from(n) / f64::from(rate) * 440.0 * std::f64::consts::TAU).sin() * 8000.0;
        for _ in 0..channels {
            writer.write_sample(v as i16).unwrap();
        }
    }
    writer.finalize().unwrap();
    out.into_inner()
}

#[tokio::test]
async fn recording_rules_and_the_announcement_reach_the_pbx() {
    let dir = tempfile::tempdir().unwrap();
    let (directory_path, prompts) = (
        dir.path().join("directory.sqlite3"),
        dir.path().join("prompts"),
    );
    let prompts_for_app = prompts.clone();
    let app = TestApp::builder()
        .phone_directory(&directory_path)
        .configure(move |s| {
            s.recordings.prompts_dir = Some(prompts_for_app);
            s.recordings.pbx_prompts_dir = Some("/var/lib/asterisk/disca-prompts".into());
        })
        .start()
        .await;
    disca_testkit::crm::add_tenant(&app.store, "acme", "Acme").await;
    let (_, token) = Someone {
        tenant: "acme",
        name: "Marta",
        email: "marta@acme.com.br",
        extension: "1009",
        role: Role::Manager,
        phone: PhoneKind::Desk,
        admin: true,
    }
    .add(&app.store)
    .await;
    let c = Console {
        app,
        tokens: vec![("marta", token)],
    };
    let marta = c.session("marta").await;
    let (_, rules) = c.get(&marta, "/manager/admin/api/recording").await;
    assert_eq!(rules["enabled"], true);
    assert_eq!(rules["retention_days"], Value::Null);
    assert_eq!(rules["announcements_available"], true);
    let put = |body: Value| {
        c.send(
            &marta,
            reqwest::Method::PUT,
            "/manager/admin/api/recording",
            Some(body),
        )
    };
    assert_eq!(
        put(json!({"enabled": true, "retention_days": 0})).await.0,
        StatusCode::BAD_REQUEST
    );
    let (status, rules) = put(json!({"enabled": false, "retention_days": 90})).await;
    assert_eq!(status, StatusCode::OK, "{rules}");
    let directory = disca_backend::phones::Directory::open(&directory_path)
        .await
        .unwrap();
    assert_eq!(
        directory.recording_row("acme").await.unwrap(),
        Some(("no".to_owned(), String::new()))
    );
    let upload = |body: Vec<u8>| {
        c.app
            .http
            .post(c.app.url("/manager/admin/api/recording/announcement"))
            .header(COOKIE, &marta)
            .header(CSRF.0, CSRF.1)
            .body(body)
            .send()
    };
    let r = upload(b"not a wav".to_vec()).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = upload(wav(44_100, 2, 1.5)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stored = hound::WavReader::open(prompts.join("acme-aviso.wav")).unwrap();
    assert_eq!(stored.spec().sample_rate, 8000);
    assert_eq!(stored.spec().channels, 1);
    assert_eq!(stored.duration(), 12_000);
    put(json!({"enabled": true, "retention_days": 90})).await;
    assert_eq!(
        directory.recording_row("acme").await.unwrap(),
        Some((
            "yes".to_owned(),
            "/var/lib/asterisk/disca-prompts/acme-aviso".to_owned()
        ))
    );
    let (status, _) = c
        .send(
            &marta,
            reqwest::Method::DELETE,
            "/manager/admin/api/recording/announcement",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        directory.recording_row("acme").await.unwrap(),
        Some(("yes".to_owned(), String::new()))
    );
    let details: Vec<String> = c
        .audit(&marta)
        .await
        .iter()
        .map(|e| e["detail"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        details,
        [
            "Aviso de gravação removido",
            "Gravação ligada; guarda: 90 dias",
            "Aviso de gravação enviado",
            "Gravação desligada; guarda: 90 dias",
        ]
    );
}

#[tokio::test]
async fn an_admin_cannot_take_what_belongs_to_another_company() {
    let c = spawn_console().await;
    let marta = c.session("marta").await;
    // Gustavo's e-mail is globex's: inviting it here would take his account.
    let (status, body) = c
        .post(
            &marta,
            "/manager/admin/api/people",
            json!({"name": "G", "email": "gustavo@globex.com.br"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "email_taken");
    let (status, body) = c
        .import(&marta, "nome;email\nG;gustavo@globex.com.br\n")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // "trunk" is the name of the tenant's carrier on the PBX.
    let (status, _) = c
        .post(
            &marta,
            "/manager/admin/api/people",
            json!({"name": "T", "email": "t@acme.com.br", "extension": "trunk"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A huge extension typed by someone does not stall the next invitation.
    let ana = c.person(&marta, "ana@acme.com.br").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = c
        .patch(&marta, &ana, json!({"extension": "9999999999999999"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, invited) = c
        .post(
            &marta,
            "/manager/admin/api/people",
            json!({"name": "Bia", "email": "bia@acme.com.br"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    assert_eq!(invited["person"]["extension"], "1010");
}

#[tokio::test]
async fn a_desk_phone_is_written_for_the_pbx_and_its_credentials_shown_to_an_admin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("directory.sqlite3");
    let app = TestApp::builder()
        .phone_directory(&path)
        .configure(|s| s.phones.desk_server = Some("pbx.acme.com.br".into()))
        .start()
        .await;
    let mut c = Console {
        app,
        tokens: Vec::new(),
    };
    for slug in ["acme", "globex"] {
        disca_testkit::crm::add_tenant(&c.app.store, slug, slug).await;
    }
    for (key, tenant, ext, admin) in [
        ("marta", "acme", "1009", true),
        ("gil", "acme", "1008", false),
        ("gustavo", "globex", "2009", true),
    ] {
        let (_, token) = Someone {
            tenant,
            name: key,
            email: &format!("{key}@{tenant}.com.br"),
            extension: ext,
            role: Role::Manager,
            phone: PhoneKind::Browser,
            admin,
        }
        .add(&c.app.store)
        .await;
        c.tokens.push((key, token));
    }
    let marta = c.session("marta").await;
    let directory = disca_backend::phones::Directory::open(&path).await.unwrap();
    use disca_backend::phones::directory::Line;

    // Invited with a browser phone: written for the PBX as one.
    let (status, invited) = c
        .post(
            &marta,
            "/manager/admin/api/people",
            json!({"name": "Ana Souza", "email": "ana@acme.com.br", "extension": "1001", "phone": "browser"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    let ana = invited["person"]["id"].as_str().unwrap().to_owned();
    let browser = directory
        .password("acme-1001", Line::Browser)
        .await
        .unwrap()
        .expect("the browser phone is in the directory");
    let credentials = format!("/manager/admin/api/people/{ana}/desk-phone");
    let (status, body) = c.post(&marta, &credentials, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "not_a_desk_phone");

    // Moved to a desk phone: the same endpoint, now on UDP, with a
    // password nobody has seen yet.
    let (status, body) = c.patch(&marta, &ana, json!({"phone": "desk"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["warning"].is_null(), "{body}");
    assert_eq!(
        directory
            .password("acme-1001", Line::Browser)
            .await
            .unwrap(),
        None
    );
    let unseen = directory
        .password("acme-1001", Line::DeskUdp)
        .await
        .unwrap()
        .expect("the desk phone is in the directory");
    assert_ne!(unseen, browser);

    // Only the tenant's admins, and never another company's person.
    let gil = c.session("gil").await;
    let (status, body) = c.post(&gil, &credentials, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(code(&body), "admins_only");
    let gustavo = c.session("gustavo").await;
    let (status, _) = c.post(&gustavo, &credentials, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        directory
            .password("acme-1001", Line::DeskUdp)
            .await
            .unwrap()
            .as_ref(),
        Some(&unseen),
        "refused requests change nothing"
    );

    let r = c
        .app
        .http
        .post(c.app.url(&credentials))
        .header(COOKIE, &marta)
        .header(CSRF.0, CSRF.1)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let shown: Value = r.json().await.unwrap();
    assert_eq!(shown["server"], "pbx.acme.com.br");
    assert_eq!(shown["transport"], "udp");
    assert_eq!(shown["username"], "acme-1001");
    assert_eq!(shown["srtp"], false);
    let password = shown["password"].as_str().unwrap();
    assert_eq!(
        directory
            .password("acme-1001", Line::DeskUdp)
            .await
            .unwrap()
            .unwrap()
            .expose(),
        password,
        "what the admin types into the phone is what Asterisk checks"
    );
    let (_, again) = c.post(&marta, &credentials, json!({})).await;
    assert_ne!(again["password"], shown["password"], "a new one each time");

    let audit = c.audit(&marta).await;
    assert_eq!(audit[0]["action"], "Nova senha do telefone de mesa");
    assert_eq!(audit[0]["target"], "ana@acme.com.br");
    assert!(
        audit.iter().all(|e| !e.to_string().contains(password)),
        "no password in the audit log"
    );
    assert!(c.audit(&gustavo).await.is_empty());

    // Disabled: the desk phone's password changes (its registration drops).
    c.patch(&marta, &ana, json!({"disabled": true})).await;
    let after = directory
        .password("acme-1001", Line::DeskUdp)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(after.expose(), again["password"].as_str().unwrap());
    // A disabled person's phone stays cut off.
    let (status, body) = c.post(&marta, &credentials, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(code(&body), "account_disabled");
}

#[tokio::test]
async fn a_registration_trunk_keeps_its_password_sealed_and_may_share_a_carrier() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("directory.sqlite3");
    let app = TestApp::builder().phone_directory(&path).start().await;
    let mut c = Console {
        app,
        tokens: Vec::new(),
    };
    for slug in ["acme", "globex", "initech"] {
        disca_testkit::crm::add_tenant(&c.app.store, slug, slug).await;
    }
    for (key, tenant, ext) in [
        ("marta", "acme", "1009"),
        ("gustavo", "globex", "2009"),
        ("ines", "initech", "3009"),
    ] {
        let (_, token) = Someone {
            tenant,
            name: key,
            email: &format!("{key}@{tenant}.com.br"),
            extension: ext,
            role: Role::Manager,
            phone: PhoneKind::Desk,
            admin: true,
        }
        .add(&c.app.store)
        .await;
        c.tokens.push((key, token));
    }
    let registration = |user: &str, password: Option<&str>| {
        let mut body = json!({
            "trunk_mode": "registration", "trunk_username": user,
            "trunk_host": "sip.operadora.com.br", "trunk_port": 5060, "number_format": "e164",
            "caller_id": "+551130000000", "lead_ring_secs": 30,
        });
        if let Some(password) = password {
            body["trunk_password"] = json!(password);
        }
        body
    };
    let marta = c.session("marta").await;
    // What neither SIP nor the directory could carry never gets in, and a
    // first registration needs its password.
    for (body, what) in [
        (registration("conta com espaço", Some("s3nha")), "user"),
        (
            registration("1130000000", Some("senha com espaço")),
            "password",
        ),
        (registration("1130000000", None), "no password"),
        (
            json!({"trunk_mode": "sip-magic", "trunk_host": "sip.operadora.com.br",
                   "trunk_port": 5060, "number_format": "e164",
                   "caller_id": "+551130000000", "lead_ring_secs": 30}),
            "mode",
        ),
    ] {
        let (status, answer) = c.put_dialing(&marta, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
    }
    let (status, saved) = c
        .put_dialing(&marta, registration("1130000000", Some("S3nh@!")))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["dialing"]["trunk_mode"], "registration");
    assert_eq!(saved["dialing"]["trunk_username"], "1130000000");
    assert!(saved["dialing"].get("trunk_password").is_none(), "{saved}");
    let (_, shown) = c.get(&marta, "/manager/admin/api/dialing").await;
    assert!(!shown.to_string().contains("S3nh@!"), "{shown}");
    assert!(shown["registration"].is_string(), "{shown}");
    // Sealed in the database; in clear only where Asterisk reads it.
    let stored = c.app.stored_bytes().await;
    assert!(
        !stored.windows(6).any(|w| w == b"S3nh@!"),
        "the password is sealed in the backend's database"
    );
    let database = c.app.database().await;
    let sealed: Vec<u8> =
        sqlx::query_scalar("SELECT trunk_password FROM tenant_dialing WHERE tenant = 'acme'")
            .fetch_one(&database)
            .await
            .unwrap();
    assert!(sealed.len() > 6, "sealed: nonce, ciphertext and tag");
    let directory = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let password: String =
        sqlx::query_scalar("SELECT password FROM ps_auths WHERE id = 'acme-trunk'")
            .fetch_one(&directory)
            .await
            .unwrap();
    assert_eq!(password, "S3nh@!");
    // Saved again without a password: the stored one stays.
    let (status, _) = c
        .put_dialing(&marta, registration("1130000001", None))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (user, password): (String, String) =
        sqlx::query_as("SELECT username, password FROM ps_auths WHERE id = 'acme-trunk'")
            .fetch_one(&directory)
            .await
            .unwrap();
    assert_eq!((user.as_str(), password.as_str()), ("1130000001", "S3nh@!"));
    // Never sent to another address without being typed again.
    let mut elsewhere = registration("1130000001", None);
    elsewhere["trunk_host"] = json!("sip.outro-lugar.com.br");
    let (status, body) = c.put_dialing(&marta, elsewhere).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Another company with its own account at the same carrier: fine.
    let gustavo = c.session("gustavo").await;
    let (status, body) = c
        .put_dialing(&gustavo, registration("2130000000", Some("outra")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // One known by its address there: it would be billed for the others.
    let ines = c.session("ines").await;
    let mut by_address = registration("x", None);
    by_address["trunk_mode"] = json!("ip");
    let (status, body) = c.put_dialing(&ines, by_address).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Back to the address: the registration and its password go.
    let mut ip = registration("x", None);
    ip["trunk_mode"] = json!("ip");
    let (status, body) = c.put_dialing(&marta, ip).await;
    // globex still registers there, and acme now would be known by the
    // carrier's address: refused.
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = c
        .put_dialing(&gustavo, {
            let mut b = registration("x", None);
            b["trunk_mode"] = json!("ip");
            b["trunk_host"] = json!("sip.outra-operadora.com.br");
            b
        })
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut ip = registration("x", None);
    ip["trunk_mode"] = json!("ip");
    let (status, body) = c.put_dialing(&marta, ip).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ps_auths WHERE id IN ('acme-trunk', 'globex-trunk')",
    )
    .fetch_one(&directory)
    .await
    .unwrap();
    assert_eq!(left, 0);
    let audit = c.audit(&marta).await;
    assert!(
        audit[0]["detail"]
            .as_str()
            .unwrap()
            .contains("autenticada pelo endereço"),
        "{audit:?}"
    );
    assert!(!format!("{audit:?}").contains("S3nh@!"));
}

/// The outcomes salespeople choose after a call: the built-in list until
/// the company sets its own; renamed, added, removed (retired: its id
/// never comes back), audited, per tenant, and what the salespeople get.
#[tokio::test]
async fn the_outcome_list_is_the_company_s_own() {
    let c = spawn_console().await;
    let marta = c.session("marta").await;
    let dispositions = |token: String| {
        let http = c.app.http.clone();
        let url = c.app.url("/v1/dispositions");
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let body: Value = r.json().await.unwrap();
            body["dispositions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["label"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let (status, list) = c.get(&marta, "/manager/admin/api/dispositions").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<&str> = list["dispositions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["interessado", "retornar", "sem_interesse", "numero_errado"]
    );
    // "Retornar" renamed, "Número errado" removed, a new one added.
    let wanted = json!({ "dispositions": [
        { "id": "interessado", "label": "Interessado" },
        { "id": "retornar", "label": "Pediu retorno" },
        { "id": "sem_interesse", "label": "Sem interesse" },
        { "label": "Agendou reunião" },
    ]});
    let (status, body) = c
        .send(
            &marta,
            reqwest::Method::PUT,
            "/manager/admin/api/dispositions",
            Some(wanted),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["dispositions"][1]["id"], "retornar");
    assert!(
        body["dispositions"][3]["id"]
            .as_str()
            .unwrap()
            .starts_with("d-")
    );
    assert_eq!(
        dispositions(c.token("ana").to_owned()).await,
        [
            "Interessado",
            "Pediu retorno",
            "Sem interesse",
            "Agendou reunião"
        ]
    );
    let audit = c.audit(&marta).await;
    assert_eq!(audit[0]["action"], "Resultados de ligação alterados");
    assert!(
        audit[0]["detail"]
            .as_str()
            .unwrap()
            .ends_with("→ Interessado, Pediu retorno, Sem interesse, Agendou reunião"),
        "{}",
        audit[0]["detail"]
    );
    // A retired id cannot come back by name: it is a new outcome.
    let (_, body) = c
        .send(
            &marta,
            reqwest::Method::PUT,
            "/manager/admin/api/dispositions",
            Some(json!({ "dispositions": [{ "id": "numero_errado", "label": "Número errado" }] })),
        )
        .await;
    assert_ne!(body["dispositions"][0]["id"], "numero_errado", "{body}");

    // Another tenant keeps the built-in list, and cannot read this one.
    let gustavo = c.session("gustavo").await;
    let (_, theirs) = c.get(&gustavo, "/manager/admin/api/dispositions").await;
    assert_eq!(theirs["dispositions"].as_array().unwrap().len(), 4);

    // Refused: empty, too many, a blank or long name, two alike; not an admin.
    for bad in [
        json!({ "dispositions": [] }),
        json!({ "dispositions": (0..13).map(|i| json!({ "label": format!("R{i}") })).collect::<Vec<_>>() }),
        json!({ "dispositions": [{ "label": "  " }] }),
        json!({ "dispositions": [{ "label": "x".repeat(41) }] }),
        json!({ "dispositions": [{ "label": "Sim" }, { "label": "sim" }] }),
    ] {
        let (status, body) = c
            .send(
                &marta,
                reqwest::Method::PUT,
                "/manager/admin/api/dispositions",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let gil = c.session("gil").await;
    let (status, _) = c.get(&gil, "/manager/admin/api/dispositions").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Every after-call route keeps to its tenant: another tenant's people get
/// their own outcome list, and another tenant's call is not found.
#[tokio::test]
async fn after_call_routes_keep_to_their_tenant() {
    let c = spawn_console().await;
    let marta = c.session("marta").await;
    let (status, _) = c
        .send(
            &marta,
            reqwest::Method::PUT,
            "/manager/admin/api/dispositions",
            Some(json!({ "dispositions": [{ "label": "Só da Acme" }] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ana = c
        .app
        .store
        .user_by_token_hash(&disca_backend::auth::hash_token(c.token("ana")))
        .await
        .unwrap();
    let call = disca_testkit::crm::end_call(
        &c.app.store,
        &ana,
        "+5511987654321",
        Some("64b7f0c2a1e4d30000000d01"),
        disca_backend::domain::Outcome::NoAnswer,
    )
    .await;
    let as_gustavo = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = c
            .app
            .http
            .request(method, c.app.url(&path))
            .bearer_auth(c.token("gustavo"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, list) = as_gustavo(reqwest::Method::GET, "/v1/dispositions".into(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["dispositions"].as_array().unwrap().len(), 4, "{list}");
    let (status, body) = as_gustavo(
        reqwest::Method::PUT,
        format!("/v1/calls/{}/report", call.id),
        Some(json!({ "note": "não é meu" })),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = as_gustavo(
        reqwest::Method::GET,
        format!("/v1/calls/{}/other-phones", call.id),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(c.app.store.report(&call.id).await.unwrap().is_none());
}
