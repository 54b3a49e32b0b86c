//! Governance for MCP servers written with [rmcp](https://docs.rs/rmcp) (feature `mcp`).
//!
//! Two ways to govern the tools of an rmcp server:
//!
//! 1. **Per tool** — put `#[governed(...)]` **above** rmcp's `#[tool(...)]` on a tool method.
//!    The tool stays discoverable by `#[tool_router]` and governance runs before the body.
//!    [`ToolError`] is a ready-made error type for such tools: a governance refusal becomes a
//!    tool result with `isError: true` and a readable reason.
//! 2. **Server-wide** — write `ServerHandler::call_tool` by hand (rmcp's `#[tool_handler]` only
//!    generates one when it is absent) and delegate to [`McpGovernor::call_tool`]. Every tool call
//!    is then governed before it reaches the `ToolRouter`: the tool name becomes the action type
//!    (`mcp.<tool>` unless mapped), the arguments become parameters (secret-looking names
//!    redacted, long strings truncated), a path-like argument becomes the resource, and the
//!    tool's annotations (`readOnlyHint`, `destructiveHint`, `idempotentHint`, `openWorldHint`)
//!    are sent as risk indicators so the server's risk engine can use them.
//!
//! A complete server with both styles, compiled and tested, is `src/mcp_fs.rs` of the workspace's
//! examples package (`examples/mcp_filesystem.rs`). The guard in short (needs rmcp's `macros`
//! feature and `schemars`):
//!
//! ```no_run
//! use ascend_runtime::{AscendClient, mcp::{McpGovernanceConfig, McpGovernor}};
//! use rmcp::{
//!     ErrorData, ServerHandler, tool, tool_handler, tool_router,
//!     handler::server::{router::tool::ToolRouter, wrapper::Parameters},
//!     model::{CallToolRequestParams, CallToolResponse},
//!     schemars::JsonSchema,
//!     service::RequestContext,
//!     RoleServer,
//! };
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct DeleteRequest { path: String }
//!
//! #[derive(Clone)]
//! struct Files { tool_router: ToolRouter<Self>, governor: McpGovernor }
//!
//! #[tool_router]
//! impl Files {
//!     /// Delete a file.
//!     #[tool(annotations(destructive_hint = true))]
//!     async fn delete_file(&self, Parameters(req): Parameters<DeleteRequest>) -> String {
//!         format!("deleted {}", req.path)
//!     }
//! }
//!
//! #[tool_handler(router = self.tool_router)]
//! impl ServerHandler for Files {
//!     // Hand-written: rmcp's macro then leaves call_tool alone.
//!     async fn call_tool(
//!         &self,
//!         request: CallToolRequestParams,
//!         context: RequestContext<RoleServer>,
//!     ) -> Result<CallToolResponse, ErrorData> {
//!         self.governor.call_tool(&self.tool_router, self, request, context).await
//!     }
//! }
//!
//! # fn main() -> Result<(), ascend_runtime::Error> {
//! let client = AscendClient::from_env()?;
//! let files = Files {
//!     tool_router: Files::tool_router(),
//!     governor: McpGovernor::new(client, McpGovernanceConfig::new("filesystem")),
//! };
//! # let _ = files; Ok(()) }
//! ```
//!
//! The per-tool style: `#[governed]` **above** `#[tool]` (the other order hides nothing from the
//! router but makes `#[governed]` see the already-rewritten, non-async function), with
//! [`ToolError`] as the error type so a refusal reaches the model as an `isError` result:
//!
//! ```no_run
//! use ascend_runtime::{AscendClient, governed, mcp::ToolError};
//! use rmcp::{handler::server::{router::tool::ToolRouter, wrapper::Parameters}, schemars::JsonSchema};
//! use rmcp::{tool, tool_router};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct DeleteRequest { path: String }
//!
//! struct Files { client: AscendClient, tool_router: ToolRouter<Self> }
//!
//! #[tool_router]
//! impl Files {
//!     /// Delete a file.
//!     #[governed(action_type = "mcp.delete_file", resource = req.path, client = &self.client,
//!                risk_indicators(destructive_hint = true), context(mcp_server = "filesystem"))]
//!     #[tool(annotations(destructive_hint = true))]
//!     async fn delete_file(&self, Parameters(req): Parameters<DeleteRequest>) -> Result<String, ToolError> {
//!         std::fs::remove_file(&req.path)?;
//!         Ok(format!("deleted {}", req.path))
//!     }
//! }
//! # fn main() -> Result<(), ascend_runtime::Error> {
//! # let files = Files { client: AscendClient::from_env()?, tool_router: Files::tool_router() };
//! # let _ = (files.client, files.tool_router); Ok(()) }
//! ```
//!
//! What a refused call looks like to the model is configurable ([`DenialStyle`]): by default a
//! tool result with `isError: true` whose text says why (rmcp's guidance, so the model can adapt),
//! with the details under `_meta["ascend/governance"]`; optionally a JSON-RPC error with code
//! [`GOVERNANCE_ERROR_CODE`]. An approval that nobody decides in time is reported as a
//! timeout — never as "governance unavailable".

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{IntoCallToolResult, ToolCallContext};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorCode, JsonObject,
    MetaObject, ProgressNotificationParam, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer};
