//! [`McpGovernor`]: the server-wide guard of an rmcp server.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, JsonObject, ProgressNotificationParam, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Value, json};

use crate::redact::truncate;
use crate::{AgentAction, AscendClient, AuthorizationDecision, Decision, Error, EvaluateOptions};

use super::config::DecisionCallback;
use super::{McpGovernanceConfig, RefusalKind, ToolPermit, ToolRefusal, sanitize_arguments};

/// The server-wide guard: governs every tool call of an rmcp server before it reaches the
/// `ToolRouter`. Cheap to clone.
///
/// See the [module docs](crate::mcp) for a complete server. The steps of [`McpGovernor::call_tool`]:
/// kill switch (local check, no network) → build the [`AgentAction`] → submit → when pending,
/// `on_approval_required` and wait (progress notifications keep the client's request alive;
/// a cancelled request stops the wait) → refuse per [`DenialStyle`](super::DenialStyle) or run the tool → report
/// the outcome in the background. The fail mode is the client's: a fail-open client lets the call
/// run when the service cannot be reached; a pending approval is never turned into "allowed".
#[derive(Clone)]
pub struct McpGovernor {
    inner: Arc<Inner>,
}

struct Inner {
    client: AscendClient,
    config: McpGovernanceConfig,
}

impl fmt::Debug for McpGovernor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpGovernor")
            .field("agent_id", &self.inner.client.agent_id())
            .field("config", &self.inner.config)
            .finish()
    }
}

impl McpGovernor {
    /// A guard asking `client`, configured by `config`.
    ///
    /// ```no_run
    /// use ascend_runtime::{AscendClient, mcp::{McpGovernanceConfig, McpGovernor}};
    /// # fn main() -> Result<(), ascend_runtime::Error> {
    /// let governor = McpGovernor::new(AscendClient::from_env()?, McpGovernanceConfig::new("filesystem"));
    /// assert_eq!(governor.config().server_name(), "filesystem");
    /// # Ok(()) }
    /// ```
    pub fn new(client: AscendClient, config: McpGovernanceConfig) -> Self {
        Self {
            inner: Arc::new(Inner { client, config }),
        }
    }

    /// A guard asking the global client ([`crate::global()`]).
    pub fn from_global(config: McpGovernanceConfig) -> crate::Result<Self> {
        Ok(Self::new(crate::global()?, config))
    }

    /// The client asked.
    pub fn client(&self) -> &AscendClient {
        &self.inner.client
    }

    /// The configuration.
    pub fn config(&self) -> &McpGovernanceConfig {
        &self.inner.config
    }

    /// The action sent for a call of `tool_name` (described by `tool`, when known) with
    /// `arguments`.
    ///
    /// ```no_run
    /// use ascend_runtime::{AscendClient, mcp::{McpGovernanceConfig, McpGovernor}};
    /// use serde_json::json;
    /// # fn main() -> Result<(), ascend_runtime::Error> {
    /// let governor = McpGovernor::new(AscendClient::from_env()?, McpGovernanceConfig::new("fs"));
    /// let args = json!({"path": "/etc/passwd", "token": "abc"});
    /// let action = governor.build_action("read_file", None, args.as_object());
    /// assert_eq!(action.action_type, "mcp.read_file");
    /// assert_eq!(action.resource, "/etc/passwd");
    /// assert_eq!(action.action_details["token"], "[REDACTED]");
    /// assert_eq!(action.mcp_server_name.as_deref(), Some("fs"));
    /// # Ok(()) }
    /// ```
    pub fn build_action(
        &self,
        tool_name: &str,
        tool: Option<&Tool>,
        arguments: Option<&JsonObject>,
    ) -> AgentAction {
        let cfg = &self.inner.config;
        let resource = arguments
            .and_then(|args| {
                cfg.resource_arguments
                    .iter()
                    .find_map(|name| args.get(name).and_then(Value::as_str))
                    .filter(|s| !s.is_empty())
            })
            .map(|s| truncate(s, 1024))
            .unwrap_or_else(|| cfg.server_name.clone());

        let mut action = AgentAction::new(cfg.action_type_for(tool_name), resource)
            .with_mcp_server(&cfg.server_name);
        if cfg.include_arguments
            && let Some(args) = arguments
        {
            action.action_details = sanitize_arguments(args, cfg.max_string_chars);
        }
        action = action
            .with_tool_name(tool_name)
            .with_description(format!(
                "MCP tool `{tool_name}` on server `{}`",
                cfg.server_name
            ))
            .with_context("source", json!("mcp_server"))
            .with_context("mcp_server", json!(cfg.server_name))
            .with_context("mcp_tool", json!(tool_name))
            .with_context("governance_version", json!(env!("CARGO_PKG_VERSION")))
            .with_risk_indicator("mcp_server", json!(cfg.server_name))
            .with_risk_indicator("mcp_tool", json!(tool_name));
        if let Some(tool) = tool {
            if let Some(title) = tool
                .title
                .as_ref()
                .or(tool.annotations.as_ref().and_then(|a| a.title.as_ref()))
            {
                action = action.with_context("mcp_tool_title", json!(truncate(title, 200)));
            }
            if let Some(a) = &tool.annotations {
                let hints = [
                    ("read_only_hint", a.read_only_hint),
                    ("destructive_hint", a.destructive_hint),
                    ("idempotent_hint", a.idempotent_hint),
                    ("open_world_hint", a.open_world_hint),
                ];
                for (name, hint) in hints {
                    if let Some(b) = hint {
                        action = action
                            .with_risk_indicator(name, json!(b))
                            .with_context(name, json!(b));
                    }
                }
            }
        }
        action
    }

