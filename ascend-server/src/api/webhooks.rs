//! Webhooks CRUD and test (wire-protocol §7). The URL must be https, or http to a loopback host
//! (the Python SDK itself insists on https when configuring; updates are not checked client-side).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use super::{Shared, json_body, object, parse_id};
use crate::auth::{Principal, generate_secret};
use crate::error::{Error, Result};
use crate::state::now;
use crate::store::{Webhook, WriteOp, WriteReply};
use crate::webhooks::{EVENTS, check_url, deliver_once, hooks_of, invalidate};

fn view(w: &Webhook) -> Value {
    json!({
        "webhook_id": w.id.to_string(),
        "id": w.id,
        "url": w.url,
        "events": w.events,
        "active": w.active,
        "secret": w.secret,
        "agent_id": w.agent_id,
        "created_at": w.created_at,
    })
}

fn events_field(v: &Value) -> Result<Vec<String>> {
    let Value::Array(items) = v else {
        return Err(Error::field("events", "must be a list of event names"));
    };
    let mut out = Vec::new();
    for i in items {
        match i.as_str() {
            Some(e) if EVENTS.contains(&e) => out.push(e.to_owned()),
            _ => {
                return Err(Error::field(
                    "events",
                    format!("valid events: {}", EVENTS.join(", ")),
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::field("events", "at least one event"));
    }
    Ok(out)
}

fn string_field(m: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 2048 => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(Error::field(key, "too long")),
        Some(_) => Err(Error::field(key, "must be a string")),
    }
}

/// `POST /api/webhooks/configure`.
pub async fn configure(
    State(state): State<Shared>,
    principal: Principal,
    body: Body,
) -> Result<Json<Value>> {
    let m = object(json_body(body, state.config.body_limit).await?)?;
    let url = string_field(&m, "url")?.ok_or_else(|| Error::field("url", "field required"))?;
    let url = check_url(&url, state.config.allow_insecure_webhooks)?;
    let events = events_field(m.get("events").unwrap_or(&Value::Null))?;
    let secret = match string_field(&m, "secret")? {
        Some(s) if !s.is_empty() => s,
        _ => generate_secret()?,
    };
    let agent_id = principal
        .agent_id
        .clone()
        .or(string_field(&m, "agent_id")?.filter(|a| !a.is_empty()));
    let mut hook = Webhook {
        id: 0,
        org_id: principal.org_id,
        url: url.to_string(),
        events,
        secret,
        agent_id,
        active: true,
        created_at: now(),
    };
    let reply = state
        .store
        .write(WriteOp::CreateWebhook {
            webhook: hook.clone(),
        })
        .await?;
    if let WriteReply::Webhook(id) = reply {
        hook.id = id;
    }
    invalidate(&state, principal.org_id);
    let mut v = view(&hook);
    if let Value::Object(o) = &mut v {
        o.insert("success".into(), Value::Bool(true));
    }
    Ok(Json(v))
}

/// `GET /api/webhooks`.
pub async fn list(State(state): State<Shared>, principal: Principal) -> Result<Json<Value>> {
    let hooks = hooks_of(&state, principal.org_id).await?;
    let items: Vec<Value> = hooks.iter().map(view).collect();
    Ok(Json(json!({"webhooks": items, "total": items.len()})))
}

async fn find(state: &Shared, p: &Principal, raw: &str) -> Result<Webhook> {
    let id = parse_id(raw, "webhook")?;
    hooks_of(state, p.org_id)
        .await?
        .iter()
        .find(|w| w.id == id)
        .cloned()
        .ok_or_else(|| Error::NotFound(format!("webhook {id} not found")))
}

/// `PUT /api/webhooks/{id}` — only the given keys among url, events, secret, active.
pub async fn update(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>> {
    let m = object(json_body(body, state.config.body_limit).await?)?;
    let mut hook = find(&state, &principal, &id).await?;
    if let Some(url) = string_field(&m, "url")? {
        hook.url = check_url(&url, state.config.allow_insecure_webhooks)?.to_string();
    }
    if let Some(ev) = m.get("events").filter(|v| !v.is_null()) {
        hook.events = events_field(ev)?;
    }
    if let Some(secret) = string_field(&m, "secret")?.filter(|s| !s.is_empty()) {
        hook.secret = secret;
    }
    match m.get("active") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => hook.active = *b,
        Some(_) => return Err(Error::field("active", "must be a boolean")),
    }
    state
        .store
        .write(WriteOp::UpdateWebhook {
            webhook: hook.clone(),
        })
        .await?;
    invalidate(&state, principal.org_id);
    Ok(Json(view(&hook)))
}

/// `DELETE /api/webhooks/{id}` — answers JSON (never 204: the Python SDK parses every 2xx body).
pub async fn delete(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let hook = find(&state, &principal, &id).await?;
    state
        .store
        .write(WriteOp::DeleteWebhook {
            org_id: principal.org_id,
            id: hook.id,
        })
        .await?;
    invalidate(&state, principal.org_id);
    Ok(Json(
        json!({"success": true, "deleted": true, "webhook_id": hook.id.to_string()}),
    ))
}

/// `POST /api/webhooks/{id}/test` — one real, signed delivery; reports its outcome.
pub async fn test(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let hook = find(&state, &principal, &id).await?;
    let data =
        json!({"webhook_id": hook.id.to_string(), "message": "test delivery from ascend-server"});
    let r = deliver_once(&state, &hook, "webhook.test", &data).await;
    let log = crate::store::DeliveryAttempt {
        webhook_id: hook.id,
        org_id: hook.org_id,
        event: "webhook.test".into(),
        attempt: 1,
        status_code: r.status_code,
        error: r.error.clone(),
        latency_ms: r.latency_ms,
        at: now(),
    };
    state.store.write(WriteOp::LogDelivery(log)).await?;
    Ok(Json(json!({
        "success": r.success,
        "status_code": r.status_code,
        "response_time_ms": (r.latency_ms * 100.0).round() / 100.0,
        "error": r.error,
    })))
}
