//! The manager's dashboard: a tenant's calls of a period (of one
//! salesperson, or all) counted three ways — per salesperson, per São Paulo
//! day and outcome, per weekday and hour — by the database, in SQL that
//! SQLite and PostgreSQL both run.
//!
//! The team's figures are sums of the rollups kept as calls end
//! (`call_stats`: per hour and outcome, per day and salesperson), so their
//! cost follows the hours and salespeople of the period, not its calls.
//! One salesperson's are counted from their calls, one range scan of the
//! covering index `calls_user_dashboard`: São Paulo's clock is the UTC
//! milliseconds plus the offset of their stretch (a `CASE` over the
//! stretches `domain::sao_paulo::offsets` gives, so past summer times
//! count), and days and hours are integer divisions of that.
//!
//! Counted: calls that ended and reached the PBX (an outcome, not
//! `not_placed`).

use sqlx::Row;
use time::OffsetDateTime;

use super::call_stats::{self, HOUR_MS, local_hour};
use super::{Store, StoreError, parse_column, to_millis};
use crate::domain::Outcome;
use crate::domain::sao_paulo;

const DAY_MS: i64 = 86_400_000;

/// Which calls the dashboard counts.
#[derive(Debug, Clone)]
pub struct DashboardFilter {
    pub tenant: String,
    /// One salesperson's calls only.
    pub user_id: Option<String>,
    pub from: OffsetDateTime,
    /// Excluded.
    pub to: OffsetDateTime,
}

/// One salesperson's calls in the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalespersonFigures {
    pub user_id: String,
    pub name: String,
    pub calls: u64,
    pub answered: u64,
    pub talk_seconds: u64,
}

/// The calls of one São Paulo day that ended with one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayFigures {
    /// Days since 1970-01-01 on São Paulo's calendar.
    pub day: i64,
    pub outcome: Outcome,
    pub calls: u64,
}

/// The calls placed in one hour of one weekday (São Paulo's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourFigures {
    /// 0 = Sunday … 6 = Saturday.
    pub weekday: u8,
    /// 0–23.
    pub hour: u8,
    pub calls: u64,
    pub answered: u64,
}

/// Everything the dashboard shows, as counted by the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardFigures {
    /// Most calls first.
    pub salespeople: Vec<SalespersonFigures>,
    /// By day, then outcome.
    pub days: Vec<DayFigures>,
    pub hours: Vec<HourFigures>,
}

/// The SQL of a time on São Paulo's clock (ms) and its values, numbered
/// from `$first`.
fn local_time(filter: &DashboardFilter, first: usize) -> (String, Vec<i64>) {
    let stretches = sao_paulo::offsets(filter.from, filter.to);
    let mut binds = Vec::new();
    // The placeholder of a new value.
    let mut bind = |value: i64| {
        binds.push(value);
        format!("${}", first + binds.len() - 1)
    };
    let sql = match stretches.as_slice() {
        [(_, offset)] => format!("(created_at + {})", bind(*offset)),
        _ => {
            let mut sql = String::from("(created_at + CASE");
            for pair in stretches.windows(2) {
                let when = bind(pair[1].0);
                let then = bind(pair[0].1);
                sql.push_str(&format!(" WHEN created_at < {when} THEN {then}"));
            }
            let last = bind(
                stretches
                    .last()
                    .map(|(_, offset)| *offset)
                    .unwrap_or_default(),
            );
            sql.push_str(&format!(" ELSE {last} END)"));
            sql
        }
    };
    (sql, binds)
}

/// `sql` with the selection's values bound (`$1`–`$3`, and `$4`).
fn selected<'q>(
    sql: &'q str,
    filter: &'q DashboardFilter,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    let mut query = sqlx::query(sql)
        .bind(filter.tenant.as_str())
        .bind(to_millis(filter.from))
        .bind(to_millis(filter.to));
    if let Some(user) = &filter.user_id {
        query = query.bind(user.as_str());
    }
    query
}

