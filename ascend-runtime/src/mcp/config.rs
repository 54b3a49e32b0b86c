//! How the guard behaves: [`McpGovernanceConfig`] and [`DenialStyle`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::{AuthorizationDecision, Error};

use super::DEFAULT_RESOURCE_ARGUMENTS;

/// How a refused tool call is presented to the MCP client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DenialStyle {
    /// A normal tool result with `isError: true` and a readable reason (the default): the model
    /// sees why and can adapt, as rmcp's `CallToolResult::error` documentation recommends.
    #[default]
    ToolError,
    /// A JSON-RPC error with code [`GOVERNANCE_ERROR_CODE`](super::GOVERNANCE_ERROR_CODE); many clients show it opaquely.
    ProtocolError,
}

pub(super) type DecisionCallback = Arc<dyn Fn(&str, &AuthorizationDecision) + Send + Sync>;
pub(super) type ErrorCallback = Arc<dyn Fn(&str, &Error) + Send + Sync>;

/// Configuration of an [`McpGovernor`](super::McpGovernor), the Rust counterpart of the Python SDK's
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
    pub(super) server_name: String,
    pub(super) action_types: HashMap<String, String>,
    pub(super) action_type_prefix: String,
    pub(super) resource_arguments: Vec<String>,
    pub(super) ungoverned_tools: HashSet<String>,
    pub(super) wait_for_approval: bool,
    pub(super) approval_timeout: Duration,
    pub(super) denial_style: DenialStyle,
    pub(super) include_arguments: bool,
    pub(super) max_string_chars: usize,
    pub(super) progress_interval: Duration,
    pub(super) on_allowed: Option<DecisionCallback>,
    pub(super) on_approval_required: Option<DecisionCallback>,
    pub(super) on_denied: Option<ErrorCallback>,
    pub(super) on_timeout: Option<ErrorCallback>,
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