    /// Govern one call without running it: `Ok(permit)` when it may run (report with
    /// [`ToolPermit::finish`]), `Err(refusal)` otherwise. Callbacks fire here.
    pub async fn authorize_tool(
        &self,
        tool_name: &str,
        tool: Option<&Tool>,
        arguments: Option<&JsonObject>,
    ) -> Result<ToolPermit, ToolRefusal> {
        self.authorize_inner(tool_name, tool, arguments, None).await
    }

    async fn authorize_inner(
        &self,
        tool_name: &str,
        tool: Option<&Tool>,
        arguments: Option<&JsonObject>,
        context: Option<&RequestContext<RoleServer>>,
    ) -> Result<ToolPermit, ToolRefusal> {
        let cfg = &self.inner.config;
        let client = &self.inner.client;
        if !cfg.is_governed(tool_name) {
            return Ok(ToolPermit::ungoverned());
        }
        if let Err(e) = client.check_kill_switch() {
            return Err(self.refuse(tool_name, e));
        }
        let action = self.build_action(tool_name, tool, arguments);
        let opts = EvaluateOptions {
            wait_for_approval: false,
            approval_timeout: cfg.approval_timeout,
        };
        let decision = match client.evaluate_action(action, opts).await {
            Ok(d) => d,
            Err(e) => return Err(self.refuse(tool_name, e)),
        };
        let decision = match decision.decision {
            Decision::Allowed => decision,
            Decision::Denied => {
                return Err(self.refuse(tool_name, Error::Denied(Box::new(decision))));
            }
            Decision::Pending => {
                notify(&cfg.on_approval_required, tool_name, &decision);
                if !cfg.wait_for_approval {
                    return Err(self.refuse(
                        tool_name,
                        Error::PendingApproval {
                            action_id: decision.action_id,
                            approval_request_id: decision.approval_request_id,
                        },
                    ));
                }
                self.wait(tool_name, decision, context).await?
            }
        };
        notify(&cfg.on_allowed, tool_name, &decision);
        Ok(ToolPermit::governed(client.clone(), decision))
    }

