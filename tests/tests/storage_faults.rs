//! The database failing under the backend, for real. On SQLite: its disk
//! fills up (a 5 MB tmpfs), another process holds its write lock. On
//! PostgreSQL (a throwaway server of each test's own): the server restarts
//! during a call, its disk fills up, another session holds a table lock. A click is answered
//! 201 only once its call is committed; otherwise 503 with `Retry-After` and
//! a Portuguese message, nothing placed; the backend recovers by itself and
//! never keeps a lock after a failed write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use disca_testkit::PeerBehavior;
use disca_testkit::faults::{LockHolder, SmallDisk, committed_rows, committed_rows_in_postgres};
use disca_testkit::postgres::Cluster;
use disca_testkit::system::{Backend, LEAD, Lab};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A click as the host sends it (always with an Idempotency-Key): status,
/// `Retry-After`, body.
async fn click(backend: &Backend, user: &str, key: &str) -> (StatusCode, Option<u64>, Value) {
    let r = backend
        .http
        .post(format!("{}/v1/calls", backend.base))
        .bearer_auth(backend.token(user))
        .header("Idempotency-Key", key)
        .json(&json!({"to": LEAD, "context": {"deal_id": "5f1e7a9b2c3d4e5f6a7b8c9d"}}))
        .send()
        .await
        .unwrap();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (
        r.status(),
        retry_after,
        r.json().await.unwrap_or(Value::Null),
    )
}

/// A click refused with 503, `code` and a `Retry-After`: its body.
async fn refused(backend: &Backend, user: &str, key: &str, code: &str) -> Value {
    let (status, retry_after, body) = click(backend, user, key).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:#}");
    assert_eq!(body["error"]["code"], code, "{body:#}");
    assert!(retry_after.is_some_and(|s| s > 0), "no Retry-After");
    body
}

/// The test PBX: the salespeople answer, the lead hangs up after `talk`
/// seconds.
async fn lab_talking_for(talk: u64) -> Lab {
    Lab::start(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs(talk),
        },
    )
    .await
}

/// The rows `id|state` of the calls `ids`, all ended, in id order.
fn ended_rows(ids: &[&str]) -> Vec<String> {
    let mut rows: Vec<String> = ids.iter().map(|id| format!("{id}|ended")).collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn a_full_disk_refuses_clicks_and_the_backend_recovers_when_space_returns() {
    let lab = lab_talking_for(3).await;
    let disk = SmallDisk::mount(5);
    let backend = Backend::start_in(&lab.pbx, lab.pbx.ami_addr, disk.folder()).await;
    let db = backend.data_dir().join("disca.sqlite3");

    // A call is in progress when the disk fills up.
    let live = backend.place_ok("acme-1001").await;
    backend
        .wait_for_state("acme-1001", &live, "connected")
        .await;
    disk.fill();

    // Clicks are refused, clearly, and never placed.
    for _ in 0..3 {
        let body = refused(&backend, "acme-1002", "full-disk-click", "storage_full").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("sem espaço em disco"),
            "{body:#}"
        );
    }
    let (status, h) = backend.health().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{h:#}");
    assert_eq!(h["database_problem"], "disk_full", "{h:#}");

    // The lead hangs up while nothing can be stored.
    tokio::time::sleep(Duration::from_secs(4)).await;
    disk.free();

    // The backend recovers by itself: the end it could not store is stored,
    // and the same click now goes through.
    backend.wait_until_healthy().await;
    let ended = backend.wait_until_ended("acme-1001", &live).await;
    assert_eq!(ended["outcome"], "answered", "{ended:#}");
    let (status, _, call) = click(&backend, "acme-1002", "full-disk-click").await;
    assert_eq!(status, StatusCode::CREATED, "{call:#}");
    let placed = call["id"].as_str().unwrap().to_owned();
    let call = backend.wait_until_ended("acme-1002", &placed).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");

    // What was answered 201 is committed (read by another process); the
    // refused clicks left nothing.
    assert_eq!(
        committed_rows(&db, "SELECT id, state FROM calls ORDER BY id"),
        ended_rows(&[&live, &placed])
    );
    // No connection of the backend kept a transaction open: another process
    // takes the write lock at once.
    let started = Instant::now();
    let holder = LockHolder::take(&db).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the write lock was held for {:?}",
        started.elapsed()
    );
    holder.release().await;
}