/// The `WHERE` clause over `$1`–`$3` (and `$4`, one salesperson) and its
/// values.
fn selection(filter: &DashboardFilter) -> (String, usize) {
    let mut sql = String::from(
        "tenant = $1 AND created_at >= $2 AND created_at < $3 \
         AND outcome IS NOT NULL AND not_placed = FALSE",
    );
    if filter.user_id.is_some() {
        sql.push_str(" AND user_id = $4");
        return (sql, 5);
    }
    (sql, 4)
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

impl Store {
    /// The dashboard's figures for `filter`: its three reads.
    pub async fn dashboard(
        &self,
        filter: &DashboardFilter,
    ) -> Result<DashboardFigures, StoreError> {
        Ok(DashboardFigures {
            salespeople: self.dashboard_salespeople(filter).await?,
            days: self.dashboard_days(filter).await?,
            hours: self.dashboard_hours(filter).await?,
        })
    }

    /// The calls per salesperson, most first: the team's from the daily
    /// rollup, one salesperson's from their calls. Grouped before the join
    /// with `users`. (`SUM` of a `BIGINT` is a `NUMERIC` in PostgreSQL:
    /// cast back.)
    pub async fn dashboard_salespeople(
        &self,
        filter: &DashboardFilter,
    ) -> Result<Vec<SalespersonFigures>, StoreError> {
        let rows = match &filter.user_id {
            None => {
                let (from, to) = local_hours(filter);
                sqlx::query(
                    "SELECT s.user_id, u.name, s.calls, s.answered, s.talk
                     FROM (SELECT user_id, CAST(SUM(calls) AS BIGINT) AS calls,
                                  CAST(SUM(answered) AS BIGINT) AS answered,
                                  CAST(SUM(talk_seconds) AS BIGINT) AS talk
                           FROM call_stats_daily
                           WHERE tenant = $1 AND local_day >= $2 AND local_day < $3
                           GROUP BY user_id) AS s
                     JOIN users u ON u.id = s.user_id
                     ORDER BY s.calls DESC, u.name",
                )
                .bind(filter.tenant.as_str())
                .bind(from.div_euclid(24))
                .bind(to.div_euclid(24))
                .fetch_all(&self.pool)
                .await?
            }
            Some(_) => {
                let (selection, _) = selection(filter);
                let sql = format!(
                    "SELECT s.user_id, u.name, s.calls, s.answered, s.talk
                     FROM (SELECT user_id, COUNT(*) AS calls,
                                  SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END) AS answered,
                                  CAST(COALESCE(SUM(talk_seconds), 0) AS BIGINT) AS talk
                           FROM calls WHERE {selection}
                           GROUP BY user_id) AS s
                     JOIN users u ON u.id = s.user_id
                     ORDER BY s.calls DESC, u.name"
                );
                selected(&sql, filter).fetch_all(&self.pool).await?
            }
        };
        let mut salespeople = Vec::new();
        for row in rows {
            salespeople.push(SalespersonFigures {
                user_id: row.try_get("user_id")?,
                name: row.try_get("name")?,
                calls: count(row.try_get("calls")?),
                answered: count(row.try_get("answered")?),
                talk_seconds: count(row.try_get("talk")?),
            });
        }
        Ok(salespeople)
    }

    /// The calls per São Paulo day and outcome: the team's from the hourly
    /// rollup, one salesperson's from their calls.
    pub async fn dashboard_days(
        &self,
        filter: &DashboardFilter,
    ) -> Result<Vec<DayFigures>, StoreError> {
        let rows = match &filter.user_id {
            None => {
                let (from, to) = local_hours(filter);
                sqlx::query(
                    "SELECT local_hour / 24 AS day, outcome, CAST(SUM(calls) AS BIGINT) AS calls
                     FROM call_stats_hourly
                     WHERE tenant = $1 AND local_hour >= $2 AND local_hour < $3
                     GROUP BY local_hour / 24, outcome
                     ORDER BY day, outcome",
                )
                .bind(filter.tenant.as_str())
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?
            }
            Some(_) => {
                let (selection, next) = selection(filter);
                let (local, offsets) = local_time(filter, next);
                let sql = format!(
                    "SELECT {local} / {DAY_MS} AS day, outcome, COUNT(*) AS calls
                     FROM calls WHERE {selection}
                     GROUP BY {local} / {DAY_MS}, outcome
                     ORDER BY day, outcome"
                );
                let mut query = selected(&sql, filter);
                for value in &offsets {
                    query = query.bind(*value);
                }
                query.fetch_all(&self.pool).await?
            }
        };
        let mut days = Vec::new();
        for row in rows {
            days.push(DayFigures {
                day: row.try_get("day")?,
                outcome: parse_column(&row.try_get::<String, _>("outcome")?, "calls.outcome")?,
                calls: count(row.try_get("calls")?),
            });
        }
        Ok(days)
    }

    /// The calls and the answered ones per weekday and hour (São Paulo's
    /// clock; 1970-01-01 was a Thursday, weekday 4): the team's from the
    /// hourly rollup, one salesperson's from their calls.
    pub async fn dashboard_hours(
        &self,
        filter: &DashboardFilter,
    ) -> Result<Vec<HourFigures>, StoreError> {
        let rows = match &filter.user_id {
            None => {
                let (from, to) = local_hours(filter);
                sqlx::query(
                    "SELECT (local_hour / 24 + 4) % 7 AS weekday, local_hour % 24 AS hour,
                            CAST(SUM(calls) AS BIGINT) AS calls,
                            CAST(SUM(CASE WHEN outcome = 'answered' THEN calls ELSE 0 END) AS BIGINT) AS answered
                     FROM call_stats_hourly
                     WHERE tenant = $1 AND local_hour >= $2 AND local_hour < $3
                     GROUP BY (local_hour / 24 + 4) % 7, local_hour % 24
                     ORDER BY weekday, hour",
                )
                .bind(filter.tenant.as_str())
                .bind(from)
                .bind(to)
                .fetch_all(&self.pool)
                .await?
            }
            Some(_) => {
                let (selection, next) = selection(filter);
                let (local, offsets) = local_time(filter, next);
                let sql = format!(
                    "SELECT ({local} / {DAY_MS} + 4) % 7 AS weekday,
                            ({local} % {DAY_MS}) / {HOUR_MS} AS hour,
                            COUNT(*) AS calls,
                            SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END) AS answered
                     FROM calls WHERE {selection}
                     GROUP BY ({local} / {DAY_MS} + 4) % 7, ({local} % {DAY_MS}) / {HOUR_MS}
                     ORDER BY weekday, hour"
                );
                let mut query = selected(&sql, filter);
                for value in &offsets {
                    query = query.bind(*value);
                }
                query.fetch_all(&self.pool).await?
            }
        };
        let mut hours = Vec::new();
        for row in rows {
            let small = |column: &str| -> Result<u8, StoreError> {
                let value: i64 = row.try_get(column)?;
                u8::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} = {value}")))
            };
            hours.push(HourFigures {
                weekday: small("weekday")?,
                hour: small("hour")?,
                calls: count(row.try_get("calls")?),
                answered: count(row.try_get("answered")?),
            });
        }
        Ok(hours)
    }

    /// How many of the period's calls (of `filter`) the salespeople
    /// reported with each outcome, most first, by the label chosen.
    pub async fn dashboard_dispositions(
        &self,
        filter: &DashboardFilter,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        let mut sql = String::from(
            "SELECT disposition_label AS label, COUNT(*) AS calls FROM call_reports
             WHERE tenant = $1 AND call_created_at >= $2 AND call_created_at < $3
               AND disposition_label IS NOT NULL",
        );
        if filter.user_id.is_some() {
            sql.push_str(" AND user_id = $4");
        }
        sql.push_str(" GROUP BY disposition_label ORDER BY calls DESC, label");
        selected(&sql, filter)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("label")?, count(row.try_get("calls")?))))
            .collect()
    }

    /// Counts the rollups again from the calls: for calls written other
    /// than through the store (generated data, an import).
    pub async fn recount_call_stats(&self) -> Result<(), StoreError> {
        let _serialized = self.writer.lock.lock().await;
        let mut tx = self.writes.begin().await?;
        call_stats::refill(&mut tx).await?;
        tx.commit().await
    }
}

