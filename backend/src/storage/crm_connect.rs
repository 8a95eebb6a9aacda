//! What the admin console's RD Station tab reads and writes besides the
//! connection itself (`crm.rs`): the pending "Conectar RD Station"
//! authorizations (`crm_connect_states`) and the latest delivery errors.

use sqlx::Row;
use time::OffsetDateTime;

use super::{Store, StoreError, from_millis, to_millis};

/// A pending authorization, taken back when RD Station returns.
#[derive(Debug, Clone)]
pub struct ConnectState {
    pub tenant: String,
    pub admin_id: String,
    pub client_id: String,
    /// Sealed with the CRM secrets key.
    pub client_secret: Vec<u8>,
}

/// A note RD Station refused or that is still being retried.
#[derive(Debug, Clone)]
pub struct DeliveryError {
    pub call_id: String,
    pub state: String,
    pub error: String,
    pub at: OffsetDateTime,
}

impl Store {
    /// Keeps a pending authorization (and forgets expired ones).
    pub async fn add_connect_state(
        &self,
        state_hash: &str,
        state: &ConnectState,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.writes.begin().await?;
        sqlx::query("DELETE FROM crm_connect_states WHERE expires_at < $1")
            .bind(to_millis(OffsetDateTime::now_utc()))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO crm_connect_states (state_hash, tenant, admin_id, client_id, client_secret, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(state_hash)
        .bind(&state.tenant)
        .bind(&state.admin_id)
        .bind(&state.client_id)
        .bind(&state.client_secret)
        .bind(to_millis(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Takes the pending authorization whose state hashes to `state_hash`,
    /// once, while it lasts.
    pub async fn take_connect_state(
        &self,
        state_hash: &str,
    ) -> Result<Option<ConnectState>, StoreError> {
        let mut tx = self.writes.begin().await?;
        let row = sqlx::query(
            "DELETE FROM crm_connect_states WHERE state_hash = $1
             RETURNING tenant, admin_id, client_id, client_secret, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let Some(row) = row else { return Ok(None) };
        if row.try_get::<i64, _>("expires_at")? < to_millis(OffsetDateTime::now_utc()) {
            return Ok(None);
        }
        Ok(Some(ConnectState {
            tenant: row.try_get("tenant")?,
            admin_id: row.try_get("admin_id")?,
            client_id: row.try_get("client_id")?,
            client_secret: row.try_get("client_secret")?,
        }))
    }

    /// The tenant's latest delivery errors (failed for good, or pending
    /// after a temporary failure), newest first.
    pub async fn crm_delivery_errors(
        &self,
        tenant: &str,
        limit: u32,
    ) -> Result<Vec<DeliveryError>, StoreError> {
        let rows = sqlx::query(
            "SELECT call_id, state, last_error, updated_at FROM crm_deliveries
             WHERE tenant = $1 AND last_error IS NOT NULL AND state IN ('failed', 'pending')
             ORDER BY updated_at DESC LIMIT $2",
        )
        .bind(tenant)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryError {
                    call_id: row.try_get("call_id")?,
                    state: row.try_get("state")?,
                    error: row.try_get("last_error")?,
                    at: from_millis(row.try_get("updated_at")?)?,
                })
            })
            .collect()
    }
}
