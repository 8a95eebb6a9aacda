//! The `tenants` table.

use super::flag::Flag;
use sqlx::Row;
use sqlx::any::AnyRow;
use time::OffsetDateTime;

use super::audit::{Actor, AuditAction, AuditEntry, insert_audit};
use super::tokens::bump_auth_epoch;
use super::write::execute_one;
use super::{Store, StoreError, is_unique_violation, parse_column, to_millis};
use crate::domain::{DestinationPolicy, PbxName, Region, Tenant};

/// Every column of a tenant `t`, each as `t_{column}`, for
/// [`tenant_from_row`] with prefix `t_`.
macro_rules! tenant_columns {
    () => {
        "t.slug AS t_slug, t.name AS t_name, t.region AS t_region, \
         t.allow_fixed AS t_allow_fixed, t.allow_mobile AS t_allow_mobile, \
         t.allow_toll_free AS t_allow_toll_free, t.allow_premium AS t_allow_premium, \
         t.allow_collect AS t_allow_collect, t.allow_international AS t_allow_international, \
         t.pbx AS t_pbx"
    };
}
pub(super) use tenant_columns;

impl Store {
    /// The tenant `slug`.
    pub async fn tenant(&self, slug: &str) -> Result<Tenant, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants t WHERE t.slug = $1"
        ))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound)?;
        tenant_from_row(&row, "t_")
    }

    pub async fn add_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        execute_one(&self.writes, sqlx::query(
            "INSERT INTO tenants (slug, name, region, allow_premium, allow_collect, allow_international,
                                  allow_fixed, allow_mobile, allow_toll_free, created_at, pbx)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(tenant.slug.as_str())
        .bind(&tenant.name)
        .bind(tenant.region.code())
        .bind(tenant.policy.allow_premium)
        .bind(tenant.policy.allow_collect)
        .bind(tenant.policy.allow_international)
        .bind(tenant.policy.allow_fixed)
        .bind(tenant.policy.allow_mobile)
        .bind(tenant.policy.allow_toll_free)
        .bind(to_millis(OffsetDateTime::now_utc()))
        .bind(tenant.pbx.as_str())
        )
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict("tenant") } else { e })?;
        Ok(())
    }

    /// Places `tenant`'s next calls through `pbx` (its live calls stay on
    /// theirs); returns the PBX it had. Recorded in the tenant's audit log;
    /// every backend's cached users are forgotten (the auth epoch). A
    /// tenant whose telephony is set in the console (written into its
    /// PBX's phone directory) moves only to a PBX with a directory
    /// (`pbx_has_directory`), else `Conflict`. Setting the PBX it has
    /// changes nothing.
    pub async fn set_tenant_pbx(
        &self,
        tenant: &str,
        pbx: &PbxName,
        pbx_has_directory: bool,
        actor: &Actor,
    ) -> Result<PbxName, StoreError> {
        let mut tx = self.writes.begin().await?;
        let before: String = sqlx::query_scalar("SELECT pbx FROM tenants WHERE slug = $1")
            .bind(tenant)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        if before == pbx.as_str() {
            return parse_pbx(&before);
        }
        // The console's telephony lives in a phone directory (its trunk may
        // be registered there): it moves only into another.
        if !pbx_has_directory {
            let console: Option<String> =
                sqlx::query_scalar("SELECT tenant FROM tenant_dialing WHERE tenant = $1")
                    .bind(tenant)
                    .fetch_optional(&mut *tx)
                    .await?;
            if console.is_some() {
                return Err(StoreError::Conflict("console telephony"));
            }
        }
        sqlx::query("UPDATE tenants SET pbx = $1 WHERE slug = $2")
            .bind(pbx.as_str())
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        let entry = AuditEntry {
            action: AuditAction::PbxChanged,
            target: tenant.to_owned(),
            detail: format!("Central telefônica: {before} → {pbx}"),
        };
        insert_audit(&mut tx, tenant, actor, &entry).await?;
        // Every backend forgets the users it cached, with their tenant's
        // PBX: their next click goes through the new one.
        bump_auth_epoch(&mut tx).await?;
        tx.commit().await?;
        parse_pbx(&before)
    }
}

impl Store {
    /// The PBXs tenants are assigned to, or live calls were placed on.
    pub async fn pbx_names_in_use(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT pbx FROM tenants UNION SELECT pbx FROM calls WHERE state <> 'ended' ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

/// Reads a tenant from columns named `{prefix}slug`, `{prefix}name`...
pub(super) fn tenant_from_row(row: &AnyRow, prefix: &str) -> Result<Tenant, StoreError> {
    let col = |name: &str| format!("{prefix}{name}");
    let region: String = row.try_get(col("region").as_str())?;
    Ok(Tenant {
        slug: parse_column(
            &row.try_get::<String, _>(col("slug").as_str())?,
            "tenants.slug",
        )?,
        name: row.try_get(col("name").as_str())?,
        region: Region::parse(&region)
            .ok_or_else(|| StoreError::Corrupt(format!("tenants.region = {region:?}")))?,
        policy: DestinationPolicy {
            allow_fixed: row.try_get::<Flag, _>(col("allow_fixed").as_str())?.0,
            allow_mobile: row.try_get::<Flag, _>(col("allow_mobile").as_str())?.0,
            allow_toll_free: row.try_get::<Flag, _>(col("allow_toll_free").as_str())?.0,
            allow_premium: row.try_get::<Flag, _>(col("allow_premium").as_str())?.0,
            allow_collect: row.try_get::<Flag, _>(col("allow_collect").as_str())?.0,
            allow_international: row
                .try_get::<Flag, _>(col("allow_international").as_str())?
                .0,
        },
        pbx: parse_pbx(&row.try_get::<String, _>(col("pbx").as_str())?)?,
    })
}

fn parse_pbx(name: &str) -> Result<PbxName, StoreError> {
    name.parse()
        .map_err(|_| StoreError::Corrupt(format!("tenants.pbx = {name:?}")))
}
