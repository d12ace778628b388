//! The server's CPU time over a measurement (utime + stime of its process,
//! from `/proc/<pid>/stat`), reported per unit of work beside the rates:
//! CPU time per post drifts far less than posts per second on a shared
//! machine.

use serde::Serialize;

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`: 100 on
/// Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// The process's user + system CPU time so far, in seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("reading /proc/{pid}/stat: {e}"))?;
    // The command name is in parentheses and may hold spaces: the fields
    // counted here start after it (state is field 3, utime 14, stime 15).
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or_else(|| "unreadable /proc stat".to_owned())?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or_else(|| "unreadable /proc stat".to_owned())
    };
    Ok((tick(11)? + tick(12)?) / TICKS_PER_SECOND)
}

/// Started before a measurement; `per_unit` after it.
pub struct CpuMeter {
    pid: Option<u32>,
    start: Option<f64>,
}

impl CpuMeter {
    /// Measures nothing without a pid.
    pub fn start(pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            pid,
            start: pid.and_then(|p| cpu_seconds(p).ok()),
        }
    }

    /// Starts once the process has settled (see `settle`, at most 5 s), so
    /// that what earlier work left running is not counted.
    pub async fn start_settled(pid: Option<u32>) -> CpuMeter {
        settle(pid, std::time::Duration::from_secs(5)).await;
        CpuMeter::start(pid)
    }

    /// Server CPU microseconds per unit of work since `start`.
    pub fn per_unit_us(&self, units: usize) -> Option<f64> {
        let (pid, start) = (self.pid?, self.start?);
        let end = cpu_seconds(pid).ok()?;
        (units > 0).then(|| (end - start) * 1e6 / units as f64)
    }
}

/// Waits, at most `limit`, until the process has been idle (at most one
/// clock tick of CPU time in each of two consecutive 100 ms intervals), so
/// that work left from setting up a measurement (websocket replays
/// finishing, sockets of an earlier round closing) is not counted in it.
/// Returns at once without a pid.
pub async fn settle(pid: Option<u32>, limit: std::time::Duration) {
    let Some(pid) = pid else { return };
    let interval = std::time::Duration::from_millis(100);
    let deadline = tokio::time::Instant::now() + limit;
    let Ok(mut last) = cpu_seconds(pid) else {
        return;
    };
    let mut quiet = 0;
    while quiet < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(interval).await;
        let Ok(now) = cpu_seconds(pid) else { return };
        quiet = if now - last <= 1.0 / TICKS_PER_SECOND {
            quiet + 1
        } else {
            0
        };
        last = now;
    }
}

/// A scenario's result with the server's CPU time per unit of work.
#[derive(Serialize)]
pub struct WithCpu<'a, T: Serialize> {
    #[serde(flatten)]
    pub result: &'a T,
    /// Server CPU microseconds per `unit`; absent without `--pid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_unit: Option<f64>,
    pub unit: &'static str,
}

/// The row's CPU column: ` cpu 42.0 µs/post`, or nothing.
pub fn column(per_unit: Option<f64>, unit: &str) -> String {
    per_unit.map_or(String::new(), |us| format!("  cpu {us:.1} µs/{unit}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_its_own_cpu_time() {
        let before = super::cpu_seconds(std::process::id()).unwrap();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_add(i ^ (x >> 3));
        }
        std::hint::black_box(x);
        assert!(super::cpu_seconds(std::process::id()).unwrap() >= before);
    }
}
