//! The manager's dashboard: a tenant's calls of a period (of one
//! salesperson, or all) counted three ways — per salesperson, per São Paulo
//! day and outcome, per weekday and hour — by the database, in SQL that
//! SQLite and PostgreSQL both run: São Paulo's clock is the UTC
//! milliseconds plus the offset of their stretch (a `CASE` over the
//! stretches `domain::sao_paulo::offsets` gives, so past summer times
//! count), and days and hours are integer divisions of that. Each read is
//! one range scan of the covering index `calls_dashboard`.
//!
//! Counted: calls that ended and reached the PBX (an outcome, not
//! `not_placed`).

use sqlx::Row;
use time::OffsetDateTime;

use super::{Store, StoreError, parse_column, to_millis};
use crate::domain::Outcome;
use crate::domain::sao_paulo;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

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
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
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

    /// The calls per salesperson, most first. (`SUM` of a `BIGINT` is a
    /// `NUMERIC` in PostgreSQL: cast back.)
    pub async fn dashboard_salespeople(
        &self,
        filter: &DashboardFilter,
    ) -> Result<Vec<SalespersonFigures>, StoreError> {
        let (selection, _) = selection(filter);
        let ranking = format!(
            "SELECT c.user_id, u.name, COUNT(*) AS calls,
                    SUM(CASE WHEN c.outcome = 'answered' THEN 1 ELSE 0 END) AS answered,
                    CAST(COALESCE(SUM(c.talk_seconds), 0) AS BIGINT) AS talk
             FROM (SELECT user_id, outcome, talk_seconds FROM calls WHERE {selection}) AS c
             JOIN users u ON u.id = c.user_id
             GROUP BY c.user_id, u.name
             ORDER BY calls DESC, u.name"
        );
        let mut salespeople = Vec::new();
        for row in selected(&ranking, filter).fetch_all(&self.pool).await? {
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

    /// The calls per São Paulo day and outcome.
    pub async fn dashboard_days(
        &self,
        filter: &DashboardFilter,
    ) -> Result<Vec<DayFigures>, StoreError> {
        let (selection, next) = selection(filter);
        let (local, offsets) = local_time(filter, next);
        let by_day = format!(
            "SELECT {local} / {DAY_MS} AS day, outcome, COUNT(*) AS calls
             FROM calls WHERE {selection}
             GROUP BY {local} / {DAY_MS}, outcome
             ORDER BY day, outcome"
        );
        let mut query = selected(&by_day, filter);
        for value in &offsets {
            query = query.bind(*value);
        }
        let mut days = Vec::new();
        for row in query.fetch_all(&self.pool).await? {
            days.push(DayFigures {
                day: row.try_get("day")?,
                outcome: parse_column(&row.try_get::<String, _>("outcome")?, "calls.outcome")?,
                calls: count(row.try_get("calls")?),
            });
        }
        Ok(days)
    }

    /// The calls and the answered ones per weekday and hour (São Paulo's
    /// clock; 1970-01-01 was a Thursday, weekday 4).
    pub async fn dashboard_hours(
        &self,
        filter: &DashboardFilter,
    ) -> Result<Vec<HourFigures>, StoreError> {
        let (selection, next) = selection(filter);
        let (local, offsets) = local_time(filter, next);
        let by_hour = format!(
            "SELECT ({local} / {DAY_MS} + 4) % 7 AS weekday,
                    ({local} % {DAY_MS}) / {HOUR_MS} AS hour,
                    COUNT(*) AS calls,
                    SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END) AS answered
             FROM calls WHERE {selection}
             GROUP BY ({local} / {DAY_MS} + 4) % 7, ({local} % {DAY_MS}) / {HOUR_MS}
             ORDER BY weekday, hour"
        );
        let mut query = selected(&by_hour, filter);
        for value in &offsets {
            query = query.bind(*value);
        }
        let mut hours = Vec::new();
        for row in query.fetch_all(&self.pool).await? {
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
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::domain::{DestinationPolicy, PhoneKind, Region, Role, Tenant};
    use crate::storage::NewUser;

    struct Data {
        _dir: tempfile::TempDir,
        store: Store,
        ana: String,
        bruno: String,
    }

    async fn data() -> Data {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        for slug in ["acme", "globex"] {
            store
                .add_tenant(&Tenant {
                    slug: slug.parse().unwrap(),
                    name: slug.into(),
                    region: Region::BRAZIL,
                    policy: DestinationPolicy::default(),
                })
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
        Data {
            _dir: dir,
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
