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

mod config;
mod governor;
mod permit;
mod refusal;
mod sanitize;
mod tool_error;

#[cfg(test)]
mod tests;

pub use config::{DenialStyle, McpGovernanceConfig};
pub use governor::McpGovernor;
pub use permit::ToolPermit;
pub use refusal::{RefusalKind, ToolRefusal};
pub use sanitize::{is_secret_name, sanitize_arguments};
pub use tool_error::ToolError;

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
