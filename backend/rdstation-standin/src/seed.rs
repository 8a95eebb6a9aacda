//! What the stand-in CRM holds when it starts: companies (RD Station
//! accounts) with their users and v1 instance tokens, pipeline stages,
//! contacts with phones, and deals; plus the OAuth2 applications allowed to
//! use API v2. Read from a JSON or TOML file by the binary, built as a value
//! by tests; [`Seed::demo`] is the default.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::is_object_id;

/// Everything seeded. Ids are RD Station's: 24 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    pub tenants: Vec<Tenant>,
    /// Applications that may obtain API v2 tokens (any tenant's users may
    /// authorize them).
    #[serde(default)]
    pub oauth_clients: Vec<OAuthClient>,
}

/// One RD Station CRM account: a company.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// The company's name: `organization` in `GET /token/check`.
    pub name: String,
    /// `false` for a plan without API access: every API call answers 403.
    #[serde(default = "yes")]
    pub api_access: bool,
    /// The sales pipeline's stages, in order.
    #[serde(default)]
    pub stages: Vec<Stage>,
    pub users: Vec<User>,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    #[serde(default)]
    pub deals: Vec<Deal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub id: String,
    pub name: String,
}

/// A CRM user (a salesperson or manager) and their v1 instance token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: String,
    /// The v1 instance token shown in the user's profile (a secret).
    pub token: String,
    /// Deactivated users' tokens are refused (401) and they cannot authorize apps.
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub visibility: Visibility,
    /// As `GET /users` shows it, e.g. `2024-05-10T09:12:00.000-03:00`.
    #[serde(default)]
    pub last_login: Option<String>,
}

/// What a user's token can see: every deal of the company, or only their own
/// (others answer 404, as in RD Station).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    #[default]
    All,
    Own,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub emails: Vec<String>,
    #[serde(default)]
    pub phones: Vec<Phone>,
}

/// `{"phone": "+5511971730783", "type": "work"}`; the number is kept as
/// written (RD Station does not normalise it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phone {
    pub phone: String,
    #[serde(rename = "type")]
    pub kind: PhoneType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneType {
    Home,
    Work,
    Fax,
    Cellphone,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deal {
    pub id: String,
    pub name: String,
    /// The deal's owner: a user of the same company.
    pub owner_id: String,
    /// One of the company's stages.
    pub stage_id: String,
    #[serde(default)]
    pub state: DealState,
    #[serde(default)]
    pub amount: f64,
    /// Contacts of the same company, first one first.
    #[serde(default)]
    pub contact_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DealState {
    #[default]
    Open,
    Won,
    Lost,
}

/// An OAuth2 application registered with RD Station.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthClient {
    pub client_id: String,
    /// A secret.
    pub client_secret: String,
    /// Accepted `redirect_uri`s, compared exactly. Empty accepts any
    /// `http(s)://` URI (a stand-in convenience for local demos).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

fn yes() -> bool {
    true
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("token", &"<redacted>")
            .field("active", &self.active)
            .field("hidden", &self.hidden)
            .field("visibility", &self.visibility)
            .field("last_login", &self.last_login)
            .finish()
    }
}

impl fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("redirect_uris", &self.redirect_uris)
            .finish()
    }
}

/// Why a seed cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid seed: {0}")]
pub struct SeedError(String);

