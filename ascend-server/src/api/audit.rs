//! Audit trail: query, JSON-lines export, chain verification (reviewer role).

use axum::Json;
use axum::body::{Body, Bytes};
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

/// Entries per page of a streamed export.
const EXPORT_PAGE: u64 = 500;

/// `GET /api/v1/audit/export` — every entry as one JSON object per line, hashes included,
/// streamed in pages of 500 entries read one after another from the store (memory
/// stays bounded whatever the size of the trail). The export holds the entries that existed when
/// it began; entries appended meanwhile are left for the next export. A store error after the
/// first page ends the body early (the client sees a truncated chunked response).
pub async fn export(State(state): State<Shared>, principal: Principal) -> Result<Response> {
    // The first page authorises the caller: a refusal is still an ordinary error answer.
    let (first, total) = state.audit_page(&principal, 0, EXPORT_PAGE).await?;
    let org_id = principal.org_id;
    let start = Export {
        page: Some(first),
        offset: 0,
        total,
    };
    let body = futures_util::stream::unfold(start, move |mut ex| {
        let state = state.clone();
        async move {
            if ex.offset >= ex.total {
                return None;
            }
            let page = match ex.page.take() {
                Some(p) => p,
                None => {
                    let limit = EXPORT_PAGE.min(ex.total - ex.offset);
                    match state
                        .state()
                        .store
                        .audit_entries(org_id, ex.offset, limit)
                        .await
                    {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(error = %e, "audit export ended early");
                            ex.offset = ex.total;
                            return Some((Err(e), ex));
                        }
                    }
                }
            };
            if page.is_empty() {
                return None;
            }
            let keep = usize::try_from(ex.total - ex.offset).unwrap_or(usize::MAX);
            let mut chunk = String::new();
            for e in page.iter().take(keep) {
                match serde_json::to_string(e) {
                    Ok(line) => chunk.push_str(&line),
                    Err(e) => {
                        ex.offset = ex.total;
                        return Some((Err(Error::from(e)), ex));
                    }
                }
                chunk.push('\n');
            }
            ex.offset += page.len().min(keep) as u64;
            Some((Ok(Bytes::from(chunk)), ex))
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(body),
    )
        .into_response())
}

/// Where a streamed export stands.
struct Export {
    /// The first page, read (and authorised) before the answer started.
    page: Option<Vec<AuditEntry>>,
    /// Entries sent so far.
    offset: u64,
    /// Entries when the export began.
    total: u64,
}

/// `GET /api/v1/audit/verify`.
pub async fn verify(
    State(state): State<Shared>,
    principal: Principal,
) -> Result<Json<VerifyReport>> {
    Ok(Json(state.verify_audit(&principal).await?))
}
