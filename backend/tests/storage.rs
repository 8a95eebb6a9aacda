//! The store on a real SQLite file: group-committed creations keep the
//! one-live-call-per-agent and Idempotency-Key rules under concurrency, and
//! the event log numbers every change in order.

use std::collections::HashSet;

use disca_backend::domain::{
    CallContext, CallState, E164Number, Outcome, Region, Role, Tenant, User,
};
use disca_backend::storage::{CreateCall, Created, NewUser, Store, StoreError, testing};

async fn store_with_agents(n: usize) -> (Store, Vec<User>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = testing::fresh_store(dir.path()).await.unwrap();
    let tenant = Tenant::in_brazil("acme".parse().unwrap(), "Acme");
    store.add_tenant(&tenant).await.unwrap();
    let mut users = Vec::new();
    for i in 0..n {
        let ext = format!("{}", 1000 + i);
        users.push(
            store
                .add_user(NewUser {
                    tenant: "acme",
                    name: "Agent",
                    email: &format!("a{i}@example.com"),
                    extension: &ext.parse().unwrap(),
                    role: Role::Agent,
                    token_hash: Some(&format!("hash-{i}")),
                    phone: disca_backend::domain::PhoneKind::Desk,
                })
                .await
                .unwrap(),
        );
    }
    (store, users, dir)
}

async fn create(
    store: &Store,
    user: &User,
    key: Option<(&str, &str)>,
) -> Result<Created, StoreError> {
    let to = E164Number::parse("(11) 98765-4321", Region::BRAZIL).unwrap();
    store
        .create_call(CreateCall {
            user,
            to: &to,
            context: &CallContext::default(),
            idempotency: key,
        })
        .await
}

#[tokio::test]
async fn concurrent_clicks_of_one_agent_place_one_call() {
    let (store, users, _dir) = store_with_agents(1).await;
    let results = futures::future::join_all((0..50).map(|_| create(&store, &users[0], None))).await;
    let new = results
        .iter()
        .filter(|r| matches!(r, Ok(Created::New(_))))
        .count();
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::AgentBusy)))
        .count();
    assert_eq!((new, busy), (1, 49));
}

#[tokio::test]
async fn one_idempotency_key_one_call_even_when_concurrent() {
    let (store, users, _dir) = store_with_agents(1).await;
    let results = futures::future::join_all(
        (0..20).map(|_| create(&store, &users[0], Some(("click-1", "h1")))),
    )
    .await;
    let ids: HashSet<String> = results
        .iter()
        .map(|r| match r {
            Ok(Created::New(c) | Created::Replayed(c)) => c.id.clone(),
            Err(e) => panic!("{e}"),
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        results
            .iter()
            .filter(|r| matches!(r, Ok(Created::New(_))))
            .count(),
        1
    );
    // The same key for another request is refused, now and later.
    assert!(matches!(
        create(&store, &users[0], Some(("click-1", "other"))).await,
        Err(StoreError::IdempotencyMismatch)
    ));
    let Ok(Created::Replayed(again)) = create(&store, &users[0], Some(("click-1", "h1"))).await
    else {
        panic!("replayed")
    };
    assert!(ids.contains(&again.id));
}

#[tokio::test]
async fn many_agents_at_once_each_get_a_call_and_every_change_is_logged_in_order() {
    let (store, users, _dir) = store_with_agents(120).await;
    let mut live = store.subscribe();
    let results =
        futures::future::join_all(users.iter().map(|u| create(&store, u, Some(("k", "h"))))).await;
    let mut calls: Vec<_> = results
        .into_iter()
        .map(|r| match r {
            Ok(Created::New(c)) => c,
            _ => panic!("every agent gets a new call"),
        })
        .collect();
    let mut seqs = Vec::new();
    for _ in 0..calls.len() {
        seqs.push(live.recv().await.unwrap().seq);
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "published in seq order"
    );
    for call in &mut calls {
        call.state = CallState::Ended;
        call.outcome = Some(Outcome::Failed);
    }
    store.save_calls(&calls).await.unwrap();
    let logged = store.events_after("acme", None, 0, 1000).await.unwrap();
    assert_eq!(logged.len(), 240);
    assert!(logged.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(
        logged[120..]
            .iter()
            .all(|(_, payload)| payload.contains("\"state\":\"ended\""))
    );
    // Ended calls free their agents.
    assert!(matches!(
        create(&store, &users[0], None).await,
        Ok(Created::New(_))
    ));
}

/// A version written late — by a tracker that had not yet heard that
/// another backend ended the call — never makes an ended call live again,
/// and leaves no event.
#[tokio::test]
async fn an_ended_call_is_never_made_live_again() {
    let (store, users, _dir) = store_with_agents(1).await;
    let Ok(Created::New(call)) = create(&store, &users[0], None).await else {
        panic!("a new call");
    };
    let mut live = call.clone();
    live.state = CallState::RingingAgent;
    let mut ended = call.clone();
    ended.state = CallState::Ended;
    ended.outcome = Some(Outcome::Failed);
    ended.not_placed = true;
    ended.ended_at = Some(time::OffsetDateTime::now_utc());
    store
        .save_calls(std::slice::from_ref(&ended))
        .await
        .unwrap();
    let before = store
        .events_after("acme", None, 0, 100)
        .await
        .unwrap()
        .len();
    store.save_calls(std::slice::from_ref(&live)).await.unwrap();
    let stored = store.call(&call.id).await.unwrap();
    assert_eq!(stored.state, CallState::Ended);
    assert!(stored.not_placed);
    assert_eq!(
        store
            .events_after("acme", None, 0, 100)
            .await
            .unwrap()
            .len(),
        before,
        "no event for the dropped version"
    );
    // The user may place a call again: the old one is not live.
    assert!(matches!(
        create(&store, &users[0], None).await,
        Ok(Created::New(_))
    ));
}
