//! What signing in with a password needs: each user's password hash and
//! failure count, the one-time links that set a password (`account_links`)
//! and the OAuth authorization codes of the hosts' sign-in (`oauth_codes`).
//! Secrets are never stored, only their SHA-256 (links, codes) or their
//! argon2id hash (passwords).

use super::flag::Flag;
use sqlx::Row;
use time::OffsetDateTime;

use super::tokens::{TokenKind, bump_auth_epoch, insert_token};
use super::users::{USER_COLUMNS, USER_ROWS, user_from_row};
use super::write::execute_one;
use super::{Store, StoreError, from_millis, to_millis};
use crate::domain::User;

/// A user as the sign-in sees them.
#[derive(Debug, Clone)]
pub struct PasswordAccount {
    pub user: User,
    /// `None` until their invitation is used.
    pub password_hash: Option<String>,
    pub disabled: bool,
    /// Sign-in refused until then.
    pub locked_until: Option<OffsetDateTime>,
}

/// What a one-time link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Sets the first password of an invited user.
    Invite,
    /// Sets a new password.
    Reset,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Invite => "invite",
            LinkPurpose::Reset => "reset",
        }
    }

    fn parse(s: &str) -> Option<LinkPurpose> {
        match s {
            "invite" => Some(LinkPurpose::Invite),
            "reset" => Some(LinkPurpose::Reset),
            _ => None,
        }
    }
}

/// A one-time link as found by its hash.
#[derive(Debug, Clone)]
pub struct AccountLink {
    pub user: User,
    pub purpose: LinkPurpose,
    pub expires_at: OffsetDateTime,
    pub used: bool,
}

/// Why a link could not set a password.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("no such link")]
    Unknown,
    #[error("the link was already used")]
    Used,
    #[error("the link has expired")]
    Expired,
    /// Another tenant's user with the same e-mail already has a password:
    /// sign-in by e-mail must find one account.
    #[error("this e-mail already has a password in another tenant")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for LinkError {
    fn from(e: sqlx::Error) -> LinkError {
        LinkError::Store(e.into())
    }
}

/// An authorization code to keep.
pub struct NewOAuthCode<'a> {
    pub code_hash: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub challenge: &'a str,
    pub expires_at: OffsetDateTime,
}

/// An authorization code as found at its exchange.
#[derive(Debug, Clone)]
pub struct OAuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: String,
    pub expires_at: OffsetDateTime,
    pub used: bool,
}

/// Why a code was not exchanged for a token.
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("no such code")]
    Unknown,
    #[error("the code has expired")]
    Expired,
    /// The client, redirect URI or PKCE verifier does not match the code.
    #[error("the code does not match this request")]
    Mismatch,
    /// Used before: the token it gave was revoked.
    #[error("the code was already used")]
    Reused,
    /// Its user was disabled meanwhile.
    #[error("the user is disabled")]
    Disabled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CodeError {
    fn from(e: sqlx::Error) -> CodeError {
        CodeError::Store(e.into())
    }
}

