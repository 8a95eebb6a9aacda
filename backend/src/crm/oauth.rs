//! OAuth2 for API v2: the access token (2 hours) kept in memory, refreshed
//! when it is about to expire or was refused. RD Station answers every
//! refresh with a NEW refresh token and kills the old one, so the new one
//! is written to the database (sealed, compare-and-swap on the account's
//! generation) before the access token that came with it is used (if that
//! write fails, it is kept in memory and used for the next refresh, which
//! stores again); refreshes are serialized so two never race with the same
//! refresh token.

use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::CrmError;
use super::secrets::{Secret, SecretKey};
use crate::storage::Store;

/// An access token this close to its end is refreshed first.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// Longest access-token life believed (RD Station's is 2 hours).
const MAX_ACCESS_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// What `purpose` the refresh token is sealed under.
pub const REFRESH_TOKEN: &str = "refresh-token";

/// The token endpoint's answer.
#[derive(Deserialize)]
pub struct TokenAnswer {
    pub access_token: String,
    pub refresh_token: String,
    #[serde(default = "two_hours")]
    pub expires_in: u64,
}

fn two_hours() -> u64 {
    7200
}

pub struct OAuth {
    tenant: String,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    store: Store,
    key: SecretKey,
    access: Mutex<Option<Access>>,
    /// A refresh token RD Station issued that could not be stored yet (the
    /// database failed): the old one is dead, so this one is used for the
    /// next refresh and stored again meanwhile.
    unsaved: Mutex<Option<Secret>>,
}

/// How often a rotated refresh token that could not be stored is stored again.
const SAVE_RETRY: Duration = Duration::from_secs(5);

struct Access {
    token: Secret,
    expires_at: Instant,
}

impl OAuth {
    pub fn new(
        tenant: String,
        token_url: String,
        client_id: String,
        client_secret: Secret,
        store: Store,
        key: SecretKey,
    ) -> OAuth {
        OAuth {
            tenant,
            token_url,
            client_id,
            client_secret,
            store,
            key,
            access: Mutex::new(None),
            unsaved: Mutex::new(None),
        }
    }

    /// A live access token, refreshing first when needed.
    pub async fn access_token(&self, http: &reqwest::Client) -> Result<Secret, CrmError> {
        let mut access = self.access.lock().await;
        if let Some(a) = access.as_ref()
            && a.expires_at > Instant::now() + EXPIRY_MARGIN
        {
            return Ok(a.token.clone());
        }
        let fresh = self.refresh(http).await?;
        let token = fresh.token.clone();
        *access = Some(fresh);
        Ok(token)
    }

    /// Refreshes now, whatever the access token's age (keeps an idle
    /// authorization alive).
    pub async fn refresh_now(&self, http: &reqwest::Client) -> Result<(), CrmError> {
        let mut access = self.access.lock().await;
        *access = Some(self.refresh(http).await?);
        Ok(())
    }

    /// Drops `used` if it is still the current access token (RD Station
    /// refused it), so the next call refreshes.
    pub async fn forget(&self, used: &Secret) {
        let mut access = self.access.lock().await;
        if access.as_ref().is_some_and(|a| a.token == *used) {
            *access = None;
        }
    }

    async fn refresh(&self, http: &reqwest::Client) -> Result<Access, CrmError> {
        let account = self
            .store
            .crm_account(&self.tenant)
            .await
            .map_err(|e| CrmError::temporary(format!("banco de dados indisponível: {e}")))?
            .ok_or_else(|| reconnect("a conexão com o RD Station foi removida"))?;
        let mut unsaved = self.unsaved.lock().await;
        let refresh_token = match unsaved.as_ref() {
            Some(token) => token.clone(),
            None => {
                let sealed = account
                    .refresh_token
                    .ok_or_else(|| reconnect("não há refresh token guardado"))?;
                self.key
                    .open(&self.tenant, REFRESH_TOKEN, &sealed)
                    .map_err(|e| reconnect(&e.to_string()))?
            }
        };
        let answer = request_tokens(
            http,
            &self.token_url,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &self.client_id),
                ("client_secret", self.client_secret.expose()),
                ("refresh_token", refresh_token.expose()),
            ],
        )
        .await
        .map_err(|e| match e {
            CrmError::Permanent { message, .. } => reconnect(&message),
            other => other,
        })?;
        // RD Station has now killed `refresh_token`: the new one is the only
        // one, kept in memory until it is stored.
        let new_refresh = Secret::new(answer.refresh_token);
        *unsaved = Some(new_refresh.clone());
        let sealed = self.key.seal(&self.tenant, REFRESH_TOKEN, &new_refresh);
        match self
            .store
            .rotate_refresh_token(&self.tenant, account.generation, &sealed)
            .await
        {
            Ok(Some(_)) => {
                *unsaved = None;
                tracing::info!(tenant = %self.tenant, "RD Station refresh token rotated");
            }
            // The connection was replaced meanwhile (a new authorization):
            // the stored token is newer; this pair still works until it expires.
            Ok(None) => {
                *unsaved = None;
                tracing::warn!(tenant = %self.tenant, "RD Station connection replaced during a refresh");
            }
            Err(e) => {
                tracing::error!(tenant = %self.tenant, error = %e, "the rotated refresh token could not be saved yet");
                // Saved again and again until it is: another backend may be
                // the next to refresh this tenant, reading the database.
                let (store, tenant, generation) =
                    (self.store.clone(), self.tenant.clone(), account.generation);
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(SAVE_RETRY).await;
                        match store
                            .rotate_refresh_token(&tenant, generation, &sealed)
                            .await
                        {
                            Ok(_) => {
                                tracing::info!(%tenant, "the rotated refresh token is saved");
                                return;
                            }
                            Err(e) => {
                                tracing::warn!(%tenant, error = %e, "the rotated refresh token still cannot be saved")
                            }
                        }
                    }
                });
            }
        }
        Ok(Access {
            token: Secret::new(answer.access_token),
            expires_at: Instant::now()
                + Duration::from_secs(answer.expires_in).min(MAX_ACCESS_LIFETIME),
        })
    }
}

/// `POST` to the token endpoint, form-encoded (both grants).
pub async fn request_tokens(
    http: &reqwest::Client,
    token_url: &str,
    form: &[(&str, &str)],
) -> Result<TokenAnswer, CrmError> {
    let response = http
        .post(token_url)
        .form(form)
        .send()
        .await
        .map_err(CrmError::network)?;
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.bytes().await.map_err(CrmError::network)?;
    if !status.is_success() {
        return Err(CrmError::from_response(status, &headers, &body));
    }
    serde_json::from_slice(&body)
        .map_err(|_| CrmError::temporary("o RD Station respondeu à renovação do token sem tokens"))
}

fn reconnect(why: &str) -> CrmError {
    CrmError::Permanent {
        status: 401,
        message: format!(
            "autorização do RD Station inválida ({why}): conecte de novo com disca-backend crm connect-v2"
        ),
    }
}
