//! The API operations beyond a governed call (wire-protocol §3.2, §6.5, §7): outcome logging,
//! listing actions, agent registration, connection test, approval checks, kill-switch status,
//! MCP evaluation and webhooks. They need the HTTP backend; over another backend they return
//! [`Error::Configuration`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::action::AgentAction;
use crate::client::{AscendClient, fail_open_decision};
use crate::config::FailMode;
use crate::decision::{AuthorizationDecision, Decision};
use crate::error::{Error, Result};
use crate::outcome::{FailOpenRecord, Outcome};
use crate::transport::{Call, SDK_VERSION, Transport};
use crate::wire::KillSwitchStatus;

/// One page of `GET /api/agent-activity`.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionPage {
    /// The actions (raw objects; each has at least `action_id`).
    pub actions: Vec<Value>,
    /// Total number of matching actions.
    pub total: u64,
    /// Page size asked for.
    pub limit: u32,
    /// Offset asked for.
    pub offset: u32,
    /// Whether more pages follow.
    pub has_more: bool,
}

/// Query of [`AscendClient::list_actions`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListActionsQuery {
    /// Page size (default 50).
    pub limit: u32,
    /// Offset (default 0).
    pub offset: u32,
    /// Only actions with this status.
    pub status: Option<String>,
}

impl Default for ListActionsQuery {
    fn default() -> Self {
        ListActionsQuery {
            limit: 50,
            offset: 0,
            status: None,
        }
    }
}

/// Body of `POST /api/registry/agents`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRegistration {
    /// `supervised` (default), `autonomous`, `mcp_server`, …
    pub agent_type: String,
    /// What the agent can do.
    pub capabilities: Vec<String>,
    /// Resources it may touch.
    pub allowed_resources: Vec<String>,
    /// Anything else.
    pub metadata: Map<String, Value>,
}

impl Default for AgentRegistration {
    fn default() -> Self {
        AgentRegistration {
            agent_type: "supervised".to_owned(),
            capabilities: Vec::new(),
            allowed_resources: Vec::new(),
            metadata: Map::new(),
        }
    }
}

/// Result of [`AscendClient::register`].
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The agent existed already (the server said "already exists"/"duplicate", or 409).
    pub already_registered: bool,
    /// The server's body (empty object when already registered).
    pub body: Value,
}

/// Result of [`AscendClient::test_connection`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionStatus {
    /// Whether `/health` and `/api/deployment-info` answered.
    pub connected: bool,
    /// Round-trip time of `/health`.
    pub latency: Option<Duration>,
    /// Server API version (`version` of deployment info).
    pub api_version: Option<String>,
    /// Server environment.
    pub environment: Option<String>,
    /// Why not connected.
    pub error: Option<String>,
}

/// Result of [`AscendClient::check_approval`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalStatus {
    /// Approved.
    pub approved: bool,
    /// Denied or rejected.
    pub denied: bool,
    /// Still waiting.
    pub pending: bool,
    /// Who decided.
    pub approver: Option<String>,
    /// When.
    pub decided_at: Option<String>,
    /// Rejection reason or comments.
    pub comments: Option<String>,
    /// The whole body.
    pub raw: Value,
}

/// An MCP tool call to evaluate (`POST /api/v1/mcp/actions/submit`, wire-protocol §6.5).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct McpAction {
    /// MCP server name.
    pub mcp_server: String,
    /// Namespace (e.g. `filesystem`).
    pub namespace: String,
    /// Verb (e.g. `write_file`).
    pub verb: String,
    /// Target resource.
    pub resource: String,
    /// Action type (default `namespace.verb`).
    pub action_type: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Tool arguments.
    pub parameters: Map<String, Value>,
    /// Context.
    pub context: Map<String, Value>,
    /// Environment (default: the client's).
    pub environment: Option<String>,
    /// Tool name.
    pub tool_name: Option<String>,
}

