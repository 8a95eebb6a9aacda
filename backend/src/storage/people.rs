//! A tenant's people as the admin console sees and changes them: every
//! change is one transaction with its [`super::audit`] row, and every change
//! to who someone is or what they may do bumps the auth epoch, so every
//! backend reloads them (their cached user, their event streams) at once.

use super::flag::Flag;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::audit::{Actor, AuditEntry, insert_audit};
use super::tokens::bump_auth_epoch;
use super::users::{NewUser, USER_COLUMNS, USER_ROWS, insert_user, user_from_row};
use super::{Store, StoreError, from_millis, is_unique_violation, to_millis};
use crate::domain::{CrmUserId, DestinationPolicy, Extension, Role, User};
use disca_protocol::phone::PhoneKind;

/// A person of the tenant with what the console shows about them.
#[derive(Debug, Clone)]
pub struct Person {
    pub user: User,
    pub disabled: bool,
    pub crm_user_id: Option<String>,
    /// They chose a password (an invited person has not yet).
    pub password_set: bool,
    /// API tokens (scripts): someone with one is not waiting for an
    /// invitation.
    pub api_tokens: i64,
    /// Computers signed in (device tokens).
    pub devices: i64,
    pub created_at: OffsetDateTime,
}

/// What to change about a person; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct PersonChange {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub admin: Option<bool>,
    pub phone: Option<PhoneKind>,
    pub extension: Option<Extension>,
    /// `Some(None)` clears it.
    pub crm_user_id: Option<Option<CrmUserId>>,
    pub disabled: Option<bool>,
}

/// A person to add, with what `users` alone does not hold.
pub struct NewPerson<'a> {
    pub user: NewUser<'a>,
    pub admin: bool,
    pub crm_user_id: Option<&'a CrmUserId>,
}

const PERSON_COLUMNS: &str = "u.disabled_at, u.crm_user_id, u.created_at, \
    (u.password_hash IS NOT NULL) AS password_set, \
    (SELECT COUNT(*) FROM tokens k WHERE k.user_id = u.id AND k.kind = 'device') AS devices, \
    (SELECT COUNT(*) FROM tokens k WHERE k.user_id = u.id AND k.kind = 'api') AS api_tokens";

fn person_from_row(row: &AnyRow) -> Result<Person, StoreError> {
    Ok(Person {
        user: user_from_row(row)?,
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
        crm_user_id: row.try_get("crm_user_id")?,
        password_set: row.try_get::<Flag, _>("password_set")?.0,
        devices: row.try_get("devices")?,
        api_tokens: row.try_get("api_tokens")?,
        created_at: from_millis(row.try_get("created_at")?)?,
    })
}

