//! The manager dashboard's query time (`Store::dashboard`: the three
//! grouped reads) with 10,000, 100,000 and 1,000,000 calls in the
//! database, on SQLite. The calls are generated: one tenant with 50
//! salespeople (and a second tenant with as many calls, which the reads
//! must skip), spread over the 365 days before the bench runs, in business
//! hours, with a realistic mix of outcomes; then the rollups are counted
//! from them (`Store::recount_call_stats`, timed). For each size, the
//! dashboard of the whole team over the last 7, 30 and 365 days and of one
//! salesperson over 30 days, each run 15 times after one warm-up: median
//! and worst, side by side with the issue's target (300 ms) and, as the
//! anchor, the reads as they were before the rollups (every call of the
//! period counted through the covering index `calls_dashboard`; the SQL of
//! that version is copied below, in [`before`]).
//!
//! Run: `cargo bench -p disca-backend --bench dashboard`.

use std::time::{Duration, Instant};

use disca_backend::domain::{PhoneKind, Role, Tenant};
use disca_backend::storage::{DashboardFilter, NewUser, Store};
use rand::Rng;
use sqlx::sqlite::SqliteConnectOptions;
use time::OffsetDateTime;

const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
const SALESPEOPLE: usize = 50;
const RUNS: usize = 15;
const TARGET: Duration = Duration::from_millis(300);
const OUTCOMES: [(&str, u32); 6] = [
    ("answered", 45),
    ("no_answer", 30),
    ("busy", 8),
    ("rejected", 5),
    ("failed", 7),
    ("agent_no_answer", 5),
];

#[tokio::main]
async fn main() {
    println!("dashboard: Store::dashboard on SQLite (release), median / worst of {RUNS} runs");
    println!("  target: {} ms with 1,000,000 calls", TARGET.as_millis());
    for size in SIZES {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let users = seed_people(&store).await;
        let pool = sqlx::SqlitePool::connect_with(
            SqliteConnectOptions::new().filename(dir.path().join("disca.sqlite3")),
        )
        .await
        .unwrap();
        let started = Instant::now();
        generate(&pool, &users, size).await;
        println!(
            "\n{size} calls of acme (and {size} of globex), generated in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        store.recount_call_stats().await.unwrap();
        println!(
            "  rollups counted from the calls in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let now = OffsetDateTime::now_utc();
        let cases = [
            ("team, 7 days", None, 7),
            ("team, 30 days", None, 30),
            ("team, 365 days", None, 365),
            ("one salesperson, 30 days", Some(users[0].clone()), 30),
        ];
        for version in [
            "now (rollups; one salesperson: calls_user_dashboard)",
            "before (every call, calls_dashboard)",
        ] {
            println!("  {version}:");
            let anchor = version.starts_with("before");
            for (name, user, days) in &cases {
                let filter = DashboardFilter {
                    tenant: "acme".into(),
                    user_id: user.clone(),
                    from: now - time::Duration::days(*days),
                    to: now,
                };
                let read = || async {
                    if anchor {
                        before::dashboard(&pool, &filter).await
                    } else {
                        store
                            .dashboard(&filter)
                            .await
                            .unwrap()
                            .salespeople
                            .iter()
                            .map(|s| s.calls)
                            .sum::<u64>()
                    }
                };
                read().await;
                let mut times = Vec::with_capacity(RUNS);
                let mut counted = 0;
                for _ in 0..RUNS {
                    let started = Instant::now();
                    counted = read().await;
                    times.push(started.elapsed());
                }
                times.sort();
                let median = times[RUNS / 2];
                let worst = times[RUNS - 1];
                println!(
                    "    {name:<26} {counted:>8} calls  median {:>7.1} ms  worst {:>7.1} ms  {}",
                    median.as_secs_f64() * 1e3,
                    worst.as_secs_f64() * 1e3,
                    if worst <= TARGET {
                        "≤ target"
                    } else {
                        "OVER target"
                    }
                );
            }
        }
    }
}

/// The anchor: the dashboard's three reads as they were before the
/// rollups (commit d04d9c9, `storage/dashboard.rs`), counting every call of
/// the period through the covering index `calls_dashboard`. Returns the
/// calls counted.
mod before {
    use disca_backend::domain::sao_paulo;
    use disca_backend::storage::DashboardFilter;
    use sqlx::Row;

    const DAY_MS: i64 = 86_400_000;
    const HOUR_MS: i64 = 3_600_000;

    fn local_time(filter: &DashboardFilter, first: usize) -> (String, Vec<i64>) {
        let stretches = sao_paulo::offsets(filter.from, filter.to);
        let mut binds = Vec::new();
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
                let last = bind(stretches.last().map(|(_, o)| *o).unwrap_or_default());
                sql.push_str(&format!(" ELSE {last} END)"));
                sql
            }
        };
        (sql, binds)
    }

    pub async fn dashboard(pool: &sqlx::SqlitePool, filter: &DashboardFilter) -> u64 {
        let mut selection = String::from(
            "tenant = $1 AND created_at >= $2 AND created_at < $3 \
             AND outcome IS NOT NULL AND not_placed = FALSE",
        );
        let mut next = 4;
        if filter.user_id.is_some() {
            selection.push_str(" AND user_id = $4");
            next = 5;
        }
        let (local, offsets) = local_time(filter, next);
        let ranking = format!(
            "SELECT c.user_id, u.name, COUNT(*) AS calls,
                    SUM(CASE WHEN c.outcome = 'answered' THEN 1 ELSE 0 END) AS answered,
                    CAST(COALESCE(SUM(c.talk_seconds), 0) AS BIGINT) AS talk
             FROM (SELECT user_id, outcome, talk_seconds FROM calls WHERE {selection}) AS c
             JOIN users u ON u.id = c.user_id
             GROUP BY c.user_id, u.name
             ORDER BY calls DESC, u.name"
        );
        let by_day = format!(
            "SELECT {local} / {DAY_MS} AS day, outcome, COUNT(*) AS calls
             FROM calls WHERE {selection}
             GROUP BY {local} / {DAY_MS}, outcome ORDER BY day, outcome"
        );
        let by_hour = format!(
            "SELECT ({local} / {DAY_MS} + 4) % 7 AS weekday,
                    ({local} % {DAY_MS}) / {HOUR_MS} AS hour,
                    COUNT(*) AS calls,
                    SUM(CASE WHEN outcome = 'answered' THEN 1 ELSE 0 END) AS answered
             FROM calls WHERE {selection}
             GROUP BY ({local} / {DAY_MS} + 4) % 7, ({local} % {DAY_MS}) / {HOUR_MS}
             ORDER BY weekday, hour"
        );
        let mut counted = 0;
        for (i, sql) in [ranking, by_day, by_hour].iter().enumerate() {
            let mut query = sqlx::query(sql)
                .bind(filter.tenant.as_str())
                .bind(filter.from.unix_timestamp() * 1000)
                .bind(filter.to.unix_timestamp() * 1000);
            if let Some(user) = &filter.user_id {
                query = query.bind(user.as_str());
            }
            if i > 0 {
                for value in &offsets {
                    query = query.bind(*value);
                }
            }
            let rows = query.fetch_all(pool).await.unwrap();
            if i == 0 {
                counted = rows
                    .iter()
                    .map(|r| r.try_get::<i64, _>("calls").unwrap() as u64)
                    .sum();
            }
        }
        counted
    }
}

