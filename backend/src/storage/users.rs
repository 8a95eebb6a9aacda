//! The `users` table: a tenant's users are its team. (Users are found by
//! their tokens in [`super::tokens`], by their password in
//! [`super::accounts`].)

use super::flag::Flag;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::people::take_access_away;
use super::tenants::{tenant_columns, tenant_from_row};
use super::tokens::{TokenKind, bump_auth_epoch, insert_token};
use super::write::execute_one;
use super::{
    Store, StoreError, is_foreign_key_violation, is_unique_violation, parse_column, to_millis,
};
use crate::domain::{CrmUserId, Extension, Role, User};
use disca_protocol::phone::PhoneKind;

/// A user to create; the token hash (of an API token from
/// [`crate::auth`]) is `None` for an invited user, who signs in with a
/// password instead.
pub struct NewUser<'a> {
    pub tenant: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub extension: &'a Extension,
    pub role: Role,
    pub phone: PhoneKind,
    pub token_hash: Option<&'a str>,
}

impl Store {
    pub async fn add_user(&self, new: NewUser<'_>) -> Result<User, StoreError> {
        let mut tx = self.writes.begin().await?;
        let id = insert_user(&mut tx, &new).await?;
        tx.commit().await?;
        self.user_by_id(&id).await
    }

    /// Sets (or clears) the CRM user of the tenant's user with `email`: the
    /// author of that salesperson's notes in RD Station CRM.
    pub async fn set_crm_user(
        &self,
        tenant: &str,
        email: &str,
        crm_user_id: Option<&CrmUserId>,
    ) -> Result<(), StoreError> {
        let done = execute_one(
            &self.writes,
            sqlx::query("UPDATE users SET crm_user_id = $3 WHERE tenant = $1 AND email = $2")
                .bind(tenant)
                .bind(email)
                .bind(crm_user_id.map(CrmUserId::as_str)),
        )
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Disables (`disabled`) or enables the tenant's user with `email`. A
    /// disabled user's API tokens are refused; their device tokens (hosts
    /// signed in) and manager sessions are revoked, so an enable later
    /// does not bring them back; every backend learns of it through the
    /// auth epoch.
    pub async fn set_disabled(
        &self,
        tenant: &str,
        email: &str,
        disabled: bool,
    ) -> Result<User, StoreError> {
        let disabled_at = disabled.then(|| to_millis(OffsetDateTime::now_utc()));
        let mut tx = self.writes.begin().await?;
        let done =
            sqlx::query("UPDATE users SET disabled_at = $3 WHERE tenant = $1 AND email = $2")
                .bind(tenant)
                .bind(email)
                .bind(disabled_at)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if disabled {
            let id: String =
                sqlx::query_scalar("SELECT id FROM users WHERE tenant = $1 AND email = $2")
                    .bind(tenant)
                    .bind(email)
                    .fetch_one(&mut *tx)
                    .await?;
            take_access_away(&mut tx, &id).await?;
            bump_auth_epoch(&mut tx).await?;
        }
        tx.commit().await?;
        self.user_by_email(tenant, email).await
    }

    /// Whether the user `user_id` exists and is not disabled, read from the
    /// database (never from a cache): for what must stop at once.
    pub async fn user_enabled(&self, user_id: &str) -> Result<bool, StoreError> {
        let enabled: Option<Flag> =
            sqlx::query_scalar("SELECT disabled_at IS NULL FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(enabled.is_some_and(|Flag(enabled)| enabled))
    }

    /// The tenant's user with `email`.
    pub async fn user_by_email(&self, tenant: &str, email: &str) -> Result<User, StoreError> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM {USER_ROWS} WHERE u.tenant = $1 AND u.email = $2");
        let row = sqlx::query(&sql)
            .bind(tenant)
            .bind(email)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }

    /// The user `id` (of any tenant: for callers that hold an id they
    /// stored themselves).
    pub async fn user_by_id(&self, id: &str) -> Result<User, StoreError> {
        self.user_where("u.id = $1", id).await
    }

    /// The tenant's users, by name: the team on the manager page.
    pub async fn team(&self, tenant: &str) -> Result<Vec<User>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM {USER_ROWS} WHERE u.tenant = $1 ORDER BY u.name, u.id"
        );
        sqlx::query(&sql)
            .bind(tenant)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    pub(super) async fn user_where(
        &self,
        condition: &str,
        value: &str,
    ) -> Result<User, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM {USER_ROWS} WHERE {condition}");
        let row = sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        user_from_row(&row)
    }
}

/// Inserts `new` (and its API token) in the caller's transaction; returns
/// the new user's id.
pub(super) async fn insert_user(
    conn: &mut AnyConnection,
    new: &NewUser<'_>,
) -> Result<String, StoreError> {
    let id = Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO users (id, tenant, name, email, extension, role, created_at, phone_kind, token_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'retired:' || $1)",
    )
    .bind(&id)
    .bind(new.tenant)
    .bind(new.name)
    .bind(new.email)
    .bind(new.extension.as_str())
    .bind(new.role.as_str())
    .bind(to_millis(OffsetDateTime::now_utc()))
    .bind(new.phone.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|e| match StoreError::from(e) {
        e if is_unique_violation(&e) => StoreError::Conflict("a user with this e-mail or extension"),
        e if is_foreign_key_violation(&e) => StoreError::NotFound,
        e => e,
    })?;
    if let Some(hash) = new.token_hash {
        insert_token(conn, &id, TokenKind::Api, "user add", hash).await?;
    }
    Ok(id)
}

/// A user and their tenant: `SELECT {USER_COLUMNS} FROM {USER_ROWS}`.
pub(super) const USER_COLUMNS: &str = concat!(
    "u.id, u.name, u.email, u.extension, u.role, u.phone_kind, u.admin, ",
    tenant_columns!()
);
pub(super) const USER_ROWS: &str = "users u JOIN tenants t ON t.slug = u.tenant";

pub(super) fn user_from_row(row: &AnyRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        tenant: tenant_from_row(row, "t_")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        extension: parse_column(&row.try_get::<String, _>("extension")?, "users.extension")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("users.role = {role:?}")))?,
        phone: parse_column(&row.try_get::<String, _>("phone_kind")?, "users.phone_kind")?,
        admin: row.try_get::<Flag, _>("admin")?.0,
    })
}