/// `LIKE` pattern matching `text` anywhere, its own `%`, `_` and `\` taken
/// literally (with `ESCAPE '\'`).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// The tenant's people by name; with `search`, those whose name, e-mail
    /// or extension contains it (any case).
    pub async fn people(
        &self,
        tenant: &str,
        search: Option<&str>,
    ) -> Result<Vec<Person>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, {PERSON_COLUMNS} FROM {USER_ROWS}
             WHERE u.tenant = $1 AND ($2 IS NULL
                OR lower(u.name) LIKE $2 ESCAPE '\\' OR lower(u.email) LIKE $2 ESCAPE '\\'
                OR lower(u.extension) LIKE $2 ESCAPE '\\')
             ORDER BY lower(u.name), u.id"
        );
        sqlx::query(&sql)
            .bind(tenant)
            .bind(
                search
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(contains_pattern),
            )
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(person_from_row)
            .collect()
    }

    /// Whether a tenant other than `tenant` has someone with `email` (an
    /// e-mail has one account: inviting it here would take it from them).
    pub async fn email_in_other_tenant(
        &self,
        tenant: &str,
        email: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT id FROM users WHERE email = $1 AND tenant <> $2 LIMIT 1")
                .bind(email)
                .bind(tenant)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// The tenant's person `id` ([`StoreError::NotFound`] for another
    /// tenant's).
    pub async fn person(&self, tenant: &str, id: &str) -> Result<Person, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, {PERSON_COLUMNS} FROM {USER_ROWS} WHERE u.tenant = $1 AND u.id = $2"
        );
        let row = sqlx::query(&sql)
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        person_from_row(&row)
    }

    /// Adds people, all or none, each with its audit row.
    pub async fn add_people(
        &self,
        people: &[NewPerson<'_>],
        actor: &Actor,
        entries: &[AuditEntry],
    ) -> Result<Vec<User>, StoreError> {
        let mut tx = self.writes.begin().await?;
        let mut ids = Vec::with_capacity(people.len());
        for new in people {
            let id = insert_user(&mut tx, &new.user).await?;
            sqlx::query("UPDATE users SET admin = $2, crm_user_id = $3 WHERE id = $1")
                .bind(&id)
                .bind(new.admin)
                .bind(new.crm_user_id.map(CrmUserId::as_str))
                .execute(&mut *tx)
                .await?;
            ids.push(id);
        }
        if let Some(first) = people.first() {
            for entry in entries {
                insert_audit(&mut tx, first.user.tenant, actor, entry).await?;
            }
        }
        tx.commit().await?;
        let mut users = Vec::with_capacity(ids.len());
        for id in ids {
            users.push(self.user_by_id(&id).await?);
        }
        Ok(users)
    }

    /// Applies `change` to the tenant's person `id` and records `entry`.
    /// Disabling takes their access away (device tokens, manager
    /// sessions); a new role or admin flag ends their manager sessions (the
    /// next login decides what they may open).
    pub async fn change_person(
        &self,
        tenant: &str,
        id: &str,
        change: &PersonChange,
        actor: &Actor,
        entry: &AuditEntry,
    ) -> Result<Person, StoreError> {
        let mut tx = self.writes.begin().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM users WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let set = |sql: &'static str| sqlx::query(sql).bind(id);
        let mut updates = Vec::new();
        if let Some(name) = &change.name {
            updates.push(set("UPDATE users SET name = $2 WHERE id = $1").bind(name.clone()));
        }
        if let Some(role) = change.role {
            updates.push(set("UPDATE users SET role = $2 WHERE id = $1").bind(role.as_str()));
        }
        if let Some(admin) = change.admin {
            updates.push(set("UPDATE users SET admin = $2 WHERE id = $1").bind(admin));
        }
        if let Some(phone) = change.phone {
            updates
                .push(set("UPDATE users SET phone_kind = $2 WHERE id = $1").bind(phone.as_str()));
        }
        if let Some(extension) = &change.extension {
            updates.push(
                set("UPDATE users SET extension = $2 WHERE id = $1")
                    .bind(extension.as_str().to_owned()),
            );
        }
        if let Some(crm) = &change.crm_user_id {
            updates.push(
                set("UPDATE users SET crm_user_id = $2 WHERE id = $1")
                    .bind(crm.as_ref().map(|c| c.as_str().to_owned())),
            );
        }
        if let Some(disabled) = change.disabled {
            updates.push(
                set("UPDATE users SET disabled_at = CASE WHEN $2 THEN COALESCE(disabled_at, $3) END WHERE id = $1")
                    .bind(disabled)
                    .bind(to_millis(OffsetDateTime::now_utc())),
            );
        }
        for update in updates {
            update
                .execute(&mut *tx)
                .await
                .map_err(|e| match StoreError::from(e) {
                    e if is_unique_violation(&e) => {
                        StoreError::Conflict("a user with this extension")
                    }
                    e => e,
                })?;
        }
        if change.disabled == Some(true) {
            take_access_away(&mut tx, id).await?;
        } else if change.role.is_some() || change.admin.is_some() {
            end_manager_sessions(&mut tx, id).await?;
        }
        insert_audit(&mut tx, tenant, actor, entry).await?;
        bump_auth_epoch(&mut tx).await?;
        tx.commit().await?;
        self.person(tenant, id).await
    }

    /// Signs the tenant's person `id` out of every computer (their device
    /// tokens); their API tokens stay. Returns how many were signed out.
    pub async fn sign_out_devices(
        &self,
        tenant: &str,
        id: &str,
        actor: &Actor,
        entry: &AuditEntry,
    ) -> Result<u64, StoreError> {
        let mut tx = self.writes.begin().await?;
        let done = sqlx::query(
            "DELETE FROM tokens WHERE kind = 'device'
             AND user_id = (SELECT id FROM users WHERE tenant = $1 AND id = $2)",
        )
        .bind(tenant)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let known: Option<String> =
            sqlx::query_scalar("SELECT id FROM users WHERE tenant = $1 AND id = $2")
                .bind(tenant)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if known.is_none() {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, tenant, actor, entry).await?;
        bump_auth_epoch(&mut tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// Sets the tenant's destination policy and records `entry`. Every
    /// backend reloads its users (the policy comes with them) at once.
    pub async fn set_policy(
        &self,
        tenant: &str,
        policy: &DestinationPolicy,
        actor: &Actor,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.writes.begin().await?;
        let done = sqlx::query(
            "UPDATE tenants SET allow_fixed = $2, allow_mobile = $3, allow_toll_free = $4,
                allow_premium = $5, allow_collect = $6, allow_international = $7
             WHERE slug = $1",
        )
        .bind(tenant)
        .bind(policy.allow_fixed)
        .bind(policy.allow_mobile)
        .bind(policy.allow_toll_free)
        .bind(policy.allow_premium)
        .bind(policy.allow_collect)
        .bind(policy.allow_international)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        insert_audit(&mut tx, tenant, actor, entry).await?;
        bump_auth_epoch(&mut tx).await?;
        tx.commit().await
    }
}

/// Ends the user's manager sessions and signs out their computers (in the
/// caller's transaction).
pub(super) async fn take_access_away(
    conn: &mut AnyConnection,
    user_id: &str,
) -> Result<(), StoreError> {
    end_manager_sessions(conn, user_id).await?;
    sqlx::query("DELETE FROM tokens WHERE kind = 'device' AND user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

async fn end_manager_sessions(conn: &mut AnyConnection, user_id: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM manager_sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn a_search_is_taken_literally() {
        assert_eq!(contains_pattern("Ana"), "%ana%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
