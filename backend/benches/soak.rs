//! Soak: does the backend's resident memory level off under a steady call
//! load, or grow with the number of calls? (Issue 13: a soak of 1,100 calls
//! showed RSS creeping +1.7 MB, linearly.)
//!
//! The real stack: a real Asterisk 22 from the test bed, the real release
//! `disca-backend` process, agents reached through Local channels (the
//! dialplan answers at once), leads on a SIPp trunk that answers and hangs
//! up after a short talk; the tenant is connected to the RD Station
//! stand-in (API v1, RD Station's limit of 120 requests a minute), so every
//! answered call also goes through the CRM outbox; every agent keeps a
//! `/v1/events` stream open. This process places calls at a steady rate
//! (one agent per call, an agent is used again once its call has ended),
//! follows each to its end, and every `--sample-secs` reads the backend's
//! `VmRSS` from `/proc/<pid>/status` and the heap its allocator counts as
//! held (`disca_heap_allocated_bytes` on `/metrics`) with the number of
//! calls ended so far. At the end: the samples (minute, calls, RSS KiB,
//! heap KiB) as CSV, and the growth of each per 1,000 calls fitted (least
//! squares) over the first half and the second half of the run: a plateau
//! is a second-half slope near zero; a heap that grows with calls is data
//! kept per call, an RSS that grows over a flat heap is the allocator's.
//!
//! `cargo bench -p disca-backend --bench soak [-- --minutes 60]`, as root,
//! with the Asterisk root provisioned by `cargo xtask asterisk provision`.
//! Options: `--minutes M` (default 2), `--rate CALLS_PER_SECOND` (1.5),
//! `--agents N` (20), `--talk-secs S` (3), `--sample-secs S` (15),
//! `--no-crm`, `--backend-binary PATH` (default: the binary cargo built; a
//! copy outside `target/` keeps a long run safe from rebuilds),
//! `--csv PATH` (also write the samples there).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use disca_backend::domain::CrmUserId;
use disca_backend::storage::Store;
use disca_testkit::PeerBehavior;
use disca_testkit::crm::{ANA, ANA_TOKEN, AURORA, MARIANA_PHONE, connect_tenant_v1};
use disca_testkit::machine;
use disca_testkit::procfs::{open_fds, status_field, status_kib};
use disca_testkit::system::{
    BackendProcess, BackendProcessOptions, LOCAL_AGENT_CHANNEL, Lab, seed_load_agents,
};
use rdstation_standin::{Config, Running, StandIn};
use serde_json::{Value, json};

struct Options {
    minutes: f64,
    rate: f64,
    agents: u32,
    talk_secs: f64,
    sample_secs: f64,
    crm: bool,
    backend_binary: PathBuf,
    csv: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        minutes: 2.0,
        rate: 1.5,
        agents: 20,
        talk_secs: 3.0,
        sample_secs: 15.0,
        crm: true,
        backend_binary: PathBuf::from(env!("CARGO_BIN_EXE_disca-backend")),
        csv: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match arg.as_str() {
            "--minutes" => o.minutes = value("--minutes").parse().expect("--minutes"),
            "--rate" => o.rate = value("--rate").parse().expect("--rate"),
            "--agents" => o.agents = value("--agents").parse().expect("--agents"),
            "--talk-secs" => o.talk_secs = value("--talk-secs").parse().expect("--talk-secs"),
            "--sample-secs" => {
                o.sample_secs = value("--sample-secs").parse().expect("--sample-secs")
            }
            "--backend-binary" => o.backend_binary = value("--backend-binary").into(),
            "--csv" => o.csv = Some(value("--csv").into()),
            "--no-crm" => o.crm = false,
            // cargo bench passes --bench; anything else unknown is ignored too.
            _ => {}
        }
    }
    o
}

#[derive(Clone, Copy)]
struct Sample {
    seconds: f64,
    calls: u64,
    rss_kib: u64,
    /// What the backend's allocator counts as held (`/metrics`), if it says.
    heap_kib: Option<u64>,
    notes: usize,
    fds: usize,
    threads: u64,
}

impl Sample {
    /// The backend process `pid` (serving at `base`) now, `started` being
    /// the start of the run.
    async fn take(
        pid: u32,
        base: &str,
        started: Instant,
        counters: &Counters,
        standin: &Running,
    ) -> Sample {
        Sample {
            seconds: started.elapsed().as_secs_f64(),
            calls: counters.ended.load(Ordering::Relaxed),
            rss_kib: status_kib(pid, "VmRSS:"),
            heap_kib: heap_allocated(base).await.map(|bytes| bytes / 1024),
            notes: standin.all_notes().len(),
            fds: open_fds(pid),
            threads: status_field(pid, "Threads:").unwrap_or(0),
        }
    }
}