use serde_json::{Map, Value, json};

use crate::redact::{REDACTED, should_redact, truncate};

use crate::{
    AgentAction, AscendClient, AuthorizationDecision, Decision, Error, EvaluateOptions, Outcome,
};

/// JSON-RPC error code used when [`DenialStyle::ProtocolError`] is selected
/// (in the implementation-defined server-error range).
pub const GOVERNANCE_ERROR_CODE: i32 = -32050;

/// Key under which refusal details are placed in a tool result's `_meta`.
pub const META_KEY: &str = "ascend/governance";

/// Default argument names taken as the action's resource, in order of preference.
pub const DEFAULT_RESOURCE_ARGUMENTS: &[&str] = &[
    "path",
    "file_path",
    "filepath",
    "file",
    "directory",
    "dir",
    "source",
    "destination",
    "uri",
    "url",
    "resource",
    "table",
];

const MAX_DEPTH: usize = 8;
const MAX_ITEMS: usize = 50;

/// How a refused tool call is presented to the MCP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DenialStyle {
    /// A normal tool result with `isError: true` and a readable reason (the default): the model
    /// sees why and can adapt, as rmcp's `CallToolResult::error` documentation recommends.
    #[default]
    ToolError,
    /// A JSON-RPC error with code [`GOVERNANCE_ERROR_CODE`]; many clients show it opaquely.
    ProtocolError,
}

type DecisionCallback = Arc<dyn Fn(&str, &AuthorizationDecision) + Send + Sync>;
type ErrorCallback = Arc<dyn Fn(&str, &Error) + Send + Sync>;

/// Configuration of an [`McpGovernor`], the Rust counterpart of the Python SDK's
/// `MCPGovernanceConfig`.
///
/// ```
/// use std::time::Duration;
/// use ascend_runtime::mcp::{DenialStyle, McpGovernanceConfig};
///
/// let config = McpGovernanceConfig::new("filesystem")
///     .action_type("delete_file", "file.delete")
///     .approval_timeout(Duration::from_secs(120))
///     .denial_style(DenialStyle::ToolError)
///     .on_denied(|tool, err| eprintln!("{tool} refused: {err}"));
/// assert_eq!(config.action_type_for("delete_file"), "file.delete");
/// assert_eq!(config.action_type_for("read_file"), "mcp.read_file");
/// assert!(config.waits_for_approval());
/// ```
#[derive(Clone)]
pub struct McpGovernanceConfig {
    server_name: String,
    action_types: HashMap<String, String>,
    action_type_prefix: String,
    resource_arguments: Vec<String>,
    ungoverned_tools: HashSet<String>,
    wait_for_approval: bool,
    approval_timeout: Duration,
    denial_style: DenialStyle,
    include_arguments: bool,
    max_string_chars: usize,
    progress_interval: Duration,
    on_allowed: Option<DecisionCallback>,
    on_approval_required: Option<DecisionCallback>,
    on_denied: Option<ErrorCallback>,
    on_timeout: Option<ErrorCallback>,
}

