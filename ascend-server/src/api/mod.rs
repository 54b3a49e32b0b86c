//! The HTTP API: one module per resource, the router, and the request helpers they share
//! (authentication extractor, JSON body parsing with a size limit, Python-style booleans,
//! JSON for every error).

pub mod actions;
pub mod admin;
pub mod audit;
pub mod events;
pub mod kill_switch;
pub mod limits;
pub mod mcp;
pub mod mcp_registry;
pub mod registry;
pub mod trace;
pub mod webhooks;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Map, Value};

use crate::auth::presented_key;
use crate::error::{Error, Result};
use crate::governance::Governance;
use crate::model::Principal;

pub use crate::governance::submit::parse_bool;

/// The state handlers receive: the governance service.
pub type Shared = Governance;

impl FromRequestParts<Shared> for Principal {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self> {
        let key = presented_key(&parts.headers).ok_or(Error::Unauthorized)?;
        state.authenticate(key).await
    }
}

/// Read the body (at most `limit` bytes) and parse it as JSON. An empty body is `{}` (the Python
/// SDK sends empty POST bodies on several routes). A body slower than the server's body timeout
/// is a 408.
pub async fn json_body(body: Body, limit: usize) -> Result<Value> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut timed_out = false;
        while let Some(c) = cause {
            timed_out |= c.is::<crate::serve::BodyTimeout>();
            cause = c.source();
        }
        if timed_out {
            Error::RequestTimeout
        } else {
            Error::PayloadTooLarge
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::BadRequest(format!("malformed JSON: {e}")))
}

/// The body as an object, or a 422.
pub fn object(v: Value) -> Result<Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(Error::field("body", "must be a JSON object")),
    }
}

/// Parse an integer id from a path segment; anything else is "not found".
pub fn parse_id(raw: &str, what: &str) -> Result<i64> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Error::NotFound(format!("{what} {raw:?} not found")))
}

/// A header's value as text.
pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Optional string field: absent or null → None; wrong type → field error.
pub fn opt_str(
    m: &Map<String, Value>,
    key: &str,
    max: usize,
    errors: &mut Map<String, Value>,
) -> Option<String> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if s.chars().count() > max {
                errors.insert(key.into(), format!("at most {max} characters").into());
                None
            } else {
                Some(s.clone())
            }
        }
        Some(_) => {
            errors.insert(key.into(), "must be a string".into());
            None
        }
    }
}

/// Optional object field.
pub fn opt_obj(
    m: &Map<String, Value>,
    key: &str,
    errors: &mut Map<String, Value>,
) -> Map<String, Value> {
    match m.get(key) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            errors.insert(key.into(), "must be an object".into());
            Map::new()
        }
    }
}

/// Fail with 422 when any field error was collected.
pub fn check_errors(errors: Map<String, Value>) -> Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let detail = errors
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("; ");
    Err(Error::Validation {
        detail: format!("invalid request: {detail}"),
        errors,
    })
}

/// Turn every non-JSON error response (axum's own rejections, 404/405 from routing) into a JSON
/// `{"detail": ...}` body.
async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_owned()
        });
    let status = if status == StatusCode::METHOD_NOT_ALLOWED || status.is_client_error() {
        parts.status
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (
        status,
        axum::Json(serde_json::json!({"detail": text, "errors": {}})),
    )
        .into_response()
}

async fn not_found() -> Error {
    Error::NotFound("no such endpoint".into())
}

/// The complete router.
pub fn router(state: Shared) -> Router {
    let limits = std::sync::Arc::new(limits::Limits::new(state.clone()));
    Router::new()
        .route("/health", get(registry::health))
        .route("/ready", get(registry::ready))
        .route("/metrics", get(registry::metrics))
        .route("/api/deployment-info", get(registry::deployment_info))
        .route("/api/registry/agents", post(registry::register_agent))
        .route("/api/v1/actions/submit", post(actions::submit))
        .route("/api/v1/actions", get(actions::list_v1))
        .route("/api/v1/actions/{id}", get(actions::details))
        .route("/api/v1/actions/{id}/status", get(actions::status))
        .route("/api/v1/actions/{id}/approve", post(actions::approve))
        .route("/api/v1/actions/{id}/deny", post(actions::deny))
        .route("/api/agent-action/{id}/complete", post(actions::complete))
        .route("/api/agent-action/{id}/fail", post(actions::fail))
        .route("/api/agent-activity", get(actions::activity))
        .route("/api/sdk/approval/{id}", get(actions::approval_check))
        .route("/api/sdk/kill-switch/status", get(kill_switch::status))
        .route("/api/v1/kill-switch/status", get(kill_switch::status))
        .route("/api/v1/kill-switch/trigger", post(kill_switch::trigger))
        .route("/api/v1/kill-switch/release", post(kill_switch::release))
        .route(
            "/api/billing/kill-switch/{org}/trigger",
            post(kill_switch::trigger_org),
        )
        .route(
            "/api/billing/kill-switch/{org}/release",
            post(kill_switch::release_org),
        )
        .route("/api/webhooks/configure", post(webhooks::configure))
        .route("/api/webhooks", get(webhooks::list))
        .route(
            "/api/webhooks/{id}",
            put(webhooks::update).delete(webhooks::delete),
        )
        .route("/api/webhooks/{id}/test", post(webhooks::test))
        .route("/api/v1/mcp/actions/submit", post(mcp::submit))
        .route(
            "/api/registry/mcp-servers",
            post(mcp_registry::register).get(mcp_registry::list),
        )
        .route(
            "/api/registry/mcp-servers/{server_name}",
            get(mcp_registry::get_one).delete(mcp_registry::delete),
        )
        .route(
            "/api/registry/mcp-servers/{server_name}/activate",
            post(mcp_registry::activate),
        )
        .route(
            "/api/registry/mcp-servers/{server_name}/deactivate",
            post(mcp_registry::deactivate),
        )
        .route("/api/v1/audit", get(audit::query))
        .route("/audit/logs", get(audit::query))
        .route("/api/v1/audit/export", get(audit::export))
        .route("/api/v1/audit/verify", get(audit::verify))
        .route("/api/v1/policies/reload", post(admin::reload_policies))
        .route(
            "/api/v1/keys",
            post(admin::create_key).get(admin::list_keys),
        )
        .route("/api/v1/keys/{key_id}/revoke", post(admin::revoke_key))
        .route("/api/v1/keys/{key_id}/rotate", post(admin::rotate_key))
        .route(
            "/api/v1/orgs",
            post(admin::create_org).get(admin::list_orgs),
        )
        .route("/api/v1/events/stream", get(events::stream))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(limits, limits::enforce))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(trace::trace_context))
        .merge(crate::console::router(state.clone()))
        .with_state(state)
}
