//! The `tokens` table (API tokens for scripts, device tokens for signed-in
//! hosts; only SHA-256 hashes) and `auth_epoch`, the counter every change
//! that takes access away bumps in its own transaction.

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::users::{USER_COLUMNS, USER_ROWS, user_from_row};
use super::{Store, StoreError, from_millis, to_millis};
use crate::domain::User;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Made by `user add` or `token create`, for scripts.
    Api,
    /// Issued to one disca-host by the sign-in flow.
    Device,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Api => "api",
            TokenKind::Device => "device",
        }
    }

    fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "api" => Some(TokenKind::Api),
            "device" => Some(TokenKind::Device),
            _ => None,
        }
    }
}

/// A token as listed (never its secret, which is not kept).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub id: String,
    pub kind: TokenKind,
    pub label: String,
    pub created_at: OffsetDateTime,
}

impl Store {
    /// Adds a token of `kind` for `user_id`; returns its id.
    pub async fn add_token(
        &self,
        user_id: &str,
        kind: TokenKind,
        label: &str,
        token_hash: &str,
    ) -> Result<String, StoreError> {
        let mut tx = self.writes.begin().await?;
        let id = insert_token(&mut tx, user_id, kind, label, token_hash).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The user's tokens, oldest first.
    pub async fn tokens(&self, user_id: &str) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, label, created_at FROM tokens WHERE user_id = $1 ORDER BY created_at, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(TokenInfo {
                    id: row.try_get("id")?,
                    kind: TokenKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("tokens.kind = {kind:?}")))?,
                    label: row.try_get("label")?,
                    created_at: from_millis(row.try_get("created_at")?)?,
                })
            })
            .collect()
    }

    /// Revokes the user's token `token_id` ([`StoreError::NotFound`] when
    /// they have none by that id).
    pub async fn revoke_token(&self, user_id: &str, token_id: &str) -> Result<(), StoreError> {
        let mut tx = self.writes.begin().await?;
        let hash: Option<String> = sqlx::query_scalar(
            "DELETE FROM tokens WHERE id = $1 AND user_id = $2 RETURNING token_hash",
        )
        .bind(token_id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(hash) = hash else {
            return Err(StoreError::NotFound);
        };
        end_sessions_of(&mut tx, &hash).await?;
        bump_auth_epoch(&mut tx).await?;
        tx.commit().await
    }

    /// Revokes the token whose hash is `token_hash` (a host signing out).
    pub async fn revoke_token_by_hash(&self, token_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.writes.begin().await?;
        sqlx::query("DELETE FROM tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        end_sessions_of(&mut tx, token_hash).await?;
        bump_auth_epoch(&mut tx).await?;
        tx.commit().await
    }

    /// The enabled user holding the token whose hash is `token_hash`.
    pub async fn user_by_token_hash(&self, token_hash: &str) -> Result<User, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM {USER_ROWS} JOIN tokens k ON k.user_id = u.id
             WHERE k.token_hash = $1 AND u.disabled_at IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    /// The counter bumped whenever access is taken away.
    pub async fn auth_epoch(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT epoch FROM auth_epoch WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

pub(super) async fn insert_token(
    conn: &mut AnyConnection,
    user_id: &str,
    kind: TokenKind,
    label: &str,
    token_hash: &str,
) -> Result<String, StoreError> {
    let id = Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO tokens (id, user_id, kind, label, token_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(user_id)
    .bind(kind.as_str())
    .bind(label)
    .bind(token_hash)
    .bind(to_millis(OffsetDateTime::now_utc()))
    .execute(conn)
    .await?;
    Ok(id)
}

/// Ends the manager page sessions a token opened.
async fn end_sessions_of(conn: &mut AnyConnection, token_hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM manager_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Tells every backend that access was taken away (in the caller's
/// transaction, so the change and the bump commit together).
pub(super) async fn bump_auth_epoch(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}
