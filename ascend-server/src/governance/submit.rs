//! Submit: the decision pipeline. Kill switch → MCP registry → agent profile → risk and policy
//! engines → MCP auto-approval → approval state → the answer, its audit event and the store
//! write (one transaction) → push and webhook events. With an idempotency key, the same request
//! gets the first answer and a different one a 409.

use std::sync::Arc;

use tracing::Instrument;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use ascend_runtime::wire::DecisionBody;
use ascend_runtime::{AgentAction, Decision, RiskLevel};

use super::Governance;
use super::access::{self, Operation};
use crate::approvals;
use crate::audit::Event;
use crate::audit::event::{Blocked, BlockedMcp, Decided};
use crate::engine::Evaluation;
use crate::error::{Error, Result};
use crate::mcp_registry::Facts;
use crate::model::{ApprovalState, NewAction, Principal, Refusal, Timestamp, WebhookEvent, now};
use crate::policy::Outcome as PolicyOutcome;
use crate::redact::{redact, redact_map};
use crate::risk::{McpCall, RiskInput};
use crate::state::{BusEvent, IdemEntry};

const MAX_ID: usize = 256;
const KEY_REUSED: &str = "this idempotency key was already used with a different request";

/// One submit.
#[derive(Debug, Clone)]
pub struct SubmitInput {
    /// The validated action (its `agent_id` is checked against the key's binding).
    pub action: AgentAction,
    /// Environment (default production).
    pub environment: String,
    /// Correlation id of the request.
    pub correlation_id: Option<String>,
    /// Idempotency key, prefixed by where it came from (`idem:` / `corr:`).
    pub idempotency_key: Option<String>,
    /// MCP call facts, for the MCP endpoint.
    pub mcp: Option<McpFacts>,
}

impl SubmitInput {
    /// A submit of `action` in production, without idempotency key.
    pub fn new(action: AgentAction) -> Self {
        Self {
            action,
            environment: "production".into(),
            correlation_id: None,
            idempotency_key: None,
            mcp: None,
        }
    }
}

/// Owned MCP call facts.
#[derive(Debug, Clone, Default)]
pub struct McpFacts {
    /// Server name.
    pub server: String,
    /// Tool name.
    pub tool: String,
}

impl Governance {
    /// Decide on an action. Refusals before the engines (kill switch, MCP registry) are
    /// [`Error::Governance`]; every other answer is a decision body (allowed, denied or pending).
    pub async fn submit(&self, p: &Principal, input: SubmitInput) -> Result<Arc<DecisionBody>> {
        let started = std::time::Instant::now();
        let answer = self.submit_once(p, input).await;
        let outcome = match &answer {
            Ok(body) => match body.decision {
                Decision::Allowed => "allowed",
                Decision::Denied => "denied",
                Decision::Pending => "pending",
            },
            Err(Error::Governance { .. }) => "refused",
            Err(_) => "error",
        };
        self.state.metrics.decision(outcome, started.elapsed());
        answer
    }

