//! Setting up a tenant's RD Station connection (the `disca-backend crm`
//! commands): the credentials are tried against RD Station first, then
//! sealed and stored.

use std::sync::Arc;

use anyhow::{Context, bail};

use super::client::{Api, CrmClient, TokenOwner};
use super::connections::{CLIENT_SECRET, V1_TOKEN};
use super::oauth::{REFRESH_TOKEN, request_tokens};
use super::rate_limit::RateLimiter;
use super::secrets::{Secret, SecretKey};
use crate::storage::{NewAccount, Store, StoreError};

pub const DEFAULT_V1_URL: &str = "https://crm.rdstation.com/api/v1";
pub const DEFAULT_V2_URL: &str = "https://api.rd.services/crm/v2";
pub const DEFAULT_TOKEN_URL: &str = "https://api.rd.services/oauth2/token";
/// Where an RD Station user authorizes an app (API v2).
pub const DEFAULT_AUTHORIZE_URL: &str = "https://api.rd.services/oauth2/authorize";

/// What connecting a tenant needs, for the admin console: the secrets key,
/// an HTTP client for RD Station and RD Station's addresses.
#[derive(Clone)]
pub struct Connector {
    pub key: SecretKey,
    pub http: reqwest::Client,
    pub settings: crate::configuration::CrmSettings,
}

/// API v1: checks the instance token with `GET /token/check`, then stores it.
pub async fn connect_v1(
    store: &Store,
    key: &SecretKey,
    http: &reqwest::Client,
    tenant: &str,
    base_url: &str,
    token: Secret,
) -> anyhow::Result<TokenOwner> {
    let base_url = checked_url(base_url)?;
    let probe = CrmClient::new(
        http.clone(),
        Arc::new(RateLimiter::new(1, std::time::Duration::from_secs(1))),
        Api::V1 {
            base: base_url.clone(),
            token: token.clone(),
        },
    );
    let owner = probe
        .token_owner()
        .await
        .context("RD Station did not accept the token")?;
    let sealed = key.seal(tenant, V1_TOKEN, &token);
    save(
        store,
        NewAccount {
            tenant,
            api: "v1",
            base_url: &base_url,
            token_url: None,
            client_id: None,
            secret: &sealed,
            refresh_token: None,
        },
    )
    .await?;
    Ok(owner)
}

/// What `connect_v2` needs from the OAuth2 authorization.
pub struct V2Grant<'a> {
    pub base_url: &'a str,
    pub token_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: Secret,
    pub code: &'a str,
    pub redirect_uri: &'a str,
}

/// API v2: exchanges the authorization code for tokens, then stores the
/// client secret and the refresh token.
pub async fn connect_v2(
    store: &Store,
    key: &SecretKey,
    http: &reqwest::Client,
    tenant: &str,
    grant: V2Grant<'_>,
) -> anyhow::Result<()> {
    let base_url = checked_url(grant.base_url)?;
    let token_url = checked_url(grant.token_url)?;
    let tokens = request_tokens(
        http,
        &token_url,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", grant.client_id),
            ("client_secret", grant.client_secret.expose()),
            ("code", grant.code),
            ("redirect_uri", grant.redirect_uri),
        ],
    )
    .await
    .context("RD Station did not accept the authorization code")?;
    let secret = key.seal(tenant, CLIENT_SECRET, &grant.client_secret);
    let refresh = key.seal(tenant, REFRESH_TOKEN, &Secret::new(tokens.refresh_token));
    save(
        store,
        NewAccount {
            tenant,
            api: "v2",
            base_url: &base_url,
            token_url: Some(&token_url),
            client_id: Some(grant.client_id),
            secret: &secret,
            refresh_token: Some(&refresh),
        },
    )
    .await
}

async fn save(store: &Store, account: NewAccount<'_>) -> anyhow::Result<()> {
    let tenant = account.tenant.to_owned();
    store.set_crm_account(account).await.map_err(|e| match e {
        StoreError::NotFound => anyhow::anyhow!("no tenant {tenant:?}"),
        other => other.into(),
    })
}

/// An http(s) URL without a trailing slash.
fn checked_url(url: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("{url:?} is not a URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") || parsed.query().is_some() {
        bail!("{url:?} must be an http(s) URL without a query");
    }
    Ok(url.trim_end_matches('/').to_owned())
}
