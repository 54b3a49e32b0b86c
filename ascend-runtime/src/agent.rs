//! [`AuthorizedAgent`]: one agent identity with execute-if-authorized helpers
//! (wire-protocol §4.4, "Rust intended semantics": the agent's own identity is sent; the closure
//! runs on allowed; denial and approval timeout are errors; `check_permission` works).
//!
//! ```
//! use ascend_runtime::testing::MockGovernance;
//! use ascend_runtime::{AgentAction, AuthorizedAgent, Decision};
//!
//! let mock = MockGovernance::allow_all().on("payment.refund", [Decision::Denied]);
//! let agent = AuthorizedAgent::new("refund-bot", "Refund Bot", mock.client());
//!
//! let n = agent.execute_if_authorized_blocking(AgentAction::new("report.read", "sales"), || 42)?;
//! assert_eq!(n, 42);
//! let fallback = agent.execute_or_else_blocking(
//!     AgentAction::new("payment.refund", "stripe"),
//!     || "refunded",
//!     |err| { assert!(err.decision().is_some()); "refused" },
//! );
//! assert_eq!(fallback, "refused");
//! assert_eq!(mock.requests()[0].agent_id, "refund-bot");
//! # Ok::<(), ascend_runtime::Error>(())
//! ```

use std::future::Future;
use std::time::Duration;

use crate::action::AgentAction;
use crate::client::{AscendClient, EvaluateOptions, decision_to_result};
use crate::decision::{AuthorizationDecision, Decision};
use crate::error::Result;

/// An agent identity bound to a client.
#[derive(Debug, Clone)]
pub struct AuthorizedAgent {
    client: AscendClient,
    agent_id: String,
    agent_name: String,
    default_timeout: Duration,
}

impl AuthorizedAgent {
    /// An agent `agent_id` / `agent_name` using `client`.
    pub fn new(
        agent_id: impl Into<String>,
        agent_name: impl Into<String>,
        client: AscendClient,
    ) -> Self {
        AuthorizedAgent {
            client,
            agent_id: agent_id.into(),
            agent_name: agent_name.into(),
            default_timeout: Duration::from_secs(60),
        }
    }

    /// How long to wait for a pending approval (default 60 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.default_timeout = timeout;
        self
    }

    /// The agent id.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// The client.
    pub fn client(&self) -> &AscendClient {
        &self.client
    }

    fn own(&self, action: AgentAction) -> AgentAction {
        action.with_agent(self.agent_id.clone(), self.agent_name.clone())
    }

    fn options(&self) -> EvaluateOptions {
        EvaluateOptions::wait(self.default_timeout)
    }

    /// Ask for a decision with this agent's identity, waiting for a pending one. Returns the
    /// decision as-is.
    pub async fn request_authorization(
        &self,
        action: AgentAction,
    ) -> Result<AuthorizationDecision> {
        self.client
            .evaluate_action(self.own(action), self.options())
            .await
    }

    /// Run `f` only when allowed. Denied → [`crate::Error::Denied`] (reason, violations, risk
    /// score), still pending after the wait → [`crate::Error::ApprovalTimeout`].
    pub async fn execute_if_authorized<T, F, Fut>(&self, action: AgentAction, f: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let started = std::time::Instant::now();
        let d = self
            .client
            .evaluate_action(self.own(action), self.options())
            .await?;
        decision_to_result(d, started.elapsed())?;
        Ok(f().await)
    }

    /// Run `f` when allowed, otherwise `on_denied(error)`.
    pub async fn execute_or_else<T, F, Fut, D>(&self, action: AgentAction, f: F, on_denied: D) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
        D: FnOnce(crate::Error) -> T,
    {
        match self.execute_if_authorized(action, f).await {
            Ok(v) => v,
            Err(e) => on_denied(e),
        }
    }

    /// Sync form of [`AuthorizedAgent::execute_if_authorized`]: `f` runs on the calling thread.
    pub fn execute_if_authorized_blocking<T, F: FnOnce() -> T>(
        &self,
        action: AgentAction,
        f: F,
    ) -> Result<T> {
        self.client
            .authorize_blocking(self.own(action), self.options())?;
        Ok(f())
    }

    /// Sync form of [`AuthorizedAgent::execute_or_else`].
    pub fn execute_or_else_blocking<T, F, D>(&self, action: AgentAction, f: F, on_denied: D) -> T
    where
        F: FnOnce() -> T,
        D: FnOnce(crate::Error) -> T,
    {
        match self.execute_if_authorized_blocking(action, f) {
            Ok(v) => v,
            Err(e) => on_denied(e),
        }
    }

    /// Whether the action would be allowed right now: submits without waiting and returns
    /// `decision == Allowed` (a pending action is not permitted yet).
    pub async fn check_permission(&self, action: AgentAction) -> Result<bool> {
        let d = self
            .client
            .evaluate_action(self.own(action), EvaluateOptions::no_wait())
            .await?;
        Ok(d.decision == Decision::Allowed)
    }

    /// Sync form of [`AuthorizedAgent::check_permission`].
    pub fn check_permission_blocking(&self, action: AgentAction) -> Result<bool> {
        let this = self.clone();
        crate::blocking::block_on(async move { this.check_permission(action).await })
    }
}