impl fmt::Debug for McpGovernanceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpGovernanceConfig")
            .field("server_name", &self.server_name)
            .field("action_types", &self.action_types)
            .field("action_type_prefix", &self.action_type_prefix)
            .field("resource_arguments", &self.resource_arguments)
            .field("ungoverned_tools", &self.ungoverned_tools)
            .field("wait_for_approval", &self.wait_for_approval)
            .field("approval_timeout", &self.approval_timeout)
            .field("denial_style", &self.denial_style)
            .field("include_arguments", &self.include_arguments)
            .field("max_string_chars", &self.max_string_chars)
            .finish_non_exhaustive()
    }
}

impl McpGovernanceConfig {
    /// Defaults for the MCP server called `server_name` (sent as `mcp_server_name`, so the
    /// control plane applies its MCP registry and server-level blocks): action type
    /// `mcp.<tool>`, wait for approval up to 300 s, refusals as `isError` tool results,
    /// arguments included with strings cut at 256 characters.
    pub fn new(server_name: impl Into<String>) -> Self {
        Self {
            server_name: server_name.into(),
            action_types: HashMap::new(),
            action_type_prefix: "mcp.".to_owned(),
            resource_arguments: DEFAULT_RESOURCE_ARGUMENTS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            ungoverned_tools: HashSet::new(),
            wait_for_approval: true,
            approval_timeout: Duration::from_secs(300),
            denial_style: DenialStyle::ToolError,
            include_arguments: true,
            max_string_chars: 256,
            progress_interval: Duration::from_secs(10),
            on_allowed: None,
            on_approval_required: None,
            on_denied: None,
            on_timeout: None,
        }
    }

    /// Map one tool to an explicit action type (default: `<prefix><tool>`, prefix `mcp.`).
    pub fn action_type(mut self, tool: impl Into<String>, action_type: impl Into<String>) -> Self {
        self.action_types.insert(tool.into(), action_type.into());
        self
    }