    async fn submit_once(
        &self,
        p: &Principal,
        mut input: SubmitInput,
    ) -> Result<Arc<DecisionBody>> {
        access::authorize(p, Operation::Submit)?;
        resolve_agent(p, &mut input.action)?;
        canonicalise(&mut input)?;
        let Some(key) = input.idempotency_key.clone() else {
            return self.decide(p, input, None).await;
        };
        let request_hash = hex::encode(Sha256::digest(serde_json::to_vec(&input.action)?));
        let map_key = (p.org_id, key);
        let cell = {
            let mut map = self
                .state
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
                let body = self
                    .first_answer(p, input, &map_key, &request_hash, &cell)
                    .await?;
                let id = body.id;
                *answered = Some(body);
                Ok::<_, Error>(id)
            })
            .await?;
        if let Some(body) = first {
            return Ok(body);
        }
        let a = self
            .state
            .store
            .get_action(p.org_id, id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("action {id} not found")))?;
        Ok(Arc::new(a.body))
    }

    /// The first answer for a key the memory does not hold: run the pipeline; if the store
    /// already has an action with this key (the memory forgot it), answer with that action when
    /// the request is the same and 409 otherwise — without running (or auditing) the pipeline
    /// again.
    async fn first_answer(
        &self,
        p: &Principal,
        input: SubmitInput,
        map_key: &(i64, String),
        request_hash: &str,
        cell: &Arc<tokio::sync::OnceCell<i64>>,
    ) -> Result<Arc<DecisionBody>> {
        let (org, key) = map_key;
        let idem = Some((key.clone(), request_hash.to_owned()));
        let err = match self.decide(p, input, idem).await {
            Err(e @ Error::Conflict(_)) => e,
            other => return other,
        };
        // The failed insert was rolled back with its audit entry (one savepoint per write).
        let Some((stored_hash, action)) = self
            .state
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
        if let Ok(mut map) = self.state.idempotency.lock() {
            let known = Arc::new(tokio::sync::OnceCell::new_with(Some(action.id)));
            map.replace_if(map_key.clone(), cell, IdemEntry::new(stored_hash, known));
        }
        Err(Error::Conflict(KEY_REUSED.into()))
    }

    // The decision pipeline's span (exported with OTLP on; see crate::telemetry).
    #[tracing::instrument(name = "ascend.decide", skip_all, fields(org = p.org_id))]
    async fn decide(
        &self,
        p: &Principal,
        input: SubmitInput,
        idem: Option<(String, String)>,
    ) -> Result<Arc<DecisionBody>> {
        self.refuse_if_halted(p, &input).await?;
        let mcp_tool = mcp_tool_name(&input.action, input.mcp.as_ref());
        let registry = self.check_registry(p, &input, mcp_tool.as_deref()).await?;
        let action = &input.action;
        let governed = registry.as_ref().and_then(Facts::governed);
        let profile = self
            .state
            .agent_profile(p.org_id, &action.agent_id, &action.action_type);
        let tool = mcp_tool.as_deref().unwrap_or_default();
        let server = input
            .mcp
            .as_ref()
            .map(|m| m.server.as_str())
            .or(action.mcp_server_name.as_deref());
        let mcp = server.map(|server| McpCall {
            server,
            tool,
            read_only_hint: hint(action, "read_only_hint", "readOnlyHint"),
            destructive_hint: hint(action, "destructive_hint", "destructiveHint"),
            idempotent_hint: hint(action, "idempotent_hint", "idempotentHint"),
            open_world_hint: hint(action, "open_world_hint", "openWorldHint"),
            risk_override: governed.and_then(|g| g.risk_override(tool)),
        });
        let eval = self.state.engine.decide(&RiskInput {
            action,
            environment: &input.environment,
            agent: &profile,
            mcp,
        });
        let id = self.state.store.next_action_id().await?;
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
        let approval = (decision == Decision::Pending).then(|| self.approval_state(&eval));
        let mut metadata = metadata(created_at, &input, &eval, approval.as_ref());
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
        let body = decision_body(
            id,
            decision,
            reason,
            &eval,
            approval.as_ref(),
            &input,
            metadata,
        );
        // Stored and audited redacted (the engines saw the request as sent).
        let request = redact(&serde_json::to_value(action)?);
        let audit = self.draft(
            p,
            &Event::ActionDecided(Decided {
                body: &body,
                request: &request,
                environment: &input.environment,
                mcp_tool: mcp_tool.as_deref(),
                auto_approved,
                submitted_key: &p.key_id,
            }),
        );
        let (idempotency_key, request_hash) = idem.unzip();
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
        self.state
            .store
            .insert_action(new, audit)
            .instrument(tracing::info_span!("ascend.store_commit"))
            .await?;
        self.announce_submit(p, action, &body);
        Ok(Arc::new(body))
    }

    /// A halted agent gets the governance 403 the Python SDK reads as DENIED (audited).
    async fn refuse_if_halted(&self, p: &Principal, input: &SubmitInput) -> Result<()> {
        let action = &input.action;
        let blocked = {
            let kill = self
                .state
                .kill
                .read()
                .map_err(|_| Error::Internal("kill switch state poisoned".into()))?;
            kill.blocking(p.org_id, Some(&action.agent_id)).map(|r| {
                r.reason
                    .clone()
                    .unwrap_or_else(|| "kill switch active".into())
            })
        };
        let Some(reason) = blocked else {
            return Ok(());
        };
        let event = Event::ActionBlocked(Blocked {
            agent_id: action.agent_id.clone(),
            action_type: action.action_type.clone(),
            resource: action.resource.clone(),
            reason: reason.clone(),
            refusal: Refusal::KillSwitch,
            mcp: None,
        });
        self.state.store.append_audit(self.draft(p, &event)).await?;
        Err(Error::Governance {
            code: Refusal::KillSwitch.code().into(),
            reason: format!("kill switch active: {reason}"),
            correlation_id: input.correlation_id.clone(),
            mcp_server_name: None,
        })
    }

    /// The MCP registry (wire-protocol §6.3): unregistered / deactivated server, blocked tool.
    async fn check_registry(
        &self,
        p: &Principal,
        input: &SubmitInput,
        mcp_tool: Option<&str>,
    ) -> Result<Option<Facts>> {
        let action = &input.action;
        let Some(server) = &action.mcp_server_name else {
            return Ok(None);
        };
        let denial = match self.state.mcp.check(p.org_id, server, mcp_tool) {
            Ok(facts) => return Ok(Some(facts)),
            Err(denial) => denial,
        };
        let event = Event::ActionBlocked(Blocked {
            agent_id: action.agent_id.clone(),
            action_type: action.action_type.clone(),
            resource: action.resource.clone(),
            reason: denial.reason.clone(),
            refusal: denial.refusal,
            mcp: Some(BlockedMcp {
                server: server.clone(),
                tool: mcp_tool.map(str::to_owned),
                request: json!({
                    "action_details": redact_map(&action.action_details),
                    "context": redact_map(&action.context),
                    "risk_indicators": redact_map(&action.risk_indicators),
                }),
            }),
        });
        self.state.store.append_audit(self.draft(p, &event)).await?;
        Err(Error::Governance {
            code: denial.refusal.code().into(),
            reason: denial.reason,
            correlation_id: input.correlation_id.clone(),
            mcp_server_name: Some(server.clone()),
        })
    }

    fn approval_state(&self, eval: &Evaluation) -> ApprovalState {
        let (approvers, stages) = eval
            .policy
            .approval
            .as_ref()
            .map(|a| (a.approvers.clone(), a.stages))
            .unwrap_or_default();
        let expires = now().plus(self.state.config.approval_ttl);
        approvals::new_state(stages, approvers, Some(expires))
    }

    /// Webhook events of a fresh decision (denials also count against the agent).
    fn announce_submit(&self, p: &Principal, action: &AgentAction, body: &DecisionBody) {
        let (org_id, id) = (p.org_id, body.id);
        let agent = Some(action.agent_id.clone());
        let event = |webhook, data| BusEvent {
            key_id: Some(p.key_id.clone()),
            org_id,
            agent_id: agent.clone(),
            push: None,
            webhook: Some(webhook),
            data,
        };
        match body.decision {
            Decision::Denied => {
                self.state.record_denial(org_id, &action.agent_id);
                self.state.publish(event(
                    WebhookEvent::ActionDenied,
                    json!({"action_id": id, "agent_id": action.agent_id, "reason": body.reason}),
                ));
                if !body.policy_violations.is_empty() {
                    self.state.publish(event(
                        WebhookEvent::PolicyViolation,
                        json!({"action_id": id, "agent_id": action.agent_id,
                               "violations": body.policy_violations}),
                    ));
                }
            }
            Decision::Pending => self.state.publish(event(
                WebhookEvent::ActionPending,
                json!({"action_id": id, "agent_id": action.agent_id,
                       "action_type": action.action_type, "resource": action.resource,
                       "risk_score": body.risk_score, "required_approvers": body.required_approvers,
                       "expires_at": body.expires_at}),
            )),
            Decision::Allowed => {}
        }
    }
}

