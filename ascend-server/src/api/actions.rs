//! Actions: submit (the decision pipeline), status, details, listing, approve/deny, outcome
//! reports, and the SDK's approval check.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use ascend_runtime::wire::DecisionBody;
use ascend_runtime::{AgentAction, Decision, RiskLevel};

use super::{Shared, check_errors, header_str, json_body, object, opt_obj, opt_str, parse_id};
use crate::approvals;
use crate::auth::{Principal, Role};
use crate::error::{Error, Result};
use crate::policy::Outcome as PolicyOutcome;
use crate::redact::{redact, redact_map};
use crate::risk::{McpCall, RiskInput};
use crate::state::{AppState, Event, IdemEntry, now};
use crate::store::{ActionFilter, ActionRecord, NewAction, Vote, WriteOp, WriteReply};

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

/// Fill in and check the acting agent's identity against the key.
fn resolve_agent(p: &Principal, action: &mut AgentAction) -> Result<()> {
    let sent = action.agent_id.trim().to_owned();
    match &p.agent_id {
        Some(bound) => {
            if sent.is_empty() || sent == "unknown" {
                action.agent_id = bound.clone();
            } else if &sent != bound {
                return Err(Error::Forbidden(format!(
                    "this key acts for agent {bound:?}, not {sent:?}"
                )));
            }
        }
        None => {
            action.agent_id = if sent.is_empty() {
                "unknown".to_owned()
            } else {
                sent
            };
        }
    }
    if action.agent_name.trim().is_empty() {
        action.agent_name = action.agent_id.clone();
    }
    Ok(())
}

/// Options of one run of the pipeline.
pub struct PipelineInput<'a> {
    /// The caller.
    pub principal: &'a Principal,
    /// The validated action.
    pub action: AgentAction,
    /// Environment (X-Environment header, default production).
    pub environment: String,
    /// Correlation id header.
    pub correlation_id: Option<String>,
    /// Idempotency key (prefixed).
    pub idempotency_key: Option<String>,
    /// MCP call facts, for the MCP endpoint.
    pub mcp: Option<McpFacts>,
}

/// Owned MCP call facts.
#[derive(Debug, Clone, Default)]
pub struct McpFacts {
    /// Server name.
    pub server: String,
    /// Tool name.
    pub tool: String,
}

const KEY_REUSED: &str = "this idempotency key was already used with a different request";

/// Run the decision pipeline with idempotency: same key + same request → the first answer;
/// same key + different request → 409.
///
/// The memory keeps only the action id of each key: the first caller gets the body directly,
/// later duplicates read the action back from the store. Keys the bounded memory no longer
/// holds are caught by the store's unique index on (org, key).
pub async fn run_pipeline(state: &Shared, input: PipelineInput<'_>) -> Result<Arc<DecisionBody>> {
    let Some(key) = input.idempotency_key.clone() else {
        return decide(state, input, None).await;
    };
    let request_hash = hex::encode(Sha256::digest(serde_json::to_vec(&input.action)?));
    let org = input.principal.org_id;
    let map_key = (org, key);
    let cell = {
        let mut map = state
            .idempotency
            .lock()
            .map_err(|_| Error::Internal("idempotency map poisoned".into()))?;
        match map.get(&map_key) {
            Some(e) if e.request_hash != request_hash && !e.request_hash.is_empty() => {
                return Err(Error::Conflict(KEY_REUSED.into()));
            }
            Some(e) => e.cell.clone(),
            None => {
                let cell = Arc::new(tokio::sync::OnceCell::new());
                map.insert(
                    map_key.clone(),
                    IdemEntry::new(request_hash.clone(), cell.clone()),
                );
                cell
            }
        }
    };
    let mut first: Option<Arc<DecisionBody>> = None;
    let answered = &mut first;
    let id = *cell
        .get_or_try_init(|| async {
            let body = first_answer(state, input, &map_key, &request_hash, &cell).await?;
            let id = body.id;
            *answered = Some(body);
            Ok::<_, Error>(id)
        })
        .await?;
    if let Some(body) = first {
        return Ok(body);
    }
    let a = state
        .store
        .get_action(org, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("action {id} not found")))?;
    Ok(Arc::new(a.body))
}

