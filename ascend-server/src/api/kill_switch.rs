//! Kill switch: status for SDK polling, trigger and release per organisation or per agent.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use ascend_runtime::wire::KillSwitchStatus;

use super::{Shared, header_str, json_body, object};
use crate::auth::{Principal, Role};
use crate::error::{Error, Result};
use crate::state::{Event, now};
use crate::store::{KillSwitchRecord, WriteOp};

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
    let agent = principal
        .agent_id
        .clone()
        .or(q.agent_id.filter(|a| !a.is_empty()))
        .or_else(|| header_str(&headers, "x-agent-id").map(str::to_owned));
    Ok(Json(state.kill_status(principal.org_id, agent.as_deref())?))
}

/// Turn a switch on or off, durably, then announce it.
pub async fn set(
    state: &Shared,
    p: &Principal,
    agent_id: Option<String>,
    active: bool,
    reason: Option<String>,
) -> Result<Value> {
    p.require(Role::Admin)?;
    let at = now();
    let record = KillSwitchRecord {
        org_id: p.org_id,
        agent_id: agent_id.clone(),
        active,
        reason: reason.clone(),
        activated_at: Some(at.clone()),
        activated_by: Some(p.name.clone()),
    };
    let audit = state.audit(
        p.org_id,
        if active {
            "kill_switch.triggered"
        } else {
            "kill_switch.released"
        },
        &p.name,
        match &agent_id {
            Some(a) => format!("agent:{a}"),
            None => format!("org:{}", p.org_id),
        },
        json!({"agent_id": agent_id, "active": active, "reason": reason}),
    );
    state
        .store
        .write(WriteOp::KillSwitch {
            record: record.clone(),
            audit,
        })
        .await?;
    state
        .kill
        .write()
        .map_err(|_| Error::Internal("kill switch state poisoned".into()))?
        .set(record);
    state.publish(Event {
        org_id: p.org_id,
        agent_id: agent_id.clone(),
        sse: Some("kill_switch"),
        webhook: None,
        data: json!({"blocked": active, "reason": reason, "agent_id": agent_id}),
    });
    tracing::warn!(org = p.org_id, agent = ?agent_id, active, "kill switch changed");
    Ok(json!({
        "success": true,
        "organization_id": p.org_id,
        "agent_id": agent_id,
        "blocked": active,
        "active": active,
        "reason": reason,
        "activated_at": at,
        "activated_by": p.name,
    }))
}

async fn parse(
    state: &Shared,
    body: Body,
    need_reason: bool,
) -> Result<(Option<String>, Option<String>)> {
    let m = object(json_body(body, state.config.body_limit).await?)?;
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
    let reason = text("reason")?;
    let agent = text("agent_id")?;
    if need_reason && reason.is_none() {
        return Err(Error::field("reason", "a reason is required"));
    }
    Ok((agent, reason))
}

/// `POST /api/v1/kill-switch/trigger` `{"reason", "agent_id"?}` (admin).
pub async fn trigger(
    State(state): State<Shared>,
    principal: Principal,
    body: Body,
) -> Result<Json<Value>> {
    principal.require(Role::Admin)?;
    let (agent, reason) = parse(&state, body, true).await?;
    Ok(Json(set(&state, &principal, agent, true, reason).await?))
}

/// `POST /api/v1/kill-switch/release` `{"reason"?, "agent_id"?}` (admin).
pub async fn release(
    State(state): State<Shared>,
    principal: Principal,
    body: Body,
) -> Result<Json<Value>> {
    principal.require(Role::Admin)?;
    let (agent, reason) = parse(&state, body, false).await?;
    Ok(Json(set(&state, &principal, agent, false, reason).await?))
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
    principal.require(Role::Admin)?;
    check_org(&principal, &org)?;
    let (agent, reason) = parse(&state, body, true).await?;
    Ok(Json(set(&state, &principal, agent, true, reason).await?))
}

/// `POST /api/billing/kill-switch/{organization_id}/release` (the Python SDK's path).
pub async fn release_org(
    State(state): State<Shared>,
    principal: Principal,
    Path(org): Path<String>,
    body: Body,
) -> Result<Json<Value>> {
    principal.require(Role::Admin)?;
    check_org(&principal, &org)?;
    let (agent, reason) = parse(&state, body, false).await?;
    Ok(Json(set(&state, &principal, agent, false, reason).await?))
}
