//! Each tenant's RD Station connection as stored, turned into a ready
//! [`CrmClient`]: secrets opened, the OAuth2 state and the tenant's rate
//! limiter kept across deliveries. A connection replaced with
//! `disca-backend crm connect-…` is picked up at the next delivery.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::client::{Api, CrmClient};
use super::error::CrmError;
use super::oauth::OAuth;
use super::rate_limit::RateLimiter;
use super::secrets::SecretKey;
use crate::configuration::CrmSettings;
use crate::storage::{AccountRow, Store};

/// Added to RD Station's window: our clock starts a request's slot a little
/// before RD Station counts its arrival, and a request counted in a window
/// RD Station thinks full costs a 429 and a retry.
const WINDOW_MARGIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The purposes secrets are sealed under.
pub const V1_TOKEN: &str = "v1-token";
pub const CLIENT_SECRET: &str = "client-secret";

pub struct Connections {
    store: Store,
    key: SecretKey,
    http: reqwest::Client,
    settings: CrmSettings,
    /// Per tenant: what the client was built from, and the client.
    clients: Mutex<HashMap<String, (Fingerprint, Arc<CrmClient>)>>,
    /// Per tenant, for the life of the process (a new client keeps the count).
    limiters: Mutex<HashMap<String, Arc<RateLimiter>>>,
}

/// What identifies a stored connection apart from the rotating refresh token.
#[derive(PartialEq, Eq)]
struct Fingerprint {
    api: String,
    base_url: String,
    token_url: Option<String>,
    client_id: Option<String>,
    secret: Vec<u8>,
}

impl Connections {
    pub fn new(
        store: Store,
        key: SecretKey,
        http: reqwest::Client,
        settings: CrmSettings,
    ) -> Connections {
        Connections {
            store,
            key,
            http,
            settings,
            clients: Mutex::default(),
            limiters: Mutex::default(),
        }
    }

    /// The tenant's client; `Ok(None)` when the tenant has no connection.
    pub async fn client(&self, tenant: &str) -> Result<Option<Arc<CrmClient>>, CrmError> {
        let Some(row) = self
            .store
            .crm_account(tenant)
            .await
            .map_err(|e| CrmError::temporary(format!("banco de dados indisponível: {e}")))?
        else {
            return Ok(None);
        };
        let fingerprint = Fingerprint {
            api: row.api.clone(),
            base_url: row.base_url.clone(),
            token_url: row.token_url.clone(),
            client_id: row.client_id.clone(),
            secret: row.secret.clone(),
        };
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((known, client)) = clients.get(tenant)
            && *known == fingerprint
        {
            return Ok(Some(client.clone()));
        }
        let client = Arc::new(self.build(row)?);
        clients.insert(tenant.to_owned(), (fingerprint, client.clone()));
        Ok(Some(client))
    }

    /// Refreshes a v2 tenant's authorization now (see the worker's keep-alive).
    pub async fn refresh_authorization(&self, tenant: &str) -> Result<(), CrmError> {
        match self.client(tenant).await? {
            Some(client) => client.refresh_authorization(&self.http).await,
            None => Ok(()),
        }
    }

    fn build(&self, row: AccountRow) -> Result<CrmClient, CrmError> {
        let unreadable = |e: super::secrets::SecretError| CrmError::Permanent {
            status: 0,
            message: format!("segredo do RD Station ilegível ({e}): conecte de novo"),
        };
        let api = match row.api.as_str() {
            "v1" => Api::V1 {
                base: row.base_url,
                token: self
                    .key
                    .open(&row.tenant, V1_TOKEN, &row.secret)
                    .map_err(unreadable)?,
            },
            "v2" => {
                let (Some(token_url), Some(client_id)) = (row.token_url, row.client_id) else {
                    return Err(CrmError::Permanent {
                        status: 0,
                        message: "conexão v2 sem token_url ou client_id: conecte de novo".into(),
                    });
                };
                let client_secret = self
                    .key
                    .open(&row.tenant, CLIENT_SECRET, &row.secret)
                    .map_err(unreadable)?;
                Api::V2 {
                    base: row.base_url,
                    auth: Box::new(OAuth::new(
                        row.tenant.clone(),
                        token_url,
                        client_id,
                        client_secret,
                        self.store.clone(),
                        self.key.clone(),
                    )),
                }
            }
            other => {
                return Err(CrmError::Permanent {
                    status: 0,
                    message: format!("API do RD Station desconhecida: {other:?}"),
                });
            }
        };
        Ok(CrmClient::new(
            self.http.clone(),
            self.limiter(&row.tenant),
            api,
        ))
    }

    fn limiter(&self, tenant: &str) -> Arc<RateLimiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        limiters
            .entry(tenant.to_owned())
            .or_insert_with(|| {
                Arc::new(RateLimiter::new(
                    self.settings.requests_per_window,
                    self.settings.rate_window + WINDOW_MARGIN,
                ))
            })
            .clone()
    }
}