/// The first answer for a key the memory does not hold: run the pipeline; if the store already
/// has an action with this key (the memory forgot it), answer with that action when the request
/// is the same and 409 otherwise — without running (or auditing) the pipeline again.
async fn first_answer(
    state: &Shared,
    input: PipelineInput<'_>,
    map_key: &(i64, String),
    request_hash: &str,
    cell: &Arc<tokio::sync::OnceCell<i64>>,
) -> Result<Arc<DecisionBody>> {
    let (org, key) = map_key;
    let err = match decide(state, input, Some((key.clone(), request_hash.to_owned()))).await {
        Err(e @ Error::Conflict(_)) => e,
        other => return other,
    };
    // The failed insert was rolled back with its audit entry (one savepoint per op).
    let Some((stored_hash, action)) = state
        .store
        .get_action_by_idempotency_key(*org, key.clone())
        .await?
    else {
        return Err(err);
    };
    if stored_hash.is_empty() || stored_hash == request_hash {
        return Ok(Arc::new(action.body));
    }
    // Remember the key with the request it was first used with, so a retry of that request
    // is answered from memory rather than refused by this entry.
    if let Ok(mut map) = state.idempotency.lock() {
        let known = Arc::new(tokio::sync::OnceCell::new_with(Some(action.id)));
        map.replace_if(map_key.clone(), cell, IdemEntry::new(stored_hash, known));
    }
    Err(Error::Conflict(KEY_REUSED.into()))
}

