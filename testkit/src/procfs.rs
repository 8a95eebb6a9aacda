//! What Linux says about a running process under `/proc/<pid>`: the
//! figures the benchmarks and the connection-limit tests read (resident
//! memory, threads, open descriptors).

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
