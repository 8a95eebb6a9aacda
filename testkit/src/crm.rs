//! RD Station CRM in tests: the stand-in's demo seed as constants, a
//! backend's tenant connected to it (v1 or v2, through the same functions
//! as `disca-backend crm connect-…`), and calls ended the way the PBX
//! tracker ends them (`Store::save_calls` with the ended version).

use std::path::Path;
use std::time::Duration;

use disca_backend::auth::issue_token;
use disca_backend::configuration::{CrmSettings, default_secrets_key};
use disca_backend::crm::connect::{V2Grant, connect_v1, connect_v2};
use disca_backend::crm::{Secret, SecretKey};
use disca_backend::domain::{
    Call, CallContext, CallState, CrmUserId, E164Number, HangupCause, Outcome, Region, Role,
    Tenant, User,
};
use disca_backend::startup::crm_http_client;
use disca_backend::storage::{CreateCall, Created, NewUser, Store};

/// Demo seed (`backend/rdstation-standin/src/seed.rs`): users of Paulista
/// Soluções, Ana's instance token, deals, and contacts' phones.
pub const ANA: &str = "64b7f0c2a1e4d30000000a01";
pub const ANA_TOKEN: &str = "a3f9c2e17b4d48e6a0c5d2f1";
pub const BRUNO: &str = "64b7f0c2a1e4d30000000a02";
/// Ana's open deal with Mariana Costa.
pub const AURORA: &str = "64b7f0c2a1e4d30000000d01";
/// Bruno's open deal with Mariana Costa.
pub const AURORA_TRAINING: &str = "64b7f0c2a1e4d30000000d06";
/// Bruno's open deal with Rafael Lima.
pub const BOA_VISTA: &str = "64b7f0c2a1e4d30000000d02";
pub const MARIANA_PHONE: &str = "+5511971730783";
pub const RAFAEL_PHONE: &str = "+5521987654321";
/// Juliana Pereira: her only deal is won.
pub const JULIANA_PHONE: &str = "+5511988887777";
/// The stand-in's OAuth2 client.
pub const OAUTH_CLIENT: (&str, &str) = ("disca-local", "disca-local-secret");

/// Adds tenant `slug` (Brazil, default destination policy).
pub async fn add_tenant(store: &Store, slug: &str, name: &str) {
    let tenant = Tenant::in_brazil(slug.parse().unwrap(), name);
    store.add_tenant(&tenant).await.unwrap();
}

/// Adds `name` with extension `ext` (e-mail `<ext>@<tenant>.example.com`)
/// to `tenant`, writing CRM notes as `crm_user` if given; returns the user
/// and their API token.
pub async fn add_user(
    store: &Store,
    tenant: &str,
    (name, ext, role): (&str, &str, Role),
    crm_user: Option<&str>,
) -> (User, String) {
    let token = issue_token();
    let email = format!("{ext}@{tenant}.example.com");
    let user = store
        .add_user(NewUser {
            tenant,
            name,
            email: &email,
            extension: &ext.parse().unwrap(),
            role,
            token_hash: Some(&token.hash),
            phone: disca_backend::domain::PhoneKind::Desk,
        })
        .await
        .unwrap();
    if let Some(crm_user) = crm_user {
        let crm_user = CrmUserId::parse(crm_user).unwrap();
        store
            .set_crm_user(tenant, &email, Some(&crm_user))
            .await
            .unwrap();
    }
    (user, token.secret)
}

/// The secrets key `serve` uses for `data_dir`.
pub fn secrets_key(data_dir: &Path) -> SecretKey {
    SecretKey::load_or_create(&default_secrets_key(data_dir)).unwrap()
}

fn http() -> reqwest::Client {
    crm_http_client(&CrmSettings::default()).unwrap()
}

/// Connects `tenant` through API v1 at `v1_base` with an instance token.
pub async fn connect_tenant_v1(
    store: &Store,
    data_dir: &Path,
    tenant: &str,
    v1_base: &str,
    token: &str,
) {
    connect_v1(
        store,
        &secrets_key(data_dir),
        &http(),
        tenant,
        v1_base,
        Secret::new(token.into()),
    )
    .await
    .unwrap();
}

/// Connects `tenant` through API v2 with an authorization `code` issued
/// for the stand-in's client and `redirect_uri`.
pub async fn connect_tenant_v2(
    store: &Store,
    data_dir: &Path,
    tenant: &str,
    (v2_base, token_url): (&str, &str),
    code: &str,
    redirect_uri: &str,
) {
    let grant = V2Grant {
        base_url: v2_base,
        token_url,
        client_id: OAUTH_CLIENT.0,
        client_secret: Secret::new(OAUTH_CLIENT.1.into()),
        code,
        redirect_uri,
    };
    connect_v2(store, &secrets_key(data_dir), &http(), tenant, grant)
        .await
        .unwrap();
}

/// Records a new call by `user` to `to` (as written on a page), from a
/// page with `context`, as a click does.
pub async fn new_call(store: &Store, user: &User, to: &str, context: &CallContext) -> Call {
    let number = E164Number::parse(to, Region::BRAZIL).unwrap();
    let created = store
        .create_call(CreateCall {
            user,
            to: &number,
            context,
            idempotency: None,
        })
        .await
        .unwrap();
    match created {
        Created::New(call) => call,
        Created::Replayed(_) => panic!("a new call, not a replay"),
    }
}

/// Records a call by `user` to `to`, from a page with `deal` (if any).
pub async fn record_call(store: &Store, user: &User, to: &str, deal: Option<&str>) -> Call {
    let context = CallContext {
        deal_id: deal.map(str::to_owned),
        contact_name: Some("Mariana Costa".into()),
        ..CallContext::default()
    };
    new_call(store, user, to, &context).await
}

/// `call` as the tracker writes it when it ends with `outcome`: rang 7 s;
/// answered calls talked 65 s and have a recording.
pub fn ended(call: Call, outcome: Outcome) -> Call {
    let at = call.created_at;
    let answered = outcome == Outcome::Answered;
    Call {
        state: CallState::Ended,
        outcome: Some(outcome),
        agent_answered_at: Some(at + Duration::from_secs(3)),
        lead_dialed_at: Some(at + Duration::from_secs(3)),
        lead_answered_at: answered.then(|| at + Duration::from_secs(10)),
        ended_at: Some(at + Duration::from_secs(75)),
        ring_seconds: Some(7),
        talk_seconds: answered.then_some(65),
        durations_estimated: false,
        not_placed: false,
        hangup_cause: Some(HangupCause {
            code: if answered { 16 } else { 19 },
            text: "Normal Clearing".into(),
        }),
        recording_file: answered.then(|| format!("{}-{}.wav", call.tenant, call.id)),
        ..call
    }
}

/// Records a call and ends it with `outcome` in its own `save_calls`.
pub async fn end_call(
    store: &Store,
    user: &User,
    to: &str,
    deal: Option<&str>,
    outcome: Outcome,
) -> Call {
    let call = ended(record_call(store, user, to, deal).await, outcome);
    store.save_calls(std::slice::from_ref(&call)).await.unwrap();
    call
}
