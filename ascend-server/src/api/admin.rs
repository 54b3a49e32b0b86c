//! Administration over HTTP: API keys and policy reload.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{Shared, check_errors, json_body, object, opt_str};
use crate::error::{Error, Result};
use crate::governance::keys::NewKey;
use crate::model::{Principal, Role};

/// `POST /api/v1/keys` `{"role", "agent_id"?, "name"?}` → the key, shown once.
pub async fn create_key(
    State(state): State<Shared>,
    principal: Principal,
    body: Body,
) -> Result<(StatusCode, Json<Value>)> {
    let m = object(json_body(body, state.config().body_limit).await?)?;
    let mut errors = Map::new();
    let role = opt_str(&m, "role", 32, &mut errors);
    let agent_id = opt_str(&m, "agent_id", 256, &mut errors).filter(|s| !s.trim().is_empty());
    let name = opt_str(&m, "name", 256, &mut errors).filter(|s| !s.trim().is_empty());
    check_errors(errors)?;
    let role: Role = role
        .ok_or_else(|| Error::field("role", "field required"))?
        .parse()?;
    let (key, rec) = state
        .create_key(
            &principal,
            NewKey {
                role,
                agent_id,
                name,
            },
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
    let n = state.reload_policies(&principal).await?;
    Ok(Json(json!({"success": true, "policies": n})))
}
