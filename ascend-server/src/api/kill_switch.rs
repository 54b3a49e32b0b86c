//! Kill switch over HTTP: status for SDK polling, trigger and release per organisation or per
//! agent.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use ascend_runtime::wire::KillSwitchStatus;

use super::{Shared, header_str, json_body, object};
use crate::error::{Error, Result};
use crate::governance::kill_switch::KillSwitchInput;
use crate::model::Principal;

/// Query of the status endpoint.
#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    agent_id: Option<String>,
}

/// `GET /api/sdk/kill-switch/status` — for the key's agent (or `?agent_id=`, or the
/// `X-Agent-ID` header), else the organisation.
pub async fn status(
    State(state): State<Shared>,
    principal: Principal,
    headers: HeaderMap,
    Query(q): Query<StatusQuery>,
) -> Result<Json<KillSwitchStatus>> {
    let agent = q
        .agent_id
        .filter(|a| !a.is_empty())
        .or_else(|| header_str(&headers, "x-agent-id").map(str::to_owned));
    Ok(Json(
        state.kill_switch_status(&principal, agent.as_deref())?,
    ))
}

async fn set(state: &Shared, p: &Principal, body: Body, active: bool) -> Result<Json<Value>> {
    let m = object(json_body(body, state.config().body_limit).await?)?;
    let text = |k: &str| -> Result<Option<String>> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= 2000 => {
                Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
            }
            Some(Value::String(_)) => Err(Error::field(k, "at most 2000 characters")),
            Some(_) => Err(Error::field(k, "must be a string")),
        }
    };
    let input = KillSwitchInput {
        agent_id: text("agent_id")?,
        active,
        reason: text("reason")?,
    };
    let r = state.set_kill_switch(p, input).await?;
    Ok(Json(json!({
        "success": true,
        "organization_id": r.org_id,
        "agent_id": r.agent_id,
        "blocked": r.active,
        "active": r.active,
        "reason": r.reason,
        "activated_at": r.activated_at,
        "activated_by": r.activated_by,
    })))
}

/// `POST /api/v1/kill-switch/trigger` `{"reason", "agent_id"?}` (admin).
pub async fn trigger(
    State(state): State<Shared>,
    principal: Principal,
    body: Body,
) -> Result<Json<Value>> {
    set(&state, &principal, body, true).await
}

/// `POST /api/v1/kill-switch/release` `{"reason"?, "agent_id"?}` (admin).
pub async fn release(
    State(state): State<Shared>,
    principal: Principal,
    body: Body,
) -> Result<Json<Value>> {
    set(&state, &principal, body, false).await
}

fn check_org(p: &Principal, raw: &str) -> Result<()> {
    match raw.trim().parse::<i64>() {
        Ok(id) if id == p.org_id => Ok(()),
        _ => Err(Error::NotFound(format!("organisation {raw:?} not found"))),
    }
}

/// `POST /api/billing/kill-switch/{organization_id}/trigger` (the Python SDK's path).
pub async fn trigger_org(
    State(state): State<Shared>,
    principal: Principal,
    Path(org): Path<String>,
    body: Body,
) -> Result<Json<Value>> {
    check_org(&principal, &org)?;
    set(&state, &principal, body, true).await
}

/// `POST /api/billing/kill-switch/{organization_id}/release` (the Python SDK's path).
pub async fn release_org(
    State(state): State<Shared>,
    principal: Principal,
    Path(org): Path<String>,
    body: Body,
) -> Result<Json<Value>> {
    check_org(&principal, &org)?;
    set(&state, &principal, body, false).await
}
