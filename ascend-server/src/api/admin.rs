//! Administration over HTTP: API keys (create, list, revoke, rotate), organisations and policy
//! reload.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{Shared, check_errors, json_body, object, opt_str, parse_bool};
use crate::error::{Error, Result};
use crate::governance::keys::NewKey;
use crate::model::{ApiKeyRecord, Principal, Role, Timestamp, now};

fn key_view(rec: &ApiKeyRecord, last_used: Option<Timestamp>) -> Value {
    json!({
        "key_id": rec.key_id,
        "role": rec.role.as_str(),
        "agent_id": rec.agent_id,
        "fleet": rec.role == Role::Agent && rec.agent_id.is_none(),
        "name": rec.name,
        "owner": rec.owner,
        "created_by": rec.created_by,
        "organization_id": rec.org_id,
        "created_at": rec.created_at,
        "expires_at": rec.expires_at,
        "revoked_at": rec.revoked_at,
        "active": rec.is_usable(now()),
        "last_used_at": last_used,
    })
}

fn created(key: &str, rec: &ApiKeyRecord) -> (StatusCode, Json<Value>) {
    let mut v = key_view(rec, None);
    if let Value::Object(o) = &mut v {
        o.insert("key".into(), key.into());
        o.insert("api_key".into(), key.into());
    }
    (StatusCode::CREATED, Json(v))
}

/// The expiry of a new key: `expires_at` (RFC 3339) or `expires_in_secs`.
fn expiry(m: &Map<String, Value>, errors: &mut Map<String, Value>) -> Option<Timestamp> {
    let at = opt_str(m, "expires_at", 64, errors).and_then(|s| {
        let t = Timestamp::parse(&s);
        if t.is_none() {
            errors.insert("expires_at".into(), "must be an RFC 3339 time".into());
        }
        t
    });
    let secs = match m.get("expires_in_secs") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().filter(|s| *s > 0 && *s <= 100 * 365 * 86_400) {
            Some(s) => Some(now().plus(std::time::Duration::from_secs(s))),
            None => {
                errors.insert(
                    "expires_in_secs".into(),
                    "must be a whole number of seconds between 1 and 100 years".into(),
                );
                None
            }
        },
    };
    at.or(secs)
}

/// `POST /api/v1/keys` `{"role", "agent_id"?, "fleet"?, "name"?, "owner"?, "expires_at"? |
/// "expires_in_secs"?, "organization_id"? (operators)}` → the key, shown once.
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
    let owner = opt_str(&m, "owner", 256, &mut errors).filter(|s| !s.trim().is_empty());
    let expires_at = expiry(&m, &mut errors);
    let fleet = match m.get("fleet") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => parse_bool(s).unwrap_or(false),
        Some(_) => {
            errors.insert("fleet".into(), "must be a boolean".into());
            false
        }
    };
    let org_id = match m.get("organization_id") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let id = v.as_i64().filter(|id| *id > 0);
            if id.is_none() {
                errors.insert(
                    "organization_id".into(),
                    "must be a positive integer".into(),
                );
            }
            id
        }
    };
    check_errors(errors)?;
    let role: Role = role
        .ok_or_else(|| Error::field("role", "field required"))?
        .parse()?;
    let input = NewKey {
        role,
        agent_id,
        name,
        owner,
        expires_at,
        fleet,
        org_id,
    };
    let (key, rec) = state.create_key(&principal, input).await?;
    Ok(created(&key, &rec))
}

/// `GET /api/v1/keys` → the organisation's keys (never their secrets), with last use.
pub async fn list_keys(State(state): State<Shared>, principal: Principal) -> Result<Json<Value>> {
    let keys = state.list_keys(&principal)?;
    let items: Vec<Value> = keys.iter().map(|(k, at)| key_view(k, *at)).collect();
    Ok(Json(json!({"keys": items, "total": items.len()})))
}

/// `POST /api/v1/keys/{key_id}/revoke` `{"reason"?}` — effective at once.
pub async fn revoke_key(
    State(state): State<Shared>,
    principal: Principal,
    Path(key_id): Path<String>,
    body: Body,
) -> Result<Json<Value>> {
    let m = object(json_body(body, state.config().body_limit).await?)?;
    let mut errors = Map::new();
    let reason = opt_str(&m, "reason", 1024, &mut errors).unwrap_or_else(|| "revoked".into());
    check_errors(errors)?;
    state.revoke_key(&principal, key_id.trim(), &reason).await?;
    Ok(Json(
        json!({"success": true, "key_id": key_id, "revoked": true}),
    ))
}

/// `POST /api/v1/keys/{key_id}/rotate` → a new key (shown once); the old one is revoked.
pub async fn rotate_key(
    State(state): State<Shared>,
    principal: Principal,
    Path(key_id): Path<String>,
) -> Result<(StatusCode, Json<Value>)> {
    let (key, rec) = state.rotate_key(&principal, key_id.trim()).await?;
    let (status, Json(mut v)) = created(&key, &rec);
    if let Value::Object(o) = &mut v {
        o.insert("replaces".into(), key_id.into());
    }
    Ok((status, Json(v)))
}

/// `GET /api/v1/orgs` (operators).
pub async fn list_orgs(State(state): State<Shared>, principal: Principal) -> Result<Json<Value>> {
    let orgs = state.list_orgs(&principal)?;
    let items: Vec<Value> = orgs
        .iter()
        .map(|o| json!({"id": o.id, "name": o.name}))
        .collect();
    Ok(Json(json!({"organizations": items, "total": items.len()})))
}

/// `POST /api/v1/orgs` `{"name"}` (operators) → the new organisation.
pub async fn create_org(
    State(state): State<Shared>,
    principal: Principal,
    body: Body,
) -> Result<(StatusCode, Json<Value>)> {
    let m = object(json_body(body, state.config().body_limit).await?)?;
    let mut errors = Map::new();
    let name = opt_str(&m, "name", 128, &mut errors).filter(|s| !s.trim().is_empty());
    check_errors(errors)?;
    let name = name.ok_or_else(|| Error::field("name", "field required"))?;
    let org = state.create_org(&principal, &name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": org.id, "name": org.name})),
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