impl Seed {
    /// Checks ids, uniqueness and references; [`crate::StandIn::start`] calls it.
    pub fn validate(&self) -> Result<(), SeedError> {
        let fail = |message: String| Err(SeedError(message));
        if self.tenants.is_empty() {
            return fail("at least one tenant is needed".into());
        }
        let mut ids = HashSet::new();
        let mut emails = HashSet::new();
        let mut tokens = HashSet::new();
        let mut unique_id = |kind: &str, id: &str| {
            if !is_object_id(id) {
                return fail(format!(
                    "{kind} id {id:?} is not 24 lowercase hex characters"
                ));
            }
            if !ids.insert(id.to_owned()) {
                return fail(format!("id {id} is used twice"));
            }
            Ok(())
        };
        for tenant in &self.tenants {
            let t = &tenant.name;
            if t.trim().is_empty() {
                return fail("a tenant has no name".into());
            }
            if tenant.users.is_empty() {
                return fail(format!("tenant {t:?} has no users"));
            }
            for stage in &tenant.stages {
                unique_id("stage", &stage.id)?;
                if stage.name.trim().is_empty() {
                    return fail(format!("stage {} of {t:?} has no name", stage.id));
                }
            }
            for user in &tenant.users {
                unique_id("user", &user.id)?;
                if user.name.trim().is_empty() {
                    return fail(format!("user {} of {t:?} has no name", user.id));
                }
                if !user.email.contains('@') || !emails.insert(user.email.to_lowercase()) {
                    return fail(format!(
                        "user {} of {t:?}: e-mail {:?} is invalid or used twice",
                        user.id, user.email
                    ));
                }
                let token_ok = user.token.len() >= 8
                    && !user
                        .token
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control());
                if !token_ok || !tokens.insert(user.token.clone()) {
                    return fail(format!(
                        "user {} of {t:?}: the token must have 8 or more printable characters \
                         without spaces and be unique",
                        user.id
                    ));
                }
            }
            for contact in &tenant.contacts {
                unique_id("contact", &contact.id)?;
                if contact.name.trim().is_empty() {
                    return fail(format!("contact {} of {t:?} has no name", contact.id));
                }
                for phone in &contact.phones {
                    if phone.phone.chars().filter(char::is_ascii_digit).count() < 8 {
                        return fail(format!(
                            "contact {}: {:?} is not a phone number",
                            contact.id, phone.phone
                        ));
                    }
                }
            }
            for deal in &tenant.deals {
                unique_id("deal", &deal.id)?;
                let d = &deal.id;
                if deal.name.trim().is_empty() {
                    return fail(format!("deal {d} has no name"));
                }
                if !tenant.users.iter().any(|u| u.id == deal.owner_id) {
                    return fail(format!(
                        "deal {d}: owner {} is not a user of {t:?}",
                        deal.owner_id
                    ));
                }
                if !tenant.stages.iter().any(|s| s.id == deal.stage_id) {
                    return fail(format!(
                        "deal {d}: stage {} is not a stage of {t:?}",
                        deal.stage_id
                    ));
                }
                if !deal.amount.is_finite() || deal.amount < 0.0 {
                    return fail(format!("deal {d}: the amount must be a positive number"));
                }
                for contact_id in &deal.contact_ids {
                    if !tenant.contacts.iter().any(|c| &c.id == contact_id) {
                        return fail(format!(
                            "deal {d}: contact {contact_id} is not a contact of {t:?}"
                        ));
                    }
                }
            }
        }
        let mut client_ids = HashSet::new();
        for client in &self.oauth_clients {
            if client.client_id.trim().is_empty() || !client_ids.insert(&client.client_id) {
                return fail(format!(
                    "OAuth client id {:?} is empty or used twice",
                    client.client_id
                ));
            }
            if client.client_secret.trim().is_empty() {
                return fail(format!("OAuth client {:?} has no secret", client.client_id));
            }
            if let Some(uri) = client
                .redirect_uris
                .iter()
                .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
            {
                return fail(format!(
                    "OAuth client {:?}: redirect URI {uri:?} is not http(s)",
                    client.client_id
                ));
            }
        }
        Ok(())
    }

    /// A small São Paulo sales team and a few customers, for demos and tests:
    ///
    /// - **Paulista Soluções Comerciais Ltda**: Ana Souza (manager, sees every
    ///   deal), Bruno Oliveira (sees only his own deals), Carla Mendes
    ///   (deactivated); five contacts and six deals, open, won and lost.
    /// - **Recife Tech Serviços Ltda**: Eduardo Santos, one contact, one deal.
    /// - **Floripa Comércio ME**: Fernanda Rocha, on a plan without API access.
    /// - The OAuth2 application `disca-local` / `disca-local-secret`, any
    ///   redirect URI.
    pub fn demo() -> Seed {
        let stage = |id: &str, name: &str| Stage {
            id: id.into(),
            name: name.into(),
        };
        let user = |id: &str, name: &str, email: &str, token: &str| User {
            id: id.into(),
            name: name.into(),
            email: email.into(),
            token: token.into(),
            active: true,
            hidden: false,
            visibility: Visibility::All,
            last_login: Some("2024-05-10T08:57:12.000-03:00".into()),
        };
        let phone = |phone: &str, kind: PhoneType| Phone {
            phone: phone.into(),
            kind,
        };
        let contact =
            |id: &str, name: &str, title: Option<&str>, email: &str, phones: Vec<Phone>| Contact {
                id: id.into(),
                name: name.into(),
                title: title.map(Into::into),
                emails: vec![email.into()],
                phones,
            };
        let deal = |id: &str,
                    name: &str,
                    owner: &str,
                    stage: &str,
                    state: DealState,
                    amount: f64,
                    contacts: &[&str]| Deal {
            id: id.into(),
            name: name.into(),
            owner_id: owner.into(),
            stage_id: stage.into(),
            state,
            amount,
            contact_ids: contacts.iter().map(|&c| c.into()).collect(),
        };
        use DealState::{Lost, Open, Won};
        use PhoneType::{Cellphone, Fax, Home, Work};

        let pipeline = |prefix: &str| {
            [
                "Sem contato",
                "Contato feito",
                "Identificação do interesse",
                "Apresentação",
                "Proposta enviada",
            ]
            .iter()
            .enumerate()
            .map(|(i, name)| stage(&format!("{prefix}{:02}", i + 1), name))
            .collect::<Vec<_>>()
        };

        let ana = "64b7f0c2a1e4d30000000a01";
        let bruno = "64b7f0c2a1e4d30000000a02";
        let paulista = Tenant {
            name: "Paulista Soluções Comerciais Ltda".into(),
            api_access: true,
            stages: pipeline("64b7f0c2a1e4d300000051"),
            users: vec![
                user(
                    ana,
                    "Ana Souza",
                    "ana.souza@paulista.example.com.br",
                    "a3f9c2e17b4d48e6a0c5d2f1",
                ),
                User {
                    visibility: Visibility::Own,
                    ..user(
                        bruno,
                        "Bruno Oliveira",
                        "bruno.oliveira@paulista.example.com.br",
                        "b7e2d4c19a3f45b8e1c6a0d3",
                    )
                },
                User {
                    active: false,
                    hidden: true,
                    last_login: None,
                    ..user(
                        "64b7f0c2a1e4d30000000a03",
                        "Carla Mendes",
                        "carla.mendes@paulista.example.com.br",
                        "c4a1f8e26d3b47c9b2e5f0a7",
                    )
                },
            ],
            contacts: vec![
                contact(
                    "64b7f0c2a1e4d30000000c01",
                    "Mariana Costa",
                    Some("Diretora Comercial"),
                    "mariana.costa@construtoraaurora.example.com.br",
                    vec![phone("+5511971730783", Work)],
                ),
                contact(
                    "64b7f0c2a1e4d30000000c02",
                    "Rafael Lima",
                    Some("Gerente de Compras"),
                    "rafael.lima@mercadoboavista.example.com.br",
                    vec![phone("+55 21 98765-4321", Cellphone)],
                ),
                contact(
                    "64b7f0c2a1e4d30000000c03",
                    "Juliana Pereira",
                    None,
                    "juliana@padariasaojorge.example.com.br",
                    vec![
                        phone("(11) 3456-7890", Work),
                        phone("+5511988887777", Cellphone),
                    ],
                ),
                contact(
                    "64b7f0c2a1e4d30000000c04",
                    "Thiago Almeida",
                    Some("Sócio"),
                    "thiago.almeida@almeidaadvogados.example.adv.br",
                    vec![
                        phone("+55 31 3222-1100", Work),
                        phone("+55 31 3222-1101", Fax),
                    ],
                ),
                // The two contacts and the deal of the demo deal page
                // (`tests/fixtures/rdstation/deal.html`).
                contact(
                    "64a1b2c3d4e5f6a7b8c9d0e1",
                    "Maria da Silva",
                    Some("Diretora de compras"),
                    "maria.silva@horizonte.example.com.br",
                    vec![phone("(11) 98765-4321", Cellphone)],
                ),
                contact(
                    "64a1b2c3d4e5f6a7b8c9d0e2",
                    "João Pereira",
                    None,
                    "joao.pereira@horizonte.example.com.br",
                    vec![phone("+55 21 99876-5432", Cellphone)],
                ),
                contact(
                    "64b7f0c2a1e4d30000000c05",
                    "Beatriz Fernandes",
                    Some("Administradora"),
                    "beatriz.f@clinicavidaplena.example.com.br",
                    vec![
                        phone("+55 41 99123-4567", Cellphone),
                        phone("+55 41 3333-2222", Home),
                    ],
                ),
            ],
            deals: vec![
                deal(
                    "64b7f0c2a1e4d30000000d01",
                    "Construtora Aurora - 50 licenças",
                    ana,
                    "64b7f0c2a1e4d30000005105",
                    Open,
                    45_000.0,
                    &["64b7f0c2a1e4d30000000c01"],
                ),
                deal(
                    "64b7f0c2a1e4d30000000d02",
                    "Mercado Boa Vista - expansão",
                    bruno,
                    "64b7f0c2a1e4d30000005104",
                    Open,
                    12_000.0,
                    &["64b7f0c2a1e4d30000000c02"],
                ),
                deal(
                    "64b7f0c2a1e4d30000000d03",
                    "Padaria São Jorge - plano anual",
                    bruno,
                    "64b7f0c2a1e4d30000005105",
                    Won,
                    3_600.0,
                    &["64b7f0c2a1e4d30000000c03"],
                ),
                deal(
                    "64b7f0c2a1e4d30000000d04",
                    "Almeida Advogados - piloto",
                    ana,
                    "64b7f0c2a1e4d30000005103",
                    Lost,
                    8_000.0,
                    &["64b7f0c2a1e4d30000000c04"],
                ),
                deal(
                    "64b7f0c2a1e4d30000000d05",
                    "Clínica Vida Plena - implantação",
                    ana,
                    "64b7f0c2a1e4d30000005101",
                    Open,
                    15_000.0,
                    &["64b7f0c2a1e4d30000000c05"],
                ),
                deal(
                    "64b7f0c2a1e4d30000000d06",
                    "Construtora Aurora - treinamento",
                    bruno,
                    "64b7f0c2a1e4d30000005102",
                    Open,
                    4_500.0,
                    &["64b7f0c2a1e4d30000000c01"],
                ),
                deal(
                    "5f1e7a9b2c3d4e5f6a7b8c9d",
                    "Construtora Horizonte — Proposta 2026",
                    ana,
                    "64b7f0c2a1e4d30000005104",
                    Open,
                    1_250_000.0,
                    &["64a1b2c3d4e5f6a7b8c9d0e1", "64a1b2c3d4e5f6a7b8c9d0e2"],
                ),
            ],
        };
        let recife = Tenant {
            name: "Recife Tech Serviços Ltda".into(),
            api_access: true,
            stages: pipeline("64b7f0c2a1e4d300000052"),
            users: vec![user(
                "64b7f0c2a1e4d30000000a11",
                "Eduardo Santos",
                "eduardo.santos@recifetech.example.com.br",
                "e5d3b1a97c2f46e8d0b4a6c2",
            )],
            contacts: vec![contact(
                "64b7f0c2a1e4d30000000c11",
                "Luana Barbosa",
                Some("Coordenadora de TI"),
                "luana.barbosa@portocowork.example.com.br",
                vec![phone("+55 81 99876-5432", Cellphone)],
            )],
            deals: vec![deal(
                "64b7f0c2a1e4d30000000d11",
                "Porto Coworking - rede",
                "64b7f0c2a1e4d30000000a11",
                "64b7f0c2a1e4d30000005202",
                Open,
                22_000.0,
                &["64b7f0c2a1e4d30000000c11"],
            )],
        };
        let floripa = Tenant {
            name: "Floripa Comércio ME".into(),
            api_access: false,
            stages: Vec::new(),
            users: vec![user(
                "64b7f0c2a1e4d30000000a21",
                "Fernanda Rocha",
                "fernanda.rocha@floripacomercio.example.com.br",
                "f2c8e4a06b1d43f7a9e3c5b1",
            )],
            contacts: Vec::new(),
            deals: Vec::new(),
        };
        Seed {
            tenants: vec![paulista, recife, floripa],
            oauth_clients: vec![OAuthClient {
                client_id: "disca-local".into(),
                client_secret: "disca-local-secret".into(),
                redirect_uris: Vec::new(),
            }],
        }
    }
}