/// `disca_heap_allocated_bytes` from the backend's `/metrics`.
async fn heap_allocated(base: &str) -> Option<u64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines().find_map(|line| {
        line.strip_prefix("disca_heap_allocated_bytes ")?
            .parse()
            .ok()
    })
}

/// Least-squares slope of `kib` (KiB) against calls, per 1,000 calls.
fn slope_per_1000(samples: &[Sample], kib: impl Fn(&Sample) -> Option<u64>) -> Option<f64> {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .filter_map(|s| Some((s.calls as f64, kib(s)? as f64)))
        .collect();
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx * 1000.0)
}

/// RSS, for [`slope_per_1000`].
fn rss(s: &Sample) -> Option<u64> {
    Some(s.rss_kib)
}

/// The heap the allocator counts, for [`slope_per_1000`].
fn heap(s: &Sample) -> Option<u64> {
    s.heap_kib
}

#[derive(Default)]
struct Counters {
    placed: AtomicU64,
    ended: AtomicU64,
    refused: AtomicU64,
    skipped: AtomicU64,
    errors: AtomicU64,
}

/// Places one call as `token` and polls it until it has ended; returns its
/// outcome (or what went wrong).
async fn one_call(http: &reqwest::Client, base: &str, token: &str, counters: &Counters) -> String {
    let r = match http
        .post(format!("{base}/v1/calls"))
        .bearer_auth(token)
        .json(&json!({
            "to": MARIANA_PHONE,
            "context": {"deal_id": AURORA, "contact_name": "Mariana Costa"}
        }))
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            return format!("POST error: {e}");
        }
    };
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status != 201 {
        counters.refused.fetch_add(1, Ordering::Relaxed);
        return format!("refused {status}");
    }
    counters.placed.fetch_add(1, Ordering::Relaxed);
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let call: Value = match http
            .get(format!("{base}/v1/calls/{id}"))
            .bearer_auth(token)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        if call["state"] == "ended" {
            counters.ended.fetch_add(1, Ordering::Relaxed);
            return call["outcome"].as_str().unwrap_or("?").to_owned();
        }
        if Instant::now() > deadline {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            return format!("never ended: {}", call["state"]);
        }
    }
}

