//! Failover of the PBX's follower among backends sharing a PostgreSQL
//! database (a throwaway server, `disca_testkit::postgres`): the time from
//! SIGKILL of the backend that follows the PBX's calls to another one
//! following them, as its `/metrics` says (`disca_pbx_following{pbx="default"} 1`).
//!
//! Real `disca-backend` processes (release build) with a stand-in AMI
//! server that logs them in. Two run at first; each round kills the
//! follower, times the takeover, and starts a new backend as the next
//! standby. `tests/tests/several_backends.rs` shows the same takeover with
//! a call in flight through a real Asterisk.
//!
//! Run: `cargo bench -p disca-backend --bench failover`.

use std::path::Path;
use std::time::{Duration, Instant};

use disca_testkit::limited::{LimitedBackend, LimitedOptions, answering_ami, seed_with_cli_env};
use disca_testkit::postgres::Cluster;
use disca_testkit::system::follows_the_pbx;

const ROUNDS: usize = 10;

#[tokio::main]
async fn main() {
    let binary = Path::new(env!("CARGO_BIN_EXE_disca-backend"));
    let cluster = Cluster::start().expect("a throwaway PostgreSQL");
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let env = [("DISCA_DATABASE_URL", url.as_str())];
    seed_with_cli_env(
        binary,
        dir.path(),
        &env,
        &["acme"],
        &[("acme", "1001", "agent")],
    );
    let ami = answering_ami().await;
    let start = || {
        LimitedBackend::start(LimitedOptions {
            binary,
            data_dir: dir.path(),
            ami_addr: ami,
            nofile: None,
            env: &env,
        })
    };
    let http = reqwest::Client::new();
    let mut backends = vec![start().await, start().await];
    let mut times = Vec::new();
    for _ in 0..ROUNDS {
        // Exactly one follows (the newest may still be starting).
        let deadline = Instant::now() + Duration::from_secs(30);
        let follower = loop {
            let mut following = Vec::new();
            for (i, b) in backends.iter().enumerate() {
                if follows_the_pbx(&http, &b.base).await {
                    following.push(i);
                }
            }
            assert!(following.len() <= 1, "two backends follow");
            if let [i] = following[..] {
                break i;
            }
            assert!(Instant::now() < deadline, "nobody follows");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        drop(backends.remove(follower)); // SIGKILL
        let killed = Instant::now();
        let standby = &backends[0];
        while !follows_the_pbx(&http, &standby.base).await {
            assert!(killed.elapsed() < Duration::from_secs(60), "no takeover");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        times.push(killed.elapsed());
        backends.push(start().await);
    }
    times.sort();
    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    println!("failover: SIGKILL of the PBX's follower → another backend follows, {ROUNDS} rounds");
    println!(
        "  min {:.0} ms  median {:.0} ms  max {:.0} ms",
        ms(&times[0]),
        ms(&times[ROUNDS / 2]),
        ms(&times[ROUNDS - 1])
    );
    println!(
        "  each: {}",
        times
            .iter()
            .map(|t| format!("{:.0}", ms(t)))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