    /// Change the prefix of default action types (`"mcp."` by default; `""` sends bare tool names).
    pub fn action_type_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.action_type_prefix = prefix.into();
        self
    }

    /// Argument names whose string value becomes the action's resource, in order of preference
    /// (default [`DEFAULT_RESOURCE_ARGUMENTS`]). Without one, the resource is the server name.
    pub fn resource_arguments<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.resource_arguments = names.into_iter().map(Into::into).collect();
        self
    }

    /// Let this tool run without asking governance (e.g. a health probe).
    pub fn ungoverned(mut self, tool: impl Into<String>) -> Self {
        self.ungoverned_tools.insert(tool.into());
        self
    }

    /// Whether a pending decision is waited for (default true). When false, a pending call is
    /// refused at once with a "requires approval" result (never reported as a timeout).
    pub fn wait_for_approval(mut self, wait: bool) -> Self {
        self.wait_for_approval = wait;
        self
    }

    /// How long to wait for a human decision (default 300 s).
    pub fn approval_timeout(mut self, timeout: Duration) -> Self {
        self.approval_timeout = timeout;
        self
    }

    /// How refusals look to the client (default [`DenialStyle::ToolError`]).
    pub fn denial_style(mut self, style: DenialStyle) -> Self {
        self.denial_style = style;
        self
    }

    /// Whether the (sanitised) arguments are sent as parameters (default true).
    pub fn include_arguments(mut self, include: bool) -> Self {
        self.include_arguments = include;
        self
    }

    /// Strings longer than this many characters are truncated before they are sent (default 256).
    pub fn max_string_chars(mut self, max: usize) -> Self {
        self.max_string_chars = max;
        self
    }

    /// While waiting for approval, how often a progress notification is sent to clients that
    /// asked for progress (so their request timeout can be reset). Default 10 s.
    pub fn progress_interval(mut self, every: Duration) -> Self {
        self.progress_interval = every.max(Duration::from_millis(10));
        self
    }

    /// Called with the tool name and the decision when a call is allowed to run.
    pub fn on_allowed(
        mut self,
        f: impl Fn(&str, &AuthorizationDecision) + Send + Sync + 'static,
    ) -> Self {
        self.on_allowed = Some(Arc::new(f));
        self
    }

    /// Called with the tool name and the pending decision when a human must approve.
    pub fn on_approval_required(
        mut self,
        f: impl Fn(&str, &AuthorizationDecision) + Send + Sync + 'static,
    ) -> Self {
        self.on_approval_required = Some(Arc::new(f));
        self
    }

    /// Called with the tool name and the reason when a call is refused: [`Error::Denied`],
    /// [`Error::KillSwitch`], or the unavailability error in fail-closed mode. Timeouts go to
    /// [`on_timeout`](Self::on_timeout) instead.
    pub fn on_denied(mut self, f: impl Fn(&str, &Error) + Send + Sync + 'static) -> Self {
        self.on_denied = Some(Arc::new(f));
        self
    }

    /// Called with the tool name and an [`Error::ApprovalTimeout`] when nobody decided in time.
    pub fn on_timeout(mut self, f: impl Fn(&str, &Error) + Send + Sync + 'static) -> Self {
        self.on_timeout = Some(Arc::new(f));
        self
    }

    /// The MCP server name.
    pub fn server_name(&self) -> &str {
        &self.server_name
    }

    /// The action type sent for `tool`.
    pub fn action_type_for(&self, tool: &str) -> String {
        match self.action_types.get(tool) {
            Some(t) => t.clone(),
            None => format!("{}{tool}", self.action_type_prefix),
        }
    }

    /// Whether pending decisions are waited for.
    pub fn waits_for_approval(&self) -> bool {
        self.wait_for_approval
    }

    /// The approval wait.
    pub fn approval_wait(&self) -> Duration {
        self.approval_timeout
    }

    /// The refusal style.
    pub fn style(&self) -> DenialStyle {
        self.denial_style
    }

    /// Whether `tool` is governed.
    pub fn is_governed(&self, tool: &str) -> bool {
        !self.ungoverned_tools.contains(tool)
    }
}

/// Whether an argument name looks like it holds a secret: the one rule of
/// [`crate::redact::is_secret_name`], re-exported here.
///
/// ```
/// use ascend_runtime::mcp::is_secret_name;
/// assert!(is_secret_name("api_key"));
/// assert!(is_secret_name("GitHubToken"));
/// assert!(is_secret_name("ssh-key"));
/// assert!(!is_secret_name("path"));
/// ```
pub use crate::redact::is_secret_name;

/// Sanitise tool arguments before they leave the process: values under secret-looking names
/// become `"[REDACTED]"` (recursively; the rule of [`crate::redact`], which keeps `true`,
/// `false` and `null`), strings over `max_chars` characters are cut, arrays keep
/// their first 50 items and nesting stops at depth 8.
///
/// ```
/// use ascend_runtime::mcp::sanitize_arguments;
/// use serde_json::json;
///
/// let args = json!({"path": "/tmp/a", "auth": {"password": "hunter2"}, "content": "x".repeat(300)});
/// let clean = sanitize_arguments(args.as_object().unwrap(), 100);
/// assert_eq!(clean["path"], "/tmp/a");
/// assert_eq!(clean["auth"], "[REDACTED]");
/// assert!(clean["content"].as_str().unwrap().starts_with(&"x".repeat(100)));
/// assert!(clean["content"].as_str().unwrap().ends_with("[truncated 200 chars]"));
/// ```
pub fn sanitize_arguments(arguments: &Map<String, Value>, max_chars: usize) -> Map<String, Value> {
    sanitize_map(arguments, max_chars, 0)
}

