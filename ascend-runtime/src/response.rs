//! What an HTTP answer means: the JSON body, or the matching [`Error`] (wire-protocol §2.1) —
//! status codes, error bodies (`detail`, FastAPI lists, field errors), governance denials in a
//! 403, and transport failures (TLS, timeout, connection).

use std::error::Error as StdError;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header;
use serde_json::Value;

use crate::decision::AuthorizationDecision;
use crate::error::{Error, Result};
use crate::retry::parse_retry_after;

/// Largest response body read (protects against hostile or broken servers).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Read an answer's body (at most [`MAX_BODY`]) and [`map`] it.
pub(crate) async fn read(mut resp: reqwest::Response, timeout: Duration) -> Result<Value> {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(parse_retry_after);
    let mut bytes = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_BODY {
                    return Err(Error::Protocol(format!(
                        "response body larger than {MAX_BODY} bytes"
                    )));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(map_reqwest_error(&e, timeout)),
        }
    }
    map(status, retry_after, &bytes, timeout)
}

/// Classify a transport error: TLS, timeout, or connection.
pub(crate) fn map_reqwest_error(e: &reqwest::Error, timeout: Duration) -> Error {
    let message = error_chain(e);
    if is_tls(e) {
        return Error::Tls { message };
    }
    if e.is_timeout() {
        return Error::Timeout { after: timeout };
    }
    Error::Connection { message }
}

fn error_chain(e: &dyn StdError) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = inner.source();
    }
    s
}

