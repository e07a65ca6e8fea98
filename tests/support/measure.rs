//! What benchmarks read off the machine: the API server's audit log
//! (`WEIR_BENCH_AUDIT_LOG`, written when the control plane runs with
//! `WEIR_TESTENV_AUDIT=1`), and a process's memory and CPU time from
//! `/proc`.

use serde_json::Value;

/// The audit log's path.
pub fn audit_log() -> std::path::PathBuf {
    std::env::var_os("WEIR_BENCH_AUDIT_LOG")
        .map(Into::into)
        .expect("WEIR_BENCH_AUDIT_LOG: run the benchmark through its benches/*.sh script")
}

/// Audit events (Metadata level, ResponseComplete) received in
/// [from, to], of every user agent.
pub fn audit_events(from: jiff::Timestamp, to: jiff::Timestamp) -> Vec<Value> {
    let text = std::fs::read_to_string(audit_log()).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| {
            e["requestReceivedTimestamp"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .is_some_and(|t| t >= from && t <= to)
        })
        .collect()
}

/// Whether an audit event's user agent starts with `prefix`.
pub fn by_agent(event: &Value, prefix: &str) -> bool {
    event["userAgent"]
        .as_str()
        .is_some_and(|ua| ua.starts_with(prefix))
}

/// A `/proc/<pid>/status` memory field (`VmRSS:`, `VmHWM:`), in KiB.
pub fn memory_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}
