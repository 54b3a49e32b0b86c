//! Tool arguments as action parameters: secret-looking names redacted, long strings and deep or
//! long values bounded.

use serde_json::{Map, Value};

use crate::redact::{REDACTED, should_redact, truncate};

const MAX_DEPTH: usize = 8;
pub(super) const MAX_ITEMS: usize = 50;

/// Whether an argument name looks like it holds a secret: the one rule of
/// [`crate::redact::is_secret_name`], re-exported here.
///
/// ```
/// use ascend_runtime::mcp::is_secret_name;
/// assert!(is_secret_name("api_key"));
/// assert!(is_secret_name("GitHubToken"));
/// assert!(is_secret_name("ssh-key"));
/// assert!(!is_secret_name("path"));
/// ```
pub use crate::redact::is_secret_name;

/// Sanitise tool arguments before they leave the process: values under secret-looking names
/// become `"[REDACTED]"` (recursively; the rule of [`crate::redact`], which keeps `true`,
/// `false` and `null`), strings over `max_chars` characters are cut, arrays keep
/// their first 50 items and nesting stops at depth 8.
///
/// ```
/// use ascend_runtime::mcp::sanitize_arguments;
/// use serde_json::json;
///
/// let args = json!({"path": "/tmp/a", "auth": {"password": "hunter2"}, "content": "x".repeat(300)});
/// let clean = sanitize_arguments(args.as_object().unwrap(), 100);
/// assert_eq!(clean["path"], "/tmp/a");
/// assert_eq!(clean["auth"], "[REDACTED]");
/// assert!(clean["content"].as_str().unwrap().starts_with(&"x".repeat(100)));
/// assert!(clean["content"].as_str().unwrap().ends_with("[truncated 200 chars]"));
/// ```
pub fn sanitize_arguments(arguments: &Map<String, Value>, max_chars: usize) -> Map<String, Value> {
    sanitize_map(arguments, max_chars, 0)
}

fn sanitize_map(map: &Map<String, Value>, max_chars: usize, depth: usize) -> Map<String, Value> {
    map.iter()
        .map(|(k, v)| {
            let value = if should_redact(k, v) {
                Value::String(REDACTED.to_owned())
            } else {
                sanitize_value(v, max_chars, depth + 1)
            };
            (k.clone(), value)
        })
        .collect()
}

fn sanitize_value(value: &Value, max_chars: usize, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::String("[depth limit]".to_owned());
    }
    match value {
        Value::String(s) => Value::String(truncate(s, max_chars)),
        Value::Object(m) => Value::Object(sanitize_map(m, max_chars, depth)),
        Value::Array(items) => {
            let mut out: Vec<Value> = items
                .iter()
                .take(MAX_ITEMS)
                .map(|v| sanitize_value(v, max_chars, depth + 1))
                .collect();
            if items.len() > MAX_ITEMS {
                out.push(Value::String(format!(
                    "[{} more items]",
                    items.len() - MAX_ITEMS
                )));
            }
            Value::Array(out)
        }
        other => other.clone(),
    }
}