fn is_tls(e: &(dyn StdError + 'static)) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && (inner.is::<rustls::Error>() || is_tls(inner))
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Map an HTTP answer to the JSON body or the matching [`Error`] (wire-protocol §2.1, intended
/// semantics): 401 → Authentication; 403 → Denied (governance body) or Forbidden; 404 →
/// NotFound; 408 → Timeout; 409 → Conflict; 400/413/422 → Validation with field errors; 429 →
/// RateLimited with `Retry-After`; 5xx → Server; other statuses → Protocol. A 2xx body must be
/// JSON (an empty body, e.g. 204, is `null`).
pub(crate) fn map(
    status: StatusCode,
    retry_after: Option<Duration>,
    bytes: &[u8],
    timeout: Duration,
) -> Result<Value> {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let code = status.as_u16();
    if status.is_success() {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        return parsed.ok_or_else(|| {
            Error::Protocol(format!(
                "HTTP {code} with a body that is not valid JSON ({} bytes)",
                bytes.len()
            ))
        });
    }
    let detail = parsed.as_ref().map(detail_text).unwrap_or_else(|| {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("no detail").to_owned()
        } else {
            text.chars().take(300).collect()
        }
    });
    match code {
        401 => Err(Error::Authentication {
            message: format!("invalid or expired API key ({detail})"),
        }),
        403 => match parsed.as_ref().and_then(governance_denial) {
            Some(decision) => Err(Error::Denied(Box::new(decision))),
            None => Err(Error::Forbidden { message: detail }),
        },
        404 => Err(Error::NotFound { message: detail }),
        408 => Err(Error::Timeout { after: timeout }),
        409 => Err(Error::Conflict { message: detail }),
        400 | 413 | 422 => Err(Error::Validation {
            message: detail,
            field_errors: parsed.as_ref().map(field_errors).unwrap_or_default(),
        }),
        429 => Err(Error::RateLimited { retry_after }),
        500..=599 => Err(Error::Server {
            status: code,
            message: detail,
        }),
        _ => Err(Error::Protocol(format!("unexpected HTTP {code}: {detail}"))),
    }
}

/// A readable text from an error body: `detail` (string, object or FastAPI list), `error`,
/// `message`.
fn detail_text(body: &Value) -> String {
    let pick = body
        .get("detail")
        .or_else(|| body.get("error"))
        .or_else(|| body.get("message"));
    match pick {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("detail")
            .or_else(|| o.get("error"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| Value::Object(o.clone()).to_string()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i.get("msg").and_then(Value::as_str) {
                Some(m) => m.to_owned(),
                None => i.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; "),
        Some(other) => other.to_string(),
        None => body.to_string().chars().take(300).collect(),
    }
}

/// `errors` object, or FastAPI's `detail: [{loc, msg}]`, as field → message.
fn field_errors(body: &Value) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Some(Value::Object(errors)) = body.get("errors") {
        for (k, v) in errors {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
                other => other.to_string(),
            };
            out.insert(k.clone(), text);
        }
    }
    if let Some(Value::Array(items)) = body.get("detail") {
        for item in items {
            let field = match item.get("loc") {
                Some(Value::Array(loc)) => loc
                    .iter()
                    .filter(|p| p.as_str() != Some("body"))
                    .map(|p| {
                        p.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| p.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join("."),
                _ => continue,
            };
            if let Some(msg) = item.get("msg").and_then(Value::as_str) {
                out.insert(field, msg.to_owned());
            }
        }
    }
    out
}

/// A 403 whose `detail.error` mentions governance or a violation is a denial decision.
fn governance_denial(body: &Value) -> Option<AuthorizationDecision> {
    let detail = body.get("detail")?.as_object()?;
    let error = match detail.get("error")? {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let lower = error.to_ascii_lowercase();
    if !lower.contains("governance") && !lower.contains("violation") {
        return None;
    }
    let reason = detail
        .get("detail")
        .and_then(Value::as_str)
        .unwrap_or(&error)
        .to_owned();
    let mut d = AuthorizationDecision::new("", crate::Decision::Denied).with_reason(reason);
    d.raw_status = Some("denied".to_owned());
    d.metadata
        .insert("governance_violation".into(), Value::Bool(true));
    d.metadata.insert("error".into(), Value::String(error));
    for key in ["correlation_id", "mcp_server_name", "model_id"] {
        if let Some(v) = detail.get(key) {
            d.metadata.insert(key.into(), v.clone());
        }
    }
    if let Some(id) = detail.get("action_id").or_else(|| body.get("action_id")) {
        d.action_id = match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
    }
    if let Some(Value::Array(v)) = body.get("policy_violations") {
        d.policy_violations = v
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect();
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(code: u16, body: &str) -> Result<Value> {
        super::map(
            StatusCode::from_u16(code).unwrap(),
            Some(Duration::from_secs(3)),
            body.as_bytes(),
            Duration::from_secs(5),
        )
    }

    #[test]
    fn status_mapping() {
        assert!(matches!(map(200, r#"{"a":1}"#), Ok(v) if v == json!({"a":1})));
        assert!(matches!(map(204, ""), Ok(Value::Null)));
        assert!(matches!(map(200, r#"{"a":"#), Err(Error::Protocol(_))));
        assert!(matches!(map(401, "{}"), Err(Error::Authentication { .. })));
        assert!(
            matches!(map(403, r#"{"detail":"no"}"#), Err(Error::Forbidden { message }) if message == "no")
        );
        let denied = map(
            403,
            r#"{"detail":{"error":"governance_violation: MCP_SERVER_UNREGISTERED_DENY","detail":"unregistered","correlation_id":"c1"}}"#,
        );
        match denied {
            Err(Error::Denied(d)) => {
                assert_eq!(d.reason.as_deref(), Some("unregistered"));
                assert!(d.is_denied());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            map(404, r#"{"detail":"gone"}"#),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(map(409, "{}"), Err(Error::Conflict { .. })));
        match map(
            422,
            r#"{"detail":[{"loc":["body","resource"],"msg":"field required","type":"x"}]}"#,
        ) {
            Err(Error::Validation { field_errors, .. }) => {
                assert_eq!(field_errors["resource"], "field required")
            }
            other => panic!("{other:?}"),
        }
        match map(400, r#"{"detail":"bad","errors":{"action_type":"empty"}}"#) {
            Err(Error::Validation {
                message,
                field_errors,
            }) => {
                assert_eq!(message, "bad");
                assert_eq!(field_errors["action_type"], "empty");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(map(429, ""), Err(Error::RateLimited { retry_after: Some(d) }) if d == Duration::from_secs(3))
        );
        for code in [500, 501, 502, 503, 504, 505, 507, 599] {
            assert!(
                matches!(map(code, "oops"), Err(Error::Server { status, .. }) if status == code)
            );
        }
        assert!(matches!(map(418, ""), Err(Error::Protocol(_))));
        assert!(matches!(map(408, ""), Err(Error::Timeout { .. })));
    }
}
