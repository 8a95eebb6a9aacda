//! `tenant_dialing` and `caller_ids`: how a console-configured tenant's
//! calls leave the PBX. Changes commit with their audit row.

use sqlx::Row;
use time::OffsetDateTime;

use super::audit::{Actor, AuditEntry, insert_audit};
use super::{Store, StoreError, parse_column, to_millis};
use crate::domain::{AreaCode, CallerId, SipUser, TrunkSettings};

/// A caller ID other than the tenant's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerIdScope {
    /// Calls to leads of this area code.
    Area(AreaCode),
    /// Calls of this user (their id).
    User(String),
}

/// The tenant's dialing: the trunk and every caller ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDialing {
    pub trunk: TrunkSettings,
    /// The account the PBX registers with; `None`: the carrier knows the
    /// PBX by its address.
    pub registration: Option<TrunkAccount>,
    pub caller_ids: Vec<(CallerIdScope, CallerId)>,
}

/// A registration trunk's account at the carrier, its password sealed
/// (`crm::secrets`, purpose [`TRUNK_PASSWORD`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkAccount {
    pub username: SipUser,
    pub sealed_password: Vec<u8>,
}

/// The purpose a trunk password is sealed for.
pub const TRUNK_PASSWORD: &str = "trunk-password";

impl Store {
    /// The tenant's dialing, `None` when its site's dialplan file rules.
    pub async fn tenant_dialing(&self, tenant: &str) -> Result<Option<TenantDialing>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT trunk_host, trunk_port, number_format, national_prefix, caller_id, lead_ring_secs,
                    trunk_username, trunk_password
             FROM tenant_dialing WHERE tenant = $1",
        )
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let trunk = TrunkSettings {
            host: parse_column(
                &row.try_get::<String, _>("trunk_host")?,
                "tenant_dialing.trunk_host",
            )?,
            port: u16::try_from(row.try_get::<i64, _>("trunk_port")?)
                .map_err(|_| StoreError::Corrupt("tenant_dialing.trunk_port".into()))?,
            number_format: parse_column(
                &row.try_get::<String, _>("number_format")?,
                "tenant_dialing.number_format",
            )?,
            national_prefix: row.try_get("national_prefix")?,
            caller_id: parse_column(
                &row.try_get::<String, _>("caller_id")?,
                "tenant_dialing.caller_id",
            )?,
            lead_ring_secs: u32::try_from(row.try_get::<i64, _>("lead_ring_secs")?)
                .map_err(|_| StoreError::Corrupt("tenant_dialing.lead_ring_secs".into()))?,
        };
        let registration = match (
            row.try_get::<Option<String>, _>("trunk_username")?,
            row.try_get::<Option<Vec<u8>>, _>("trunk_password")?,
        ) {
            (Some(username), Some(sealed_password)) => Some(TrunkAccount {
                username: parse_column(&username, "tenant_dialing.trunk_username")?,
                sealed_password,
            }),
            (None, None) => None,
            _ => return Err(StoreError::Corrupt("tenant_dialing.trunk_password".into())),
        };
        let rows = sqlx::query(
            "SELECT scope, scope_key, number FROM caller_ids WHERE tenant = $1 ORDER BY scope, scope_key",
        )
        .bind(tenant)
        .fetch_all(&self.pool)
        .await?;
        let mut caller_ids = Vec::with_capacity(rows.len());
        for row in rows {
            let scope: String = row.try_get("scope")?;
            let key: String = row.try_get("scope_key")?;
            let scope = match scope.as_str() {
                "area" => CallerIdScope::Area(parse_column(&key, "caller_ids.scope_key")?),
                "user" => CallerIdScope::User(key),
                other => return Err(StoreError::Corrupt(format!("caller_ids.scope = {other:?}"))),
            };
            caller_ids.push((
                scope,
                parse_column(&row.try_get::<String, _>("number")?, "caller_ids.number")?,
            ));
        }
        Ok(Some(TenantDialing {
            trunk,
            registration,
            caller_ids,
        }))
    }

    /// Whether `tenant` may not send its calls to `host` (any port)
    /// because of another tenant: an IP-authenticated carrier knows the PBX
    /// by its address only, so a second company on it would bill the
    /// first. Companies that each register with their own account
    /// (`registration`) may share a carrier.
    pub async fn trunk_host_taken(
        &self,
        tenant: &str,
        host: &str,
        registration: bool,
    ) -> Result<bool, StoreError> {
        let other: Option<String> = sqlx::query_scalar(
            "SELECT tenant FROM tenant_dialing
             WHERE trunk_host = $1 AND tenant <> $2 AND ($3 = FALSE OR trunk_username IS NULL)
             LIMIT 1",
        )
        .bind(host)
        .bind(tenant)
        .bind(registration)
        .fetch_optional(&self.pool)
        .await?;
        Ok(other.is_some())
    }

    /// Whether the tenant's dialing is set in the console (one indexed
    /// read: asked on every click).
    pub async fn has_tenant_dialing(&self, tenant: &str) -> Result<bool, StoreError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT tenant FROM tenant_dialing WHERE tenant = $1")
                .bind(tenant)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// Tenants whose dialing is set in the console.
    pub async fn dialing_tenants(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT tenant FROM tenant_dialing ORDER BY tenant")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Sets the tenant's dialing (all of it) and records `entry`. A caller
    /// ID for a user of another tenant is [`StoreError::NotFound`].
    pub async fn set_tenant_dialing(
        &self,
        tenant: &str,
        dialing: &TenantDialing,
        actor: &Actor,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.writes.begin().await?;
        let t = &dialing.trunk;
        sqlx::query(
            "INSERT INTO tenant_dialing (tenant, trunk_host, trunk_port, number_format, national_prefix,
                                         caller_id, lead_ring_secs, updated_at, trunk_username,
                                         trunk_password)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (tenant) DO UPDATE SET trunk_host = excluded.trunk_host,
                trunk_port = excluded.trunk_port, number_format = excluded.number_format,
                national_prefix = excluded.national_prefix, caller_id = excluded.caller_id,
                lead_ring_secs = excluded.lead_ring_secs, updated_at = excluded.updated_at,
                trunk_username = excluded.trunk_username, trunk_password = excluded.trunk_password",
        )
        .bind(tenant)
        .bind(t.host.as_str())
        .bind(i64::from(t.port))
        .bind(t.number_format.as_str())
        .bind(&t.national_prefix)
        .bind(t.caller_id.as_str())
        .bind(i64::from(t.lead_ring_secs))
        .bind(to_millis(OffsetDateTime::now_utc()))
        .bind(dialing.registration.as_ref().map(|r| r.username.as_str()))
        .bind(dialing.registration.as_ref().map(|r| r.sealed_password.as_slice()))
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            e if super::is_foreign_key_violation(&e) => StoreError::NotFound,
            e => e,
        })?;
        sqlx::query("DELETE FROM caller_ids WHERE tenant = $1")
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        for (scope, number) in &dialing.caller_ids {
            let (scope, key) = match scope {
                CallerIdScope::Area(area) => ("area", area.as_str()),
                CallerIdScope::User(id) => {
                    let known: Option<String> =
                        sqlx::query_scalar("SELECT id FROM users WHERE tenant = $1 AND id = $2")
                            .bind(tenant)
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if known.is_none() {
                        return Err(StoreError::NotFound);
                    }
                    ("user", id.as_str())
                }
            };
            sqlx::query(
                "INSERT INTO caller_ids (tenant, scope, scope_key, number) VALUES ($1, $2, $3, $4)",
            )
            .bind(tenant)
            .bind(scope)
            .bind(key)
            .bind(number.as_str())
            .execute(&mut *tx)
            .await
            .map_err(|e| match StoreError::from(e) {
                e if super::is_unique_violation(&e) => {
                    StoreError::Conflict("a caller ID for this area code or salesperson")
                }
                e => e,
            })?;
        }
        insert_audit(&mut tx, tenant, actor, entry).await?;
        tx.commit().await
    }
}
