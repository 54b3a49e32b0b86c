//! Actions over HTTP: submit, status, details, listing, approve/deny, outcome reports, and the
//! SDK's approval check. Each handler parses, calls [`crate::governance`], serialises.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use ascend_runtime::wire::DecisionBody;
use ascend_runtime::{AgentAction, Decision};

use super::{Shared, check_errors, header_str, json_body, object, opt_obj, opt_str, parse_id};
use crate::error::{Error, Result};
use crate::governance::SubmitInput;
use crate::governance::actions::{OutcomeInput, VoteInput};
use crate::model::{ActionFilter, ActionOutcome, ActionRecord, Principal};

const MAX_ID: usize = 256;

/// Validate a submit body into an [`AgentAction`]. Accepts the boto3 wrapper's variant (no
/// `resource`; `description`, `tool_name`, `parameters` at the top level). Unknown fields are
/// ignored; client-supplied risk scores are ignored.
pub fn validate_action(m: &Map<String, Value>) -> Result<AgentAction> {
    let mut errors = Map::new();
    let agent_id = opt_str(m, "agent_id", MAX_ID, &mut errors).unwrap_or_default();
    let agent_name = opt_str(m, "agent_name", MAX_ID, &mut errors).unwrap_or_default();
    let action_type = opt_str(m, "action_type", MAX_ID, &mut errors);
    let resource = opt_str(m, "resource", 1024, &mut errors);
    let resource_id = match m.get("resource_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 1024 => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            errors.insert("resource_id".into(), "must be a string".into());
            None
        }
    };
    let mut action_details = opt_obj(m, "action_details", &mut errors);
    let context = opt_obj(m, "context", &mut errors);
    let risk_indicators = opt_obj(m, "risk_indicators", &mut errors);
    // boto3 variant: top-level parameters / description / tool_name.
    let boto3 = m.contains_key("parameters")
        || m.contains_key("tool_name")
        || m.contains_key("description");
    if let Some(p) = m.get("parameters") {
        match p {
            Value::Object(o) => {
                for (k, v) in o {
                    action_details.entry(k.clone()).or_insert(v.clone());
                }
            }
            Value::Null => {}
            _ => {
                errors.insert("parameters".into(), "must be an object".into());
            }
        }
    }
    for key in ["tool_name", "description"] {
        if let Some(v) = opt_str(m, key, 4096, &mut errors) {
            action_details.insert(key.into(), Value::String(v));
        }
    }
    let action_type = match action_type {
        Some(t) if !t.trim().is_empty() => Some(t.trim().to_owned()),
        Some(_) => {
            errors.insert("action_type".into(), "must not be empty".into());
            None
        }
        None => {
            if !errors.contains_key("action_type") {
                errors.insert("action_type".into(), "field required".into());
            }
            None
        }
    };
    let resource = match resource {
        Some(r) if !r.trim().is_empty() => Some(r.trim().to_owned()),
        Some(_) => {
            errors.insert("resource".into(), "must not be empty".into());
            None
        }
        None if boto3 => action_type
            .as_deref()
            .map(|t| t.replacen('.', ":", 1).to_owned()),
        None => {
            if !errors.contains_key("resource") {
                errors.insert("resource".into(), "field required".into());
            }
            None
        }
    };
    let orchestration_session_id = opt_str(m, "orchestration_session_id", MAX_ID, &mut errors);
    let parent_action_id = match m.get("parent_action_id") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64().filter(|i| *i > 0) {
            Some(i) => Some(i),
            None => {
                errors.insert(
                    "parent_action_id".into(),
                    "must be a positive integer".into(),
                );
                None
            }
        },
    };
    let orchestration_depth = match m.get("orchestration_depth") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().filter(|d| *d <= 5) {
            Some(d) => u8::try_from(d).ok(),
            None => {
                errors.insert(
                    "orchestration_depth".into(),
                    "must be an integer from 0 to 5".into(),
                );
                None
            }
        },
    };
    let mut trimmed = |key: &str| -> Option<String> {
        let v = opt_str(m, key, MAX_ID, &mut errors)?;
        let t = v.trim();
        if t.is_empty() {
            errors.insert(key.into(), "must not be empty".into());
            None
        } else {
            Some(t.to_owned())
        }
    };
    let mcp_server_name = trimmed("mcp_server_name");
    let model_id = trimmed("model_id");
    check_errors(errors)?;
    let (Some(action_type), Some(resource)) = (action_type, resource) else {
        return Err(Error::field("action_type", "field required"));
    };
    Ok(AgentAction {
        agent_id,
        agent_name,
        action_type,
        resource,
        resource_id,
        action_details,
        context,
        risk_indicators,
        orchestration_session_id,
        parent_action_id,
        orchestration_depth,
        mcp_server_name,
        model_id,
    })
}

