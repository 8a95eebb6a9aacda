//! CRM write-back speed (BENCHMARKS.md §7): the real backend in-process on
//! a random port with its database file, the RD Station stand-in over real
//! HTTP with RD Station's real limit (120 requests per minute per token),
//! calls ended through `Store::save_calls` (the PBX tracker's path).
//!
//! 1. Latency: calls ended one every 600 ms (100 a minute, under the limit);
//!    from the commit that ends the call to the note stored at the stand-in
//!    (its own clock, same machine). Target p95 ≤ 2 s.
//! 2. Burst: 1,000 calls ended at once; how fast the outbox drains, the
//!    most requests in any 60 s, 429s received, and every note exactly once.
//!
//! `cargo bench -p disca-backend --bench crm_delivery [-- latency|burst]`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use disca_backend::configuration::{AmiSettings, Settings};
use disca_backend::domain::{Call, Outcome, Role, User};
use disca_backend::startup::Application;
use disca_backend::storage::Store;
use disca_testkit::crm::{
    ANA, ANA_TOKEN, AURORA, MARIANA_PHONE, add_tenant, add_user, connect_tenant_v1, ended,
    record_call,
};
use rdstation_standin::{Config, Running, StandIn};
use time::OffsetDateTime;

const LATENCY_CALLS: usize = 100;
const BURST_CALLS: usize = 1_000;

struct Bench {
    standin: Running,
    store: Store,
    /// One agent per call in flight (one live call per agent).
    agents: Vec<User>,
    _dir: tempfile::TempDir,
}

async fn setup(agents: usize) -> Bench {
    let standin = StandIn::start(Config::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).await.unwrap();
    add_tenant(&store, "acme", "Acme").await;
    let mut users = Vec::new();
    for i in 0..agents {
        let (name, ext) = (format!("Vendedor {i}"), format!("{}", 1000 + i));
        let (user, _) = add_user(&store, "acme", (&name, &ext, Role::Agent), Some(ANA)).await;
        users.push(user);
    }
    connect_tenant_v1(&store, dir.path(), "acme", &standin.v1_base(), ANA_TOKEN).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ami: AmiSettings {
            addr: closed.to_string(),
            ..AmiSettings::default()
        },
        ..Settings::default()
    };
    // Measured: hang-up → note with no report to wait for (the note's
    // wait for the salesperson's report, `crm.report_wait_secs`, is a
    // choice, not a delay of the delivery).
    settings.crm.report_wait = std::time::Duration::ZERO;
    drop(store);
    let app = Application::build(&settings).await.unwrap();
    // Calls end through the application's own store, as the tracker's do.
    let store = app.store();
    tokio::spawn(app.run_until_stopped());
    Bench {
        standin,
        store,
        agents: users,
        _dir: dir,
    }
}

/// A call by `user` from the Aurora deal page, recorded; returns its
/// answered end, to be saved.
async fn ended_call(store: &Store, user: &User) -> Call {
    ended(
        record_call(store, user, MARIANA_PHONE, Some(AURORA)).await,
        Outcome::Answered,
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// When each call's notes were stored at the stand-in, per call id.
fn notes_by_call(standin: &Running) -> HashMap<String, Vec<OffsetDateTime>> {
    let mut by_call: HashMap<String, Vec<OffsetDateTime>> = HashMap::new();
    for note in standin.all_notes() {
        if let Some(id) = note
            .text
            .lines()
            .last()
            .and_then(|l| l.strip_prefix("ID da ligação no Disca: "))
        {
            by_call
                .entry(id.to_owned())
                .or_default()
                .push(note.created_at);
        }
    }
    by_call
}

async fn latency() {
    let bench = setup(1).await;
    let mut hangups = Vec::new();
    let started = Instant::now();
    for i in 0..LATENCY_CALLS {
        let call = ended_call(&bench.store, &bench.agents[0]).await;
        let hangup = OffsetDateTime::now_utc();
        bench
            .store
            .save_calls(std::slice::from_ref(&call))
            .await
            .unwrap();
        hangups.push((call.id, hangup));
        let next = started + Duration::from_millis(600 * (i as u64 + 1));
        tokio::time::sleep_until(next.into()).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let notes = notes_by_call(&bench.standin);
    let mut waits: Vec<f64> = hangups
        .iter()
        .map(|(id, hangup)| {
            let stored = notes.get(id).unwrap_or_else(|| panic!("no note for {id}"));
            assert_eq!(stored.len(), 1, "exactly once");
            (stored[0] - *hangup).as_seconds_f64() * 1000.0
        })
        .collect();
    waits.sort_by(f64::total_cmp);
    println!(
        "latency: {} calls, one every 600 ms: hang-up → note stored p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        waits.len(),
        percentile(&waits, 50.0),
        percentile(&waits, 95.0),
        percentile(&waits, 99.0),
        waits.last().unwrap()
    );
}

async fn burst() {
    // One agent per call: each agent has one live call at a time.
    let bench = setup(50).await;
    let mut calls = Vec::with_capacity(BURST_CALLS);
    for _ in 0..BURST_CALLS / bench.agents.len() {
        let mut group = Vec::new();
        for agent in &bench.agents {
            group.push(ended_call(&bench.store, agent).await);
        }
        // Ended together, as after a PBX burst: one commit per group.
        bench.store.save_calls(&group).await.unwrap();
        calls.extend(group.into_iter().map(|c| c.id));
    }
    let burst_at = Instant::now();
    let burst_wall = OffsetDateTime::now_utc();
    loop {
        let delivered = notes_by_call(&bench.standin).len();
        if delivered >= BURST_CALLS {
            break;
        }
        assert!(
            burst_at.elapsed() < Duration::from_secs(15 * 60),
            "drain stalled at {delivered}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained = burst_at.elapsed();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let notes = notes_by_call(&bench.standin);
    let lost = calls.iter().filter(|id| !notes.contains_key(*id)).count();
    let doubled = notes.values().filter(|v| v.len() > 1).count();
    let mut times: Vec<OffsetDateTime> = notes.values().flatten().copied().collect();
    times.sort();
    let mut most_in_a_minute = 0;
    let mut start = 0;
    for end in 0..times.len() {
        while times[end] - times[start] >= time::Duration::minutes(1) {
            start += 1;
        }
        most_in_a_minute = most_in_a_minute.max(end - start + 1);
    }
    let requests = bench.standin.requests();
    let first = (times[0] - burst_wall).as_seconds_f64();
    println!(
        "burst: {} calls ended at once: drained in {:.1} s ({:.1} notes/min), first note after {:.2} s, \
         most notes in any 60 s: {most_in_a_minute}, requests: {}, lost: {lost}, doubled: {doubled}",
        BURST_CALLS,
        drained.as_secs_f64(),
        BURST_CALLS as f64 / drained.as_secs_f64() * 60.0,
        first,
        requests.total(),
    );
    println!("requests by endpoint: {:?}", requests.by_endpoint());
}

#[tokio::main]
async fn main() {
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    println!(
        "machine: {} vCPU; RD Station stand-in limit 120 requests / 60 s per token",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if only.as_deref().is_none_or(|o| o == "latency") {
        latency().await;
    }
    if only.as_deref().is_none_or(|o| o == "burst") {
        burst().await;
    }
}
