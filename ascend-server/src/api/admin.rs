//! Administration: API keys and policy reload (admin role).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{Shared, check_errors, json_body, object, opt_str};
use crate::auth::{Principal, Role, generate_key};
use crate::error::{Error, Result};
use crate::state::{AppState, now};
use crate::store::WriteOp;

/// Create a key in an organisation and record it in the audit trail.
pub async fn issue_key(
    state: &AppState,
    org_id: i64,
    role: Role,
    agent_id: Option<String>,
    name: Option<String>,
    actor: &str,
) -> Result<(String, crate::store::ApiKeyRecord)> {
    let (key, record) = generate_key(org_id, role, agent_id, name, now())?;
    let audit = state.audit(
        org_id,
        "key.created",
        actor,
        format!("key:{}", record.key_id),
        json!({"key_id": record.key_id, "role": role.as_str(), "agent_id": record.agent_id, "name": record.name}),
    );
    state
        .store
        .write(WriteOp::CreateKey {
            key: record.clone(),
            audit,
        })
        .await?;
    state.keys.insert(record.clone());
    Ok((key, record))
}

/// `POST /api/v1/keys` `{"role", "agent_id"?, "name"?}` → the key, shown once.
pub async fn create_key(
    State(state): State<Shared>,
    principal: Principal,
    body: Body,
) -> Result<(StatusCode, Json<Value>)> {
    principal.require(Role::Admin)?;
    let m = object(json_body(body, state.config.body_limit).await?)?;
    let mut errors = Map::new();
    let role = opt_str(&m, "role", 32, &mut errors);
    let agent_id = opt_str(&m, "agent_id", 256, &mut errors).filter(|s| !s.trim().is_empty());
    let name = opt_str(&m, "name", 256, &mut errors).filter(|s| !s.trim().is_empty());
    check_errors(errors)?;
    let role: Role = role
        .ok_or_else(|| Error::field("role", "field required"))?
        .parse()?;
    let (key, rec) = issue_key(
        &state,
        principal.org_id,
        role,
        agent_id,
        name,
        &principal.name,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "key": key,
            "api_key": key,
            "key_id": rec.key_id,
            "role": rec.role.as_str(),
            "agent_id": rec.agent_id,
            "name": rec.name,
            "organization_id": rec.org_id,
            "created_at": rec.created_at,
        })),
    ))
}

/// `POST /api/v1/policies/reload` — re-read the policy directory (atomic swap).
pub async fn reload_policies(
    State(state): State<Shared>,
    principal: Principal,
) -> Result<Json<Value>> {
    principal.require(Role::Admin)?;
    let dir = state.config.policies_dir.clone().ok_or_else(|| {
        Error::BadRequest(
            "the server runs on built-in policies (start it with --policies DIR)".into(),
        )
    })?;
    let result = state.engine.policy.reload_from_dir(&dir);
    let (ok, count, error) = match &result {
        Ok(n) => (true, *n, None),
        Err(e) => (
            false,
            state.engine.policy.policy_count(),
            Some(e.to_string()),
        ),
    };
    let audit = state.audit(
        principal.org_id,
        "policy.reloaded",
        &principal.name,
        format!("policies:{}", dir.display()),
        json!({"ok": ok, "policies": count, "error": error}),
    );
    state.store.write(WriteOp::Audit(audit)).await?;
    match result {
        Ok(n) => Ok(Json(json!({"success": true, "policies": n}))),
        Err(e) => Err(Error::Validation {
            detail: format!("policies not reloaded (the previous set stays active): {e}"),
            errors: Map::new(),
        }),
    }
}