impl Default for Seed {
    fn default() -> Seed {
        Seed::demo()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_is_valid_and_survives_json_and_toml() {
        let demo = Seed::demo();
        demo.validate().unwrap();
        let json = serde_json::to_string(&demo).unwrap();
        assert_eq!(serde_json::from_str::<Seed>(&json).unwrap(), demo);
        let toml_text = toml::to_string(&demo).unwrap();
        assert_eq!(toml::from_str::<Seed>(&toml_text).unwrap(), demo);
    }

    #[test]
    fn broken_references_and_ids_are_refused() {
        let mut seed = Seed::demo();
        seed.tenants[0].deals[0].owner_id = "64b7f0c2a1e4d30000000a11".into();
        assert!(seed.validate().unwrap_err().to_string().contains("owner"));

        let mut seed = Seed::demo();
        seed.tenants[0].deals[0].id = "64B7F0C2A1E4D30000000D01".into();
        assert!(seed.validate().is_err());

        let mut seed = Seed::demo();
        seed.tenants[1].users[0].token = seed.tenants[0].users[0].token.clone();
        assert!(seed.validate().is_err());

        let mut seed = Seed::demo();
        seed.tenants[0].contacts[0].phones[0].phone = "ramal 12".into();
        assert!(seed.validate().is_err());
    }

    #[test]
    fn debug_output_hides_secrets() {
        let seed = Seed::demo();
        let text = format!("{seed:?}");
        assert!(!text.contains("a3f9c2e17b4d48e6a0c5d2f1"));
        assert!(!text.contains("disca-local-secret"));
        assert!(text.contains("<redacted>"));
    }

    #[test]
    fn a_minimal_file_uses_the_defaults() {
        let seed: Seed = toml::from_str(
            r#"
            [[tenants]]
            name = "Teste Ltda"
            [[tenants.users]]
            id = "0123456789abcdef01234567"
            name = "Ana"
            email = "ana@teste.example"
            token = "token-da-ana"
            "#,
        )
        .unwrap();
        seed.validate().unwrap();
        let tenant = &seed.tenants[0];
        assert!(tenant.api_access && tenant.users[0].active);
        assert_eq!(tenant.users[0].visibility, Visibility::All);
        assert!(seed.oauth_clients.is_empty());
    }
}
