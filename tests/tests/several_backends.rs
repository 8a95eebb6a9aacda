//! Two backends sharing one PostgreSQL database (a throwaway server) and
//! one real Asterisk. One follows the PBX's calls; a call is placed through
//! the other; the follower is SIGKILLed mid-call. The other takes over,
//! the call ends with its true outcome and measured durations, and RD
//! Station (the stand-in) gets exactly one note. Hang-ups asked through the
//! backend that does not follow end calls as through the follower.

use std::time::{Duration, Instant};

use disca_backend::storage::Store;
use disca_testkit::PeerBehavior;
use disca_testkit::crm::{ANA, ANA_TOKEN, connect_tenant_v1};
use disca_testkit::crm_pages::DEAL_ID;
use disca_testkit::postgres::Cluster;
use disca_testkit::system::{
    BackendProcess, BackendProcessOptions, LEAD, Lab, PATIENCE, backend_binary, call_at,
    follows_the_pbx, place_ok_at, seed_users_in, wait_for_call,
};
use rdstation_standin::{Config, StandIn};
use serde_json::{Value, json};

/// Polls the call at `base` until it is in `state`.
async fn wait_for(http: &reqwest::Client, base: &str, token: &str, id: &str, state: &str) -> Value {
    wait_for_call(http, base, token, id, state, |c| c["state"] == state).await
}

/// Both backends, on one database and one PBX, with tenant `acme`
/// connected to the RD Station stand-in; the salespeople's phones answer,
/// the lead hangs up after `talk`.
struct TwoBackends {
    follower: Option<BackendProcess>,
    other: BackendProcess,
    token: String,
    standin: rdstation_standin::Running,
    http: reqwest::Client,
    _lab: Lab,
    _dir: tempfile::TempDir,
    _cluster: Cluster,
}

async fn two_backends(talk: Duration) -> TwoBackends {
    two_backends_with(PeerBehavior::AnswerAndWait, talk).await
}

/// [`two_backends`] with the salespeople's phones doing as `agents` says.
async fn two_backends_with(agents: PeerBehavior, talk: Duration) -> TwoBackends {
    let cluster = Cluster::start().unwrap();
    let url = cluster.url();
    let lab = Lab::start(agents, PeerBehavior::AnswerThenHangup { talk }).await;
    let standin = StandIn::start(Config::default()).await.unwrap();
    // One data folder for the CRM secrets key both backends share.
    let dir = tempfile::tempdir().unwrap();
    let (tokens, _) = {
        let store = Store::connect(&url).await.unwrap();
        let seeded = seed_users_in(&store).await;
        connect_tenant_v1(&store, dir.path(), "acme", &standin.v1_base(), ANA_TOKEN).await;
        let ana = disca_backend::domain::CrmUserId::parse(ANA).unwrap();
        store
            .set_crm_user("acme", "acme-1001@example.com", Some(&ana))
            .await
            .unwrap();
        seeded
    };
    let binary = backend_binary();
    let env = [
        ("DISCA_DATABASE_URL", url.as_str()),
        ("DISCA_CRM__REPORT_WAIT_SECS", "0"),
    ];
    let options = || BackendProcessOptions {
        binary: &binary,
        data_dir: dir.path(),
        ami_addr: lab.pbx.ami_addr,
        ami_username: &lab.pbx.ami_username,
        ami_secret: &lab.pbx.ami_secret,
        extra_args: &[],
        env: &env,
    };
    let http = reqwest::Client::new();
    let first = BackendProcess::start(options()).await;
    let second = BackendProcess::start(options()).await;
    // Exactly one follows the PBX's calls.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let (follower, other) = loop {
        match (
            follows_the_pbx(&http, &first.base).await,
            follows_the_pbx(&http, &second.base).await,
        ) {
            (true, false) => break (first, second),
            (false, true) => break (second, first),
            (true, true) => panic!("both backends follow the PBX's calls"),
            (false, false) => {}
        }
        assert!(tokio::time::Instant::now() < deadline, "no backend follows");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    TwoBackends {
        follower: Some(follower),
        other,
        token: tokens["acme-1001"].clone(),
        standin,
        http,
        _lab: lab,
        _dir: dir,
        _cluster: cluster,
    }
}

