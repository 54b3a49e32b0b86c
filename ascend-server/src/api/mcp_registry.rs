//! The MCP registry endpoints (wire-protocol §3.1 #27–#30, the Python SDK's
//! `register_mcp_server`, `list_mcp_servers`, `get_mcp_server`, `delete_mcp_server`,
//! `activate_mcp_server`, `deactivate_mcp_server`).
//!
//! * `POST /api/registry/mcp-servers` — register (201) or update (200) a server:
//!   `{"server_name", "transport_type" ("stdio"), "governance_enabled" (true), "display_name"?,
//!   "description"?, "server_url"?, "connection_config"?: {}, "auto_approve_tools"?: [str],
//!   "blocked_tools"?: [str], "tool_risk_overrides"?: {tool: 0..100}}` → `{success, message,
//!   server{…}}`. Updating keeps the id, the activation state and the creation time.
//! * `GET /api/registry/mcp-servers` → `{success, servers: [...], total}`.
//! * `GET /api/registry/mcp-servers/{server_name}` → `{success, server}`; `DELETE` → `{success,
//!   message, server_name}`.
//! * `POST …/{server_name}/activate` (no body) and `POST …/{server_name}/deactivate`
//!   (`{"reason"}` or no body) → `{success, message, server}`.
//!
//! Reading needs any key of the organisation; changes need the `admin` role. Every change is an
//! audit entry (`mcp_server.registered|updated|activated|deactivated|deleted`). What the
//! registry does to MCP calls is described in [`crate::mcp_registry`].

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{Shared, check_errors, json_body, object, opt_obj, opt_str};
use crate::error::{Error, Result};
use crate::governance::mcp::McpServerInput;
use crate::model::Principal;

const MAX_NAME: usize = 256;
const MAX_TOOLS: usize = 1000;

/// A server name from a body or a path: trimmed, 1–256 characters, no control characters.
fn server_name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::field("server_name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(Error::field(
            "server_name",
            format!("at most {MAX_NAME} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::field(
            "server_name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

fn tool_list(m: &Map<String, Value>, key: &str, errors: &mut Map<String, Value>) -> Vec<String> {
    let items = match m.get(key) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            errors.insert(key.into(), "must be a list of tool names".into());
            return Vec::new();
        }
    };
    if items.len() > MAX_TOOLS {
        errors.insert(key.into(), format!("at most {MAX_TOOLS} tools").into());
        return Vec::new();
    }
    let mut out = Vec::with_capacity(items.len());
    for v in items {
        match v.as_str().map(str::trim) {
            Some(t) if !t.is_empty() && t.chars().count() <= MAX_NAME => {
                if !out.iter().any(|o: &String| o == t) {
                    out.push(t.to_owned());
                }
            }
            _ => {
                errors.insert(
                    key.into(),
                    format!("every item must be a tool name of 1 to {MAX_NAME} characters").into(),
                );
                return Vec::new();
            }
        }
    }
    out
}

fn overrides(m: &Map<String, Value>, errors: &mut Map<String, Value>) -> BTreeMap<String, f64> {
    const KEY: &str = "tool_risk_overrides";
    let obj = match m.get(KEY) {
        None | Some(Value::Null) => return BTreeMap::new(),
        Some(Value::Object(o)) => o,
        Some(_) => {
            errors.insert(KEY.into(), "must be an object {tool: score}".into());
            return BTreeMap::new();
        }
    };
    if obj.len() > MAX_TOOLS {
        errors.insert(KEY.into(), format!("at most {MAX_TOOLS} tools").into());
        return BTreeMap::new();
    }
    let mut out = BTreeMap::new();
    for (tool, v) in obj {
        let t = tool.trim();
        match v.as_f64() {
            Some(score) if (0.0..=100.0).contains(&score) && !t.is_empty() => {
                out.insert(t.to_owned(), score);
            }
            _ => {
                errors.insert(
                    KEY.into(),
                    format!("{tool:?}: the score must be a number from 0 to 100").into(),
                );
                return BTreeMap::new();
            }
        }
    }
    out
}

fn opt_bool(m: &Map<String, Value>, key: &str, errors: &mut Map<String, Value>) -> Option<bool> {
    match m.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => super::parse_bool(s).or_else(|| {
            errors.insert(key.into(), "must be true or false".into());
            None
        }),
        Some(_) => {
            errors.insert(key.into(), "must be true or false".into());
            None
        }
    }
}

