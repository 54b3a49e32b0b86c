//! [`ToolRefusal`]: why a tool call did not run, as the model reads it.

use std::fmt;

use rmcp::ErrorData;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock, ErrorCode, MetaObject};
use serde_json::{Value, json};

use crate::Error;

use super::{DenialStyle, GOVERNANCE_ERROR_CODE, META_KEY};

pub use crate::error::RefusalKind;

/// A governed tool call that must not run, with everything needed to tell the client why.
///
/// ```
/// use ascend_runtime::{AuthorizationDecision, Decision, Error};
/// use ascend_runtime::mcp::{RefusalKind, ToolRefusal};
///
/// let decision = AuthorizationDecision::new("42", Decision::Denied).with_reason("Block Bulk Deletions");
/// let refusal = ToolRefusal::new("delete_file", Error::Denied(Box::new(decision)));
/// assert_eq!(refusal.kind(), RefusalKind::Denied);
/// let result = refusal.to_tool_result();
/// assert_eq!(result.is_error, Some(true));
/// ```
#[derive(Debug, Clone)]
pub struct ToolRefusal {
    tool: String,
    kind: RefusalKind,
    error: Error,
}

impl ToolRefusal {
    /// Classify `error` as the reason `tool` did not run.
    pub fn new(tool: impl Into<String>, error: Error) -> Self {
        let kind = error.refusal_kind();
        Self {
            tool: tool.into(),
            kind,
            error,
        }
    }

    /// `tool` needs a human approval (action `action_id`) and the guard does not wait.
    pub fn approval_pending(tool: impl Into<String>, action_id: impl Into<String>) -> Self {
        Self {
            tool: tool.into(),
            kind: RefusalKind::ApprovalPending,
            error: Error::PendingApproval {
                action_id: action_id.into(),
                approval_request_id: None,
            },
        }
    }

    /// The tool that did not run.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// Why.
    pub fn kind(&self) -> RefusalKind {
        self.kind
    }

    /// The underlying runtime error.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// Take the underlying runtime error.
    pub fn into_error(self) -> Error {
        self.error
    }

    /// The action id governance assigned, when there is one.
    pub fn action_id(&self) -> Option<&str> {
        self.error.action_id()
    }

    /// The sentence the model reads.
    pub fn message(&self) -> String {
        let (tool, subject) = if self.tool.is_empty() {
            ("this tool call".to_owned(), "The tool call".to_owned())
        } else {
            (
                format!("tool `{}`", self.tool),
                format!("Tool `{}`", self.tool),
            )
        };
        match (&self.kind, &self.error) {
            (RefusalKind::Denied, Error::Denied(d)) => {
                let mut msg = format!("Governance denied {tool}");
                let mut facts = Vec::new();
                if !d.action_id.is_empty() {
                    facts.push(format!("action {}", d.action_id));
                }
                if let Some(score) = d.risk_score {
                    match d.risk_level {
                        Some(level) => facts.push(format!("risk {score:.0} {level}")),
                        None => facts.push(format!("risk {score:.0}")),
                    }
                }
                if !facts.is_empty() {
                    msg.push_str(&format!(" ({})", facts.join(", ")));
                }
                msg.push_str(": ");
                msg.push_str(d.reason.as_deref().unwrap_or("no reason given"));
                if let Some(rule) = &d.rule_name {
                    msg.push_str(&format!(". Rule: {rule}"));
                }
                if !d.policy_violations.is_empty() {
                    msg.push_str(&format!(". Violations: {}", d.policy_violations.join(", ")));
                }
                msg.push_str(
                    ". The call was not executed; do not retry it unchanged — choose a safer action or ask the user.",
                );
                msg
            }
            (RefusalKind::KillSwitch, e) => format!(
                "{subject} was not executed: {e}. No tool calls are allowed until an operator releases it."
            ),
            (RefusalKind::ApprovalTimeout, Error::ApprovalTimeout { action_id, waited }) => {
                format!(
                    "{subject} was not executed: it requires human approval and no reviewer decided within {}s \
                 (action {action_id} is still pending). Retry later or ask the user.",
                    waited.as_secs()
                )
            }
            (RefusalKind::ApprovalPending, Error::PendingApproval { action_id, .. }) => format!(
                "{subject} was not executed: it requires human approval (action {action_id}); a reviewer \
                 has been asked. Retry after it is approved."
            ),
            (RefusalKind::Unavailable, e) => format!(
                "{subject} was not executed: the governance service is unavailable ({e}) and this server \
                 fails closed."
            ),
            (_, e) => format!("{subject} was not executed: governance check failed: {e}"),
        }
    }

    /// Machine-readable details (what goes under `_meta["ascend/governance"]` or the error data).
    pub fn details(&self) -> Value {
        let mut v = json!({
            "outcome": self.kind.as_str(),
            "tool": self.tool,
            "error_code": self.error.code(),
        });
        if let Some(id) = self.action_id() {
            v["action_id"] = json!(id);
        }
        if let Error::Denied(d) = &self.error {
            v["reason"] = json!(d.reason);
            v["risk_score"] = json!(d.risk_score);
            v["risk_level"] = json!(d.risk_level);
            v["rule_name"] = json!(d.rule_name);
            v["policy_violations"] = json!(d.policy_violations);
        } else {
            v["reason"] = json!(self.error.to_string());
        }
        v
    }

    /// The refusal as a tool result with `isError: true` (the default style).
    pub fn to_tool_result(&self) -> CallToolResult {
        let mut result = CallToolResult::error(vec![ContentBlock::text(self.message())]);
        let mut meta = MetaObject::new();
        meta.0.insert(META_KEY.to_owned(), self.details());
        result.meta = Some(meta);
        result
    }

    /// The refusal as a JSON-RPC error with code [`GOVERNANCE_ERROR_CODE`].
    pub fn to_error_data(&self) -> ErrorData {
        ErrorData::new(
            ErrorCode(GOVERNANCE_ERROR_CODE),
            self.message(),
            Some(self.details()),
        )
    }

    /// The response in the given style.
    pub fn into_response(self, style: DenialStyle) -> Result<CallToolResponse, ErrorData> {
        match style {
            DenialStyle::ToolError => Ok(self.to_tool_result().into()),
            DenialStyle::ProtocolError => Err(self.to_error_data()),
        }
    }
}

impl fmt::Display for ToolRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ToolRefusal {}