/// The period in hours on São Paulo's clock (see `call_stats`).
fn local_hours(filter: &DashboardFilter) -> (i64, i64) {
    (local_hour(filter.from), local_hour(filter.to))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::domain::{PhoneKind, Role, Tenant};
    use crate::storage::NewUser;
    use crate::storage::testing::TestDatabase;

    struct Data {
        _dir: tempfile::TempDir,
        database: TestDatabase,
        store: Store,
        ana: String,
        bruno: String,
    }

    async fn data() -> Data {
        let dir = tempfile::tempdir().unwrap();
        let database = TestDatabase::new(dir.path()).await.unwrap();
        let store = database.open().await.unwrap();
        for slug in ["acme", "globex"] {
            store
                .add_tenant(&Tenant::in_brazil(slug.parse().unwrap(), slug))
                .await
                .unwrap();
        }
        let mut ids = Vec::new();
        for (tenant, name, ext) in [
            ("acme", "Ana", "1001"),
            ("acme", "Bruno", "1002"),
            ("globex", "Gil", "2001"),
        ] {
            let user = store
                .add_user(NewUser {
                    tenant,
                    name,
                    email: &format!("{ext}@{tenant}.com"),
                    extension: &ext.parse().unwrap(),
                    role: Role::Agent,
                    phone: PhoneKind::Desk,
                    token_hash: None,
                })
                .await
                .unwrap();
            ids.push(user.id);
        }
        let (ana, bruno, gil) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
        // (user, when, outcome, talk seconds, not placed)
        type Row<'a> = (&'a str, OffsetDateTime, Option<&'a str>, Option<i64>, bool);
        let calls: &[Row] = &[
            // Sunday 2026-11-29, 23:30 in São Paulo (02:30 UTC on Monday).
            (
                &ana,
                datetime!(2026-11-30 02:30 UTC),
                Some("answered"),
                Some(120),
                false,
            ),
            // Monday 2026-11-30, 09:10 in São Paulo.
            (
                &ana,
                datetime!(2026-11-30 12:10 UTC),
                Some("no_answer"),
                None,
                false,
            ),
            (
                &bruno,
                datetime!(2026-11-30 12:40 UTC),
                Some("answered"),
                Some(60),
                false,
            ),
            (
                &bruno,
                datetime!(2026-11-30 12:50 UTC),
                Some("busy"),
                None,
                false,
            ),
            // Not counted: live, never placed, another tenant's.
            (&bruno, datetime!(2026-11-30 13:00 UTC), None, None, false),
            (
                &bruno,
                datetime!(2026-11-30 13:05 UTC),
                Some("failed"),
                None,
                true,
            ),
            (
                &gil,
                datetime!(2026-11-30 13:10 UTC),
                Some("answered"),
                Some(500),
                false,
            ),
            // Summer time of 2018: 23:30 on Saturday 2018-11-10 in São
            // Paulo was 01:30 UTC (UTC−2), not 02:30.
            (
                &ana,
                datetime!(2018-11-11 01:30 UTC),
                Some("answered"),
                Some(30),
                false,
            ),
        ];
        for (i, (user, at, outcome, talk, not_placed)) in calls.iter().enumerate() {
            let tenant = if *user == gil { "globex" } else { "acme" };
            sqlx::query(
                "INSERT INTO calls (id, tenant, user_id, agent_endpoint, to_number, state, outcome,
                                    created_at, talk_seconds, not_placed)
                 VALUES ($1, $2, $3, 'x', '+5511987654321', $4, $5, $6, $7, $8)",
            )
            .bind(format!("call-{i}"))
            .bind(tenant)
            .bind(*user)
            .bind(if outcome.is_some() {
                "ended"
            } else {
                "connected"
            })
            .bind(*outcome)
            .bind(to_millis(*at))
            .bind(*talk)
            .bind(*not_placed)
            .execute(&store.pool)
            .await
            .unwrap();
        }
        // Written around the store: the rollups are counted again.
        store.recount_call_stats().await.unwrap();
        Data {
            _dir: dir,
            database,
            store,
            ana,
            bruno,
        }
    }

    fn filter(from: OffsetDateTime, to: OffsetDateTime) -> DashboardFilter {
        DashboardFilter {
            tenant: "acme".into(),
            user_id: None,
            from,
            to,
        }
    }

    /// Days since the epoch of a São Paulo date.
    fn day(date: time::Date) -> i64 {
        i64::from(date.to_julian_day() - time::macros::date!(1970 - 01 - 01).to_julian_day())
    }

    #[tokio::test]
    async fn a_week_is_counted_on_sao_paulos_calendar() {
        let d = data().await;
        // The week of 2026-11-29 (Sunday) to 2026-12-05, São Paulo.
        let figures = d
            .store
            .dashboard(&filter(
                datetime!(2026-11-29 03:00 UTC),
                datetime!(2026-12-06 03:00 UTC),
            ))
            .await
            .unwrap();
        assert_eq!(
            figures.salespeople,
            [
                SalespersonFigures {
                    user_id: d.ana.clone(),
                    name: "Ana".into(),
                    calls: 2,
                    answered: 1,
                    talk_seconds: 120,
                },
                SalespersonFigures {
                    user_id: d.bruno.clone(),
                    name: "Bruno".into(),
                    calls: 2,
                    answered: 1,
                    talk_seconds: 60,
                },
            ]
        );
        let sunday = day(time::macros::date!(2026 - 11 - 29));
        assert_eq!(
            figures.days,
            [
                DayFigures {
                    day: sunday,
                    outcome: Outcome::Answered,
                    calls: 1
                },
                DayFigures {
                    day: sunday + 1,
                    outcome: Outcome::Answered,
                    calls: 1
                },
                DayFigures {
                    day: sunday + 1,
                    outcome: Outcome::Busy,
                    calls: 1
                },
                DayFigures {
                    day: sunday + 1,
                    outcome: Outcome::NoAnswer,
                    calls: 1
                },
            ],
            "the 23:30 call is Sunday's, though UTC says Monday"
        );
        assert_eq!(
            figures.hours,
            [
                HourFigures {
                    weekday: 0,
                    hour: 23,
                    calls: 1,
                    answered: 1
                },
                HourFigures {
                    weekday: 1,
                    hour: 9,
                    calls: 3,
                    answered: 1
                },
            ]
        );
        let mut bruno = filter(
            datetime!(2026-11-29 03:00 UTC),
            datetime!(2026-12-06 03:00 UTC),
        );
        bruno.user_id = Some(d.bruno.clone());
        let figures = d.store.dashboard(&bruno).await.unwrap();
        assert_eq!(figures.salespeople.len(), 1);
        assert_eq!(figures.hours.iter().map(|h| h.calls).sum::<u64>(), 2);
    }

    /// The team's figures come from the rollups, one salesperson's from
    /// the calls: over the same calls, the two agree.
    #[tokio::test]
    async fn the_rollups_agree_with_the_calls() {
        let d = data().await;
        for (from, to) in [
            (
                datetime!(2026-11-29 03:00 UTC),
                datetime!(2026-12-06 03:00 UTC),
            ),
            (
                datetime!(2018-11-01 03:00 UTC),
                datetime!(2018-12-01 02:00 UTC),
            ),
        ] {
            let team = d.store.dashboard(&filter(from, to)).await.unwrap();
            let mut days = Vec::new();
            let mut hours: Vec<HourFigures> = Vec::new();
            let mut ranking = Vec::new();
            for user in [&d.ana, &d.bruno] {
                let mut one = filter(from, to);
                one.user_id = Some(user.clone());
                let figures = d.store.dashboard(&one).await.unwrap();
                ranking.extend(figures.salespeople);
                days.extend(figures.days);
                for h in figures.hours {
                    match hours
                        .iter_mut()
                        .find(|x| (x.weekday, x.hour) == (h.weekday, h.hour))
                    {
                        Some(x) => {
                            x.calls += h.calls;
                            x.answered += h.answered;
                        }
                        None => hours.push(h),
                    }
                }
            }
            let mut team_days = team.days.clone();
            let mut team_ranking = team.salespeople.clone();
            let mut team_hours = team.hours.clone();
            for list in [&mut days, &mut team_days] {
                list.sort_by_key(|x| (x.day, x.outcome.as_str()));
            }
            let merged: Vec<DayFigures> = days.iter().fold(Vec::new(), |mut all, x| {
                match all
                    .iter_mut()
                    .find(|y: &&mut DayFigures| (y.day, y.outcome) == (x.day, x.outcome))
                {
                    Some(y) => y.calls += x.calls,
                    None => all.push(x.clone()),
                }
                all
            });
            ranking.sort_by_key(|x| x.user_id.clone());
            team_ranking.sort_by_key(|x| x.user_id.clone());
            hours.sort_by_key(|x| (x.weekday, x.hour));
            team_hours.sort_by_key(|x| (x.weekday, x.hour));
            assert_eq!(team_days, merged, "{from}");
            assert_eq!(team_ranking, ranking, "{from}");
            assert_eq!(team_hours, hours, "{from}");
        }
    }

    /// A database with calls from before the rollups gets them counted
    /// when it is first opened, once.
    #[tokio::test]
    async fn an_older_database_is_counted_when_opened() {
        let d = data().await;
        let week = filter(
            datetime!(2026-11-29 03:00 UTC),
            datetime!(2026-12-06 03:00 UTC),
        );
        let expected = d.store.dashboard(&week).await.unwrap();
        for sql in [
            "DELETE FROM call_stats_hourly",
            "DELETE FROM call_stats_daily",
            "UPDATE call_stats_state SET filled = FALSE",
        ] {
            sqlx::query(sql).execute(&d.store.pool).await.unwrap();
        }
        assert!(d.store.dashboard(&week).await.unwrap().hours.is_empty());
        let reopened = d.database.open().await.unwrap();
        assert_eq!(reopened.dashboard(&week).await.unwrap(), expected);
        // Opened again: not counted twice.
        let again = d.database.open().await.unwrap();
        assert_eq!(again.dashboard(&week).await.unwrap(), expected);
    }

    /// A call counts once, as it ends through the store, however often its
    /// ended version is saved again; a live one, or one never placed, not.
    #[tokio::test]
    async fn a_call_is_counted_once_as_it_ends() {
        let d = data().await;
        let week = filter(
            datetime!(2026-11-29 03:00 UTC),
            datetime!(2026-12-06 03:00 UTC),
        );
        let before = d.store.dashboard(&week).await.unwrap();
        let live = d.store.call("call-4").await.unwrap();
        assert!(live.is_live());
        let mut ended = live.clone();
        ended.state = crate::domain::CallState::Ended;
        ended.outcome = Some(Outcome::Answered);
        ended.talk_seconds = Some(42);
        d.store.save_calls(&[ended.clone()]).await.unwrap();
        d.store.save_calls(&[ended]).await.unwrap();
        let after = d.store.dashboard(&week).await.unwrap();
        let calls = |f: &DashboardFigures| f.hours.iter().map(|h| h.calls).sum::<u64>();
        assert_eq!(calls(&after), calls(&before) + 1);
        let bruno = |f: &DashboardFigures| {
            f.salespeople
                .iter()
                .find(|s| s.user_id == d.bruno)
                .cloned()
                .unwrap()
        };
        assert_eq!(bruno(&after).calls, bruno(&before).calls + 1);
        assert_eq!(bruno(&after).talk_seconds, bruno(&before).talk_seconds + 42);
        // Counting again from the calls finds the same.
        d.store.recount_call_stats().await.unwrap();
        assert_eq!(d.store.dashboard(&week).await.unwrap(), after);
    }

    #[tokio::test]
    async fn the_day_summer_time_began_starts_at_one_in_the_morning() {
        let d = data().await;
        // 4 November 2018: clocks went from 00:00 to 01:00; 01:30 on São
        // Paulo's clock was 03:30 UTC, the day's first half hour.
        sqlx::query(
            "INSERT INTO calls (id, tenant, user_id, agent_endpoint, to_number, state, outcome,
                                created_at, talk_seconds)
             VALUES ('dst', 'acme', $1, 'x', '+5511987654321', 'ended', 'busy', $2, NULL)",
        )
        .bind(&d.ana)
        .bind(to_millis(datetime!(2018-11-04 03:30 UTC)))
        .execute(&d.store.pool)
        .await
        .unwrap();
        d.store.recount_call_stats().await.unwrap();
        let figures = d
            .store
            .dashboard(&filter(
                datetime!(2018-11-04 03:00 UTC),
                datetime!(2018-11-05 02:00 UTC),
            ))
            .await
            .unwrap();
        assert_eq!(
            figures.hours,
            [HourFigures {
                weekday: 0,
                hour: 1,
                calls: 1,
                answered: 0
            }]
        );
        assert_eq!(
            figures.days[0].day,
            day(time::macros::date!(2018 - 11 - 04))
        );
    }

    #[tokio::test]
    async fn past_summer_time_moves_the_hour_and_the_day() {
        let d = data().await;
        let figures = d
            .store
            .dashboard(&filter(
                datetime!(2018-11-01 03:00 UTC),
                datetime!(2018-12-01 02:00 UTC),
            ))
            .await
            .unwrap();
        assert_eq!(
            figures.days,
            [DayFigures {
                day: day(time::macros::date!(2018 - 11 - 10)),
                outcome: Outcome::Answered,
                calls: 1
            }]
        );
        assert_eq!(
            figures.hours,
            [HourFigures {
                weekday: 6,
                hour: 23,
                calls: 1,
                answered: 1
            }],
            "Saturday 23:30 on the summer-time clock"
        );
    }
}