    async fn wait(
        &self,
        tool_name: &str,
        pending: AuthorizationDecision,
        context: Option<&RequestContext<RoleServer>>,
    ) -> Result<AuthorizationDecision, ToolRefusal> {
        let cfg = &self.inner.config;
        let timeout = cfg.approval_timeout;
        let action_id = pending.action_id.clone();
        let timed_out = || Error::ApprovalTimeout {
            action_id: action_id.clone(),
            waited: timeout,
        };
        let wait = self.inner.client.wait_for_decision(&action_id, timeout);
        let progress = keep_alive(context, cfg.progress_interval, &action_id);
        let cancelled = async {
            match context {
                Some(ctx) => ctx.ct.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            r = wait => r,
            () = progress => Err(timed_out()),
            () = cancelled => {
                // The client gave up on the request: nobody reads the answer; the action stays
                // pending on the server.
                return Err(self.log_refusal(ToolRefusal::approval_pending(tool_name, &action_id)));
            }
        };
        match outcome {
            Ok(d) if d.decision == Decision::Allowed => Ok(d),
            Ok(d) if d.decision == Decision::Denied => {
                Err(self.refuse(tool_name, Error::Denied(Box::new(d))))
            }
            Ok(_) => Err(self.refuse(tool_name, timed_out())),
            // A failure while waiting never becomes "allowed", even for a fail-open client:
            // the action is pending a human.
            Err(e) => Err(self.refuse(tool_name, e)),
        }
    }

    fn refuse(&self, tool_name: &str, error: Error) -> ToolRefusal {
        self.log_refusal(ToolRefusal::new(tool_name, error))
    }

    fn log_refusal(&self, refusal: ToolRefusal) -> ToolRefusal {
        let tool_name = refusal.tool();
        let cfg = &self.inner.config;
        let callback = match refusal.kind() {
            RefusalKind::ApprovalTimeout => &cfg.on_timeout,
            RefusalKind::ApprovalPending => &None,
            _ => &cfg.on_denied,
        };
        if let Some(cb) = callback
            && catch_unwind(AssertUnwindSafe(|| cb(tool_name, refusal.error()))).is_err()
        {
            tracing::warn!(
                tool = tool_name,
                "MCP governance callback panicked; ignored"
            );
        }
        tracing::info!(
            tool = tool_name,
            outcome = refusal.kind().as_str(),
            action_id = refusal.action_id().unwrap_or(""),
            "MCP tool call refused by governance"
        );
        refusal
    }

    /// Govern `request`, then dispatch it to `router` — what a hand-written
    /// `ServerHandler::call_tool` delegates to (see the [module docs](crate::mcp)).
    ///
    /// The tool's definition (annotations) is looked up on the router; an unknown tool is passed
    /// straight to the router, which answers "tool not found". Refusals follow the configured
    /// [`DenialStyle`](super::DenialStyle); the outcome of an allowed call is reported in the background.
    pub async fn call_tool<S>(
        &self,
        router: &ToolRouter<S>,
        service: &S,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData>
    where
        S: Send + Sync + 'static,
    {
        let Some(tool) = router.get(&request.name) else {
            return router
                .call(ToolCallContext::new(service, request, context))
                .await;
        };
        match self
            .authorize_inner(
                &request.name,
                Some(tool),
                request.arguments.as_ref(),
                Some(&context),
            )
            .await
        {
            Ok(permit) => {
                let result = router
                    .call(ToolCallContext::new(service, request, context))
                    .await;
                permit.finish(&result);
                result
            }
            Err(refusal) => refusal.into_response(self.inner.config.denial_style),
        }
    }
}

fn notify(cb: &Option<DecisionCallback>, tool: &str, decision: &AuthorizationDecision) {
    if let Some(cb) = cb
        && catch_unwind(AssertUnwindSafe(|| cb(tool, decision))).is_err()
    {
        tracing::warn!(tool, "MCP governance callback panicked; ignored");
    }
}

/// Sends `notifications/progress` every `every` while an approval is awaited, when the client
/// asked for progress; never completes.
async fn keep_alive(
    context: Option<&RequestContext<RoleServer>>,
    every: Duration,
    action_id: &str,
) {
    let Some((ctx, token)) = context.and_then(|c| c.meta.get_progress_token().map(|t| (c, t)))
    else {
        return std::future::pending().await;
    };
    let mut tick = 0u32;
    loop {
        tokio::time::sleep(every).await;
        tick = tick.saturating_add(1);
        let param = ProgressNotificationParam::new(token.clone(), f64::from(tick))
            .with_message(format!("waiting for human approval of action {action_id}"));
        if ctx.peer.notify_progress(param).await.is_err() {
            return std::future::pending().await;
        }
    }
}
