//! # ascend-rig
//!
//! Governance for the tools of [rig] agents. Wrap a tool in [`Governed`] (or call
//! [`GovernExt::governed`] on it) and register the wrapper with the agent instead: every call
//! the model makes is sent to governance with the tool's arguments (secret-looking names
//! redacted) before the tool runs. A refusal never runs the tool; it reaches the model as a
//! tool error it can read — `denied by Block Bulk Deletions: bulk deletion (100 or more records)
//! is not allowed for agents` — so the agent can explain or choose another way.
//!
//! ```no_run
//! use ascend_rig::GovernExt;
//! # use rig_core::tool::{Tool, ToolContext};
//! # #[derive(Debug, thiserror::Error)] #[error("db")] struct DbError;
//! # struct DeleteRecords;
//! # impl Tool for DeleteRecords {
//! #     const NAME: &'static str = "delete_records";
//! #     type Args = serde_json::Value; type Output = String; type Error = DbError;
//! #     fn description(&self) -> String { String::new() }
//! #     fn parameters(&self) -> serde_json::Value { serde_json::json!({}) }
//! #     async fn call(&self, _: &mut ToolContext, _: Self::Args) -> Result<String, DbError> { Ok(String::new()) }
//! # }
//!
//! # fn run(client: ascend_runtime::AscendClient) {
//! let tool = DeleteRecords.governed(client, "database.delete", "customer_records");
//! // rig_agent::AgentBuilder::new(model).tool(tool).build()
//! # let _ = tool;
//! # }
//! ```
//!
//! Pinned to rig 0.44 (`rig-core`'s [`Tool`] trait; agents from `rig-agent`): rig's tool trait
//! changes between minor versions.
//!
//! | governance says | the tool | the model reads |
//! |---|---|---|
//! | allowed | runs; its outcome is reported | the tool's output |
//! | denied | does not run | `denied by <rule>: <reason>` |
//! | pending, not decided in the wait | does not run | `not approved in time: …` / `waiting for human approval: …` |
//! | kill switch, unreachable (fail closed), other | does not run | `blocked by the kill switch: …`, `governance unavailable: …` |
//!
//! [rig]: https://docs.rs/rig-core

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::{Duration, Instant};

use ascend_runtime::redact::{REDACTED, redact_value, should_redact};
use ascend_runtime::{AgentAction, AscendClient, EvaluateOptions, Outcome};
use rig_core::tool::{Tool, ToolContext, ToolExecutionError};
use serde_json::{Map, Value};

/// A rig tool whose every call is governed first. Same name, description and parameters as
/// the tool it wraps.
#[derive(Clone, Debug)]
pub struct Governed<T> {
    tool: T,
    client: AscendClient,
    action_type: String,
    resource: String,
    resource_id_arg: Option<String>,
    risk_indicators: Map<String, Value>,
    wait: EvaluateOptions,
}

impl<T: Tool> Governed<T> {
    /// Govern `tool` as the action `action_type` on `resource`, asking `client`.
    pub fn new(
        tool: T,
        client: AscendClient,
        action_type: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Governed {
            tool,
            client,
            action_type: action_type.into(),
            resource: resource.into(),
            resource_id_arg: None,
            risk_indicators: Map::new(),
            wait: EvaluateOptions::default(),
        }
    }

    /// The argument whose value (a string or number) is the action's `resource_id`.
    pub fn resource_id_arg(mut self, name: impl Into<String>) -> Self {
        self.resource_id_arg = Some(name.into());
        self
    }

    /// A risk indicator sent with every call (`pii_involved`, `data_classification`, …).
    pub fn risk_indicator(mut self, key: impl Into<String>, value: Value) -> Self {
        self.risk_indicators.insert(key.into(), value);
        self
    }

    /// Wait up to `timeout` for a human when the decision is pending (default 60 s).
    pub fn wait_for(mut self, timeout: Duration) -> Self {
        self.wait = EvaluateOptions::wait(timeout);
        self
    }

    /// Do not wait for a human: a pending decision is a tool error with the approval id.
    pub fn no_wait(mut self) -> Self {
        self.wait = EvaluateOptions::no_wait();
        self
    }

    /// The wrapped tool.
    pub fn inner(&self) -> &T {
        &self.tool
    }

    fn action(&self, args: &Value) -> AgentAction {
        let mut action =
            AgentAction::new(&self.action_type, &self.resource).with_tool_name(T::NAME);
        action.risk_indicators = self.risk_indicators.clone();
        if let Some(fields) = args.as_object() {
            for (name, value) in fields {
                let mut value = value.clone();
                if should_redact(name, &value) {
                    value = Value::String(REDACTED.to_owned());
                } else {
                    redact_value(&mut value);
                }
                action.action_details.insert(name.clone(), value);
            }
        }
        if let Some(name) = &self.resource_id_arg {
            action.resource_id = match args.get(name) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
        }
        action
    }
}