/// Fill in and check the acting agent's identity against the key.
fn resolve_agent(p: &Principal, action: &mut AgentAction) -> Result<()> {
    let acting = access::acting_agent(p, Operation::Submit, Some(&action.agent_id))?;
    action.agent_id = acting.unwrap_or_else(|| "unknown".to_owned());
    if action.agent_name.trim().is_empty() {
        action.agent_name = action.agent_id.clone();
    }
    Ok(())
}

/// The identifiers rules, policies, the MCP registry and kill switches match on, in their
/// canonical form ([`crate::ident`]): action type and resource normalised (NFKC, no
/// default-ignorables), MCP server and tool names also case-folded.
fn canonicalise(input: &mut SubmitInput) -> Result<()> {
    let a = &mut input.action;
    // Case kept for these two: the risk engine reads camelCase words and matches
    // case-insensitively; look-alikes (full-width, zero-width) are folded away.
    a.action_type = crate::ident::normalise("action_type", &a.action_type)?;
    a.resource = crate::ident::normalise("resource", &a.resource)?;
    crate::ident::check("agent_name", &a.agent_name)?;
    if let Some(Value::String(t)) = a.action_details.get_mut("tool_name") {
        *t = crate::ident::identifier("tool_name", t)?;
    }
    for map in [&mut a.context, &mut a.risk_indicators] {
        for field in ["mcp_tool", "mcp_server"] {
            if let Some(Value::String(t)) = map.get_mut(field) {
                *t = crate::ident::identifier(field, t)?;
            }
        }
    }
    if let Some(m) = input.mcp.as_mut() {
        m.server = crate::ident::identifier("server_name", &m.server)?;
        m.tool = crate::ident::identifier("tool_name", &m.tool)?;
    }
    Ok(())
}