/// Keeps an agent's `/v1/events` stream open for the whole run, reading and
/// dropping what it sends (the live-event fan-out is part of steady state).
async fn event_stream(http: reqwest::Client, base: String, token: String) {
    loop {
        if let Ok(mut r) = http
            .get(format!("{base}/v1/events"))
            .bearer_auth(&token)
            .send()
            .await
        {
            while let Ok(Some(_)) = r.chunk().await {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::main]
async fn main() {
    let o = options();
    println!(
        "soak: {:.0} min at {} calls/s, {} agents (Local channels), leads talk {} s, CRM {}; backend {}",
        o.minutes,
        o.rate,
        o.agents,
        o.talk_secs,
        if o.crm { "on" } else { "off" },
        o.backend_binary.display()
    );
    println!(
        "machine: {}; load average at start {}",
        machine::cpu(),
        machine::load_average()
    );
    let lab = Lab::start_with_options(
        PeerBehavior::AnswerAndWait,
        PeerBehavior::AnswerThenHangup {
            talk: Duration::from_secs_f64(o.talk_secs),
        },
        20,
        o.agents,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let tokens = seed_load_agents(dir.path(), o.agents).await;
    let standin = StandIn::start(Config::default()).await.unwrap();
    if o.crm {
        let store = Store::open(dir.path()).await.unwrap();
        connect_tenant_v1(&store, dir.path(), "acme", &standin.v1_base(), ANA_TOKEN).await;
        let ana = CrmUserId::parse(ANA).unwrap();
        for ext in (0..o.agents).map(|i| 5000 + i) {
            store
                .set_crm_user("acme", &format!("agent{ext}@example.com"), Some(&ana))
                .await
                .unwrap();
        }
        drop(store);
    }
    let backend = BackendProcess::start(BackendProcessOptions {
        binary: &o.backend_binary,
        data_dir: dir.path(),
        ami_addr: lab.pbx.ami_addr,
        ami_username: &lab.pbx.ami_username,
        ami_secret: &lab.pbx.ami_secret,
        extra_args: &[
            "--agent-ring-timeout-secs",
            "10",
            "--agent-channel",
            LOCAL_AGENT_CHANNEL,
        ],
        env: &[],
    })
    .await;
    let pid = backend.pid();
    let base = backend.base.clone();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let streams = reqwest::Client::new();
    for token in &tokens {
        tokio::spawn(event_stream(streams.clone(), base.clone(), token.clone()));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let counters = Arc::new(Counters::default());
    let outcomes: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let free: Arc<Mutex<VecDeque<String>>> = Arc::new(Mutex::new(tokens.into_iter().collect()));
    let started = Instant::now();
    let run = Duration::from_secs_f64(o.minutes * 60.0);
    let mut samples = vec![Sample::take(pid, &base, started, &counters, &standin).await];
    println!(
        "\n{:>7} {:>7} {:>9} {:>9} {:>7} {:>5} {:>7}",
        "minute", "calls", "RSS KiB", "heap KiB", "notes", "fds", "threads"
    );
    let print = |s: &Sample| {
        println!(
            "{:>7.2} {:>7} {:>9} {:>9} {:>7} {:>5} {:>7}",
            s.seconds / 60.0,
            s.calls,
            s.rss_kib,
            s.heap_kib.map_or("-".to_owned(), |kib| kib.to_string()),
            s.notes,
            s.fds,
            s.threads
        )
    };
    print(&samples[0]);

    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / o.rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let sample_every = Duration::from_secs_f64(o.sample_secs);
    let mut next_sample = started + sample_every;
    let mut calls = tokio::task::JoinSet::new();
    while started.elapsed() < run {
        tick.tick().await;
        let token = free.lock().unwrap().pop_front();
        match token {
            Some(token) => {
                let (http, base, counters, outcomes, free) = (
                    http.clone(),
                    base.clone(),
                    counters.clone(),
                    outcomes.clone(),
                    free.clone(),
                );
                calls.spawn(async move {
                    let outcome = one_call(&http, &base, &token, &counters).await;
                    *outcomes.lock().unwrap().entry(outcome).or_insert(0) += 1;
                    free.lock().unwrap().push_back(token);
                });
            }
            None => {
                counters.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
        while calls.try_join_next().is_some() {}
        if Instant::now() >= next_sample {
            next_sample += sample_every;
            let s = Sample::take(pid, &base, started, &counters, &standin).await;
            print(&s);
            samples.push(s);
        }
    }
    // Let the calls in flight end, then one last sample.
    while calls.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(5)).await;
    let last = Sample::take(pid, &base, started, &counters, &standin).await;
    print(&last);
    samples.push(last);
    let peak = status_kib(pid, "VmHWM:");

    if let Some(path) = &o.csv {
        let mut csv = String::from("minute,calls,rss_kib,heap_kib,notes,fds,threads\n");
        for s in &samples {
            csv.push_str(&format!(
                "{:.2},{},{},{},{},{},{}\n",
                s.seconds / 60.0,
                s.calls,
                s.rss_kib,
                s.heap_kib.map_or(String::new(), |kib| kib.to_string()),
                s.notes,
                s.fds,
                s.threads
            ));
        }
        std::fs::write(path, csv).expect("CSV written");
    }

    // The halves leave out the sample taken before the first call (the
    // process as started, before any pool or buffer has filled).
    let running = &samples[1..];
    let (first, second) = running.split_at(running.len() / 2);
    // The first minute (pools filling, first allocations) is warm-up.
    let warm = samples
        .iter()
        .find(|s| s.seconds >= 60.0)
        .unwrap_or(&samples[samples.len() - 1]);
    let end = &samples[samples.len() - 1];
    let fmt = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:+.1} KiB"));
    println!("\nsummary");
    println!(
        "calls: {} placed, {} ended, {} refused, {} errors, {} ticks with no free agent; outcomes {:?}",
        counters.placed.load(Ordering::Relaxed),
        counters.ended.load(Ordering::Relaxed),
        counters.refused.load(Ordering::Relaxed),
        counters.errors.load(Ordering::Relaxed),
        counters.skipped.load(Ordering::Relaxed),
        outcomes.lock().unwrap()
    );
    println!(
        "CRM notes stored at the stand-in: {} (requests {:?})",
        end.notes,
        standin.requests()
    );
    println!(
        "RSS: start {} KiB, after warm-up (minute {:.1}, {} calls) {} KiB, end (minute {:.1}, {} calls) {} KiB, peak (VmHWM) {} KiB",
        samples[0].rss_kib,
        warm.seconds / 60.0,
        warm.calls,
        warm.rss_kib,
        end.seconds / 60.0,
        end.calls,
        end.rss_kib,
        peak
    );
    let warmed: Vec<Sample> = samples
        .iter()
        .filter(|s| s.seconds >= 60.0)
        .copied()
        .collect();
    for (what, kib) in [("RSS", rss as fn(&Sample) -> Option<u64>), ("heap", heap)] {
        println!(
            "{what} growth per 1,000 calls (least squares): first half ({} samples, calls {}–{}) {}, second half ({} samples, calls {}–{}) {}; whole run after warm-up {}",
            first.len(),
            first.first().map_or(0, |s| s.calls),
            first.last().map_or(0, |s| s.calls),
            fmt(slope_per_1000(first, kib)),
            second.len(),
            second.first().map_or(0, |s| s.calls),
            second.last().map_or(0, |s| s.calls),
            fmt(slope_per_1000(second, kib)),
            fmt(slope_per_1000(&warmed, kib)),
        );
    }
    println!("load average at end {}", machine::load_average());
    drop(backend);
    standin.stop().await;
}
