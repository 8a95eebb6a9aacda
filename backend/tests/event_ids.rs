//! Event ids (the SSE `id:`) count each tenant's events only, so a tenant's
//! stream does not show how busy the others are; ids handed out before they
//! were per tenant (global `seq` values) still resume without loss.

use std::borrow::Cow;
use std::path::Path;

use disca_backend::domain::{
    CallContext, CallState, E164Number, Outcome, Region, Role, Tenant, User,
};
use disca_backend::storage::{CreateCall, Created, NewUser, Store};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

async fn add_agent(store: &Store, tenant: &str, ext: &str) -> User {
    let t = Tenant::in_brazil(tenant.parse().unwrap(), tenant);
    let _ = store.add_tenant(&t).await;
    store
        .add_user(NewUser {
            tenant,
            name: "Agent",
            email: &format!("{ext}@{tenant}.example.com"),
            extension: &ext.parse().unwrap(),
            role: Role::Agent,
            token_hash: Some(&format!("{tenant}-{ext}")),
            phone: disca_backend::domain::PhoneKind::Desk,
        })
        .await
        .unwrap()
}

/// One call for `user`, ended at once: two events.
async fn call_and_end(store: &Store, user: &User) {
    let to = E164Number::parse("(11) 98765-4321", Region::BRAZIL).unwrap();
    let created = store
        .create_call(CreateCall {
            user,
            to: &to,
            context: &CallContext::default(),
            idempotency: None,
        })
        .await
        .unwrap();
    let Created::New(mut call) = created else {
        panic!("a new call")
    };
    call.state = CallState::Ended;
    call.outcome = Some(Outcome::Failed);
    store.save_calls(&[call]).await.unwrap();
}

#[tokio::test]
async fn each_tenant_counts_its_own_event_ids() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let acme = add_agent(&store, "acme", "1001").await;
    let globex = add_agent(&store, "globex", "2001").await;
    let mut live = store.subscribe();
    // acme is busy, globex calls once in between.
    for _ in 0..5 {
        call_and_end(&store, &acme).await;
    }
    call_and_end(&store, &globex).await;
    for _ in 0..5 {
        call_and_end(&store, &acme).await;
    }
    let ids = |events: Vec<(i64, String)>| events.into_iter().map(|e| e.0).collect::<Vec<_>>();
    let acme_ids = ids(store.events_after("acme", None, 0, 100).await.unwrap());
    let globex_ids = ids(store.events_after("globex", None, 0, 100).await.unwrap());
    assert_eq!(acme_ids, (1..=20).collect::<Vec<_>>());
    assert_eq!(
        globex_ids,
        [1, 2],
        "globex's ids do not count acme's 20 events"
    );
    assert_eq!(store.resume_point("globex", None).await.unwrap(), 2);
    assert_eq!(store.resume_point("acme", None).await.unwrap(), 20);
    // Published events carry the same ids, in order.
    let mut published = Vec::new();
    for _ in 0..22 {
        let e = live.recv().await.unwrap();
        published.push((e.call.tenant.clone(), e.tenant_seq));
    }
    assert_eq!(published[10], ("globex".to_owned(), 1));
    assert_eq!(published[12], ("acme".to_owned(), 11));
}

/// The migrations before per-tenant ids, applied to a new database.
async fn database_before_tenant_ids(dir: &Path) -> sqlx::SqlitePool {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(dir.join("disca.sqlite3"))
                .create_if_missing(true),
        )
        .await
        .unwrap();
    let mut migrator = sqlx::migrate::Migrator::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"),
    )
    .await
    .unwrap();
    migrator.migrations = Cow::Owned(
        migrator
            .migrations
            .iter()
            .filter(|m| m.version < 20261203000007)
            .cloned()
            .collect(),
    );
    migrator.run(&pool).await.unwrap();
    pool
}

