//! Which key seals the database's secrets (`secrets_key_check`): a known
//! value sealed by the first backend that met the database, kept so that
//! every later one can tell whether its key is the same
//! (`crm::SecretKey::check_against`).

use super::write::execute_one;
use super::{Store, StoreError};

impl Store {
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
