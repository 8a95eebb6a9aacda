//! The real `disca-backend` binary under a low open-file limit and against
//! clients that hold connections: `/healthz` still answers when event
//! streams and idle sockets exceed the connection cap; slow headers and
//! idle connections are closed after the header read timeout (event
//! streams are not); a user over the stream cap gets 429; event ids do not
//! show another tenant's activity; clients that never read what they
//! asked for are closed after the write timeout. Settings go in as environment variables
//! and users are added with the binary's own commands, so the same tests
//! run against another build (`DISCA_TEST_BACKEND_BINARY=<path>`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use disca_testkit::limited::{
    LimitedBackend, LimitedOptions, answering_ami, closed_within, healthz_answer, open_stream,
    read_head, seed_with_cli,
};
use disca_testkit::system::backend_binary;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn binary() -> PathBuf {
    std::env::var_os("DISCA_TEST_BACKEND_BINARY")
        .map(PathBuf::from)
        .unwrap_or_else(backend_binary)
}

/// acme with agents 1001 and 1002 and a manager (1009), globex with 2001.
fn seed(dir: &Path) -> HashMap<String, String> {
    seed_with_cli(
        &binary(),
        dir,
        &["acme", "globex"],
        &[
            ("acme", "1001", "agent"),
            ("acme", "1002", "agent"),
            ("acme", "1009", "manager"),
            ("globex", "2001", "agent"),
        ],
    )
}

async fn start(dir: &Path, nofile: Option<(u64, u64)>, env: &[(&str, &str)]) -> LimitedBackend {
    let binary = binary();
    LimitedBackend::start(LimitedOptions {
        binary: &binary,
        data_dir: dir,
        ami_addr: answering_ami().await,
        nofile,
        env,
    })
    .await
}