async fn decide(
    state: &Shared,
    input: PipelineInput<'_>,
    idem: Option<(String, String)>,
) -> Result<Arc<DecisionBody>> {
    let p = input.principal;
    let action = input.action;
    // Kill switch first: a halted agent gets the governance 403 the Python SDK reads as DENIED.
    let blocked = {
        let kill = state
            .kill
            .read()
            .map_err(|_| Error::Internal("kill switch state poisoned".into()))?;
        kill.blocking(p.org_id, Some(&action.agent_id)).map(|r| {
            r.reason
                .clone()
                .unwrap_or_else(|| "kill switch active".into())
        })
    };
    if let Some(reason) = blocked {
        let draft = state.audit(
            p.org_id,
            "action.blocked",
            &p.name,
            format!("agent:{}", action.agent_id),
            json!({"agent_id": action.agent_id, "action_type": action.action_type,
                   "resource": action.resource, "reason": reason, "code": "KILL_SWITCH_ACTIVE"}),
        );
        state.store.write(WriteOp::Audit(draft)).await?;
        return Err(Error::Governance {
            code: "KILL_SWITCH_ACTIVE".into(),
            reason: format!("kill switch active: {reason}"),
            correlation_id: input.correlation_id,
            mcp_server_name: None,
        });
    }

    // MCP registry (wire-protocol §6.3): unregistered / deactivated server, blocked tool.
    let mcp_tool = mcp_tool_name(&action, input.mcp.as_ref());
    let registry = match &action.mcp_server_name {
        Some(server) => match state.mcp.check(p.org_id, server, mcp_tool.as_deref()) {
            Ok(facts) => Some(facts),
            Err(denial) => {
                let draft = state.audit(
                    p.org_id,
                    "action.blocked",
                    &p.name,
                    format!("agent:{}", action.agent_id),
                    json!({"agent_id": action.agent_id, "action_type": action.action_type,
                           "resource": action.resource, "reason": denial.reason,
                           "code": denial.code, "mcp_server_name": server, "mcp_tool": mcp_tool,
                           "action_details": redact_map(&action.action_details),
                           "context": redact_map(&action.context),
                           "risk_indicators": redact_map(&action.risk_indicators)}),
                );
                state.store.write(WriteOp::Audit(draft)).await?;
                return Err(Error::Governance {
                    code: denial.code.into(),
                    reason: denial.reason,
                    correlation_id: input.correlation_id,
                    mcp_server_name: Some(server.clone()),
                });
            }
        },
        None => None,
    };
    let governed = registry.as_ref().and_then(|f| f.governed());

    let profile = state.agent_profile(p.org_id, &action.agent_id, &action.action_type);
    let tool = mcp_tool.as_deref().unwrap_or_default();
    let server = input
        .mcp
        .as_ref()
        .map(|m| m.server.as_str())
        .or(action.mcp_server_name.as_deref());
    let mcp = server.map(|server| McpCall {
        server,
        tool,
        read_only_hint: hint(&action, "read_only_hint", "readOnlyHint"),
        destructive_hint: hint(&action, "destructive_hint", "destructiveHint"),
        idempotent_hint: hint(&action, "idempotent_hint", "idempotentHint"),
        open_world_hint: hint(&action, "open_world_hint", "openWorldHint"),
        risk_override: governed.and_then(|g| g.risk_override(tool)),
    });
    let eval = state.engine.decide(&RiskInput {
        action: &action,
        environment: &input.environment,
        agent: &profile,
        mcp,
    });
    let id = state.store.next_action_id();
    let created_at = now();
    let mut decision = match eval.policy.outcome {
        PolicyOutcome::Allow => Decision::Allowed,
        PolicyOutcome::Deny => Decision::Denied,
        PolicyOutcome::Pending => Decision::Pending,
    };
    let mut reason = eval.policy.reason.clone();
    // auto_approve_tools: skip human approval below high risk (never overrides a denial).
    let auto_approved = decision == Decision::Pending
        && eval.risk.level < RiskLevel::High
        && governed.is_some_and(|g| g.auto_approves(tool));
    if auto_approved {
        decision = Decision::Allowed;
        reason = format!(
            "auto-approved: tool {tool:?} is in the auto_approve_tools of MCP server {:?} \
             and its risk level is {} (approval would have been required: {})",
            server.unwrap_or_default(),
            eval.risk.level.as_str(),
            eval.policy.reason
        );
    }
    let approval = (decision == Decision::Pending).then(|| {
        let (approvers, stages) = eval
            .policy
            .approval
            .as_ref()
            .map(|a| (a.approvers.clone(), a.stages))
            .unwrap_or_default();
        let expires = chrono::Utc::now()
            + chrono::Duration::from_std(state.config.approval_ttl)
                .unwrap_or(chrono::Duration::hours(1));
        approvals::new_state(
            stages,
            approvers,
            Some(expires.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        )
    });
    let risk = &eval.risk;
    let mut metadata = Map::new();
    metadata.insert("created_at".into(), created_at.clone().into());
    metadata.insert("environment".into(), input.environment.clone().into());
    metadata.insert("agent_id".into(), action.agent_id.clone().into());
    metadata.insert("action_type".into(), action.action_type.clone().into());
    metadata.insert("resource".into(), action.resource.clone().into());
    if !eval.policy.log_only.is_empty() {
        metadata.insert("log_only_policies".into(), json!(eval.policy.log_only));
    }
    if !eval.policy.errors.is_empty() {
        metadata.insert("policy_errors".into(), json!(eval.policy.errors));
    }
    if let Some(a) = &approval {
        metadata.insert("approvals_required".into(), a.stages_required.into());
        metadata.insert("approvals_received".into(), 0.into());
    }
    if let Some(server) = server {
        let entry = registry.as_ref().and_then(|f| f.server.as_deref());
        metadata.insert(
            "mcp_governance".into(),
            json!({
                "mcp_server_name": server,
                "tool_name": mcp_tool,
                "registry_checked": registry.as_ref().is_some_and(|f| f.registry_in_use),
                "server_registered": entry.is_some(),
                "governance_enabled": entry.map(|e| e.governance_enabled),
                "auto_approved": auto_approved,
                "risk_override": governed.and_then(|g| g.risk_override(tool)),
            }),
        );
    }
    let body = DecisionBody {
        id,
        action_id: id,
        decision,
        status: decision.as_status_str().to_owned(),
        risk_score: risk.score,
        risk_level: risk.level,
        reason,
        execution_allowed: decision == Decision::Allowed,
        approval_request_id: approval.as_ref().map(|_| id.to_string()),
        required_approvers: approval
            .as_ref()
            .map(|a| a.required_approvers.clone())
            .unwrap_or_default(),
        policy_violations: eval.policy.policy_violations.clone(),
        conditions: Vec::new(),
        expires_at: approval.as_ref().and_then(|a| a.expires_at.clone()),
        approved_by: None,
        approved_at: None,
        comments: None,
        rule_id: eval.policy.rule_id.clone(),
        rule_name: eval.policy.rule_name.clone(),
        cvss_score: risk.cvss_score,
        cvss_severity: risk.cvss_severity.clone(),
        cvss_vector: risk.cvss_vector.clone(),
        mitre_tactic: risk.mitre_tactic.clone(),
        mitre_technique: risk.mitre_technique.clone(),
        mitre_techniques: risk
            .mitre_techniques
            .iter()
            .map(|t| t.id.to_string())
            .collect(),
        nist_likelihood: risk.nist_likelihood.to_string(),
        nist_impact: risk.nist_impact.to_string(),
        nist_risk: risk.nist_risk.to_string(),
        risk_factors: risk.factors.clone(),
        correlation_id: input.correlation_id.clone(),
        metadata,
    };
    // Stored and audited redacted (the engines saw the request as sent).
    let request = redact(&serde_json::to_value(&action)?);
    let (idempotency_key, request_hash) = match idem {
        Some((k, h)) => (Some(k), Some(h)),
        None => (None, None),
    };
    let audit = state.audit(
        p.org_id,
        "action.decided",
        &p.name,
        format!("action:{id}"),
        json!({
            "action_id": id,
            "agent_id": action.agent_id,
            "action_type": action.action_type,
            "resource": action.resource,
            "resource_id": action.resource_id,
            "environment": input.environment,
            "action_details": request.get("action_details"),
            "context": request.get("context"),
            "risk_indicators": request.get("risk_indicators"),
            "mcp_server_name": action.mcp_server_name,
            "mcp_tool": mcp_tool,
            "decision": decision.as_str(),
            "risk_score": risk.score,
            "risk_level": risk.level.as_str(),
            "rule_id": body.rule_id,
            "rule_name": body.rule_name,
            "reason": body.reason,
            "policy_violations": body.policy_violations,
            "auto_approved": auto_approved,
            "submitted_key": p.key_id,
        }),
    );
    let new = NewAction {
        id,
        org_id: p.org_id,
        agent_id: action.agent_id.clone(),
        agent_name: action.agent_name.clone(),
        action_type: action.action_type.clone(),
        resource: action.resource.clone(),
        resource_id: action.resource_id.clone(),
        request,
        body: body.clone(),
        submitted_key: p.key_id.clone(),
        idempotency_key,
        request_hash,
        approval,
        created_at,
    };
    state
        .store
        .write(WriteOp::Submit {
            action: Box::new(new),
            audit,
        })
        .await?;
    match decision {
        Decision::Denied => {
            state.record_denial(p.org_id, &action.agent_id);
            state.publish(Event {
                org_id: p.org_id,
                agent_id: Some(action.agent_id.clone()),
                sse: None,
                webhook: Some("action.denied"),
                data: json!({"action_id": id, "agent_id": action.agent_id, "reason": body.reason}),
            });
            if !body.policy_violations.is_empty() {
                state.publish(Event {
                    org_id: p.org_id,
                    agent_id: Some(action.agent_id.clone()),
                    sse: None,
                    webhook: Some("policy.violation"),
                    data: json!({"action_id": id, "agent_id": action.agent_id,
                                 "violations": body.policy_violations}),
                });
            }
        }
        Decision::Pending => state.publish(Event {
            org_id: p.org_id,
            agent_id: Some(action.agent_id.clone()),
            sse: None,
            webhook: Some("action.pending"),
            data: json!({"action_id": id, "agent_id": action.agent_id,
                         "action_type": action.action_type, "resource": action.resource,
                         "risk_score": body.risk_score, "required_approvers": body.required_approvers,
                         "expires_at": body.expires_at}),
        }),
        Decision::Allowed => {}
    }
    Ok(Arc::new(body))
}

/// The MCP tool a call invokes: the MCP endpoint's tool, else `action_details.tool_name`, else
/// the `mcp_tool` the runtime puts in `context` / `risk_indicators`.
fn mcp_tool_name(action: &AgentAction, mcp: Option<&McpFacts>) -> Option<String> {
    mcp.map(|m| m.tool.as_str())
        .filter(|t| !t.trim().is_empty())
        .or_else(|| {
            [
                &action.action_details,
                &action.context,
                &action.risk_indicators,
            ]
            .into_iter()
            .zip(["tool_name", "mcp_tool", "mcp_tool"])
            .find_map(|(m, k)| m.get(k).and_then(Value::as_str))
            .filter(|t| !t.trim().is_empty())
        })
        .map(|t| t.trim().chars().take(MAX_ID).collect())
}

/// An MCP tool annotation sent as `risk_indicators` or `context` key `snake` (or `camel`):
/// a boolean, or the text `true`/`false`.
fn hint(action: &AgentAction, snake: &str, camel: &str) -> Option<bool> {
    [&action.risk_indicators, &action.context]
        .into_iter()
        .flat_map(|m| [m.get(snake), m.get(camel)])
        .flatten()
        .find_map(|v| match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) => super::parse_bool(s),
            _ => None,
        })
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
    let raw = object(json_body(body, state.config.body_limit).await?)?;
    let mut action = validate_action(&raw)?;
    resolve_agent(&principal, &mut action)?;
    let input = PipelineInput {
        principal: &principal,
        environment: environment(&headers, &action),
        action,
        correlation_id: header_str(&headers, "x-correlation-id").map(str::to_owned),
        idempotency_key: idempotency_key(&headers)?,
        mcp: None,
    };
    let body = run_pipeline(&state, input).await?;
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

