//! The `audit_log` table: who changed what in a tenant, and when. Rows are
//! written in the transaction of the change they describe (a change
//! without its row, or a row without its change, never commits), and are
//! never updated or deleted.

use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Store, StoreError, from_millis, to_millis};
use crate::domain::User;

/// Who made a change.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The admin's user id; `None` for an operator with the CLI.
    pub user_id: Option<String>,
    /// Their name and e-mail as they are now (kept as written).
    pub label: String,
}

impl Actor {
    /// An admin in the console.
    pub fn admin(user: &User) -> Actor {
        Actor {
            user_id: Some(user.id.clone()),
            label: format!("{} <{}>", user.name, user.email),
        }
    }

    /// An operator running `disca-backend` on the server.
    pub fn cli() -> Actor {
        Actor {
            user_id: None,
            label: "Operador do servidor (linha de comando)".to_owned(),
        }
    }
}

/// What kind of change a row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    PersonInvited,
    PersonChanged,
    PasswordResetSent,
    InvitationSent,
    DevicesSignedOut,
    DeskPhoneCredentials,
    PeopleImported,
    PolicyChanged,
    DialingChanged,
    CrmConnected,
    CrmUsersMatched,
    RecordingRulesChanged,
    RecordingPlayed,
    DispositionsChanged,
    PbxChanged,
}

impl AuditAction {
    /// Every action, to read a stored code back.
    pub const ALL: [AuditAction; 15] = [
        AuditAction::PersonInvited,
        AuditAction::PersonChanged,
        AuditAction::PasswordResetSent,
        AuditAction::InvitationSent,
        AuditAction::DevicesSignedOut,
        AuditAction::DeskPhoneCredentials,
        AuditAction::PeopleImported,
        AuditAction::PolicyChanged,
        AuditAction::DialingChanged,
        AuditAction::CrmConnected,
        AuditAction::CrmUsersMatched,
        AuditAction::RecordingRulesChanged,
        AuditAction::RecordingPlayed,
        AuditAction::DispositionsChanged,
        AuditAction::PbxChanged,
    ];

    /// The action a stored code names.
    pub fn parse(code: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == code)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::PersonInvited => "person.invited",
            AuditAction::PersonChanged => "person.changed",
            AuditAction::PasswordResetSent => "person.password_reset_sent",
            AuditAction::InvitationSent => "person.invitation_sent",
            AuditAction::DevicesSignedOut => "person.devices_signed_out",
            AuditAction::DeskPhoneCredentials => "person.desk_phone_credentials",
            AuditAction::PeopleImported => "people.imported",
            AuditAction::PolicyChanged => "policy.changed",
            AuditAction::DispositionsChanged => "dispositions.changed",
            AuditAction::DialingChanged => "dialing.changed",
            AuditAction::CrmConnected => "crm.connected",
            AuditAction::CrmUsersMatched => "crm.users_matched",
            AuditAction::RecordingRulesChanged => "recording.rules_changed",
            AuditAction::RecordingPlayed => "recording.played",
            AuditAction::PbxChanged => "pbx.changed",
        }
    }
}

/// One change to record: on what (`target`: an e-mail, the tenant's slug)
/// and what happened, in Portuguese.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub action: AuditAction,
    pub target: String,
    pub detail: String,
}

/// A recorded change.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub at: OffsetDateTime,
}

/// Writes `entry` in the caller's transaction.
pub(super) async fn insert_audit(
    conn: &mut AnyConnection,
    tenant: &str,
    actor: &Actor,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (id, tenant, actor_id, actor, action, target, detail, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(tenant)
    .bind(actor.user_id.as_deref())
    .bind(&actor.label)
    .bind(entry.action.as_str())
    .bind(&entry.target)
    .bind(&entry.detail)
    .bind(to_millis(OffsetDateTime::now_utc()))
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Records `entry`, a change made elsewhere (a link issued).
    pub async fn record_audit(
        &self,
        tenant: &str,
        actor: &Actor,
        entry: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.writes.begin().await?;
        insert_audit(&mut tx, tenant, actor, entry).await?;
        tx.commit().await
    }

    /// Records `entry` unless the same actor already has a row of the same
    /// action on the same target within `window` (a player's many range
    /// requests are one listening). Returns whether it wrote one.
    pub async fn record_audit_once_within(
        &self,
        tenant: &str,
        actor: &Actor,
        entry: &AuditEntry,
        window: time::Duration,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writes.begin().await?;
        let since = to_millis(OffsetDateTime::now_utc() - window);
        let recent: Option<String> = sqlx::query_scalar(
            "SELECT id FROM audit_log WHERE tenant = $1
               AND (actor_id = $2 OR (actor_id IS NULL AND $2 IS NULL)) AND action = $3
               AND target = $4 AND created_at > $5 LIMIT 1",
        )
        .bind(tenant)
        .bind(actor.user_id.as_deref())
        .bind(entry.action.as_str())
        .bind(&entry.target)
        .bind(since)
        .fetch_optional(&mut *tx)
        .await?;
        if recent.is_some() {
            return Ok(false);
        }
        insert_audit(&mut tx, tenant, actor, entry).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The tenant's changes, newest first: at most `limit`, older than the
    /// row `before` when given.
    pub async fn audit_log(
        &self,
        tenant: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, actor, action, target, detail, created_at FROM audit_log
             WHERE tenant = $1 AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditRecord {
                    id: row.try_get("id")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    detail: row.try_get("detail")?,
                    at: from_millis(row.try_get("created_at")?)?,
                })
            })
            .collect()
    }
}