#[tokio::test]
async fn healthz_answers_while_streams_and_idle_sockets_exceed_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = seed(dir.path());
    // Soft 200, hard 256: the backend raises to 256 and derives its cap
    // (256 - 128 - 16 reserve = 112 connections).
    let backend = start(
        dir.path(),
        Some((200, 256)),
        &[
            ("DISCA_SSE_STREAMS_PER_USER", "1000"),
            ("DISCA_SSE_STREAMS_PER_TENANT", "1000"),
        ],
    )
    .await;

    // 150 event streams from one token, then 300 sockets that send nothing.
    let mut held = Vec::new();
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for _ in 0..150 {
        match open_stream(backend.addr, &tokens["acme-1001"], None).await {
            Some((socket, status, _)) => {
                *statuses.entry(status.to_string()).or_default() += 1;
                held.push(socket);
            }
            None => {
                *statuses.entry("no answer".into()).or_default() += 1;
                if statuses["no answer"] >= 3 {
                    break; // the server answers nothing any more
                }
            }
        }
    }
    for _ in 0..300 {
        // (A server that stopped accepting fills its backlog: then the
        // connection is not even set up.)
        let connect = TcpStream::connect(backend.addr);
        if let Ok(Ok(socket)) = tokio::time::timeout(Duration::from_millis(500), connect).await {
            held.push(socket);
        }
    }
    println!("streams: {statuses:?}");

    for _ in 0..5 {
        let started = Instant::now();
        let answer = healthz_answer(backend.addr, Duration::from_secs(2)).await;
        println!("healthz in {:?}: {answer:?}", started.elapsed());
        assert_eq!(
            answer.map(|a| a.0),
            Some(200),
            "healthz answers while the server is full"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        backend.nofile(),
        ("256".into(), "256".into()),
        "soft limit raised"
    );
    assert!(
        statuses.get("200").copied().unwrap_or(0) <= 112,
        "no more streams than the cap: {statuses:?}"
    );
    let fds = backend.open_fds();
    println!("open fds: {fds} of 256");
    assert!(fds < 256, "descriptors left: {fds} open");
    // Other requests on a full server are refused quickly, not left hanging.
    let started = Instant::now();
    let refused = open_stream(backend.addr, &tokens["acme-1002"], None).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    if let Some((_, status, body)) = refused {
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("server_busy"), "{body}");
    }
    drop(held);
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed_but_event_streams_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = seed(dir.path());
    let backend = start(
        dir.path(),
        None,
        &[("DISCA_HEADER_READ_TIMEOUT_MS", "1000")],
    )
    .await;
    let patience = Duration::from_secs(4);

    // Slowloris: a header line every 100 ms, never the blank line.
    let started = Instant::now();
    let socket = TcpStream::connect(backend.addr).await.unwrap();
    let (mut read, mut write) = socket.into_split();
    let writer = tokio::spawn(async move {
        let _ = write
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: d\r\n")
            .await;
        for i in 0..100 {
            if write
                .write_all(format!("X-Slow-{i}: a\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let closed = tokio::time::timeout(patience, async {
        let mut buf = [0u8; 256];
        loop {
            match tokio::io::AsyncReadExt::read(&mut read, &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok();
    writer.abort();
    println!("slowloris closed: {closed} after {:?}", started.elapsed());
    assert!(closed, "a connection sending its headers slowly is closed");

    // A socket that sends nothing.
    let started = Instant::now();
    let mut idle = TcpStream::connect(backend.addr).await.unwrap();
    assert!(
        closed_within(&mut idle, patience).await,
        "an idle socket is closed"
    );
    println!("idle socket closed after {:?}", started.elapsed());

    // A keep-alive connection after its response.
    let mut kept = TcpStream::connect(backend.addr).await.unwrap();
    kept.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: d\r\n\r\n")
        .await
        .unwrap();
    let head = read_head(&mut kept).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let started = Instant::now();
    assert!(
        closed_within(&mut kept, patience).await,
        "an idle keep-alive connection is closed"
    );
    println!("keep-alive connection closed after {:?}", started.elapsed());

    // An event stream stays open well past the header read timeout.
    let (mut stream, status, _) = open_stream(backend.addr, &tokens["acme-1001"], None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        !closed_within(&mut stream, Duration::from_millis(3000)).await,
        "an event stream is not idle"
    );
}

/// `GET` on a new connection: the status (`None`: no answer in time).
async fn status_of_get(addr: std::net::SocketAddr, path: &str) -> Option<u16> {
    tokio::time::timeout(Duration::from_secs(3), async {
        let mut socket = TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n");
        socket.write_all(request.as_bytes()).await.ok()?;
        disca_testkit::limited::status_of(&read_head(&mut socket).await?)
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test]
async fn clients_that_never_read_are_closed_after_the_write_timeout() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    // The header read timeout far away, so only the write timeout can
    // close the slow readers.
    let backend = start(
        dir.path(),
        None,
        &[
            ("DISCA_MAX_CONNECTIONS", "4"),
            ("DISCA_WRITE_TIMEOUT_MS", "2000"),
            ("DISCA_HEADER_READ_TIMEOUT_MS", "60000"),
        ],
    )
    .await;
    // (The least over a moment: a connection of `start` may still be
    // closing.)
    let mut baseline = backend.open_fds();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        baseline = baseline.min(backend.open_fds());
    }
    // Every regular place taken by a client that pipelines requests for a
    // static file (no login needed) and reads none of the answers, with a
    // small receive buffer: the server's writes soon wait.
    let request = b"GET /manager/static/manager.js HTTP/1.1\r\nHost: d\r\n\r\n";
    let mut slow = Vec::new();
    for _ in 0..4 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let socket = socket.connect(backend.addr).await.unwrap();
        let (read, mut write) = socket.into_split();
        let writer = tokio::spawn(async move {
            for _ in 0..3000 {
                if write.write_all(request).await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        });
        slow.push((read, writer));
    }
    let opened = Instant::now();
    // No other client meanwhile (a new one would have one of them closed to
    // make room): the server's descriptors show when they are closed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = backend.open_fds();
    println!("descriptors: {baseline} before, {held} with the slow readers");
    assert!(held >= baseline + 4, "{baseline} -> {held}");
    let deadline = opened + Duration::from_secs(15);
    while backend.open_fds() > baseline {
        assert!(
            Instant::now() < deadline,
            "the slow readers' connections are never closed: {} descriptors open",
            backend.open_fds()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let closed_after = opened.elapsed();
    println!("slow readers closed after {closed_after:?}");
    assert!(
        closed_after >= Duration::from_millis(1500),
        "not before the write timeout: {closed_after:?}"
    );
    for (mut read, writer) in slow {
        assert!(
            closed_within_read(&mut read, Duration::from_secs(5)).await,
            "a slow reader's connection was closed"
        );
        writer.abort();
    }
    // And normal clients are served.
    assert_eq!(
        status_of_get(backend.addr, "/openapi.json").await,
        Some(200)
    );
    assert_eq!(
        status_of_get(backend.addr, "/manager/static/manager.js").await,
        Some(200)
    );
}

/// [`closed_within`] for a read half.
async fn closed_within_read(read: &mut tokio::net::tcp::OwnedReadHalf, within: Duration) -> bool {
    let mut buf = [0u8; 65536];
    tokio::time::timeout(within, async {
        loop {
            match tokio::io::AsyncReadExt::read(read, &mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_user_over_the_stream_cap_gets_429() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = seed(dir.path());
    // Default caps: 8 streams per user.
    let backend = start(dir.path(), None, &[]).await;
    let mut streams = Vec::new();
    for _ in 0..8 {
        let (socket, status, _) = open_stream(backend.addr, &tokens["acme-1001"], None)
            .await
            .unwrap();
        assert_eq!(status, 200);
        streams.push(socket);
    }
    let (_, status, body) = open_stream(backend.addr, &tokens["acme-1001"], None)
        .await
        .unwrap();
    println!("{body}");
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("too_many_streams"), "{body}");
    assert!(body.to_ascii_lowercase().contains("retry-after:"), "{body}");
    assert!(body.contains("conexões"), "a Portuguese message: {body}");
    // Another user of the tenant is not affected.
    let (_, status, _) = open_stream(backend.addr, &tokens["acme-1002"], None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    // A closed stream gives its place back.
    drop(streams.pop());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (socket, status, _) = open_stream(backend.addr, &tokens["acme-1001"], None)
            .await
            .unwrap();
        if status == 200 {
            streams.push(socket);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed stream's place never came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The `id:` of the first event (`stream.start`).
fn first_id(events: &str) -> String {
    events
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no id in {events:?}"))
}

/// `POST /v1/calls` for `token`; the status.
async fn place(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    http.post(format!("{base}/v1/calls"))
        .bearer_auth(token)
        .json(&serde_json::json!({"to": "(11) 98765-4321"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn event_ids_do_not_show_other_tenants_activity() {
    let dir = tempfile::tempdir().unwrap();
    let mut users = vec![("globex", "2001", "agent"), ("acme", "1009", "manager")];
    let exts: Vec<String> = (0..10).map(|i| (1100 + i).to_string()).collect();
    users.extend(exts.iter().map(|e| ("acme", e.as_str(), "agent")));
    let tokens = seed_with_cli(&binary(), dir.path(), &["acme", "globex"], &users);
    let backend = start(dir.path(), None, &[]).await;
    let http = reqwest::Client::new();
    // globex calls once in the middle of acme's ten calls.
    for (i, ext) in exts.iter().enumerate() {
        if i == 5 {
            assert_eq!(
                place(&http, &backend.base, &tokens["globex-2001"]).await,
                201
            );
        }
        assert_eq!(
            place(&http, &backend.base, &tokens[&format!("acme-{ext}")]).await,
            201
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, status, globex) = open_stream(backend.addr, &tokens["globex-2001"], None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (_, _, acme) = open_stream(backend.addr, &tokens["acme-1009"], None)
        .await
        .unwrap();
    let (globex_id, acme_id): (i64, i64) = (
        first_id(&globex).parse().unwrap(),
        first_id(&acme).parse().unwrap(),
    );
    println!("resume points: globex {globex_id}, acme {acme_id}");
    assert!(
        globex_id < 10,
        "globex's resume point ({globex_id}) does not count acme's events"
    );
    // acme's events, replayed from the start, are numbered without gaps:
    // globex's call in between took no number of acme's.
    let (mut replay, _, first) = open_stream(backend.addr, &tokens["acme-1009"], Some("0"))
        .await
        .unwrap();
    let mut text = first;
    let deadline = Instant::now() + Duration::from_secs(5);
    while text.matches("event: call.update").count() < 10 && Instant::now() < deadline {
        let mut buf = [0u8; 16384];
        if let Ok(Ok(n)) = tokio::time::timeout(
            Duration::from_millis(500),
            tokio::io::AsyncReadExt::read(&mut replay, &mut buf),
        )
        .await
        {
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    let ids: Vec<i64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id:"))
        .map(|v| v.trim().parse().unwrap())
        .skip(1) // stream.start
        .collect();
    println!("acme's ids: {ids:?}");
    assert!(ids.len() >= 10, "{text}");
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "acme's ids have no gaps: {ids:?}"
    );
}
