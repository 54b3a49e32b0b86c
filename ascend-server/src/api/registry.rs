//! Health, deployment info and the agent registry over HTTP.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{Shared, check_errors, json_body, object, opt_str};
use crate::error::{Error, Result};
use crate::governance::agents::{AgentInput, trust_level};
use crate::model::Principal;

/// `GET /health` (no key needed).
pub async fn health(State(state): State<Shared>) -> Json<Value> {
    Json(json!({
        "status": "healthy",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.uptime_seconds(),
    }))
}

/// `GET /api/deployment-info` (no key needed).
pub async fn deployment_info(State(state): State<Shared>) -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "api_version": "v1",
        "environment": state.config().environment,
        "server": "ascend-server",
        "policies": state.policy_count(),
    }))
}

/// `POST /api/registry/agents` — idempotent: registering again updates and answers 200.
pub async fn register_agent(
    State(state): State<Shared>,
    principal: Principal,
    body: Body,
) -> Result<(StatusCode, Json<Value>)> {
    let m = object(json_body(body, state.config().body_limit).await?)?;
    let mut errors = Map::new();
    let agent_id = opt_str(&m, "agent_id", 256, &mut errors);
    let display_name = opt_str(&m, "display_name", 256, &mut errors);
    let agent_type = opt_str(&m, "agent_type", 64, &mut errors);
    let environment = opt_str(&m, "environment", 64, &mut errors);
    check_errors(errors)?;
    let agent_id = agent_id.ok_or_else(|| Error::field("agent_id", "field required"))?;
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
    let input = AgentInput {
        agent_id,
        display_name,
        agent_type,
        environment,
        metadata,
    };
    let (agent, existed) = state.register_agent(&principal, input).await?;
    Ok((
        if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        Json(json!({
            "success": true,
            "status": if existed {"updated"} else {"registered"},
            "agent_id": agent.agent_id,
            "display_name": agent.display_name,
            "agent_type": agent.agent_type,
            "environment": agent.environment,
            "trust_level": trust_level(&agent.agent_type),
            "registered_at": agent.registered_at,
        })),
    ))
}

/// `GET /ready`: 200 when the store answers and its migrations are applied, else 503 (for a
/// load balancer; `/health` says only that the process is alive).
pub async fn ready(State(state): State<Shared>) -> Response {
    match state.ready().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not ready", "detail": e.to_string(), "errors": {}})),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: the Prometheus text format (operator key, e.g. Prometheus's
/// `authorization: {credentials: <key>}`).
pub async fn metrics(State(state): State<Shared>, principal: Principal) -> Result<Response> {
    let text = state.metrics_text(&principal).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