/// Where the idempotency key of a request comes from.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>> {
    let key = header_str(headers, "idempotency-key")
        .map(|k| format!("idem:{k}"))
        .or_else(|| header_str(headers, "x-correlation-id").map(|k| format!("corr:{k}")));
    match key {
        Some(k) if k.len() > 260 => Err(Error::field("Idempotency-Key", "at most 255 characters")),
        other => Ok(other),
    }
}

/// The environment a request says it runs in.
pub fn environment(headers: &HeaderMap, action: &AgentAction) -> String {
    action
        .context
        .get("environment")
        .and_then(Value::as_str)
        .or_else(|| header_str(headers, "x-environment"))
        .unwrap_or("production")
        .chars()
        .take(64)
        .collect()
}

/// `POST /api/v1/actions/submit`.
pub async fn submit(
    State(state): State<Shared>,
    principal: Principal,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let raw = object(json_body(body, state.config().body_limit).await?)?;
    let action = validate_action(&raw)?;
    let input = SubmitInput {
        environment: environment(&headers, &action),
        action,
        correlation_id: header_str(&headers, "x-correlation-id").map(str::to_owned),
        idempotency_key: idempotency_key(&headers)?,
        mcp: None,
    };
    let body = state.submit(&principal, input).await?;
    // Serialized straight into a buffer sized for a typical decision body (`Json` starts at 128
    // bytes and reallocates several times on the way to ~2 KiB).
    let mut buf = Vec::with_capacity(4096);
    serde_json::to_writer(&mut buf, body.as_ref())?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        buf,
    )
        .into_response())
}

/// `GET /api/v1/actions/{id}/status`.
pub async fn status(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DecisionBody>> {
    let a = state.action(&principal, parse_id(&id, "action")?).await?;
    Ok(Json(a.body))
}

fn legacy_status(a: &ActionRecord) -> &'static str {
    match a.body.decision {
        Decision::Allowed => "approved",
        Decision::Denied => "denied",
        Decision::Pending => "pending",
    }
}

fn summary(a: &ActionRecord) -> Value {
    json!({
        "id": a.id,
        "action_id": a.id,
        "agent_id": a.agent_id,
        "agent_name": a.agent_name,
        "action_type": a.action_type,
        "resource": a.resource,
        "resource_id": a.resource_id,
        "decision": a.body.decision.as_str(),
        "status": a.body.status,
        "risk_score": a.body.risk_score,
        "risk_level": a.body.risk_level.as_str(),
        "reason": a.body.reason,
        "approved_by": a.body.approved_by,
        "outcome": a.outcome.map(ActionOutcome::as_str),
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "metadata": {"action_type": a.action_type, "resource": a.resource},
    })
}

/// `GET /api/v1/actions/{id}` (the SDK's `get_action_details`: legacy status strings).
pub async fn details(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let a = state.action(&principal, parse_id(&id, "action")?).await?;
    let mut audit = Vec::new();
    if let Some(ap) = &a.approval {
        for v in &ap.votes {
            audit.push(json!({"event": if v.approve {"approved"} else {"denied"},
                "by": v.approver, "at": v.at, "comment": v.comment}));
        }
    }
    if let Some(o) = &a.outcome {
        audit.push(json!({"event": o.as_str(), "at": a.updated_at}));
    }
    let mut v = summary(&a);
    if let Value::Object(m) = &mut v {
        m.insert("status".into(), legacy_status(&a).into());
        m.insert("request".into(), a.request.clone());
        m.insert("decision_body".into(), serde_json::to_value(&a.body)?);
        m.insert("approval".into(), serde_json::to_value(&a.approval)?);
        m.insert(
            "outcome_detail".into(),
            a.outcome_detail.clone().unwrap_or(Value::Null),
        );
        m.insert("audit_trail".into(), Value::Array(audit));
    }
    Ok(Json(v))
}

/// Query of the listing endpoints.
#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    limit: Option<String>,
    offset: Option<String>,
    status: Option<String>,
    agent_id: Option<String>,
}

fn normalise_status(s: &str) -> Result<Option<String>> {
    Ok(match s.trim().to_ascii_lowercase().as_str() {
        "" | "all" => None,
        "pending" | "pending_approval" => Some("pending_approval".into()),
        "approved" | "allowed" => Some("approved".into()),
        "denied" | "rejected" => Some("denied".into()),
        other => {
            return Err(Error::field(
                "status",
                format!("unknown status {other:?} (pending, approved, denied)"),
            ));
        }
    })
}

