//! Verifying signed webhook deliveries in your receiver.
//!
//! A delivery carries `X-Timestamp` (Unix seconds) and `X-Signature: v1=<hex>`, where hex is the
//! lowercase HMAC-SHA256, keyed with the webhook secret, of `<X-Timestamp>.<raw body>`
//! (wire-protocol §7). [`verify`] checks the MAC in constant time and rejects timestamps outside
//! the replay window.
//!
//! ```
//! use std::time::Duration;
//! use ascend_runtime::webhook;
//!
//! let secret = "whsec_test";
//! let body = br#"{"event":"action.approved","data":{"action_id":"7"}}"#;
//! let ts = webhook::now_timestamp();
//! let sig = webhook::sign(secret, &ts, body);
//! assert!(webhook::verify(secret, &ts, body, &sig, Duration::from_secs(300)).is_ok());
//! assert!(webhook::verify("other", &ts, body, &sig, Duration::from_secs(300)).is_err());
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::signing;

/// Why a delivery was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp is not Unix seconds (or an RFC 3339 time).
    #[error("webhook timestamp is not a valid time")]
    BadTimestamp,
    /// The timestamp is outside the replay window.
    #[error("webhook timestamp is {skew_secs} s away from now (allowed: {tolerance_secs} s)")]
    Expired {
        /// How far the timestamp is from now.
        skew_secs: u64,
        /// The window.
        tolerance_secs: u64,
    },
    /// The signature does not match.
    #[error("webhook signature does not match")]
    BadSignature,
}

/// Verify a delivery: `signature` must be `v1=<hmac>` over `timestamp + "." + body`, and
/// `timestamp` within `tolerance` of now (either direction).
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let when = parse_timestamp(timestamp).ok_or(VerifyError::BadTimestamp)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let skew = now.abs_diff(when);
    if skew > tolerance.as_secs() {
        return Err(VerifyError::Expired {
            skew_secs: skew,
            tolerance_secs: tolerance.as_secs(),
        });
    }
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    if signing::verify_v1(secret, &message, signature) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature)
    }
}

/// The signature a sender puts in `X-Signature` (for tests and for servers).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    signing::hmac_v1(secret, &message)
}

/// The current time as Unix seconds (the `X-Timestamp` format).
pub fn now_timestamp() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string()
}

fn parse_timestamp(ts: &str) -> Option<i64> {
    let ts = ts.trim();
    if let Ok(secs) = ts.parse::<i64>() {
        return Some(secs);
    }
    if let Ok(secs) = ts.parse::<f64>() {
        return secs.is_finite().then_some(secs as i64);
    }
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_replays_and_tampering() {
        let secret = "whsec_abc";
        let body = b"{\"event\":\"action.denied\"}";
        let window = Duration::from_secs(300);
        let ts = now_timestamp();
        let sig = sign(secret, &ts, body);
        assert_eq!(verify(secret, &ts, body, &sig, window), Ok(()));
        assert_eq!(
            verify(
                secret,
                &ts,
                b"{\"event\":\"action.approved\"}",
                &sig,
                window
            ),
            Err(VerifyError::BadSignature)
        );
        let old = (ts.parse::<i64>().unwrap() - 3600).to_string();
        let old_sig = sign(secret, &old, body);
        assert!(matches!(
            verify(secret, &old, body, &old_sig, window),
            Err(VerifyError::Expired { .. })
        ));
        assert_eq!(
            verify(secret, "yesterday", body, &sig, window),
            Err(VerifyError::BadTimestamp)
        );
        assert_eq!(
            verify(secret, &ts, body, "v1=zz", window),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify(secret, &ts, body, sig.trim_start_matches("v1="), window),
            Err(VerifyError::BadSignature)
        );
    }
}