fn metadata(
    created_at: Timestamp,
    input: &SubmitInput,
    eval: &Evaluation,
    approval: Option<&ApprovalState>,
) -> Map<String, Value> {
    let action = &input.action;
    let mut metadata = Map::new();
    metadata.insert("created_at".into(), created_at.to_rfc3339().into());
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
    if let Some(a) = approval {
        metadata.insert("approvals_required".into(), a.stages_required.into());
        metadata.insert("approvals_received".into(), 0.into());
    }
    metadata
}

fn decision_body(
    id: i64,
    decision: Decision,
    reason: String,
    eval: &Evaluation,
    approval: Option<&ApprovalState>,
    input: &SubmitInput,
    metadata: Map<String, Value>,
) -> DecisionBody {
    let risk = &eval.risk;
    DecisionBody {
        id,
        action_id: id,
        decision,
        status: decision.as_status_str().to_owned(),
        risk_score: risk.score,
        risk_level: risk.level,
        reason,
        execution_allowed: decision == Decision::Allowed,
        approval_request_id: approval.map(|_| id.to_string()),
        required_approvers: approval
            .map(|a| a.required_approvers.clone())
            .unwrap_or_default(),
        policy_violations: eval.policy.policy_violations.clone(),
        conditions: Vec::new(),
        expires_at: approval.and_then(|a| a.expires_at.map(|t| t.to_rfc3339())),
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
    }
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
            Value::String(s) => parse_bool(s),
            _ => None,
        })
}

/// Parse a boolean written as text: `true`/`false` and Python's `True`/`False`, `1`/`0`,
/// `yes`/`no`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}
