//! The dashboard's rollups, kept as calls end, so a team's period reads a
//! few small rows instead of every call (`storage::dashboard`):
//!
//! - `call_stats_hourly`: per tenant, São Paulo hour and outcome — the
//!   team's days and its weekday × hour grid;
//! - `call_stats_daily`: per tenant, São Paulo day and salesperson — the
//!   team's ranking.
//!
//! A call is counted once, in the transaction that ends it ([`count_ended`],
//! from `Store::save_calls`), if it reached the PBX. Its hour is the one it
//! was asked for in, on São Paulo's clock of that day (past summer times
//! included), as the dashboard's reads of the calls themselves count it.
//! A database that had calls before the rollups existed gets them filled
//! once, when it is first opened ([`fill_once`]). The upserts
//! (`ON CONFLICT … DO UPDATE`) run on SQLite and PostgreSQL alike.

use std::collections::{BTreeMap, HashSet};

use super::statement::Statement;
use sqlx::{AnyConnection, Row};
use time::OffsetDateTime;

use super::{StoreError, from_millis, parse_column, write};
use crate::domain::{Call, Outcome, sao_paulo};

pub(super) const HOUR_MS: i64 = 3_600_000;

/// One ended call, as the rollups count it.
struct Counted<'a> {
    tenant: &'a str,
    user_id: &'a str,
    created_at: OffsetDateTime,
    outcome: Outcome,
    talk_seconds: i64,
}

/// The hour on São Paulo's clock, in hours since its 1970-01-01 00:00.
pub(super) fn local_hour(at: OffsetDateTime) -> i64 {
    sao_paulo::local_millis(at).div_euclid(HOUR_MS)
}