async fn load(state: &AppState, p: &Principal, raw_id: &str) -> Result<ActionRecord> {
    let id = parse_id(raw_id, "action")?;
    let a = state
        .store
        .get_action(p.org_id, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("action {id} not found")))?;
    if let Some(bound) = &p.agent_id
        && p.role == Role::Agent
        && &a.agent_id != bound
    {
        return Err(Error::NotFound(format!("action {id} not found")));
    }
    Ok(a)
}

/// Deny now if the approval expired (so a poll never shows an expired approval as pending).
async fn expire_if_due(state: &Shared, a: ActionRecord) -> Result<ActionRecord> {
    let due = a.body.decision == Decision::Pending
        && a.approval.as_ref().and_then(|x| x.expires_at.as_deref()) <= Some(now().as_str())
        && a.approval
            .as_ref()
            .and_then(|x| x.expires_at.as_ref())
            .is_some();
    if !due {
        return Ok(a);
    }
    expire_action(state, a.org_id, a.id).await?;
    state
        .store
        .get_action(a.org_id, a.id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("action {} not found", a.id)))
}

/// Apply an expiry and announce it.
pub async fn expire_action(state: &Shared, org_id: i64, id: i64) -> Result<()> {
    let reply = state
        .store
        .write(WriteOp::Expire {
            org_id,
            action_id: id,
            now: now(),
        })
        .await?;
    if let WriteReply::Action(change) = reply {
        announce_decision(state, &change.action);
    }
    Ok(())
}