fn sanitize_map(map: &Map<String, Value>, max_chars: usize, depth: usize) -> Map<String, Value> {
    map.iter()
        .map(|(k, v)| {
            let value = if should_redact(k, v) {
                Value::String(REDACTED.to_owned())
            } else {
                sanitize_value(v, max_chars, depth + 1)
            };
            (k.clone(), value)
        })
        .collect()
}

fn sanitize_value(value: &Value, max_chars: usize, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::String("[depth limit]".to_owned());
    }
    match value {
        Value::String(s) => Value::String(truncate(s, max_chars)),
        Value::Object(m) => Value::Object(sanitize_map(m, max_chars, depth)),
        Value::Array(items) => {
            let mut out: Vec<Value> = items
                .iter()
                .take(MAX_ITEMS)
                .map(|v| sanitize_value(v, max_chars, depth + 1))
                .collect();
            if items.len() > MAX_ITEMS {
                out.push(Value::String(format!(
                    "[{} more items]",
                    items.len() - MAX_ITEMS
                )));
            }
            Value::Array(out)
        }
        other => other.clone(),
    }
}

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

/// Permission to run one governed tool call; report how it went with [`ToolPermit::finish`].
#[derive(Debug)]
#[must_use = "report the outcome with finish()"]
pub struct ToolPermit {
    client: Option<AscendClient>,
    decision: Option<AuthorizationDecision>,
    started: Instant,
}

impl ToolPermit {
    fn governed(client: AscendClient, decision: AuthorizationDecision) -> Self {
        Self {
            client: Some(client),
            decision: Some(decision),
            started: Instant::now(),
        }
    }

    fn ungoverned() -> Self {
        Self {
            client: None,
            decision: None,
            started: Instant::now(),
        }
    }

    /// The decision that allowed the call (`None` for ungoverned tools).
    pub fn decision(&self) -> Option<&AuthorizationDecision> {
        self.decision.as_ref()
    }

    /// Report the outcome in the background: `Err(_)` and results with `isError: true` are
    /// failures (with the error text), anything else is a completion.
    pub fn finish(self, result: &Result<CallToolResponse, ErrorData>) {
        let (Some(client), Some(decision)) = (self.client, self.decision) else {
            return;
        };
        if decision.action_id.is_empty() {
            return;
        }
        let duration = self.started.elapsed();
        let outcome = match result {
            Err(e) => Outcome::Failed {
                error: truncate(&e.message, 500),
                duration,
            },
            Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => Outcome::Failed {
                error: truncate(
                    &first_text(r).unwrap_or_else(|| "tool returned an error".to_owned()),
                    500,
                ),
                duration,
            },
            Ok(_) => Outcome::Completed { duration },
        };
        client.report_outcome(&decision.action_id, outcome);
    }
}

fn first_text(result: &CallToolResult) -> Option<String> {
    result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
}

