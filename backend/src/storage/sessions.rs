//! The `manager_sessions` table: logins to the manager page, found by the
//! SHA-256 of their cookie. Only managers' sessions are ever valid.

use time::OffsetDateTime;

use super::users::{USER_COLUMNS, USER_ROWS, user_from_row};
use super::write::execute_one;
use super::{Store, StoreError, to_millis};
use crate::domain::User;

impl Store {
    /// Records a session for `user_id` until `expires_at` (opened with the
    /// token whose hash is `token_hash`, if a token opened it: it ends when
    /// that token is revoked), and removes the sessions that have expired.
    pub async fn add_manager_session(
        &self,
        id_hash: &str,
        user_id: &str,
        expires_at: OffsetDateTime,
        token_hash: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = to_millis(OffsetDateTime::now_utc());
        let mut tx = self.writes.begin().await?;
        sqlx::query("DELETE FROM manager_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO manager_sessions (id_hash, user_id, created_at, expires_at, token_hash)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
        .bind(to_millis(expires_at))
        .bind(token_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The manager or admin a session belongs to, while it lasts and while
    /// they are still a manager or an admin; [`StoreError::NotFound`]
    /// otherwise.
    pub async fn manager_session(
        &self,
        id_hash: &str,
        now: OffsetDateTime,
    ) -> Result<User, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM {USER_ROWS} JOIN manager_sessions s ON s.user_id = u.id
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND (u.role = 'manager' OR u.admin)
               AND u.disabled_at IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(id_hash)
            .bind(to_millis(now))
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    /// Ends a session (logout); ending an unknown one is not an error.
    pub async fn end_manager_session(&self, id_hash: &str) -> Result<(), StoreError> {
        execute_one(
            &self.writes,
            sqlx::query("DELETE FROM manager_sessions WHERE id_hash = $1").bind(id_hash),
        )
        .await?;
        Ok(())
    }
}
