//! Running external programs: printed before they run, failing loudly, with
//! `sudo` in front when a program needs root and xtask is not root.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use disca_testkit::root::running_as_root;

/// Prints the title of a step.
///
/// Each header says how long xtask has been running, so a CI log shows
/// where the time went.
pub fn step(title: &str) {
    let since = since_first_step().as_secs();
    println!("\n==> [{}:{:02}] {title}", since / 60, since % 60);
}

/// How long ago the first step began (the run's total, at its end).
pub fn since_first_step() -> Duration {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    STARTED.get_or_init(Instant::now).elapsed()
}

/// A command for `program` that must run as root: `sudo program` unless
/// xtask already runs as root.
pub fn privileged(program: &str) -> Command {
    if running_as_root() {
        Command::new(program)
    } else {
        let mut command = Command::new("sudo");
        command.arg(program);
        command
    }
}

/// Runs `command` with the terminal's input and output; fails unless it exits 0.
pub fn run(command: &mut Command) -> anyhow::Result<()> {
    let shown = describe(command);
    println!("$ {shown}");
    let status = command
        .status()
        .with_context(|| format!("starting `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Runs `command` and returns its standard output; fails unless it exits 0.
pub fn output(command: &mut Command) -> anyhow::Result<String> {
    let shown = describe(command);
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting `{shown}`"))?;
    if !output.status.success() {
        bail!(
            "`{shown}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    words.join(" ")
}
