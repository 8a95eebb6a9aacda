//! The `tenants` table.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use super::write::execute_one;
use super::{Store, StoreError, is_unique_violation, parse_column, to_millis};
use crate::domain::{DestinationPolicy, Region, Tenant};

impl Store {
    pub async fn add_tenant(&self, tenant: &Tenant) -> Result<(), StoreError> {
        execute_one(&self.writes, sqlx::query(
            "INSERT INTO tenants (slug, name, region, allow_premium, allow_collect, allow_international, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(tenant.slug.as_str())
        .bind(&tenant.name)
        .bind(tenant.region.code())
        .bind(tenant.policy.allow_premium)
        .bind(tenant.policy.allow_collect)
        .bind(tenant.policy.allow_international)
        .bind(to_millis(OffsetDateTime::now_utc()))
        )
        .await
        .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict("tenant") } else { e })?;
        Ok(())
    }
}

/// Reads a tenant from columns named `{prefix}slug`, `{prefix}name`...
pub(super) fn tenant_from_row(row: &SqliteRow, prefix: &str) -> Result<Tenant, StoreError> {
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
            allow_premium: row.try_get(col("allow_premium").as_str())?,
            allow_collect: row.try_get(col("allow_collect").as_str())?,
            allow_international: row.try_get(col("allow_international").as_str())?,
        },
    })
}
