//! [`ToolPermit`]: an allowed tool call, and the report of how it went.

use rmcp::ErrorData;
use rmcp::model::{CallToolResponse, CallToolResult};

use crate::lifecycle::Running;
use crate::redact::truncate;
use crate::{AscendClient, AuthorizationDecision};

/// Permission to run one governed tool call; report how it went with [`ToolPermit::finish`].
#[derive(Debug)]
#[must_use = "report the outcome with finish()"]
pub struct ToolPermit {
    /// `None` for ungoverned tools.
    governed: Option<(Running, AuthorizationDecision)>,
}

impl ToolPermit {
    pub(super) fn governed(client: AscendClient, decision: AuthorizationDecision) -> Self {
        let running = Running::start(client, decision.action_id.clone());
        Self {
            governed: Some((running, decision)),
        }
    }

    pub(super) fn ungoverned() -> Self {
        Self { governed: None }
    }

    /// The decision that allowed the call (`None` for ungoverned tools).
    pub fn decision(&self) -> Option<&AuthorizationDecision> {
        self.governed.as_ref().map(|(_, d)| d)
    }

    /// Report the outcome in the background: `Err(_)` and results with `isError: true` are
    /// failures (with the error text), anything else is a completion.
    pub fn finish(self, result: &Result<CallToolResponse, ErrorData>) {
        let Some((running, _)) = self.governed else {
            return;
        };
        let error = match result {
            Err(e) => Some(truncate(&e.message, 500)),
            Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => Some(truncate(
                &first_text(r).unwrap_or_else(|| "tool returned an error".to_owned()),
                500,
            )),
            Ok(_) => None,
        };
        running.report(error);
    }
}

fn first_text(result: &CallToolResult) -> Option<String> {
    result
        .content
        .iter()
        .find_map(|c| c.as_text().map(|t| t.text.clone()))
}