#[tokio::test]
async fn a_write_lock_held_by_another_process() {
    let lab = lab_talking_for(2).await;
    let backend = Backend::start_on_sqlite(&lab.pbx, lab.pbx.ami_addr).await;
    let db = backend.data_dir().join("disca.sqlite3");

    // Held past the busy timeout: the click waits for it, then gets 503
    // with Retry-After (not an instant 500).
    let holder = LockHolder::take(&db).await;
    let started = Instant::now();
    refused(&backend, "acme-1001", "locked-click", "storage_busy").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4),
        "answered after {waited:?}, without waiting for the lock"
    );
    let (status, h) = backend.health().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{h:#}");
    assert_eq!(h["database_problem"], "locked", "{h:#}");
    holder.release().await;

    // Held for less than the busy timeout: the same click waits and goes
    // through.
    let holder = LockHolder::take(&db).await;
    let releasing = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        holder.release().await;
    });
    let (status, _, call) = click(&backend, "acme-1001", "locked-click").await;
    assert_eq!(status, StatusCode::CREATED, "{call:#}");
    releasing.await.unwrap();
    let id = call["id"].as_str().unwrap().to_owned();

    // The call ends while the lock is held again: the tracker stores the end
    // once the lock is gone, without waiting for another event.
    backend.wait_for_state("acme-1001", &id, "connected").await;
    let holder = LockHolder::take(&db).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    holder.release().await;
    let ended = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(ended["outcome"], "answered", "{ended:#}");
    assert_eq!(
        committed_rows(&db, &format!("SELECT state FROM calls WHERE id = '{id}'")),
        ["ended"]
    );
}

/// PostgreSQL restarts under the backend during a call (an upgrade, a
/// failover, `systemctl restart postgresql`): clicks are refused meanwhile,
/// clearly and placed nowhere; the call's end, which happened while the
/// database was away, is stored with its true outcome and measured
/// durations once it is back; nothing answered 201 is lost.
// Several threads: the server's programs run blocking on this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarting_under_the_backend_loses_nothing() {
    let lab = lab_talking_for(3).await;
    let cluster = Arc::new(Cluster::start().unwrap());
    let url = cluster.url();
    let backend = Backend::start_on(&lab.pbx, lab.pbx.ami_addr, &url).await;

    let live = backend.place_ok("acme-1001").await;
    backend
        .wait_for_state("acme-1001", &live, "connected")
        .await;
    let talking = Instant::now();
    cluster.stop().unwrap();

    for _ in 0..2 {
        let started = Instant::now();
        refused(
            &backend,
            "acme-1002",
            "restart-click",
            "storage_unavailable",
        )
        .await;
        println!("refused after {:?}", started.elapsed());
    }
    let (status, h) = backend.health().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{h:#}");
    assert_eq!(h["database_problem"], "unavailable", "{h:#}");

    // The lead hangs up while the database is away.
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(talking.elapsed())).await;
    cluster.start_again().unwrap();

    backend.wait_until_healthy().await;
    let ended = backend.wait_until_ended("acme-1001", &live).await;
    assert_eq!(ended["outcome"], "answered", "{ended:#}");
    assert_ne!(ended["durations_estimated"], true, "{ended:#}");
    let talk = ended["talk_seconds"].as_i64().unwrap();
    assert!((2..=4).contains(&talk), "talk {talk} s: {ended:#}");
    let (status, _, call) = click(&backend, "acme-1002", "restart-click").await;
    assert_eq!(status, StatusCode::CREATED, "{call:#}");
    let placed = call["id"].as_str().unwrap().to_owned();
    let call = backend.wait_until_ended("acme-1002", &placed).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");

    // A restart shorter than a request's wait for a connection goes
    // unnoticed: the click waits for the server and is placed.
    cluster.stop().unwrap();
    let restarting = std::thread::spawn({
        let cluster = Arc::clone(&cluster);
        move || {
            std::thread::sleep(Duration::from_secs(1));
            cluster.start_again().unwrap();
        }
    });
    let (status, _, quick) = click(&backend, "acme-1002", "quick-restart-click").await;
    assert_eq!(status, StatusCode::CREATED, "{quick:#}");
    restarting.join().unwrap();
    let quick = quick["id"].as_str().unwrap().to_owned();
    backend.wait_until_ended("acme-1002", &quick).await;

    assert_eq!(
        committed_rows_in_postgres(&url, "SELECT id, state FROM calls ORDER BY id"),
        ended_rows(&[&live, &placed, &quick])
    );
}