/// Tell SSE subscribers and webhooks that a pending action was decided.
pub fn announce_decision(state: &AppState, a: &ActionRecord) {
    let b = &a.body;
    state.publish(Event {
        org_id: a.org_id,
        agent_id: Some(a.agent_id.clone()),
        sse: Some("decision"),
        webhook: match b.decision {
            Decision::Allowed => Some("action.approved"),
            Decision::Denied => Some("action.denied"),
            Decision::Pending => None,
        },
        data: json!({
            "action_id": a.id.to_string(),
            "decision": b.decision.as_str(),
            "status": b.status,
            "agent_id": a.agent_id,
            "reason": b.reason,
            "approver": b.approved_by,
            "approved_by": b.approved_by,
            "approved_at": b.approved_at,
            "comments": b.comments,
        }),
    });
}

/// `GET /api/v1/actions/{id}/status`.
pub async fn status(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<DecisionBody>> {
    let a = load(&state, &principal, &id).await?;
    let a = expire_if_due(&state, a).await?;
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
        "outcome": a.outcome,
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
    let a = load(&state, &principal, &id).await?;
    let a = expire_if_due(&state, a).await?;
    let mut audit = Vec::new();
    if let Some(ap) = &a.approval {
        for v in &ap.votes {
            audit.push(json!({"event": if v.approve {"approved"} else {"denied"},
                "by": v.approver, "at": v.at, "comment": v.comment}));
        }
    }
    if let Some(o) = &a.outcome {
        audit.push(json!({"event": o, "at": a.updated_at}));
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
    let mut agent_id = q.agent_id.filter(|a| !a.trim().is_empty());
    if p.role == Role::Agent
        && let Some(bound) = &p.agent_id
    {
        agent_id = Some(bound.clone());
    }
    let (rows, total) = state
        .store
        .list_actions(
            p.org_id,
            ActionFilter {
                agent_id,
                status,
                limit,
                offset,
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
    p.require(Role::Reviewer)?;
    let m = object(json_body(body, state.config.body_limit).await?)?;
    let comment = text_field(&m, &["comment", "reason", "comments"])?;
    if !approve && comment.is_none() {
        return Err(Error::field("reason", "a reason is required to deny"));
    }
    let a = load(state, p, raw_id).await?;
    let a = expire_if_due(state, a).await?;
    if a.body.decision == Decision::Denied && a.body.reason == "expired" {
        return Err(Error::Conflict(format!(
            "the approval of action {} expired",
            a.id
        )));
    }
    let reply = state
        .store
        .write(WriteOp::Vote {
            org_id: p.org_id,
            action_id: a.id,
            vote: Vote {
                key_id: p.key_id.clone(),
                approver: p.name.clone(),
                approve,
                comment,
                at: now(),
            },
        })
        .await?;
    match reply {
        WriteReply::Action(change) => {
            if change.decided {
                announce_decision(state, &change.action);
            }
            Ok(Json(change.action.body))
        }
        _ => Err(Error::Internal("unexpected store reply".into())),
    }
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
    outcome: &str,
) -> Result<Json<Value>> {
    let m = object(json_body(body, state.config.body_limit).await?)?;
    let a = load(state, p, raw_id).await?;
    if let Some(d) = m.get("duration_ms")
        && !d.is_null()
        && !d.is_number()
    {
        return Err(Error::field("duration_ms", "must be a number"));
    }
    let reply = state
        .store
        .write(WriteOp::Outcome {
            org_id: p.org_id,
            action_id: a.id,
            outcome: outcome.to_owned(),
            detail: Value::Object(m),
            actor: p.name.clone(),
            now: now(),
        })
        .await?;
    let _ = reply;
    Ok(Json(json!({
        "success": true,
        "action_id": a.id,
        "status": outcome,
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
    outcome(&state, &principal, &id, body, "completed").await
}

/// `POST /api/agent-action/{id}/fail`.
pub async fn fail(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>> {
    outcome(&state, &principal, &id, body, "failed").await
}

/// `GET /api/sdk/approval/{approval_request_id}`.
pub async fn approval_check(
    State(state): State<Shared>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let a = load(&state, &principal, &id).await?;
    let a = expire_if_due(&state, a).await?;
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
        "decided_at": a.approval.as_ref().and_then(|x| x.decided_at.clone()),
        "rejection_reason": rejection_reason,
        "comments": b.comments,
        "required_approvers": b.required_approvers,
        "expires_at": b.expires_at,
    })))
}