/// `tool.governed(client, action_type, resource)` for every rig [`Tool`].
pub trait GovernExt: Tool {
    /// Wrap this tool in [`Governed`].
    fn governed(
        self,
        client: AscendClient,
        action_type: impl Into<String>,
        resource: impl Into<String>,
    ) -> Governed<Self> {
        Governed::new(self, client, action_type, resource)
    }
}

impl<T: Tool> GovernExt for T {}

/// Why a governed tool call failed: governance refused it, its arguments did not fit the
/// tool, or the tool itself failed.
#[derive(Debug)]
pub enum GovernedError<E> {
    /// Governance did not allow the call; the tool did not run.
    Refused(ascend_runtime::Error),
    /// The arguments do not decode as the tool's `Args`; nothing was asked or run.
    InvalidArgs(serde_json::Error),
    /// The tool ran and failed.
    Tool(E),
}

impl<E: std::fmt::Display> std::fmt::Display for GovernedError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GovernedError::Refused(e) => f.write_str(&refusal_message(e)),
            GovernedError::InvalidArgs(e) => write!(f, "invalid arguments: {e}"),
            GovernedError::Tool(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for GovernedError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GovernedError::Refused(e) => Some(e),
            GovernedError::InvalidArgs(e) => Some(e),
            GovernedError::Tool(e) => Some(e),
        }
    }
}

/// What the model reads for a refusal: short, with the rule and the reason.
pub fn refusal_message(error: &ascend_runtime::Error) -> String {
    use ascend_runtime::Error;
    match error {
        Error::Denied(d) => format!(
            "denied by {}: {}",
            d.rule_name.as_deref().unwrap_or("policy"),
            d.reason.as_deref().unwrap_or("no reason given")
        ),
        Error::PendingApproval { action_id, .. } => {
            format!("waiting for human approval: action {action_id} was not run")
        }
        Error::ApprovalTimeout { action_id, .. } => {
            format!("not approved in time: action {action_id} was not run")
        }
        Error::KillSwitch { reason } => format!("blocked by the kill switch: {reason}"),
        e if e.is_unavailable() => format!("governance unavailable, the call was not run: {e}"),
        e => format!("governance error, the call was not run: {e}"),
    }
}

impl<T> Tool for Governed<T>
where
    T: Tool + 'static,
{
    const NAME: &'static str = T::NAME;
    type Args = Value;
    type Output = T::Output;
    type Error = GovernedError<T::Error>;

    fn description(&self) -> String {
        self.tool.description()
    }

    fn parameters(&self) -> Value {
        self.tool.parameters()
    }

    fn map_error(&self, error: Self::Error) -> ToolExecutionError {
        match error {
            GovernedError::Refused(e) => {
                let message = refusal_message(&e);
                ToolExecutionError::refused(message)
                    .with_code(e.code())
                    .with_source(e)
            }
            GovernedError::InvalidArgs(e) => ToolExecutionError::invalid_args(format!(
                "the arguments do not match the tool's parameters: {e}"
            )),
            GovernedError::Tool(e) => self.tool.map_error(e),
        }
    }

    async fn call(
        &self,
        context: &mut ToolContext,
        args: Value,
    ) -> Result<T::Output, GovernedError<T::Error>> {
        let typed: T::Args =
            serde_json::from_value(args.clone()).map_err(GovernedError::InvalidArgs)?;
        let decision = self
            .client
            .authorize(self.action(&args), self.wait.clone())
            .await
            .map_err(|e| {
                tracing::info!(
                    tool = T::NAME,
                    refusal = e.refusal_kind().as_str(),
                    error = %e,
                    "rig tool call refused by governance"
                );
                GovernedError::Refused(e)
            })?;
        let started = Instant::now();
        let result = self.tool.call(context, typed).await;
        let duration = started.elapsed();
        let outcome = match &result {
            Ok(_) => Outcome::Completed { duration },
            Err(e) => Outcome::Failed {
                error: e.to_string(),
                duration,
            },
        };
        self.client.report_outcome(&decision.action_id, outcome);
        result.map_err(GovernedError::Tool)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ascend_runtime::{AuthorizationDecision, Decision, Error};

    #[test]
    fn the_model_reads_the_rule_and_the_reason() {
        let mut d = AuthorizationDecision::new("7", Decision::Denied);
        d.rule_name = Some("Block Bulk Deletions".into());
        d.reason = Some("too many".into());
        assert_eq!(
            refusal_message(&Error::Denied(Box::new(d))),
            "denied by Block Bulk Deletions: too many"
        );
        let pending = Error::PendingApproval {
            action_id: "9".into(),
            approval_request_id: None,
        };
        assert_eq!(
            refusal_message(&pending),
            "waiting for human approval: action 9 was not run"
        );
        let down = Error::Connection {
            message: "refused".into(),
        };
        assert!(refusal_message(&down).starts_with("governance unavailable"));
    }
}
