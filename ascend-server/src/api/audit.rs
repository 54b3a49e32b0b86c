//! Audit trail: query, JSON-lines export, chain verification (reviewer role).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Shared;
use crate::audit::VerifyReport;
use crate::error::{Error, Result};
use crate::model::{AuditEntry, Principal};

/// Paging query.
#[derive(Debug, Deserialize)]
pub struct Page {
    limit: Option<String>,
    offset: Option<String>,
}

fn num(v: &Option<String>, name: &str, default: u64) -> Result<u64> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| Error::field(name, "must be a non-negative integer")),
    }
}

fn event(e: &AuditEntry) -> Value {
    let details: Value = serde_json::from_str(&e.payload).unwrap_or(Value::Null);
    json!({
        "event_id": e.seq,
        "id": e.seq,
        "seq": e.seq,
        "event_type": e.kind,
        "timestamp": e.ts,
        "actor": e.actor,
        "resource": e.subject,
        "action": e.kind,
        "outcome": details.get("decision").or_else(|| details.get("status")).cloned().unwrap_or(Value::Null),
        "details": details,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    })
}

/// `GET /api/v1/audit` and `GET /audit/logs`.
pub async fn query(
    State(state): State<Shared>,
    principal: Principal,
    Query(q): Query<Page>,
) -> Result<Json<Value>> {
    let limit = num(&q.limit, "limit", 50)?.clamp(1, 10_000);
    let offset = num(&q.offset, "offset", 0)?;
    // Every number a client sends is bounded before any arithmetic (SQLite counts in i64).
    if i64::try_from(offset).is_err() {
        return Err(Error::field(
            "offset",
            "must be at most 9223372036854775807",
        ));
    }
    let (rows, total) = state.audit_page(&principal, offset, limit).await?;
    let events: Vec<Value> = rows.iter().map(event).collect();
    Ok(Json(json!({
        "events": events,
        "total": total,
        "page": (offset / limit).saturating_add(1),
        "page_size": limit,
        "limit": limit,
        "offset": offset,
    })))
}

/// `GET /api/v1/audit/export` — every entry as one JSON object per line, hashes included.
pub async fn export(State(state): State<Shared>, principal: Principal) -> Result<Response> {
    let entries = state.audit_export(&principal).await?;
    let mut out = String::new();
    for e in &entries {
        out.push_str(&serde_json::to_string(e)?);
        out.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response())
}

/// `GET /api/v1/audit/verify`.
pub async fn verify(
    State(state): State<Shared>,
    principal: Principal,
) -> Result<Json<VerifyReport>> {
    Ok(Json(state.verify_audit(&principal).await?))
}
