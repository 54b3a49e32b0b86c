//! Webhooks CRUD and test (wire-protocol §7). The URL must be https, or http to a loopback host
//! (the Python SDK itself insists on https when configuring; updates are not checked client-side).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use serde_json::{Map, Value, json};

use super::{Shared, json_body, object, parse_id};
use crate::error::{Error, Result};
use crate::governance::webhooks::{NewWebhook, WebhookChange};
use crate::model::{Principal, Webhook, WebhookEvent};

/// A webhook as answered. The signing secret is shown once, in the answer to its creation
/// (`with_secret`), and never again: a key that can list webhooks cannot forge deliveries.
fn view(w: &Webhook, with_secret: bool) -> Value {
    json!({
        "webhook_id": w.id.to_string(),
        "id": w.id,
        "url": w.url,
        "events": w.events,
        "active": w.active,
        "secret": with_secret.then_some(&w.secret),
        "agent_id": w.agent_id,
        "created_at": w.created_at,
    })
}

fn events_field(v: &Value) -> Result<Vec<WebhookEvent>> {
    let invalid = || {
        let names: Vec<&str> = WebhookEvent::ALL.iter().map(|e| e.as_str()).collect();
        Error::field("events", format!("valid events: {}", names.join(", ")))
    };
    let Value::Array(items) = v else {
        return Err(Error::field("events", "must be a list of event names"));
    };
    items
        .iter()
        .map(|i| i.as_str().and_then(WebhookEvent::parse).ok_or_else(invalid))
        .collect()
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
    let m = object(json_body(body, state.config().body_limit).await?)?;
    let url = string_field(&m, "url")?.ok_or_else(|| Error::field("url", "field required"))?;
    let input = NewWebhook {
        url,
        events: events_field(m.get("events").unwrap_or(&Value::Null))?,
        secret: string_field(&m, "secret")?,
        agent_id: string_field(&m, "agent_id")?,
    };
    let hook = state.create_webhook(&principal, input).await?;
    let mut v = view(&hook, true);
    if let Value::Object(o) = &mut v {
        o.insert("success".into(), Value::Bool(true));
    }
    Ok(Json(v))
}

/// `GET /api/webhooks`.
pub async fn list(State(state): State<Shared>, principal: Principal) -> Result<Json<Value>> {
    let hooks = state.webhooks(&principal).await?;
    let items: Vec<Value> = hooks.iter().map(|h| view(h, false)).collect();
    Ok(Json(json!({"webhooks": items, "total": items.len()})))
}

/// `PUT /api/webhooks/{id}` — only the given keys among url, events, secret, active.
pub async fn update(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>> {
    let id = parse_id(&id, "webhook")?;
    let m = object(json_body(body, state.config().body_limit).await?)?;
    let change = WebhookChange {
        url: string_field(&m, "url")?,
        events: m
            .get("events")
            .filter(|v| !v.is_null())
            .map(events_field)
            .transpose()?,
        secret: string_field(&m, "secret")?,
        active: match m.get("active") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(Error::field("active", "must be a boolean")),
        },
    };
    let hook = state.update_webhook(&principal, id, change).await?;
    Ok(Json(view(&hook, false)))
}

/// `DELETE /api/webhooks/{id}` — answers JSON (never 204: the Python SDK parses every 2xx body).
pub async fn delete(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let hook = state
        .delete_webhook(&principal, parse_id(&id, "webhook")?)
        .await?;
    Ok(Json(
        json!({"success": true, "deleted": true, "webhook_id": hook.id.to_string()}),
    ))
}

/// `POST /api/webhooks/{id}/test` — one real, signed delivery. Reports only whether it was
/// delivered: the status code and round trip of a delivered event (2xx), otherwise a generic
/// failure (no status, no transport error, no timing), so the endpoint cannot be used to probe
/// which hosts and ports answer. Details stay in the delivery log.
pub async fn test(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let r = state
        .test_webhook(&principal, parse_id(&id, "webhook")?)
        .await?;
    Ok(Json(match r.delivered() {
        Some(status) => json!({
            "success": true,
            "status_code": status,
            "response_time_ms": (r.latency_ms * 100.0).round() / 100.0,
            "error": null,
        }),
        None => json!({
            "success": false,
            "status_code": null,
            "response_time_ms": null,
            "error": "delivery failed",
        }),
    }))
}