impl TwoBackends {
    /// Asks `base` to hang up call `id` (its user's request).
    async fn hang_up_through(&self, base: &str, id: &str) {
        let r = self
            .http
            .post(format!("{base}/v1/calls/{id}/hangup"))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    /// A call to the lead on the deal, placed through `base`, once the
    /// lead answered; its id.
    async fn connected_call(&self, base: &str) -> String {
        let body = json!({"to": LEAD, "context": {"deal_id": DEAL_ID}});
        let id = place_ok_at(&self.http, base, &self.token, &body).await;
        let connected = wait_for(&self.http, base, &self.token, &id, "connected").await;
        assert!(connected["lead_answered_at"].is_string(), "{connected:#}");
        id
    }

    /// Waits for the call's note, and checks RD Station has exactly one.
    async fn one_note(&self, base: &str, id: &str) {
        wait_for_call(&self.http, base, &self.token, id, "noted", |c| {
            c["crm"]["state"] == "delivered"
        })
        .await;
        let notes = self.standin.notes(DEAL_ID);
        assert_eq!(
            notes.iter().filter(|n| n.text.contains(id)).count(),
            1,
            "exactly one note"
        );
    }
}

#[tokio::test]
async fn when_the_backend_following_the_pbx_is_killed_mid_call_the_other_takes_over() {
    const TALK: Duration = Duration::from_secs(10);
    let mut t = two_backends(TALK).await;
    // The call is placed through the backend that does not follow.
    let id = t.connected_call(&t.other.base).await;

    // The follower dies mid-call; the other takes over.
    t.follower.take().unwrap().kill();
    let killed = Instant::now();
    let (http, token, other) = (&t.http, &t.token, &t.other);
    while !follows_the_pbx(http, &other.base).await {
        assert!(
            killed.elapsed() < Duration::from_secs(20),
            "nobody took over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failover = killed.elapsed();
    println!("failover after SIGKILL: {:.2} s", failover.as_secs_f64());

    // The lead hangs up after TALK: the call ends as it really did.
    let ended = wait_for(http, &other.base, token, &id, "ended").await;
    assert_eq!(ended["outcome"], "answered", "{ended:#}");
    assert_ne!(ended["durations_estimated"], true, "{ended:#}");
    let talk = ended["talk_seconds"].as_i64().unwrap();
    assert!(
        (TALK.as_secs() as i64 - 2..=TALK.as_secs() as i64 + 2).contains(&talk),
        "talk {talk} s: {ended:#}"
    );
    // Exactly one note, whichever backend delivered it.
    t.one_note(&t.other.base, &id).await;
}

/// A hang-up asked through the backend that does not follow reaches
/// Asterisk (by the call's channel id), and the follower ends the call.
#[tokio::test]
async fn a_hang_up_through_the_backend_that_does_not_follow_ends_the_call() {
    let t = two_backends(Duration::from_secs(60)).await;
    let id = t.connected_call(&t.other.base).await;
    t.hang_up_through(&t.other.base, &id).await;
    let ended = wait_for(&t.http, &t.other.base, &t.token, &id, "ended").await;
    assert_eq!(ended["outcome"], "answered", "{ended:#}");
    assert_ne!(ended["durations_estimated"], true, "{ended:#}");
    let follower = t.follower.as_ref().unwrap();
    let seen = call_at(&t.http, &follower.base, &t.token, &id).await;
    assert_eq!(seen["state"], "ended", "{seen:#}");
    t.one_note(&t.other.base, &id).await;
}

/// A hang-up asked through the backend that does not follow while the
/// salesperson's own phone still rings: the follower hangs it up, knowing
/// its user asked, and the call ends `canceled` (as through the follower),
/// not as a phone nobody answered.
#[tokio::test]
async fn a_cancel_through_the_backend_that_does_not_follow_ends_canceled() {
    let t = two_backends_with(PeerBehavior::RingForever, Duration::from_secs(60)).await;
    let body = json!({"to": LEAD, "context": {"deal_id": DEAL_ID}});
    let id = place_ok_at(&t.http, &t.other.base, &t.token, &body).await;
    wait_for(&t.http, &t.other.base, &t.token, &id, "ringing_agent").await;
    let asked = Instant::now();
    t.hang_up_through(&t.other.base, &id).await;
    let ended = wait_for(&t.http, &t.other.base, &t.token, &id, "ended").await;
    println!("canceled through the standby in {:?}", asked.elapsed());
    assert_eq!(ended["outcome"], "canceled", "{ended:#}");
}
