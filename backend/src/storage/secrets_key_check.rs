//! Which key seals the database's secrets (`secrets_key_check`): a known
//! value sealed by the first backend that met the database, kept so that
//! every later one can tell whether its key is the same
//! (`crm::SecretKey::check_against`).

use sqlx::Row;

use super::write::execute_one;
use super::{Store, StoreError};

/// A secret sealed in the database: its tenant, what it is, and the
/// sealed bytes.
pub struct SealedSecret {
    pub tenant: String,
    pub what: SealedWhat,
    pub sealed: Vec<u8>,
}

/// What a [`SealedSecret`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedWhat {
    /// An RD Station CRM API v1 token.
    CrmV1Token,
    /// An RD Station CRM API v2 client secret.
    CrmClientSecret,
    /// The password at the carrier of the tenant's trunk.
    TrunkPassword,
}

impl Store {
    /// The value the first key to meet this database sealed, if one did.
    pub async fn recorded_secrets_key_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT sealed FROM secrets_key_check WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Some secrets sealed before the key check was recorded (an RD
    /// Station token or client secret, a trunk password), a few of each
    /// kind.
    pub async fn sealed_secrets_sample(&self) -> Result<Vec<SealedSecret>, StoreError> {
        let mut sample = Vec::new();
        for row in
            sqlx::query("SELECT tenant, api, secret FROM crm_accounts ORDER BY tenant LIMIT 5")
                .fetch_all(&self.pool)
                .await?
        {
            let api: String = row.try_get("api")?;
            sample.push(SealedSecret {
                tenant: row.try_get("tenant")?,
                what: if api == "v1" {
                    SealedWhat::CrmV1Token
                } else {
                    SealedWhat::CrmClientSecret
                },
                sealed: row.try_get("secret")?,
            });
        }
        for row in sqlx::query(
            "SELECT tenant, trunk_password FROM tenant_dialing \
             WHERE trunk_password IS NOT NULL ORDER BY tenant LIMIT 5",
        )
        .fetch_all(&self.pool)
        .await?
        {
            sample.push(SealedSecret {
                tenant: row.try_get("tenant")?,
                what: SealedWhat::TrunkPassword,
                sealed: row.try_get("trunk_password")?,
            });
        }
        Ok(sample)
    }

    /// Records `sealed` as the key check whatever was recorded before
    /// (`disca-backend crm forget-secrets-key`: the key file is lost, the
    /// secrets are to be entered again).
    pub async fn replace_secrets_key_check(&self, sealed: &[u8]) -> Result<(), StoreError> {
        execute_one(
            &self.writes,
            sqlx::query(
                "INSERT INTO secrets_key_check (id, sealed) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
            )
            .bind(sealed.to_vec()),
        )
        .await?;
        Ok(())
    }

    /// The value sealed by the first key to meet this database: `sealed`
    /// if there was none (it is stored), else the one stored.
    pub async fn secrets_key_check(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
        execute_one(
            &self.writes,
            sqlx::query(
                "INSERT INTO secrets_key_check (id, sealed) VALUES (1, $1) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(sealed.to_vec()),
        )
        .await?;
        Ok(
            sqlx::query_scalar("SELECT sealed FROM secrets_key_check WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}