async fn seed_people(store: &Store) -> Vec<String> {
    for slug in ["acme", "globex"] {
        store
            .add_tenant(&Tenant::in_brazil(slug.parse().unwrap(), slug))
            .await
            .unwrap();
    }
    let mut ids = Vec::new();
    for tenant in ["acme", "globex"] {
        for i in 0..SALESPEOPLE {
            let ext = format!("{}", 1000 + i);
            let user = store
                .add_user(NewUser {
                    tenant,
                    name: &format!("Vendedor {i}"),
                    email: &format!("v{i}@{tenant}.com.br"),
                    extension: &ext.parse().unwrap(),
                    role: Role::Agent,
                    phone: PhoneKind::Desk,
                    token_hash: None,
                })
                .await
                .unwrap();
            ids.push(user.id);
        }
    }
    ids
}

/// `size` calls for each tenant over the last 365 days.
async fn generate(pool: &sqlx::SqlitePool, users: &[String], size: usize) {
    const BATCH: usize = 500;
    let now = OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let weight: u32 = OUTCOMES.iter().map(|(_, w)| w).sum();
    let mut rng = rand::rng();
    let mut tx = pool.begin().await.unwrap();
    let mut id = 0u64;
    for (tenant, people) in [
        ("acme", &users[..SALESPEOPLE]),
        ("globex", &users[SALESPEOPLE..]),
    ] {
        let mut left = size;
        while left > 0 {
            let n = left.min(BATCH);
            left -= n;
            let mut sql = String::from(
                "INSERT INTO calls (id, tenant, user_id, agent_endpoint, to_number, state, outcome,
                                    created_at, talk_seconds) VALUES ",
            );
            let rows: Vec<String> = (0..n)
                .map(|i| {
                    let b = i * 6;
                    format!(
                        "(${}, ${}, ${}, 'x', '+5511987654321', 'ended', ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6
                    )
                })
                .collect();
            sql.push_str(&rows.join(", "));
            let mut query = sqlx::query(&sql);
            for _ in 0..n {
                id += 1;
                // A day of the last year, 08:00–19:00 in São Paulo.
                let day = rng.random_range(0..365i64);
                let second = rng.random_range((11 * 3600)..(22 * 3600i64));
                let at = now - day * 86_400_000 - (now % 86_400_000) + second * 1000;
                let mut pick = rng.random_range(0..weight);
                let outcome = OUTCOMES
                    .iter()
                    .find(|(_, w)| {
                        if pick < *w {
                            true
                        } else {
                            pick -= w;
                            false
                        }
                    })
                    .map(|(o, _)| *o)
                    .unwrap_or("answered");
                let talk = (outcome == "answered").then(|| rng.random_range(10..900i64));
                query = query
                    .bind(format!("{tenant}-{id}"))
                    .bind(tenant)
                    .bind(people[rng.random_range(0..people.len())].clone())
                    .bind(outcome)
                    .bind(at)
                    .bind(talk);
            }
            query.execute(&mut *tx).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE").execute(pool).await.unwrap();
}
