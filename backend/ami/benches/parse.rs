//! AMI parsing speed: `AmiCodec` beside the Node library `asterisk-manager`, same bytes,
//! same run, each pinned to CPU 0.
//!
//! `cargo bench -p disca-ami --bench parse` builds a stream from the event streams
//! captured from a real Asterisk 22 (`tests/data/*.ami`, banner first, then their
//! messages repeated up to `AMI_BENCH_MB`, default 50 MB), writes it to a file, and
//! times two workers on it, each under `taskset -c 0` when `taskset` exists:
//!
//! - this binary in worker mode: 64 KiB chunks into a `BytesMut`, decoded with
//!   `AmiCodec` as `FramedRead` would;
//! - `node benches/node/parse.js`: the same chunks through asterisk-manager's own
//!   socket data handler (`npm ci` is run in `benches/node` first if needed).
//!
//! Each worker keeps its fastest of `AMI_BENCH_RUNS` runs (default 3) and reports how
//! many messages and events it saw; the runner checks that both saw the same numbers
//! and prints a table. Without `--bench` (as under `cargo test`) it only decodes the
//! fixtures once as a smoke test.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bytes::BytesMut;
use disca_ami::{AmiCodec, MessageKind};
use tokio_util::codec::Decoder;

const FIXTURES: [&[u8]; 6] = [
    include_bytes!("../tests/data/answered_call.ami"),
    include_bytes!("../tests/data/agent_busy.ami"),
    include_bytes!("../tests/data/trunk_busy.ami"),
    include_bytes!("../tests/data/no_answer.ami"),
    include_bytes!("../tests/data/event_list.ami"),
    include_bytes!("../tests/data/login_failed.ami"),
];
const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";
const CHUNK: usize = 64 * 1024;
const WORKER_ENV: &str = "DISCA_AMI_BENCH_WORKER";
const NODE_PACKAGE: &str = "asterisk-manager 0.2.0 (node)";

/// What one worker measured on its fastest run.
#[derive(Debug, PartialEq)]
struct Measure {
    messages: u64,
    events: u64,
    bytes: u64,
    seconds: f64,
}

impl Measure {
    fn line(&self) -> String {
        format!(
            "messages={} events={} bytes={} seconds={}",
            self.messages, self.events, self.bytes, self.seconds
        )
    }

    fn parse(line: &str) -> Result<Measure, String> {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
                .ok_or_else(|| format!("no `{name}` in worker output {line:?}"))
        };
        let number = |name: &str| -> Result<u64, String> {
            field(name)?.parse().map_err(|e| format!("{name}: {e}"))
        };
        Ok(Measure {
            messages: number("messages")?,
            events: number("events")?,
            bytes: number("bytes")?,
            seconds: field("seconds")?
                .parse()
                .map_err(|e| format!("seconds: {e}"))?,
        })
    }
}

/// The fixtures' messages (banners dropped) repeated to at least `size` bytes, behind one
/// banner.
fn stream(size: usize) -> Vec<u8> {
    let body: Vec<u8> = FIXTURES
        .iter()
        .flat_map(|fixture| fixture.strip_prefix(BANNER).unwrap_or(fixture))
        .copied()
        .collect();
    let mut stream = BANNER.to_vec();
    while stream.len() < size {
        stream.extend_from_slice(&body);
    }
    stream
}

/// Decodes `data` as it would arrive from a socket; one run.
fn decode(data: &[u8]) -> Measure {
    let start = Instant::now();
    let mut codec = AmiCodec::new();
    let mut buf = BytesMut::with_capacity(2 * CHUNK);
    let (mut messages, mut events) = (0, 0);
    for chunk in data.chunks(CHUNK) {
        buf.extend_from_slice(chunk);
        while let Some(message) = codec.decode(&mut buf).expect("captured stream decodes") {
            messages += 1;
            if message.kind() == MessageKind::Event {
                events += 1;
            }
            std::hint::black_box(message);
        }
    }
    assert!(buf.is_empty(), "stream ends with a whole message");
    Measure {
        messages,
        events,
        bytes: data.len() as u64,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn runs() -> usize {
    env_number("AMI_BENCH_RUNS", 3)
}

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not {value:?}")),
        Err(_) => default,
    }
}

/// Worker mode: decode the file `AMI_BENCH_FILE` `runs()` times, print the fastest.
fn rust_worker() {
    let file = std::env::var("AMI_BENCH_FILE").expect("AMI_BENCH_FILE is set");
    let data = std::fs::read(&file).expect("stream file is readable");
    let best = (0..runs())
        .map(|_| decode(&data))
        .min_by(|a, b| a.seconds.total_cmp(&b.seconds))
        .expect("at least one run");
    println!("{}", best.line());
}

