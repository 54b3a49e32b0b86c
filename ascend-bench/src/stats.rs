//! Percentiles, summaries and the units the report prints.

use std::time::Duration;

/// Order statistics of a set of per-operation durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Median.
    pub p50: Duration,
    /// 99th percentile (nearest rank).
    pub p99: Duration,
    /// Fastest sample.
    pub min: Duration,
    /// Slowest sample.
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

/// Nearest-rank percentile of sorted samples (`p` in 0..=1).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Sort `samples` and summarise them.
pub fn summarize(samples: &mut [Duration]) -> Summary {
    samples.sort_unstable();
    let n = samples.len();
    let total: Duration = samples.iter().sum();
    Summary {
        n,
        p50: percentile(samples, 0.50),
        p99: percentile(samples, 0.99),
        min: samples.first().copied().unwrap_or_default(),
        max: samples.last().copied().unwrap_or_default(),
        mean: if n == 0 {
            Duration::ZERO
        } else {
            total / u32::try_from(n).unwrap_or(u32::MAX)
        },
    }
}

/// Median of floats (NaN-free input), 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Smallest and largest value, (0, 0) when empty.
pub fn range(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.is_empty() {
        (0.0, 0.0)
    } else {
        (min, max)
    }
}

/// A duration with a unit that suits it: `850 ns`, `12.4 µs`, `3.21 ms`, `1.50 s`.
pub fn fmt_dur(d: Duration) -> String {
    fmt_secs(d.as_secs_f64())
}

/// Seconds (may be fractional) with a unit that suits them.
pub fn fmt_secs(s: f64) -> String {
    let ns = s * 1e9;
    if ns.abs() < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns.abs() < 1_000_000.0 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns.abs() < 1_000_000_000.0 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{s:.2} s")
    }
}

/// A rate with thousands separators: `12,345/s`.
pub fn fmt_rate(per_sec: f64) -> String {
    format!("{}/s", thousands(per_sec.round() as u64))
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in KiB/MiB/GiB.
pub fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let s = summarize(&mut v);
        assert_eq!(s.p50, Duration::from_micros(50));
        assert_eq!(s.p99, Duration::from_micros(99));
        assert_eq!(s.min, Duration::from_micros(1));
        assert_eq!(s.max, Duration::from_micros(100));
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn units() {
        assert_eq!(fmt_secs(850e-9), "850 ns");
        assert_eq!(fmt_secs(12.44e-6), "12.4 µs");
        assert_eq!(fmt_secs(3.214e-3), "3.21 ms");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(fmt_rate(999.6), "1,000/s");
    }
}