/// Valid webhook event names (the names of [`crate::wire::WebhookEvent::ALL`]).
pub const WEBHOOK_EVENTS: [&str; 5] = [
    crate::wire::WebhookEvent::ActionApproved.as_str(),
    crate::wire::WebhookEvent::ActionDenied.as_str(),
    crate::wire::WebhookEvent::ActionPending.as_str(),
    crate::wire::WebhookEvent::PolicyViolation.as_str(),
    crate::wire::WebhookEvent::AgentTrustChanged.as_str(),
];

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// Id (`webhook_id` or `id`).
    pub webhook_id: String,
    /// Delivery URL.
    pub url: String,
    /// Subscribed events.
    pub events: Vec<String>,
    /// Active.
    pub active: bool,
    /// Signing secret, when the server returns it.
    pub secret: Option<String>,
    /// Creation time.
    pub created_at: Option<String>,
}

impl Webhook {
    fn from_json(v: &Value) -> Result<Webhook> {
        let obj = v
            .as_object()
            .ok_or_else(|| Error::Protocol("webhook is not a JSON object".into()))?;
        let id = obj
            .get("webhook_id")
            .filter(|v| !v.is_null())
            .or_else(|| obj.get("id"))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .ok_or_else(|| Error::Protocol("webhook without an id".into()))?;
        let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Webhook {
            webhook_id: id,
            url: s("url").unwrap_or_default(),
            events: obj
                .get("events")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|e| e.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            active: obj.get("active").and_then(Value::as_bool).unwrap_or(true),
            secret: s("secret"),
            created_at: s("created_at"),
        })
    }
}

/// Changes of [`AscendClient::update_webhook`]; only the fields set are sent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WebhookUpdate {
    /// New URL.
    pub url: Option<String>,
    /// New events.
    pub events: Option<Vec<String>>,
    /// New secret.
    pub secret: Option<String>,
}

/// Result of [`AscendClient::test_webhook`].
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookTestResult {
    /// Whether the test delivery succeeded.
    pub success: bool,
    /// The receiver's status code.
    pub status_code: Option<u16>,
    /// The receiver's response time.
    pub response_time_ms: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
}