/// PostgreSQL's disk fills up (its tablespace on a small tmpfs) during a
/// call: clicks are refused (`53100`, 503 `storage_full`), the call's end
/// is stored once there is room again, and the same click then goes
/// through. Every new call row needs a new page here (the table's
/// `fillfactor` lowered), as in a table whose pages are all full; an
/// update may still fit in its page, so the end may be stored at once.
// Several threads: the server's programs run blocking on this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_out_of_disk_refuses_clicks_and_recovers_when_space_returns() {
    let lab = lab_talking_for(3).await;
    let cluster = Cluster::start().unwrap();
    let disk = SmallDisk::mount(32);
    let folder = disk.folder();
    let owner = std::process::Command::new("chown")
        .arg("postgres:postgres")
        .arg(folder.path())
        .status()
        .unwrap();
    assert!(owner.success());
    let admin = cluster.url();
    for statement in [
        format!(
            "CREATE TABLESPACE small LOCATION '{}'",
            folder.path().display()
        ),
        "CREATE DATABASE disca TABLESPACE small".to_owned(),
    ] {
        committed_rows_in_postgres(&admin, &statement);
    }
    let url = cluster.url_of("disca");
    let backend = Backend::start_on(&lab.pbx, lab.pbx.ami_addr, &url).await;
    committed_rows_in_postgres(&url, "ALTER TABLE calls SET (fillfactor = 10)");

    let live = backend.place_ok("acme-1001").await;
    backend
        .wait_for_state("acme-1001", &live, "connected")
        .await;
    disk.fill();
    for _ in 0..3 {
        let body = refused(&backend, "acme-1002", "full-disk-click", "storage_full").await;
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("sem espaço em disco"),
            "{body:#}"
        );
    }

    // The lead hangs up while the disk is full.
    tokio::time::sleep(Duration::from_secs(4)).await;
    disk.free();

    let ended = backend.wait_until_ended("acme-1001", &live).await;
    assert_eq!(ended["outcome"], "answered", "{ended:#}");
    assert_ne!(ended["durations_estimated"], true, "{ended:#}");
    let (status, _, call) = click(&backend, "acme-1002", "full-disk-click").await;
    assert_eq!(status, StatusCode::CREATED, "{call:#}");
    let placed = call["id"].as_str().unwrap().to_owned();
    let call = backend.wait_until_ended("acme-1002", &placed).await;
    assert_eq!(call["outcome"], "answered", "{call:#}");
    assert_eq!(
        committed_rows_in_postgres(&url, "SELECT id, state FROM calls ORDER BY id"),
        ended_rows(&[&live, &placed])
    );
}

/// A table lock held by another session on PostgreSQL (a long maintenance
/// statement): a click waits `lock_timeout` for it, then gets 503 with
/// `Retry-After`; held for less, the click waits and goes through; a call
/// that ends while it is held is stored once it is released.
// Several threads: the server's programs run blocking on this one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_lock_held_by_another_postgres_session() {
    let lab = lab_talking_for(2).await;
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let backend = Backend::start_on(&lab.pbx, lab.pbx.ami_addr, &url).await;

    let holder = LockHolder::lock_table(&url, "calls").await;
    let started = Instant::now();
    refused(&backend, "acme-1001", "locked-click", "storage_busy").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4),
        "answered after {waited:?}, without waiting for the lock"
    );
    holder.release().await;

    let holder = LockHolder::lock_table(&url, "calls").await;
    let releasing = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        holder.release().await;
    });
    let (status, _, call) = click(&backend, "acme-1001", "locked-click").await;
    assert_eq!(status, StatusCode::CREATED, "{call:#}");
    releasing.await.unwrap();
    let id = call["id"].as_str().unwrap().to_owned();

    backend.wait_for_state("acme-1001", &id, "connected").await;
    let holder = LockHolder::lock_table(&url, "calls").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    holder.release().await;
    let ended = backend.wait_until_ended("acme-1001", &id).await;
    assert_eq!(ended["outcome"], "answered", "{ended:#}");
    assert_eq!(
        committed_rows_in_postgres(&url, &format!("SELECT state FROM calls WHERE id = '{id}'")),
        ["ended"]
    );
}
