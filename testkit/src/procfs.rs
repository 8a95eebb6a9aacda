//! What Linux says about a running process under `/proc/<pid>`: the
//! figures the benchmarks and the connection-limit tests read (resident
//! and proportional memory, CPU time, threads, open descriptors, a
//! process's descendants).

use std::time::Duration;

/// The first number of a `/proc/<pid>/status` field (`VmRSS:` and `VmHWM:`
/// in KiB, `Threads:`); `None` when the process or the field is gone.
pub fn status_field(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// [`status_field`] of a process that must be alive and have it.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    status_field(pid, field).unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Descriptors the process has open (0 once it is gone).
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// CPU time the whole process (every thread) has used, user plus system
/// (`/proc/<pid>/stat` fields 14 and 15); `None` once it is gone.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // fields[0] is field 3 (state): utime and stime are fields 14 and 15.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let per_second = rustix::param::clock_ticks_per_second();
    Some(Duration::from_nanos(ticks * 1_000_000_000 / per_second))
}

/// The process's proportional set size in KiB (`Pss:` of
/// `/proc/<pid>/smaps_rollup`): its private pages plus its share of pages
/// shared with other processes, so the figures of a process tree add up.
pub fn pss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The process's command line, arguments separated by spaces.
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `root` and every process descended from it, alive now.
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = status_field(pid, "PPid:") {
                parents.push((pid, ppid as u32));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_memory_and_a_tree() {
        let me = std::process::id();
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {}
        assert!(cpu_time(me).unwrap() > Duration::ZERO);
        assert!(pss_kib(me).unwrap() > 0);
        assert!(cmdline(me).unwrap().contains("disca_testkit"));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(process_tree(me).contains(&child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