async fn list(state: &Shared, p: &Principal, q: ListQuery) -> Result<Value> {
    let num = |v: &Option<String>, name: &str, default: u32| -> Result<u32> {
        match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(default),
            Some(s) => s
                .parse::<u32>()
                .map_err(|_| Error::field(name, "must be a non-negative integer")),
        }
    };
    let limit = num(&q.limit, "limit", 50)?.clamp(1, 1000);
    let offset = num(&q.offset, "offset", 0)?;
    let status = match q.status.as_deref() {
        Some(s) => normalise_status(s)?,
        None => None,
    };
    let agent_id = q.agent_id.filter(|a| !a.trim().is_empty());
    let (rows, total) = state
        .list_actions(
            p,
            ActionFilter {
                agent_id,
                status,
                limit,
                offset,
                ..ActionFilter::default()
            },
        )
        .await?;
    let actions: Vec<Value> = rows.iter().map(summary).collect();
    let has_more = u64::from(offset) + (actions.len() as u64) < total;
    Ok(
        json!({"actions": actions, "total": total, "limit": limit, "offset": offset, "has_more": has_more}),
    )
}

/// `GET /api/agent-activity`.
pub async fn activity(
    State(state): State<Shared>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>> {
    Ok(Json(list(&state, &principal, q).await?))
}

/// `GET /api/v1/actions`.
pub async fn list_v1(
    State(state): State<Shared>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>> {
    Ok(Json(list(&state, &principal, q).await?))
}

fn text_field(m: &Map<String, Value>, keys: &[&str]) -> Result<Option<String>> {
    for k in keys {
        match m.get(*k) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) if s.chars().count() <= 4096 => {
                return Ok(Some(s.clone()).filter(|s| !s.trim().is_empty()));
            }
            Some(Value::String(_)) => return Err(Error::field(k, "at most 4096 characters")),
            Some(_) => return Err(Error::field(k, "must be a string")),
        }
    }
    Ok(None)
}

async fn vote(
    state: &Shared,
    p: &Principal,
    raw_id: &str,
    body: Body,
    approve: bool,
) -> Result<Json<DecisionBody>> {
    let id = parse_id(raw_id, "action")?;
    let m = object(json_body(body, state.config().body_limit).await?)?;
    let comment = text_field(&m, &["comment", "reason", "comments"])?;
    let a = state.vote(p, id, VoteInput { approve, comment }).await?;
    Ok(Json(a.body))
}

/// `POST /api/v1/actions/{id}/approve` (reviewer).
pub async fn approve(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<DecisionBody>> {
    vote(&state, &principal, &id, body, true).await
}

/// `POST /api/v1/actions/{id}/deny` (reviewer).
pub async fn deny(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<DecisionBody>> {
    vote(&state, &principal, &id, body, false).await
}

async fn outcome(
    state: &Shared,
    p: &Principal,
    raw_id: &str,
    body: Body,
    outcome: ActionOutcome,
) -> Result<Json<Value>> {
    let id = parse_id(raw_id, "action")?;
    let detail = Value::Object(object(json_body(body, state.config().body_limit).await?)?);
    state
        .report_outcome(p, id, OutcomeInput { outcome, detail })
        .await?;
    Ok(Json(json!({
        "success": true,
        "action_id": id,
        "status": outcome.as_str(),
        "logged": true,
    })))
}

/// `POST /api/agent-action/{id}/complete`.
pub async fn complete(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>> {
    outcome(&state, &principal, &id, body, ActionOutcome::Completed).await
}

/// `POST /api/agent-action/{id}/fail`.
pub async fn fail(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>> {
    outcome(&state, &principal, &id, body, ActionOutcome::Failed).await
}

/// `GET /api/sdk/approval/{approval_request_id}`.
pub async fn approval_check(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let a = state.action(&principal, parse_id(&id, "action")?).await?;
    let b = &a.body;
    let (status, approved_by, rejected_by, rejection_reason) = match b.decision {
        Decision::Pending => ("pending", None, None, None),
        Decision::Allowed => ("approved", b.approved_by.clone(), None, None),
        Decision::Denied => (
            "denied",
            None,
            b.approved_by.clone().or_else(|| Some("system".into())),
            Some(b.reason.clone()),
        ),
    };
    Ok(Json(json!({
        "approval_request_id": a.id.to_string(),
        "action_id": a.id,
        "status": status,
        "approved_by": approved_by,
        "rejected_by": rejected_by,
        "decided_at": a.approval.as_ref().and_then(|x| x.decided_at),
        "rejection_reason": rejection_reason,
        "comments": b.comments,
        "required_approvers": b.required_approvers,
        "expires_at": b.expires_at,
    })))
}