/// Adds `counted` to both rollups.
async fn add(tx: &mut AnyConnection, counted: &[Counted<'_>]) -> Result<(), StoreError> {
    if counted.is_empty() {
        return Ok(());
    }
    // (tenant, hour, outcome) → (calls, talk); (tenant, day, user) → (calls, answered, talk).
    let mut hourly: BTreeMap<(&str, i64, &str), (i64, i64)> = BTreeMap::new();
    let mut daily: BTreeMap<(&str, i64, &str), (i64, i64, i64)> = BTreeMap::new();
    for call in counted {
        let hour = local_hour(call.created_at);
        let slot = hourly
            .entry((call.tenant, hour, call.outcome.as_str()))
            .or_default();
        slot.0 += 1;
        slot.1 += call.talk_seconds;
        let slot = daily
            .entry((call.tenant, hour.div_euclid(24), call.user_id))
            .or_default();
        slot.0 += 1;
        slot.1 += i64::from(call.outcome == Outcome::Answered);
        slot.2 += call.talk_seconds;
    }
    for chunk in hourly.into_iter().collect::<Vec<_>>().chunks(500) {
        let mut q: Statement = Statement::new(
            "INSERT INTO call_stats_hourly (tenant, local_hour, outcome, calls, talk_seconds) ",
        );
        q.push_values(
            chunk,
            |mut row, ((tenant, hour, outcome), (calls, talk))| {
                row.push_bind(*tenant)
                    .push_bind(*hour)
                    .push_bind(*outcome)
                    .push_bind(*calls)
                    .push_bind(*talk);
            },
        );
        q.push(
            " ON CONFLICT (tenant, local_hour, outcome) DO UPDATE SET \
             calls = call_stats_hourly.calls + excluded.calls, \
             talk_seconds = call_stats_hourly.talk_seconds + excluded.talk_seconds",
        );
        q.query().execute(&mut *tx).await?;
    }
    for chunk in daily.into_iter().collect::<Vec<_>>().chunks(500) {
        let mut q: Statement = Statement::new(
            "INSERT INTO call_stats_daily (tenant, local_day, user_id, calls, answered, talk_seconds) ",
        );
        q.push_values(
            chunk,
            |mut row, ((tenant, day, user), (calls, answered, talk))| {
                row.push_bind(*tenant)
                    .push_bind(*day)
                    .push_bind(*user)
                    .push_bind(*calls)
                    .push_bind(*answered)
                    .push_bind(*talk);
            },
        );
        q.push(
            " ON CONFLICT (tenant, local_day, user_id) DO UPDATE SET \
             calls = call_stats_daily.calls + excluded.calls, \
             answered = call_stats_daily.answered + excluded.answered, \
             talk_seconds = call_stats_daily.talk_seconds + excluded.talk_seconds",
        );
        q.query().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Which of `ended` (versions that end their calls) are still live in the
/// database: read before the calls are updated, these are the calls that
/// end in this transaction.
pub(super) async fn ending_now<'c>(
    tx: &mut AnyConnection,
    ended: &[&'c Call],
) -> Result<Vec<&'c Call>, StoreError> {
    if ended.is_empty() {
        return Ok(Vec::new());
    }
    let mut q: Statement =
        Statement::new("SELECT id FROM calls WHERE state <> 'ended' AND id IN (");
    let mut list = q.separated(", ");
    for call in ended {
        list.push_bind(call.id.as_str());
    }
    q.push(")");
    let live: HashSet<String> = q
        .query()
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<Result<_, _>>()?;
    Ok(ended
        .iter()
        .copied()
        .filter(|c| live.contains(&c.id))
        .collect())
}

/// Counts the calls that end in this transaction (see [`ending_now`]).
pub(super) async fn count_ended(
    tx: &mut AnyConnection,
    ending: &[&Call],
) -> Result<(), StoreError> {
    let counted: Vec<Counted> = ending
        .iter()
        .filter(|c| !c.not_placed)
        .filter_map(|c| {
            Some(Counted {
                tenant: &c.tenant,
                user_id: &c.user_id,
                created_at: c.created_at,
                outcome: c.outcome?,
                talk_seconds: c.talk_seconds.unwrap_or_default(),
            })
        })
        .collect();
    add(tx, &counted).await
}

/// Fills the rollups from every ended call, once per database: the first
/// backend (or command) that opens it after the migration does, under the
/// write lock, so a concurrent opener finds them filled.
pub(super) async fn fill_once(writes: &write::Writes) -> Result<(), StoreError> {
    let mut tx = writes.begin().await?;
    let claimed =
        sqlx::query("UPDATE call_stats_state SET filled = TRUE WHERE id = 1 AND filled = FALSE")
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if claimed == 1 {
        refill(&mut tx).await?;
    }
    tx.commit().await
}

/// Empties the rollups and counts every ended call again.
pub(super) async fn refill(tx: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM call_stats_hourly")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM call_stats_daily")
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query(
        "SELECT tenant, user_id, created_at, outcome, talk_seconds FROM calls \
         WHERE outcome IS NOT NULL AND not_placed = FALSE AND state = 'ended'",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut owned = Vec::with_capacity(rows.len());
    for row in &rows {
        owned.push((
            row.try_get::<String, _>("tenant")?,
            row.try_get::<String, _>("user_id")?,
            from_millis(row.try_get("created_at")?)?,
            parse_column::<Outcome>(&row.try_get::<String, _>("outcome")?, "calls.outcome")?,
            row.try_get::<Option<i64>, _>("talk_seconds")?
                .unwrap_or_default(),
        ));
    }
    let counted: Vec<Counted> = owned
        .iter()
        .map(|(tenant, user_id, created_at, outcome, talk)| Counted {
            tenant,
            user_id,
            created_at: *created_at,
            outcome: *outcome,
            talk_seconds: *talk,
        })
        .collect();
    let filled = counted.len();
    add(tx, &counted).await?;
    if filled > 0 {
        tracing::info!(calls = filled, "dashboard rollups filled from the calls");
    }
    Ok(())
}
