//! Both engines together: what the service and the embedded mode call for every action.
//!
//! ```
//! use ascend_runtime::AgentAction;
//! use ascend_server::engine::Engine;
//! use ascend_server::policy::Outcome;
//! use ascend_server::risk::{AgentProfile, RiskInput};
//!
//! let engine = Engine::with_default_policies().expect("default policies load");
//! let action = AgentAction::new("database.delete", "users")
//!     .with_parameter("record_count", serde_json::json!(150));
//! let agent = AgentProfile::default();
//! let eval = engine.decide(&RiskInput { action: &action, environment: "production", agent: &agent, mcp: None });
//! assert_eq!(eval.policy.outcome, Outcome::Deny);
//! assert_eq!(eval.policy.rule_name.as_deref(), Some("Block Bulk Deletions"));
//! ```

use serde::Serialize;

use crate::policy::{Evaluation as How, PolicyDecision, PolicyEngine, PolicyError};
use crate::risk::{RiskAssessment, RiskEngine, RiskInput};

/// The risk engine and the policy engine.
#[derive(Debug)]
pub struct Engine {
    /// Scores actions.
    pub risk: RiskEngine,
    /// Decides on scored actions.
    pub policy: PolicyEngine,
}

/// The result of [`Engine::decide`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// The risk assessment.
    pub risk: RiskAssessment,
    /// The policy decision.
    pub policy: PolicyDecision,
}

impl Engine {
    /// Engines with the given policy engine.
    pub fn new(policy: PolicyEngine) -> Self {
        Self {
            risk: RiskEngine::new(),
            policy,
        }
    }

    /// Engines with the embedded default policy set.
    pub fn with_default_policies() -> Result<Self, PolicyError> {
        Ok(Self::new(PolicyEngine::with_default_policies()?))
    }

    /// Score, then decide (indexed policy evaluation).
    pub fn decide(&self, input: &RiskInput<'_>) -> Evaluation {
        self.decide_with(input, How::Indexed)
    }

    /// Score, then decide with a chosen policy evaluation strategy (benchmarks compare them).
    pub fn decide_with(&self, input: &RiskInput<'_>, how: How) -> Evaluation {
        let risk = self.risk.assess(input);
        let policy = self
            .policy
            .evaluate_with(input.action, input.environment, &risk, how);
        Evaluation { risk, policy }
    }
}