impl Store {
    /// Every user with `email` who has a password or may get one, across
    /// tenants (the sign-in then picks the one whose password matches).
    pub async fn password_accounts(&self, email: &str) -> Result<Vec<PasswordAccount>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, u.password_hash, u.disabled_at, u.locked_until
             FROM {USER_ROWS} WHERE u.email = $1 AND u.password_hash IS NOT NULL ORDER BY u.id"
        );
        let rows = sqlx::query(&sql).bind(email).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(PasswordAccount {
                    user: user_from_row(row)?,
                    password_hash: row.try_get("password_hash")?,
                    disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
                    locked_until: row
                        .try_get::<Option<i64>, _>("locked_until")?
                        .map(from_millis)
                        .transpose()?,
                })
            })
            .collect()
    }

    /// Counts a wrong password for `user_id`; at `max_failures` in a row the
    /// account is locked until `lock_until`. Returns the lock, if any.
    pub async fn record_failed_sign_in(
        &self,
        user_id: &str,
        max_failures: u32,
        lock_until: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let mut tx = self.writes.begin().await?;
        let row = sqlx::query(
            "UPDATE users SET failed_logins = failed_logins + 1,
                 locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END
             WHERE id = $1 RETURNING failed_logins, locked_until",
        )
        .bind(user_id)
        .bind(i64::from(max_failures))
        .bind(to_millis(lock_until))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let failures: i64 = row.try_get("failed_logins")?;
        let locked: Option<i64> = row.try_get("locked_until")?;
        if failures >= i64::from(max_failures) {
            // The lock restarts the count: after it, `max_failures` more.
            sqlx::query("UPDATE users SET failed_logins = 0 WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        locked.map(from_millis).transpose()
    }

    /// A good password: the failure count starts over.
    pub async fn record_sign_in(&self, user_id: &str) -> Result<(), StoreError> {
        execute_one(
            &self.writes,
            sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
                .bind(user_id),
        )
        .await?;
        Ok(())
    }

    /// Keeps a one-time link for `user_id`; the user's earlier unused links
    /// of the same purpose stop working.
    pub async fn add_account_link(
        &self,
        user_id: &str,
        purpose: LinkPurpose,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let now = to_millis(OffsetDateTime::now_utc());
        let mut tx = self.writes.begin().await?;
        sqlx::query(
            "UPDATE account_links SET expires_at = $3
             WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO account_links (token_hash, user_id, purpose, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(now)
        .bind(to_millis(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// The link whose secret hashes to `token_hash`.
    pub async fn account_link(&self, token_hash: &str) -> Result<AccountLink, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, l.purpose, l.expires_at, l.used_at
             FROM {USER_ROWS} JOIN account_links l ON l.user_id = u.id WHERE l.token_hash = $1"
        );
        let row = sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        let purpose: String = row.try_get("purpose")?;
        Ok(AccountLink {
            user: user_from_row(&row)?,
            purpose: LinkPurpose::parse(&purpose).ok_or_else(|| {
                StoreError::Corrupt(format!("account_links.purpose = {purpose:?}"))
            })?,
            expires_at: from_millis(row.try_get("expires_at")?)?,
            used: row.try_get::<Option<i64>, _>("used_at")?.is_some(),
        })
    }

    /// Uses the link: sets the user's password to `password_hash` and
    /// unlocks them. A reset also signs them out everywhere (device tokens,
    /// manager sessions). Returns the user.
    pub async fn use_account_link(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: OffsetDateTime,
    ) -> Result<User, LinkError> {
        let link = match self.account_link(token_hash).await {
            Ok(link) => link,
            Err(StoreError::NotFound) => return Err(LinkError::Unknown),
            Err(e) => return Err(e.into()),
        };
        let mut tx = self.writes.begin().await?;
        let done = sqlx::query(
            "UPDATE account_links SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(to_millis(now))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // Read again inside the transaction: what stopped it.
            let used: Option<i64> =
                sqlx::query_scalar("SELECT used_at FROM account_links WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_one(&mut *tx)
                    .await?;
            return Err(if used.is_some() {
                LinkError::Used
            } else {
                LinkError::Expired
            });
        }
        let taken: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE email = $1 AND id <> $2 AND password_hash IS NOT NULL",
        )
        .bind(&link.user.email)
        .bind(&link.user.id)
        .fetch_one(&mut *tx)
        .await?;
        if taken > 0 {
            return Err(LinkError::EmailTaken);
        }
        sqlx::query(
            "UPDATE users SET password_hash = $2, failed_logins = 0, locked_until = NULL WHERE id = $1",
        )
        .bind(&link.user.id)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?;
        if link.purpose == LinkPurpose::Reset {
            for sql in [
                "DELETE FROM manager_sessions WHERE user_id = $1",
                "DELETE FROM tokens WHERE kind = 'device' AND user_id = $1",
            ] {
                sqlx::query(sql)
                    .bind(&link.user.id)
                    .execute(&mut *tx)
                    .await?;
            }
            bump_auth_epoch(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(link.user)
    }

    /// Keeps an authorization code.
    pub async fn add_oauth_code(&self, code: NewOAuthCode<'_>) -> Result<(), StoreError> {
        let now = to_millis(OffsetDateTime::now_utc());
        let mut tx = self.writes.begin().await?;
        // Codes live a minute; a day later nobody can ask about them.
        sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
            .bind(now - 86_400_000)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_codes (code_hash, user_id, client_id, redirect_uri, challenge, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(code.code_hash)
        .bind(code.user_id)
        .bind(code.client_id)
        .bind(code.redirect_uri)
        .bind(code.challenge)
        .bind(now)
        .bind(to_millis(code.expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Exchanges the code whose hash is `code_hash` for a device token
    /// (`token_hash`, labelled `label`), if `matches` accepts the code (the
    /// client, the redirect URI, the PKCE verifier). A code works once; a
    /// second exchange that passes `matches` revokes the token the first
    /// one gave (RFC 6749 section 4.1.2), one that does not changes
    /// nothing. A first exchange that fails `matches` burns the code.
    pub async fn exchange_oauth_code(
        &self,
        code_hash: &str,
        matches: impl FnOnce(&OAuthCode) -> bool,
        label: &str,
        token_hash: &str,
        now: OffsetDateTime,
    ) -> Result<User, CodeError> {
        let mut tx = self.writes.begin().await?;
        let row = sqlx::query(
            "SELECT user_id, client_id, redirect_uri, challenge, expires_at, used_at, token_id
             FROM oauth_codes WHERE code_hash = $1",
        )
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(CodeError::Unknown)?;
        let user_id: String = row.try_get("user_id")?;
        let code = OAuthCode {
            client_id: row.try_get("client_id")?,
            redirect_uri: row.try_get("redirect_uri")?,
            challenge: row.try_get("challenge")?,
            expires_at: from_millis(row.try_get("expires_at")?)?,
            used: row.try_get::<Option<i64>, _>("used_at")?.is_some(),
        };
        let good = matches(&code);
        if code.used {
            if good {
                let token_id: Option<String> = row.try_get("token_id")?;
                sqlx::query("DELETE FROM tokens WHERE id = $1")
                    .bind(token_id)
                    .execute(&mut *tx)
                    .await?;
                bump_auth_epoch(&mut tx).await?;
                tx.commit().await?;
                return Err(CodeError::Reused);
            }
            return Err(CodeError::Mismatch);
        }
        sqlx::query("UPDATE oauth_codes SET used_at = $2 WHERE code_hash = $1")
            .bind(code_hash)
            .bind(to_millis(now))
            .execute(&mut *tx)
            .await?;
        if !good {
            tx.commit().await?;
            return Err(CodeError::Mismatch);
        }
        if code.expires_at <= now {
            tx.commit().await?;
            return Err(CodeError::Expired);
        }
        let enabled: Option<Flag> =
            sqlx::query_scalar("SELECT disabled_at IS NULL FROM users WHERE id = $1")
                .bind(&user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if enabled != Some(Flag(true)) {
            tx.commit().await?;
            return Err(CodeError::Disabled);
        }
        let token_id =
            insert_token(&mut tx, &user_id, TokenKind::Device, label, token_hash).await?;
        sqlx::query("UPDATE oauth_codes SET token_id = $2 WHERE code_hash = $1")
            .bind(code_hash)
            .bind(&token_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(self.user_by_id(&user_id).await?)
    }
}
