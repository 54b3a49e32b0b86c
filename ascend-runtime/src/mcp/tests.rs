//! Unit tests of the MCP integration.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::sanitize::MAX_ITEMS;
use super::*;
use crate::Error;
use crate::redact::REDACTED;

#[test]
fn sanitizing_recurses_and_bounds() {
    let big: Vec<Value> = (0..60).map(|i| json!(i)).collect();
    let args = json!({
        "nested": {"inner": {"client_secret": "x", "ok": "y"}},
        "list": big,
        "API_KEY": "k",
        "author": "someone",
        "requires_auth": true,
    });
    let clean = sanitize_arguments(args.as_object().unwrap_or(&Map::new()), 10);
    assert_eq!(clean["nested"]["inner"]["client_secret"], REDACTED);
    assert_eq!(clean["nested"]["inner"]["ok"], "y");
    assert_eq!(clean["API_KEY"], REDACTED);
    // "auth" is a marker: false positives are redacted on purpose (safe side).
    assert_eq!(clean["author"], REDACTED);
    // Flags carry no secret and are kept.
    assert_eq!(clean["requires_auth"], true);
    let list = clean["list"].as_array().map(Vec::len);
    assert_eq!(list, Some(MAX_ITEMS + 1));
}

#[test]
fn refusal_kinds() {
    let t = ToolRefusal::new(
        "w",
        Error::ApprovalTimeout {
            action_id: "9".into(),
            waited: Duration::from_secs(300),
        },
    );
    assert_eq!(t.kind(), RefusalKind::ApprovalTimeout);
    assert!(t.message().contains("within 300s"));
    assert!(!t.message().contains("unavailable"));
    let u = ToolRefusal::new(
        "w",
        Error::Connection {
            message: "refused".into(),
        },
    );
    assert_eq!(u.kind(), RefusalKind::Unavailable);
    let e = u.clone().into_response(DenialStyle::ProtocolError);
    assert!(matches!(e, Err(ref d) if d.code.0 == GOVERNANCE_ERROR_CODE));
    let r = u.to_tool_result();
    assert_eq!(r.is_error, Some(true));
    let meta = r.meta.as_ref().and_then(|m| m.0.get(META_KEY)).cloned();
    assert_eq!(
        meta.as_ref().map(|m| m["outcome"].clone()),
        Some(json!("unavailable"))
    );
}