/// `program args...`, under `taskset -c 0` when available.
fn pinned(program: &Path, args: &[&str], pin: bool) -> Command {
    let mut command = if pin {
        let mut taskset = Command::new("taskset");
        taskset.args(["-c", "0"]).arg(program);
        taskset
    } else {
        Command::new(program)
    };
    command.args(args);
    command
}

fn measure(mut command: Command, who: &str) -> Result<Measure, String> {
    let output = command
        .output()
        .map_err(|e| format!("{who}: cannot start: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{who}: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Measure::parse(stdout.lines().last().unwrap_or_default())
}

fn has_taskset() -> bool {
    Command::new("taskset")
        .args(["-c", "0", "true"])
        .status()
        .is_ok_and(|status| status.success())
}

fn node_version() -> Result<String, String> {
    let output = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("node is needed for the comparison: {e}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn ensure_node_modules(dir: &Path) -> Result<(), String> {
    if dir
        .join("node_modules/asterisk-manager/lib/ami.js")
        .exists()
    {
        return Ok(());
    }
    eprintln!("installing asterisk-manager: npm ci in {}", dir.display());
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .map_err(|e| format!("npm is needed for the comparison: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("npm ci failed: {status}"))
    }
}

fn row(name: &str, m: &Measure) -> String {
    format!(
        "{name:<32} {:>14.0} {:>10.1} {:>10.3}",
        m.events as f64 / m.seconds,
        m.bytes as f64 / m.seconds / 1e6,
        m.seconds
    )
}

fn compare() -> Result<(), String> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let node_dir = manifest.join("benches/node");
    let node = node_version()?;
    ensure_node_modules(&node_dir)?;

    let size = env_number("AMI_BENCH_MB", 50) * 1_000_000;
    let data = stream(size);
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ami-parse-bench.ami");
    std::fs::write(&file, &data).map_err(|e| format!("{}: {e}", file.display()))?;
    let file_arg = file.to_str().ok_or("target dir path is not UTF-8")?;
    let pin = has_taskset();
    let runs = runs().to_string();

    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut rust = pinned(&exe, &[], pin);
    rust.env(WORKER_ENV, "rust")
        .env("AMI_BENCH_FILE", file_arg)
        .env("AMI_BENCH_RUNS", &runs);
    let rust = measure(rust, "disca-ami worker")?;

    let mut js = pinned(Path::new("node"), &["parse.js", file_arg, &runs], pin);
    js.current_dir(&node_dir);
    let js = measure(js, "node worker")?;

    // Messages may differ: asterisk-manager turns a stray empty line into an empty
    // message (Asterisk 22 sends one after the MIXMONITOR_END TestEvent); events may not.
    if rust.events != js.events {
        return Err(format!(
            "the parsers disagree: disca-ami {rust:?}, asterisk-manager {js:?}"
        ));
    }
    println!(
        "AMI parsing, {:.1} MB captured from Asterisk 22 ({} messages, {} events), \
         fastest of {runs} runs, {}; node {node}",
        rust.bytes as f64 / 1e6,
        rust.messages,
        rust.events,
        if pin {
            "each pinned to CPU 0 (taskset -c 0)"
        } else {
            "NOT pinned (no taskset)"
        },
    );
    println!(
        "{:<32} {:>14} {:>10} {:>10}",
        "parser", "events/s", "MB/s", "seconds"
    );
    println!("{}", row("disca-ami AmiCodec", &rust));
    println!("{}", row(NODE_PACKAGE, &js));
    println!(
        "messages seen: disca-ami {}, asterisk-manager {} (it also counts stray empty lines)",
        rust.messages, js.messages
    );
    println!(
        "disca-ami / asterisk-manager: {:.1}x events/s",
        js.seconds / rust.seconds
    );
    std::fs::remove_file(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(())
}

fn main() {
    if std::env::var_os(WORKER_ENV).is_some() {
        rust_worker();
        return;
    }
    if !std::env::args().any(|arg| arg == "--bench") {
        // `cargo test` runs bench targets without `--bench`: check the stream decodes.
        let data = stream(1_000_000);
        let measure = decode(&data);
        assert!(measure.events > 0 && measure.messages >= measure.events);
        let reparsed = Measure::parse(&measure.line());
        assert_eq!(reparsed.as_ref(), Ok(&measure));
        println!(
            "parse bench smoke test: decoded {} messages; run `cargo bench` to measure",
            measure.messages
        );
        return;
    }
    if let Err(err) = compare() {
        eprintln!("AMI parse benchmark failed: {err}");
        std::process::exit(1);
    }
}
