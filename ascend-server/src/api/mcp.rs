//! `POST /api/v1/mcp/actions/submit` (wire-protocol §6.5): an MCP tool call, attributed to the
//! key's agent (the body has no agent id).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Map, Value};

use ascend_runtime::{AgentAction, Decision};

use super::{Shared, check_errors, header_str, json_body, object, opt_obj, opt_str};
use crate::error::{Error, Result};
use crate::governance::{McpFacts, SubmitInput};
use crate::model::Principal;

/// Handle an MCP submit.
pub async fn submit(
    State(state): State<Shared>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>> {
    let m = object(json_body(body, state.config().body_limit).await?)?;
    let mut errors = Map::new();
    let server = opt_str(&m, "mcp_server", 256, &mut errors);
    let namespace = opt_str(&m, "namespace", 256, &mut errors);
    let verb = opt_str(&m, "verb", 256, &mut errors);
    let resource = opt_str(&m, "resource", 1024, &mut errors);
    let action_type = opt_str(&m, "action_type", 256, &mut errors);
    let description = opt_str(&m, "description", 4096, &mut errors);
    let tool_name = opt_str(&m, "tool_name", 256, &mut errors);
    let environment = opt_str(&m, "environment", 64, &mut errors);
    let parameters = opt_obj(&m, "parameters", &mut errors);
    let context = opt_obj(&m, "context", &mut errors);
    let server = server
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    if server.is_none() && !errors.contains_key("mcp_server") {
        errors.insert("mcp_server".into(), "field required".into());
    }
    let resource = resource.filter(|s| !s.trim().is_empty());
    if resource.is_none() && !errors.contains_key("resource") {
        errors.insert("resource".into(), "field required".into());
    }
    let action_type =
        action_type
            .filter(|s| !s.trim().is_empty())
            .or_else(|| match (&namespace, &verb) {
                (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => Some(format!("{n}.{v}")),
                _ => None,
            });
    if action_type.is_none() && !errors.contains_key("action_type") {
        errors.insert(
            "action_type".into(),
            "give action_type, or namespace and verb".into(),
        );
    }
    check_errors(errors)?;
    let (Some(server), Some(resource), Some(action_type)) = (server, resource, action_type) else {
        return Err(Error::BadRequest("incomplete MCP request".into()));
    };
    let tool = tool_name
        .clone()
        .or_else(|| verb.clone())
        .unwrap_or_else(|| action_type.clone());
    let agent_id = principal
        .agent_id
        .clone()
        .unwrap_or_else(|| format!("mcp:{server}"));
    let mut details = parameters;
    if let Some(t) = &tool_name {
        details.insert("tool_name".into(), Value::String(t.clone()));
    }
    if let Some(d) = &description {
        details.insert("description".into(), Value::String(d.clone()));
    }
    let mut ctx = context;
    ctx.entry("mcp_server")
        .or_insert(Value::String(server.clone()));
    if let Some(n) = &namespace {
        ctx.entry("namespace").or_insert(Value::String(n.clone()));
    }
    if let Some(v) = &verb {
        ctx.entry("verb").or_insert(Value::String(v.clone()));
    }
    let action = AgentAction {
        agent_id: agent_id.clone(),
        agent_name: agent_id,
        action_type,
        resource,
        action_details: details,
        context: ctx,
        mcp_server_name: Some(server.clone()),
        ..AgentAction::default()
    };
    let env = environment
        .or_else(|| header_str(&headers, "x-environment").map(str::to_owned))
        .unwrap_or_else(|| "production".into());
    let input = SubmitInput {
        action,
        environment: env,
        correlation_id: header_str(&headers, "x-correlation-id").map(str::to_owned),
        idempotency_key: header_str(&headers, "idempotency-key").map(|k| format!("idem:{k}")),
        mcp: Some(McpFacts { server, tool }),
    };
    let body = state.submit(&principal, input).await?;
    let mut v = serde_json::to_value(body.as_ref())?;
    if let Value::Object(o) = &mut v {
        o.insert(
            "success".into(),
            Value::Bool(body.decision != Decision::Denied),
        );
        o.insert(
            "requires_approval".into(),
            Value::Bool(body.decision == Decision::Pending),
        );
    }
    Ok(Json(v))
}
