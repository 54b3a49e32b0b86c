//! Health, deployment info and the agent registry.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{Shared, check_errors, json_body, object, opt_str};
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::state::now;
use crate::store::{AgentRecord, WriteOp};

/// `GET /health` (no key needed).
pub async fn health(State(state): State<Shared>) -> Json<Value> {
    Json(json!({
        "status": "healthy",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
    }))
}

/// `GET /api/deployment-info` (no key needed).
pub async fn deployment_info(State(state): State<Shared>) -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "api_version": "v1",
        "environment": state.config.environment,
        "server": "ascend-server",
        "policies": state.engine.policy.policy_count(),
    }))
}

/// `POST /api/registry/agents` — idempotent: registering again updates and answers 200.
pub async fn register_agent(
    State(state): State<Shared>,
    principal: Principal,
    body: Body,
) -> Result<(StatusCode, Json<Value>)> {
    let m = object(json_body(body, state.config.body_limit).await?)?;
    let mut errors = Map::new();
    let agent_id = opt_str(&m, "agent_id", 256, &mut errors);
    let display_name = opt_str(&m, "display_name", 256, &mut errors);
    let agent_type = opt_str(&m, "agent_type", 64, &mut errors);
    let environment = opt_str(&m, "environment", 64, &mut errors);
    if !errors.is_empty() {
        check_errors(errors)?;
    }
    let agent_id = agent_id
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::field("agent_id", "field required"))?;
    if let Some(bound) = &principal.agent_id
        && bound != &agent_id
    {
        return Err(Error::Forbidden(format!(
            "this key acts for agent {bound:?}, not {agent_id:?}"
        )));
    }
    let existed = state.is_registered(principal.org_id, &agent_id);
    let mut metadata = Map::new();
    for k in [
        "capabilities",
        "allowed_resources",
        "sdk_version",
        "metadata",
    ] {
        if let Some(v) = m.get(k) {
            metadata.insert(k.into(), v.clone());
        }
    }
    let agent = AgentRecord {
        org_id: principal.org_id,
        agent_id: agent_id.clone(),
        display_name: display_name.unwrap_or_else(|| agent_id.clone()),
        agent_type: agent_type.unwrap_or_else(|| "supervised".into()),
        environment: environment.unwrap_or_else(|| "production".into()),
        metadata: Value::Object(metadata),
        registered_at: now(),
    };
    let audit = state.audit(
        principal.org_id,
        "agent.registered",
        &principal.name,
        format!("agent:{agent_id}"),
        json!({"agent_id": agent_id, "agent_type": agent.agent_type, "display_name": agent.display_name}),
    );
    state
        .store
        .write(WriteOp::RegisterAgent {
            agent: agent.clone(),
            audit,
        })
        .await?;
    state.record_agent(&agent);
    let trust = if agent.agent_type.eq_ignore_ascii_case("autonomous") {
        "restricted"
    } else {
        "standard"
    };
    Ok((
        if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        Json(json!({
            "success": true,
            "status": if existed {"updated"} else {"registered"},
            "agent_id": agent_id,
            "display_name": agent.display_name,
            "agent_type": agent.agent_type,
            "environment": agent.environment,
            "trust_level": trust,
            "registered_at": agent.registered_at,
        })),
    ))
}
