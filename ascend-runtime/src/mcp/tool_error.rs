//! [`ToolError`]: a ready-made error type for `#[governed]` rmcp tools.

use std::fmt;

use rmcp::ErrorData;
use rmcp::handler::server::tool::IntoCallToolResult;
use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock};

use crate::Error;

use super::ToolRefusal;

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