/// `POST /api/registry/mcp-servers` (admin).
pub async fn register(
    State(state): State<Shared>,
    principal: Principal,
    body: Body,
) -> Result<(StatusCode, Json<Value>)> {
    let m = object(json_body(body, state.config().body_limit).await?)?;
    let mut errors = Map::new();
    let name = match m.get("server_name") {
        Some(Value::String(s)) => match server_name(s) {
            Ok(n) => Some(n),
            Err(Error::Validation { errors: e, .. }) => {
                errors.extend(e);
                None
            }
            Err(e) => return Err(e),
        },
        None | Some(Value::Null) => {
            errors.insert("server_name".into(), "field required".into());
            None
        }
        Some(_) => {
            errors.insert("server_name".into(), "must be a string".into());
            None
        }
    };
    let input = McpServerInput {
        server_name: String::new(),
        transport_type: opt_str(&m, "transport_type", 64, &mut errors)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "stdio".into()),
        governance_enabled: opt_bool(&m, "governance_enabled", &mut errors).unwrap_or(true),
        display_name: opt_str(&m, "display_name", MAX_NAME, &mut errors),
        description: opt_str(&m, "description", 4096, &mut errors),
        server_url: opt_str(&m, "server_url", 2048, &mut errors),
        connection_config: opt_obj(&m, "connection_config", &mut errors),
        auto_approve_tools: tool_list(&m, "auto_approve_tools", &mut errors),
        blocked_tools: tool_list(&m, "blocked_tools", &mut errors),
        tool_risk_overrides: overrides(&m, &mut errors),
    };
    check_errors(errors)?;
    let Some(name) = name else {
        return Err(Error::field("server_name", "field required"));
    };
    let input = McpServerInput {
        server_name: name.clone(),
        ..input
    };
    let (stored, created) = state.register_mcp_server(&principal, input).await?;
    let (status, verb) = if created {
        (StatusCode::CREATED, "registered")
    } else {
        (StatusCode::OK, "updated")
    };
    Ok((
        status,
        Json(json!({
            "success": true,
            "message": format!("MCP server {name:?} {verb}"),
            "server": stored.view(),
        })),
    ))
}

/// `GET /api/registry/mcp-servers`.
pub async fn list(State(state): State<Shared>, principal: Principal) -> Result<Json<Value>> {
    let servers: Vec<Value> = state
        .mcp_servers(&principal)?
        .iter()
        .map(|s| s.view())
        .collect();
    Ok(Json(
        json!({"success": true, "total": servers.len(), "servers": servers}),
    ))
}

fn path_name(raw: &str) -> Result<String> {
    server_name(raw).map_err(|_| Error::NotFound("MCP server not found".into()))
}

/// `GET /api/registry/mcp-servers/{server_name}`.
pub async fn get_one(
    State(state): State<Shared>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let s = state.mcp_server(&principal, &path_name(&name)?)?;
    Ok(Json(json!({"success": true, "server": s.view()})))
}

/// `DELETE /api/registry/mcp-servers/{server_name}` (admin).
pub async fn delete(
    State(state): State<Shared>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let s = state
        .delete_mcp_server(&principal, &path_name(&name)?)
        .await?;
    Ok(Json(json!({
        "success": true,
        "message": format!("MCP server {:?} deleted", s.server_name),
        "server_name": s.server_name,
    })))
}

async fn set_active(
    state: &Shared,
    p: &Principal,
    raw: &str,
    active: bool,
    reason: Option<String>,
) -> Result<Json<Value>> {
    let stored = state
        .set_mcp_server_active(p, &path_name(raw)?, active, reason)
        .await?;
    let verb = if active { "activated" } else { "deactivated" };
    Ok(Json(json!({
        "success": true,
        "message": format!("MCP server {:?} {verb}", stored.server_name),
        "server": stored.view(),
    })))
}

/// `POST /api/registry/mcp-servers/{server_name}/activate` (admin).
pub async fn activate(
    State(state): State<Shared>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    // Any body is ignored (the Python SDK sends none).
    set_active(&state, &principal, &name, true, None).await
}

/// `POST /api/registry/mcp-servers/{server_name}/deactivate` (admin), `{"reason"}` or no body.
pub async fn deactivate(
    State(state): State<Shared>,
    principal: Principal,
    Path(name): Path<String>,
    body: Body,
) -> Result<Json<Value>> {
    let m = object(json_body(body, state.config().body_limit).await?)?;
    let mut errors = Map::new();
    let reason = opt_str(&m, "reason", 1000, &mut errors)
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    check_errors(errors)?;
    set_active(&state, &principal, &name, false, reason).await
}
