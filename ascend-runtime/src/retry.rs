//! Retry policy: exponential backoff with full jitter, bounded attempts and total time, and
//! `Retry-After` (seconds or HTTP-date) honoured up to a cap.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;

use crate::error::Error;

/// How one logical call retries. Built from the client configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Upper bound of the first backoff.
    pub base: Duration,
    /// Upper bound of any backoff.
    pub max_delay: Duration,
    /// Longest `Retry-After` honoured.
    pub retry_after_cap: Duration,
    /// Total time one logical call may spend (attempts plus sleeps) before giving up.
    pub budget: Duration,
}

impl RetryPolicy {
    /// Full-jitter backoff before retry number `retry` (0-based): uniform in
    /// `[0, min(max_delay, base * 2^retry)]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }

    /// The delay before retrying after `error` (retry number `retry`), or `None` when the error
    /// is not retryable. `Retry-After` wins over backoff, capped.
    pub fn delay_for(&self, error: &Error, retry: u32) -> Option<Duration> {
        if !error.is_retryable() || retry >= self.max_retries {
            return None;
        }
        match error {
            Error::RateLimited {
                retry_after: Some(after),
            } => Some((*after).min(self.retry_after_cap)),
            _ => Some(self.backoff(retry)),
        }
    }
}

/// Parse a `Retry-After` header: delta seconds or an HTTP-date.
pub(crate) fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let s = value.to_str().ok()?.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && (0.0..1e9).contains(&secs) {
            return Some(Duration::from_secs_f64(secs));
        }
        return None;
    }
    let when = httpdate::parse_http_date(s).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            retry_after_cap: Duration::from_secs(2),
            budget: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = policy();
        for retry in 0..10 {
            let cap = Duration::from_millis(100 * (1 << retry.min(5))).min(p.max_delay);
            let samples: Vec<Duration> = (0..200).map(|_| p.backoff(retry)).collect();
            assert!(samples.iter().all(|d| *d <= cap), "retry {retry}");
            // full jitter: not all the same
            assert!(samples.iter().any(|d| *d != samples[0]));
        }
    }

    #[test]
    fn retry_after_wins_and_is_capped() {
        let p = policy();
        let e = Error::RateLimited {
            retry_after: Some(Duration::from_secs(60)),
        };
        assert_eq!(p.delay_for(&e, 0), Some(Duration::from_secs(2)));
        let e = Error::RateLimited {
            retry_after: Some(Duration::from_millis(10)),
        };
        assert_eq!(p.delay_for(&e, 1), Some(Duration::from_millis(10)));
        assert_eq!(p.delay_for(&e, 3), None);
        assert_eq!(
            p.delay_for(
                &Error::NotFound {
                    message: String::new()
                },
                0
            ),
            None
        );
    }

    #[test]
    fn parses_retry_after_forms() {
        assert_eq!(
            parse_retry_after(&HeaderValue::from_static("7")),
            Some(Duration::from_secs(7))
        );
        let future = SystemTime::now() + Duration::from_secs(30);
        let date = httpdate::fmt_http_date(future);
        let d = parse_retry_after(&HeaderValue::from_str(&date).unwrap()).unwrap();
        assert!(
            d > Duration::from_secs(25) && d <= Duration::from_secs(30),
            "{d:?}"
        );
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&HeaderValue::from_str(&past).unwrap()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }
}