/// The server-wide guard: governs every tool call of an rmcp server before it reaches the
/// `ToolRouter`. Cheap to clone.
///
/// See the [module docs](self) for a complete server. The steps of [`McpGovernor::call_tool`]:
/// kill switch (local check, no network) → build the [`AgentAction`] → submit → when pending,
/// `on_approval_required` and wait (progress notifications keep the client's request alive;
/// a cancelled request stops the wait) → refuse per [`DenialStyle`] or run the tool → report
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
        if client.is_blocked() {
            return Err(self.refuse(
                tool_name,
                Error::KillSwitch {
                    reason: "the kill switch is active for this agent".to_owned(),
                },
            ));
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
    /// `ServerHandler::call_tool` delegates to (see the [module docs](self)).
    ///
    /// The tool's definition (annotations) is looked up on the router; an unknown tool is passed
    /// straight to the router, which answers "tool not found". Refusals follow the configured
    /// [`DenialStyle`]; the outcome of an allowed call is reported in the background.
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

/// An error type for tool methods governed with `#[governed]` placed above `#[tool]`:
/// governance refusals become tool results with `isError: true` (readable reason), protocol
/// errors stay protocol errors, and tool failures become `isError` results with their message.
///
/// ```
/// use ascend_runtime::{AuthorizationDecision, Decision, Error};
/// use ascend_runtime::mcp::ToolError;
/// use rmcp::handler::server::tool::IntoCallToolResult;
/// use rmcp::model::CallToolResponse;
///
/// let denied = Error::Denied(Box::new(AuthorizationDecision::new("7", Decision::Denied).with_reason("too risky")));
/// let result: Result<String, ToolError> = Err(denied.into());
/// let Ok(CallToolResponse::Complete(r)) = result.into_call_tool_result() else { panic!() };
/// assert_eq!(r.is_error, Some(true));
/// ```
#[derive(Debug, Clone)]
pub enum ToolError {
    /// Governance refused the call.
    Governance(Error),
    /// A JSON-RPC error (e.g. invalid parameters).
    Protocol(ErrorData),
    /// The tool ran and failed; the message is shown to the model.
    Failed(String),
}

impl ToolError {
    /// A tool failure with this message.
    pub fn failed(message: impl fmt::Display) -> Self {
        ToolError::Failed(message.to_string())
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::Governance(e) => write!(f, "{e}"),
            ToolError::Protocol(e) => write!(f, "{}", e.message),
            ToolError::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ToolError {}

impl From<Error> for ToolError {
    fn from(e: Error) -> Self {
        ToolError::Governance(e)
    }
}

impl From<ErrorData> for ToolError {
    fn from(e: ErrorData) -> Self {
        ToolError::Protocol(e)
    }
}

impl From<std::io::Error> for ToolError {
    fn from(e: std::io::Error) -> Self {
        ToolError::Failed(e.to_string())
    }
}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, ErrorData> {
        match self {
            ToolError::Governance(e) => Ok(ToolRefusal::new("", e).to_tool_result().into()),
            ToolError::Protocol(e) => Err(e),
            ToolError::Failed(m) => Ok(CallToolResult::error(vec![ContentBlock::text(m)]).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizing_recurses_and_bounds() {
        let big: Vec<Value> = (0..60).map(|i| json!(i)).collect();
        let args = json!({
            "nested": {"inner": {"client_secret": "x", "ok": "y"}},
            "list": big,
            "API_KEY": "k",
            "author": "someone",
            "requires_auth": true,
        });
        let clean = sanitize_arguments(args.as_object().unwrap_or(&Map::new()), 10);
        assert_eq!(clean["nested"]["inner"]["client_secret"], REDACTED);
        assert_eq!(clean["nested"]["inner"]["ok"], "y");
        assert_eq!(clean["API_KEY"], REDACTED);
        // "auth" is a marker: false positives are redacted on purpose (safe side).
        assert_eq!(clean["author"], REDACTED);
        // Flags carry no secret and are kept.
        assert_eq!(clean["requires_auth"], true);
        let list = clean["list"].as_array().map(Vec::len);
        assert_eq!(list, Some(MAX_ITEMS + 1));
    }

    #[test]
    fn refusal_kinds() {
        let t = ToolRefusal::new(
            "w",
            Error::ApprovalTimeout {
                action_id: "9".into(),
                waited: Duration::from_secs(300),
            },
        );
        assert_eq!(t.kind(), RefusalKind::ApprovalTimeout);
        assert!(t.message().contains("within 300s"));
        assert!(!t.message().contains("unavailable"));
        let u = ToolRefusal::new(
            "w",
            Error::Connection {
                message: "refused".into(),
            },
        );
        assert_eq!(u.kind(), RefusalKind::Unavailable);
        let e = u.clone().into_response(DenialStyle::ProtocolError);
        assert!(matches!(e, Err(ref d) if d.code.0 == GOVERNANCE_ERROR_CODE));
        let r = u.to_tool_result();
        assert_eq!(r.is_error, Some(true));
        let meta = r.meta.as_ref().and_then(|m| m.0.get(META_KEY)).cloned();
        assert_eq!(
            meta.as_ref().map(|m| m["outcome"].clone()),
            Some(json!("unavailable"))
        );
    }
}