fn validate_webhook(url: Option<&str>, events: Option<&[String]>) -> Result<()> {
    let mut errors = std::collections::BTreeMap::new();
    if let Some(url) = url {
        match url::Url::parse(url) {
            Ok(u) if u.scheme() == "https" => {}
            _ => {
                errors.insert("url".to_owned(), "must be an https:// URL".to_owned());
            }
        }
    }
    if let Some(events) = events {
        let bad: Vec<&str> = events
            .iter()
            .map(String::as_str)
            .filter(|e| !WEBHOOK_EVENTS.contains(e))
            .collect();
        if !bad.is_empty() {
            errors.insert(
                "events".to_owned(),
                format!("unknown events {bad:?}; valid: {WEBHOOK_EVENTS:?}"),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation {
            message: "invalid webhook".to_owned(),
            field_errors: errors,
        })
    }
}

fn not_found_or_conflict_is_duplicate(e: &Error) -> bool {
    match e {
        Error::Conflict { .. } => true,
        Error::Validation { message, .. } => {
            let m = message.to_ascii_lowercase();
            m.contains("already exists") || m.contains("duplicate")
        }
        _ => false,
    }
}

impl AscendClient {
    fn transport(&self) -> Result<&Arc<Transport>> {
        self.inner.http().map(|h| &h.transport).ok_or_else(|| {
            Error::Configuration(format!(
                "this operation needs the HTTP backend (the client uses the {} backend)",
                self.inner.backend.name()
            ))
        })
    }

    async fn call(&self, call: Call) -> Result<Value> {
        let v = self.transport()?.send_from_caller(call).await?;
        self.inner.maybe_flush();
        Ok(v)
    }

    /// `POST /api/agent-action/{id}/complete` now (awaited; see
    /// [`AscendClient::report_outcome`] for the background form).
    pub async fn log_action_completed(
        &self,
        action_id: &str,
        result: Option<Value>,
        duration: Option<Duration>,
    ) -> Result<Value> {
        let mut body = Outcome::Completed {
            duration: duration.unwrap_or_default(),
        }
        .body(action_id);
        if duration.is_none()
            && let Some(o) = body.as_object_mut()
        {
            o.remove("duration_ms");
        }
        if let (Some(r), Some(o)) = (result, body.as_object_mut()) {
            o.insert("result".into(), r);
        }
        self.call(
            Call::post(&["api", "agent-action", action_id, "complete"], Some(body))
                .idempotent(format!("{action_id}:complete")),
        )
        .await
    }

    /// `POST /api/agent-action/{id}/fail` now.
    pub async fn log_action_failed(
        &self,
        action_id: &str,
        error: &str,
        duration: Option<Duration>,
    ) -> Result<Value> {
        let mut body = Outcome::Failed {
            error: error.to_owned(),
            duration: duration.unwrap_or_default(),
        }
        .body(action_id);
        if duration.is_none()
            && let Some(o) = body.as_object_mut()
        {
            o.remove("duration_ms");
        }
        self.call(
            Call::post(&["api", "agent-action", action_id, "fail"], Some(body))
                .idempotent(format!("{action_id}:fail")),
        )
        .await
    }

    /// `GET /api/agent-activity`: one page of this agent's actions, with `total` and
    /// `has_more` (computed when the server omits it).
    pub async fn list_actions(&self, query: ListActionsQuery) -> Result<ActionPage> {
        let mut call = Call::get(&["api", "agent-activity"])
            .query("limit", query.limit)
            .query("offset", query.offset);
        if let Some(s) = query.status.as_deref().filter(|s| !s.is_empty()) {
            call = call.query("status", s);
        }
        if let Some(id) = &self.inner.config.agent_id {
            call = call.query("agent_id", id);
        }
        let body = self.call(call).await?;
        let actions = match body.get("actions").or_else(|| body.get("items")) {
            Some(Value::Array(a)) => a.clone(),
            _ => match &body {
                Value::Array(a) => a.clone(),
                _ => return Err(Error::Protocol("action list without `actions`".into())),
            },
        };
        let total = body
            .get("total")
            .and_then(Value::as_u64)
            .unwrap_or(u64::from(query.offset) + actions.len() as u64);
        let has_more = body
            .get("has_more")
            .and_then(Value::as_bool)
            .unwrap_or(u64::from(query.offset) + (actions.len() as u64) < total);
        Ok(ActionPage {
            actions,
            total,
            limit: query.limit,
            offset: query.offset,
            has_more,
        })
    }

    /// `POST /api/registry/agents` with this client's agent id. Idempotent: an agent that
    /// already exists is a success with `already_registered`.
    pub async fn register(&self, registration: AgentRegistration) -> Result<Registration> {
        let agent_id = self.inner.config.agent_id.clone().ok_or_else(|| {
            Error::Configuration("register needs an agent id: set ASCEND_AGENT_ID".to_owned())
        })?;
        let body = json!({
            "agent_id": agent_id,
            "display_name": self.agent_name(),
            "agent_type": registration.agent_type,
            "environment": self.inner.config.environment,
            "capabilities": registration.capabilities,
            "allowed_resources": registration.allowed_resources,
            "sdk_version": SDK_VERSION,
            "metadata": registration.metadata,
        });
        match self
            .call(Call::post(&["api", "registry", "agents"], Some(body)).retried())
            .await
        {
            Ok(body) => {
                let already = body
                    .get("status")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s == "already_registered");
                Ok(Registration {
                    already_registered: already,
                    body,
                })
            }
            Err(e) if not_found_or_conflict_is_duplicate(&e) => Ok(Registration {
                already_registered: true,
                body: json!({"status": "already_registered", "agent_id": agent_id}),
            }),
            Err(e) => Err(e),
        }
    }

    /// `GET /health` (timed) then `GET /api/deployment-info`. Never fails: problems are in
    /// the result.
    pub async fn test_connection(&self) -> ConnectionStatus {
        let failed = |e: Error| ConnectionStatus {
            connected: false,
            latency: None,
            api_version: None,
            environment: None,
            error: Some(e.to_string()),
        };
        let started = Instant::now();
        if let Err(e) = self.call(Call::get(&["health"])).await {
            return failed(e);
        }
        let latency = started.elapsed();
        match self.call(Call::get(&["api", "deployment-info"])).await {
            Ok(info) => ConnectionStatus {
                connected: true,
                latency: Some(latency),
                api_version: info
                    .get("version")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                environment: info
                    .get("environment")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                error: None,
            },
            Err(e) => failed(e),
        }
    }

    /// `GET /api/sdk/approval/{id}`.
    pub async fn check_approval(&self, approval_request_id: &str) -> Result<ApprovalStatus> {
        let body = self
            .call(Call::get(&["api", "sdk", "approval", approval_request_id]))
            .await?;
        let status = body
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("pending")
            .to_ascii_lowercase();
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(ApprovalStatus {
            approved: status == "approved",
            denied: status == "denied" || status == "rejected",
            pending: matches!(
                status.as_str(),
                "pending" | "pending_approval" | "escalated"
            ),
            approver: s("approved_by").or_else(|| s("rejected_by")),
            decided_at: s("decided_at"),
            comments: s("rejection_reason").or_else(|| s("comments")),
            raw: body,
        })
    }

    /// `GET /api/sdk/kill-switch/status`; the local flag is updated with the answer.
    pub async fn kill_switch_status(&self) -> Result<KillSwitchStatus> {
        let status = self.inner.backend.kill_switch_status().await?;
        self.inner.kill.apply(&status);
        Ok(status)
    }

    /// `POST /api/v1/mcp/actions/submit` (§6.5). Unlike the Python SDK, the kill switch is
    /// checked first, an allowed decision has `execution_allowed = true`, and only `approved`
    /// (or no status with `success` true and no approval required) is allowed.
    pub async fn evaluate_mcp_action(&self, action: McpAction) -> Result<AuthorizationDecision> {
        self.check_kill_switch()?;
        let action_type = action
            .action_type
            .clone()
            .unwrap_or_else(|| format!("{}.{}", action.namespace, action.verb));
        let body = json!({
            "mcp_server": action.mcp_server,
            "namespace": action.namespace,
            "verb": action.verb,
            "resource": action.resource,
            "action_type": action_type,
            "description": action.description,
            "parameters": action.parameters,
            "context": action.context,
            "environment": action.environment.clone().unwrap_or_else(|| self.inner.config.environment.clone()),
            "tool_name": action.tool_name,
        });
        let key = uuid::Uuid::new_v4().to_string();
        let result = match self.inner.backend.precheck() {
            Ok(()) => {
                self.call(
                    Call::post(&["api", "v1", "mcp", "actions", "submit"], Some(body))
                        .idempotent(key),
                )
                .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(body) => mcp_decision(&body),
            Err(Error::Denied(d)) => Ok(*d),
            Err(e) if e.is_unavailable() && self.fail_mode() == FailMode::Open => {
                let d = fail_open_decision(&e);
                tracing::warn!(action_id = %d.action_id, error = %e, "governance unavailable; fail-open MCP action");
                let mut recorded = AgentAction::new(action_type, action.resource);
                recorded.action_details = action.parameters;
                recorded.mcp_server_name = Some(action.mcp_server);
                recorded.agent_id = self.agent_id().to_owned();
                recorded.agent_name = self.agent_name().to_owned();
                self.inner.queue.push(FailOpenRecord {
                    action_id: d.action_id.clone(),
                    action: recorded,
                    error: e.to_string(),
                    allowed_at: chrono::Utc::now().to_rfc3339(),
                    outcome: None,
                });
                Ok(d)
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /api/webhooks/configure`. The URL must be https and the events valid.
    pub async fn configure_webhook(
        &self,
        url: &str,
        events: &[String],
        secret: Option<&str>,
    ) -> Result<Value> {
        validate_webhook(Some(url), Some(events))?;
        let mut body = json!({
            "url": url,
            "events": events,
            "agent_id": self.inner.config.agent_id,
        });
        if let (Some(s), Some(o)) = (secret, body.as_object_mut()) {
            o.insert("secret".into(), Value::String(s.to_owned()));
        }
        self.call(Call::post(&["api", "webhooks", "configure"], Some(body)))
            .await
    }

    /// `GET /api/webhooks` (a top-level array or `{"webhooks": [...]}`).
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        let body = self.call(Call::get(&["api", "webhooks"])).await?;
        let items = match &body {
            Value::Array(a) => a,
            _ => body
                .get("webhooks")
                .and_then(Value::as_array)
                .ok_or_else(|| Error::Protocol("webhook list without `webhooks`".into()))?,
        };
        items.iter().map(Webhook::from_json).collect()
    }

    /// `PUT /api/webhooks/{id}` with only the fields set (validated like configure).
    pub async fn update_webhook(&self, webhook_id: &str, update: WebhookUpdate) -> Result<Webhook> {
        validate_webhook(update.url.as_deref(), update.events.as_deref())?;
        let mut body = Map::new();
        if let Some(u) = update.url {
            body.insert("url".into(), Value::String(u));
        }
        if let Some(e) = update.events {
            body.insert("events".into(), json!(e));
        }
        if let Some(s) = update.secret {
            body.insert("secret".into(), Value::String(s));
        }
        let answer = self
            .call(Call::put(
                &["api", "webhooks", webhook_id],
                Value::Object(body),
            ))
            .await?;
        Webhook::from_json(answer.get("webhook").unwrap_or(&answer))
    }

    /// `DELETE /api/webhooks/{id}` (any body, including none, is accepted).
    pub async fn delete_webhook(&self, webhook_id: &str) -> Result<()> {
        self.call(Call::delete(&["api", "webhooks", webhook_id]))
            .await
            .map(|_| ())
    }

    /// `POST /api/webhooks/{id}/test`.
    pub async fn test_webhook(&self, webhook_id: &str) -> Result<WebhookTestResult> {
        let body = self
            .call(Call::post(&["api", "webhooks", webhook_id, "test"], None))
            .await?;
        Ok(WebhookTestResult {
            success: body
                .get("success")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            status_code: body
                .get("status_code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok()),
            response_time_ms: body.get("response_time_ms").and_then(Value::as_f64),
            error: body.get("error").and_then(Value::as_str).map(str::to_owned),
        })
    }
}

/// Interpret the MCP endpoint's answer strictly: `denied` or `success: false` → denied;
/// `requires_approval` or a pending status → pending; `approved`/`allowed` (or no status with
/// success) → allowed; any other status → protocol error.
fn mcp_decision(body: &Value) -> Result<AuthorizationDecision> {
    let obj = body
        .as_object()
        .ok_or_else(|| Error::Protocol("MCP decision is not a JSON object".into()))?;
    let status = obj.get("status").and_then(Value::as_str);
    let decision = if status.is_some_and(|s| s.eq_ignore_ascii_case("denied"))
        || obj.get("success") == Some(&Value::Bool(false))
    {
        Decision::Denied
    } else if obj.get("requires_approval").and_then(Value::as_bool) == Some(true) {
        Decision::Pending
    } else if let Some(s) = status {
        Decision::parse_wire(s)?
    } else if obj.get("success") == Some(&Value::Bool(true)) {
        Decision::Allowed
    } else {
        return Err(Error::Protocol("MCP decision without status".into()));
    };
    let id = match obj.get("action_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let mut d = AuthorizationDecision::new(id, decision);
    d.reason = obj.get("reason").and_then(Value::as_str).map(str::to_owned);
    d.risk_score = obj.get("risk_score").and_then(Value::as_f64);
    d.risk_level = d.risk_score.map(crate::RiskLevel::from_score);
    d.raw_status = status.map(str::to_owned);
    if decision == Decision::Denied && d.reason.is_none() {
        d.reason = Some("denied".to_owned());
    }
    d.metadata = obj.clone();
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_answers() {
        let d =
            mcp_decision(&json!({"action_id": 5, "status": "approved", "success": true})).unwrap();
        assert!(d.is_allowed() && d.execution_allowed);
        assert_eq!(d.action_id, "5");
        let d = mcp_decision(&json!({"status": "pending_approval", "requires_approval": true}))
            .unwrap();
        assert!(d.is_pending());
        let d = mcp_decision(&json!({"success": false})).unwrap();
        assert!(d.is_denied());
        assert!(mcp_decision(&json!({"status": "maybe"})).is_err());
    }

    #[test]
    fn webhook_validation() {
        assert!(
            validate_webhook(Some("https://x.example/h"), Some(&["action.denied".into()])).is_ok()
        );
        assert!(validate_webhook(Some("http://x.example/h"), None).is_err());
        assert!(validate_webhook(None, Some(&["action.exploded".into()])).is_err());
    }
}
