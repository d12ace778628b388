//! The NeCSuS load benchmark: scenarios that drive a running server over
//! loopback and report throughput, latency, correctness (lost, duplicated,
//! out-of-order messages) and memory, next to the ceilings measured in the
//! same run (a trivial handler on the same stack, raw SQLite inserts).
//! Every loop is bounded in count and in time.

pub mod attack;
pub mod ceiling;
pub mod client;
pub mod cpu;
pub mod fanout;
pub mod memory;
pub mod plan;
pub mod post;
pub mod recording;
pub mod report;
pub mod scaleout;
pub mod stats;

use std::time::{SystemTime, UNIX_EPOCH};

/// Refuses any server that is not on this machine.
pub fn check_loopback(base: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(base).map_err(|e| format!("--base {base:?}: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if !loopback || url.scheme() != "http" {
        return Err(format!(
            "--base {base:?}: the benchmark only targets http:// servers on loopback (127.0.0.0/8, ::1, localhost)"
        ));
    }
    Ok(url)
}

/// A prefix for room names unique to this run, so runs never share rooms.
pub fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("bench-{:x}-{}", nanos, std::process::id())
}

/// Microseconds since the epoch, stamped into posted texts to time delivery.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_loopback_is_accepted() {
        assert!(super::check_loopback("http://127.0.0.1:6277").is_ok());
        assert!(super::check_loopback("http://localhost:6277").is_ok());
        assert!(super::check_loopback("http://[::1]:6277").is_ok());
        assert!(super::check_loopback("http://10.0.0.1:6277").is_err());
        assert!(super::check_loopback("http://example.org").is_err());
    }
}
