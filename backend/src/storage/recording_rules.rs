//! `tenant_recording` (each tenant's recording rules) and the retention
//! sweep's view of `calls`: recordings past their tenant's retention, and
//! marking them expired once their file is gone.

use super::flag::Flag;
use sqlx::Row;
use time::OffsetDateTime;

use super::audit::{Actor, AuditEntry, insert_audit};
use super::{Store, StoreError, to_millis};

/// A tenant's recording rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRules {
    /// Answered calls are recorded.
    pub enabled: bool,
    /// The announcement's prompt name (in the prompts folder), if any.
    pub announcement: Option<String>,
    /// Days a recording is kept; `None`: kept.
    pub retention_days: Option<u32>,
}

impl Default for RecordingRules {
    /// A tenant without rules: every answered call recorded, kept.
    fn default() -> RecordingRules {
        RecordingRules {
            enabled: true,
            announcement: None,
            retention_days: None,
        }
    }
}

/// A recording past its tenant's retention.
#[derive(Debug, Clone)]
pub struct ExpiredRecording {
    pub call_id: String,
    pub tenant: String,
    pub file: String,
    /// The PBX the call was placed on, whose spool holds the file.
    pub pbx: String,
}

impl Store {
    /// The tenant's rules ([`RecordingRules::default`] without a row).
    pub async fn recording_rules(&self, tenant: &str) -> Result<RecordingRules, StoreError> {
        let row = sqlx::query(
            "SELECT enabled, announcement, retention_days FROM tenant_recording WHERE tenant = $1",
        )
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(RecordingRules::default());
        };
        Ok(RecordingRules {
            enabled: row.try_get::<Flag, _>("enabled")?.0,
            announcement: row.try_get("announcement")?,
            retention_days: row
                .try_get::<Option<i64>, _>("retention_days")?
                .map(|d| u32::try_from(d).unwrap_or(u32::MAX)),
        })
    }

    /// Tenants with rules of their own.
    pub async fn recording_rule_tenants(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT tenant FROM tenant_recording ORDER BY tenant")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Sets the tenant's rules and records `entry`.
    pub async fn set_recording_rules(
        &self,
        tenant: &str,
        rules: &RecordingRules,
        actor: &Actor,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.writes.begin().await?;
        sqlx::query(
            "INSERT INTO tenant_recording (tenant, enabled, announcement, retention_days, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant) DO UPDATE SET enabled = excluded.enabled,
                announcement = excluded.announcement, retention_days = excluded.retention_days,
                updated_at = excluded.updated_at",
        )
        .bind(tenant)
        .bind(rules.enabled)
        .bind(rules.announcement.as_deref())
        .bind(rules.retention_days.map(i64::from))
        .bind(to_millis(OffsetDateTime::now_utc()))
        .execute(&mut *tx)
        .await
        .map_err(|e| match StoreError::from(e) {
            e if super::is_foreign_key_violation(&e) => StoreError::NotFound,
            e => e,
        })?;
        insert_audit(&mut tx, tenant, actor, entry).await?;
        tx.commit().await
    }

    /// Recordings of calls that ended more than their tenant's retention
    /// ago at `now`, oldest first: at most `limit`, after the first `skip`
    /// (those a sweep could not delete this time).
    pub async fn expired_recordings(
        &self,
        now: OffsetDateTime,
        limit: u32,
        skip: u32,
    ) -> Result<Vec<ExpiredRecording>, StoreError> {
        const DAY_MS: i64 = 86_400_000;
        let rows = sqlx::query(
            "SELECT c.id, c.tenant, c.recording_file, c.pbx FROM calls c
             JOIN tenant_recording r ON r.tenant = c.tenant
             WHERE r.retention_days IS NOT NULL AND c.recording_file IS NOT NULL
               AND c.recording_expired_at IS NULL AND c.ended_at IS NOT NULL
               AND c.ended_at < $1 - r.retention_days * $2
             ORDER BY c.ended_at, c.id LIMIT $3 OFFSET $4",
        )
        .bind(to_millis(now))
        .bind(DAY_MS)
        .bind(i64::from(limit))
        .bind(i64::from(skip))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ExpiredRecording {
                    call_id: row.try_get("id")?,
                    tenant: row.try_get("tenant")?,
                    file: row.try_get("recording_file")?,
                    pbx: row.try_get("pbx")?,
                })
            })
            .collect()
    }

    /// Marks the call's recording deleted for its retention.
    pub async fn mark_recording_expired(
        &self,
        call_id: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.writes.begin().await?;
        sqlx::query("UPDATE calls SET recording_expired_at = $2 WHERE id = $1")
            .bind(call_id)
            .bind(to_millis(at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    /// Whether a call names the recording file `name` as its recording,
    /// not yet deleted for its retention (a file left behind by a sweep
    /// that could not reach it is an orphan).
    pub async fn recording_named(&self, name: &str) -> Result<bool, StoreError> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM calls WHERE recording_file = $1 AND recording_expired_at IS NULL LIMIT 1",
        )
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// Whether the call's recording was deleted for its retention.
    pub async fn recording_expired(&self, call_id: &str) -> Result<bool, StoreError> {
        let expired: Option<Option<i64>> =
            sqlx::query_scalar("SELECT recording_expired_at FROM calls WHERE id = $1")
                .bind(call_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(matches!(expired, Some(Some(_))))
    }
}