#[tokio::test]
async fn ids_given_before_the_upgrade_resume_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let old = database_before_tenant_ids(dir.path()).await;
    // Six events with global ids 1..=6: acme's are 1, 3, 5; globex's 2, 4, 6.
    for (slug, user) in [("acme", "u-acme"), ("globex", "u-globex")] {
        sqlx::query("INSERT INTO tenants (slug, name, created_at) VALUES ($1, $1, 0)")
            .bind(slug)
            .execute(&old)
            .await
            .unwrap();
        sqlx::query("INSERT INTO users (id, tenant, name, email, extension, role, token_hash, created_at) VALUES ($1, $2, 'A', 'a@x', '1001', 'agent', $1, 0)")
            .bind(user)
            .bind(slug)
            .execute(&old)
            .await
            .unwrap();
        sqlx::query("INSERT INTO calls (id, tenant, user_id, agent_endpoint, to_number, state, outcome, created_at) VALUES ($1, $2, $3, '1001', '+5511987654321', 'ended', 'failed', 0)")
            .bind(format!("call-{slug}"))
            .bind(slug)
            .bind(user)
            .execute(&old)
            .await
            .unwrap();
    }
    for seq in 1..=6 {
        let (slug, user) = if seq % 2 == 1 {
            ("acme", "u-acme")
        } else {
            ("globex", "u-globex")
        };
        sqlx::query("INSERT INTO call_events (seq, call_id, tenant, user_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, 0)")
            .bind(seq)
            .bind(format!("call-{slug}"))
            .bind(slug)
            .bind(user)
            .bind(format!("{{\"old\":{seq}}}"))
            .execute(&old)
            .await
            .unwrap();
    }
    old.close().await;

    // The upgrade: ids continue above the last global one, per tenant.
    let store = Store::open(dir.path()).await.unwrap();
    let acme = store.events_after("acme", None, 0, 100).await.unwrap();
    assert_eq!(
        acme,
        [
            (7, "{\"old\":1}".to_owned()),
            (8, "{\"old\":3}".to_owned()),
            (9, "{\"old\":5}".to_owned())
        ]
    );
    // A client of acme that had seen global id 4 (so acme's 1 and 3) gets
    // acme's 5 and nothing twice.
    let from = store.resume_point("acme", Some(4)).await.unwrap();
    let replayed = store.events_after("acme", None, from, 100).await.unwrap();
    assert_eq!(replayed, [(9, "{\"old\":5}".to_owned())]);
    // Global id 6 (globex's last) seen by an acme client: nothing missed.
    let from = store.resume_point("acme", Some(6)).await.unwrap();
    assert_eq!(from, 9);
    // New events continue each tenant's ids.
    let user = store.user_by_token_hash("u-acme").await.unwrap();
    call_and_end(&store, &user).await;
    let after = store.events_after("acme", None, 9, 100).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.0).collect::<Vec<_>>(),
        [10, 11],
        "new ids continue"
    );
    assert_eq!(
        store.resume_point("acme", Some(10)).await.unwrap(),
        10,
        "new ids are taken as they are"
    );
    assert_eq!(store.resume_point("globex", None).await.unwrap(), 9);
}

#[tokio::test]
async fn an_id_above_the_newest_resumes_from_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    let acme = add_agent(&store, "acme", "1001").await;
    let globex = add_agent(&store, "globex", "2001").await;
    call_and_end(&store, &acme).await;
    // A made-up id (or one from another tenant, or a database restored
    // from a backup) is taken as the tenant's newest, so the stream does
    // not wait for the ids to catch up with it.
    let from = store.resume_point("acme", Some(1_000)).await.unwrap();
    assert_eq!(from, 2);
    assert_eq!(store.resume_point("acme", Some(2)).await.unwrap(), 2);
    assert_eq!(store.resume_point("acme", Some(1)).await.unwrap(), 1);
    // A tenant without events yet starts at the beginning.
    assert_eq!(store.resume_point("globex", Some(50)).await.unwrap(), 0);
    call_and_end(&store, &acme).await;
    let next = store.events_after("acme", None, from, 100).await.unwrap();
    assert_eq!(
        next.iter().map(|e| e.0).collect::<Vec<_>>(),
        [3, 4],
        "the next events are streamed"
    );
    call_and_end(&store, &globex).await;
    let globex_events = store.events_after("globex", None, 0, 100).await.unwrap();
    assert_eq!(globex_events.len(), 2);
}
