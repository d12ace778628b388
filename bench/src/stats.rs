//! Latency percentiles over a bounded sample.

use std::time::Duration;

#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

pub fn summarize(mut samples: Vec<Duration>) -> Summary {
    if samples.is_empty() {
        return Summary::default();
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i].as_secs_f64() * 1000.0
    };
    Summary {
        count: samples.len(),
        p50_ms: at(0.50),
        p90_ms: at(0.90),
        p99_ms: at(0.99),
        max_ms: at(1.0),
    }
}

/// The middle value (the mean of the two middle ones for an even count);
/// 0 for none.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Same, from microsecond samples.
pub fn summarize_micros(samples: Vec<u64>) -> Summary {
    summarize(samples.into_iter().map(Duration::from_micros).collect())
}
