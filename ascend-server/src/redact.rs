//! Server-side redaction of secret-looking values before anything is stored or audited.
//!
//! Clients are expected to redact arguments themselves (our runtime's MCP guard does), but the
//! server does not rely on it: the stored request of an action, its hash-chained audit entry and
//! the MCP registry's `connection_config` all pass through [`redact`] first. The engines still
//! see the request as sent (redaction happens after the decision).
//!
//! A key looks secret when, compared case-insensitively, it contains one of [`SECRET_MARKERS`],
//! or is `key`, or ends in `_key` / `-key`. The value of such a key is replaced by
//! `"[REDACTED]"` whatever it is (string, number, object, array), except `true`/`false`/`null`,
//! which carry no secret and are often flags the reader needs (`requires_auth: true`).

use serde_json::{Map, Value};

/// Substrings (lower case) that make a key look secret.
pub const SECRET_MARKERS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "credential",
    "auth",
    "private_key",
    "access_token",
];

/// What a redacted value becomes.
pub const REDACTED: &str = "[REDACTED]";

const MAX_DEPTH: usize = 64;

/// Whether a key's value must be redacted.
///
/// ```
/// use ascend_server::redact::is_secret_key;
/// assert!(is_secret_key("session_token"));
/// assert!(is_secret_key("AWS_Secret_Access_Key"));
/// assert!(is_secret_key("key"));
/// assert!(is_secret_key("ssh-key"));
/// assert!(!is_secret_key("path"));
/// assert!(!is_secret_key("keyboard_layout"));
/// ```
pub fn is_secret_key(key: &str) -> bool {
    let k = key.trim().to_ascii_lowercase();
    k == "key"
        || k.ends_with("_key")
        || k.ends_with("-key")
        || SECRET_MARKERS.iter().any(|m| k.contains(m))
}

/// A copy of `value` with the values of secret-looking keys replaced by `"[REDACTED]"`, at any
/// depth (objects inside arrays included). Nesting deeper than 64 levels is replaced as a whole.
///
/// ```
/// use ascend_server::redact::redact;
/// use serde_json::json;
/// let v = json!({"path": "/etc", "auth": {"user": "a"}, "items": [{"api_key": "k", "n": 1}],
///                "requires_auth": true});
/// assert_eq!(redact(&v), json!({"path": "/etc", "auth": "[REDACTED]",
///            "items": [{"api_key": "[REDACTED]", "n": 1}], "requires_auth": true}));
/// ```
pub fn redact(value: &Value) -> Value {
    redact_at(value, 0)
}

/// [`redact`] for an object.
pub fn redact_map(map: &Map<String, Value>) -> Map<String, Value> {
    map_at(map, 0)
}

fn map_at(map: &Map<String, Value>, depth: usize) -> Map<String, Value> {
    map.iter()
        .map(|(k, v)| {
            let v = if is_secret_key(k) && !matches!(v, Value::Bool(_) | Value::Null) {
                Value::String(REDACTED.to_owned())
            } else {
                redact_at(v, depth + 1)
            };
            (k.clone(), v)
        })
        .collect()
}

fn redact_at(value: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::String(REDACTED.to_owned());
    }
    match value {
        Value::Object(m) => Value::Object(map_at(m, depth)),
        Value::Array(a) => Value::Array(a.iter().map(|v| redact_at(v, depth + 1)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_every_marker_case_insensitively() {
        for k in [
            "password",
            "DB_PASSWORD",
            "client_secret",
            "Token",
            "api_key",
            "apiKey",
            "credentials",
            "Authorization",
            "private_key",
            "access_token",
            "key",
        ] {
            let v = redact(&json!({ k: "s3cr3t" }));
            assert_eq!(v[k], REDACTED, "{k}");
        }
    }

    #[test]
    fn keeps_ordinary_values_and_flags() {
        let v = json!({"path": "/a", "count": 3, "auth_required": false, "token": null});
        assert_eq!(redact(&v), v);
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut v = json!("leaf");
        for _ in 0..500 {
            v = json!({ "a": [v] });
        }
        let _ = redact(&v);
    }
}
