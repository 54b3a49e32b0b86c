//! Server-side redaction of secret-looking values before anything is stored or audited.
//!
//! Clients are expected to redact arguments themselves (our runtime's MCP guard does), but the
//! server does not rely on it: the stored request of an action, its hash-chained audit entry and
//! the MCP registry's `connection_config` all pass through [`redact`] first. The engines still
//! see the request as sent (redaction happens after the decision).
//!
//! The rule is the runtime's, [`ascend_runtime::redact`] (one implementation for the SDK, the
//! MCP guard and the server): the value of a secret-looking key is replaced by `"[REDACTED]"`
//! whatever it is (string, number, object, array), except `true`/`false`/`null`, which carry no
//! secret and are often flags the reader needs (`requires_auth: true`).

use serde_json::{Map, Value};

pub use ascend_runtime::redact::REDACTED;

/// Whether a key's value must be redacted ([`ascend_runtime::redact::is_secret_name`]).
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
    ascend_runtime::redact::is_secret_name(key)
}

/// A copy of `value` with the values of secret-looking keys replaced by `"[REDACTED]"`, at any
/// depth (objects inside arrays included).
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
    let mut copy = value.clone();
    ascend_runtime::redact::redact_value(&mut copy);
    copy
}

/// [`redact`] for an object.
pub fn redact_map(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .map(|(k, v)| {
            let v = if ascend_runtime::redact::should_redact(k, v) {
                Value::String(REDACTED.to_owned())
            } else {
                redact(v)
            };
            (k.clone(), v)
        })
        .collect()
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
            let m = redact_map(&Map::from_iter([(k.to_owned(), json!({"x": 1}))]));
            assert_eq!(m[k], REDACTED, "{k}");
        }
    }

    #[test]
    fn keeps_ordinary_values_and_flags() {
        let v = json!({"path": "/a", "count": 3, "auth_required": false, "token": null});
        assert_eq!(redact(&v), v);
        let m = v.as_object().cloned().unwrap_or_default();
        assert_eq!(redact_map(&m), m);
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
