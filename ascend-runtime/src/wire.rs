//! Response bodies of the governance API, shared by this client and `ascend-server` so the two
//! can never drift apart. Field names and strings follow wire-protocol.md (the Python SDK 2.7.1
//! reads these bodies unchanged).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::decision::{Decision, RiskFactor, RiskLevel};

/// The body of a decision: the answer to `POST /api/v1/actions/submit` and
/// `GET /api/v1/actions/{id}/status`.
///
/// Servers fill every field; clients parse it tolerantly through
/// [`AuthorizationDecision::from_json`](crate::AuthorizationDecision::from_json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionBody {
    /// Integer action id (the Python SDK needs a positive integer).
    pub id: i64,
    /// Same value as `id`.
    pub action_id: i64,
    /// `allowed` / `denied` / `pending`.
    pub decision: Decision,
    /// Legacy status string: `approved` / `denied` / `pending_approval` (or `escalated`).
    pub status: String,
    /// Composite 0–100.
    pub risk_score: f64,
    /// Band of `risk_score`.
    pub risk_level: RiskLevel,
    /// Why.
    pub reason: String,
    /// Whether the action may run now.
    pub execution_allowed: bool,
    /// Present when pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_request_id: Option<String>,
    /// Who must approve, when pending.
    pub required_approvers: Vec<String>,
    /// Policies violated.
    pub policy_violations: Vec<String>,
    /// Conditions attached to an allowed action.
    pub conditions: Vec<String>,
    /// When a pending approval expires (RFC 3339).
    pub expires_at: Option<String>,
    /// Who approved or denied.
    pub approved_by: Option<String>,
    /// When (RFC 3339).
    pub approved_at: Option<String>,
    /// Reviewer comments.
    pub comments: Option<String>,
    /// The determining rule's id.
    pub rule_id: Option<String>,
    /// The determining rule's name.
    pub rule_name: Option<String>,
    /// CVSS v3.1 base score.
    pub cvss_score: f64,
    /// CVSS severity.
    pub cvss_severity: String,
    /// CVSS v3.1 vector.
    pub cvss_vector: String,
    /// Top ATT&CK tactic.
    pub mitre_tactic: Option<String>,
    /// Top ATT&CK technique id.
    pub mitre_technique: Option<String>,
    /// All ATT&CK technique ids.
    pub mitre_techniques: Vec<String>,
    /// NIST SP 800-30 likelihood.
    pub nist_likelihood: String,
    /// NIST SP 800-30 impact.
    pub nist_impact: String,
    /// NIST SP 800-30 level of risk.
    pub nist_risk: String,
    /// Every contribution to the score.
    pub risk_factors: Vec<RiskFactor>,
    /// The request's correlation id.
    pub correlation_id: Option<String>,
    /// Anything else.
    pub metadata: Map<String, Value>,
}

/// `GET /api/sdk/kill-switch/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillSwitchStatus {
    /// Whether the caller's agent (or its organisation) is halted.
    #[serde(default)]
    pub blocked: bool,
    /// The operator's reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// When it was activated (RFC 3339).
    #[serde(default)]
    pub activated_at: Option<String>,
    /// Who activated it.
    #[serde(default)]
    pub activated_by: Option<String>,
}

/// A JSON error body: `{"detail": "...", "errors": {"field": "message"}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Human-readable summary.
    pub detail: String,
    /// Field name → message.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub errors: Map<String, Value>,
}

impl DecisionBody {
    /// The decision this body carries, as [`crate::AuthorizationDecision::from_json`] reads the same
    /// body from the wire, without the JSON round trip (in-process backends).
    pub fn to_decision(&self) -> crate::AuthorizationDecision {
        let mut d = crate::AuthorizationDecision::new(self.action_id.to_string(), self.decision);
        let raw = self.decision.as_str();
        d.risk_score = Some(self.risk_score);
        d.risk_level = Some(self.risk_level);
        d.reason = Some(self.reason.clone());
        d.rule_id.clone_from(&self.rule_id);
        d.rule_name.clone_from(&self.rule_name);
        d.policy_violations.clone_from(&self.policy_violations);
        d.conditions.clone_from(&self.conditions);
        d.approval_request_id.clone_from(&self.approval_request_id);
        d.required_approvers.clone_from(&self.required_approvers);
        d.approved_by.clone_from(&self.approved_by);
        d.approved_at.clone_from(&self.approved_at);
        d.expires_at.clone_from(&self.expires_at);
        d.comments.clone_from(&self.comments);
        // Never let the flag contradict a non-allowed decision.
        d.execution_allowed = self.execution_allowed && self.decision == Decision::Allowed;
        d.cvss_score = Some(self.cvss_score);
        d.cvss_severity = Some(self.cvss_severity.clone());
        d.cvss_vector = Some(self.cvss_vector.clone());
        d.mitre_tactic.clone_from(&self.mitre_tactic);
        d.mitre_technique.clone_from(&self.mitre_technique);
        d.mitre_techniques.clone_from(&self.mitre_techniques);
        d.nist_risk = Some(self.nist_risk.clone());
        d.risk_factors.clone_from(&self.risk_factors);
        d.raw_status = Some(raw.to_owned());
        d.metadata.clone_from(&self.metadata);
        d.metadata
            .entry("raw_status")
            .or_insert_with(|| Value::String(raw.to_owned()));
        d
    }
}

/// The events a webhook may subscribe to (wire-protocol §7). One list for this client and
/// `ascend-server`, so the two cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WebhookEvent {
    /// A pending action was approved.
    #[serde(rename = "action.approved")]
    ActionApproved,
    /// An action was denied (by policy, a reviewer or expiry).
    #[serde(rename = "action.denied")]
    ActionDenied,
    /// An action is waiting for a human.
    #[serde(rename = "action.pending")]
    ActionPending,
    /// A denial named the policies it violated.
    #[serde(rename = "policy.violation")]
    PolicyViolation,
    /// An agent's trust level changed (its registration changed between supervised and
    /// autonomous).
    #[serde(rename = "agent.trust_changed")]
    AgentTrustChanged,
}

impl WebhookEvent {
    /// Every event, in the order of wire-protocol §7.
    pub const ALL: [WebhookEvent; 5] = [
        WebhookEvent::ActionApproved,
        WebhookEvent::ActionDenied,
        WebhookEvent::ActionPending,
        WebhookEvent::PolicyViolation,
        WebhookEvent::AgentTrustChanged,
    ];

    /// The event name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::ActionApproved => "action.approved",
            WebhookEvent::ActionDenied => "action.denied",
            WebhookEvent::ActionPending => "action.pending",
            WebhookEvent::PolicyViolation => "policy.violation",
            WebhookEvent::AgentTrustChanged => "agent.trust_changed",
        }
    }

    /// The event with this wire name.
    pub fn parse(name: &str) -> Option<WebhookEvent> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

impl std::fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::RiskFactor;

    fn body(decision: Decision) -> DecisionBody {
        let mut metadata = Map::new();
        metadata.insert("environment".into(), Value::String("production".into()));
        DecisionBody {
            id: 7,
            action_id: 7,
            decision,
            status: decision.as_status_str().to_owned(),
            risk_score: 71.5,
            risk_level: RiskLevel::High,
            reason: "policy \"x\" requires approval".into(),
            execution_allowed: decision == Decision::Allowed,
            approval_request_id: Some("7".into()),
            required_approvers: vec!["admin".into()],
            policy_violations: vec!["High Risk".into()],
            conditions: vec![],
            expires_at: Some("2026-12-01T10:00:00.000000Z".into()),
            approved_by: None,
            approved_at: None,
            comments: Some("c".into()),
            rule_id: Some("high-risk".into()),
            rule_name: Some("High Risk".into()),
            cvss_score: 7.1,
            cvss_severity: "High".into(),
            cvss_vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N".into(),
            mitre_tactic: Some("Impact".into()),
            mitre_technique: Some("T1485".into()),
            mitre_techniques: vec!["T1485".into()],
            nist_likelihood: "high".into(),
            nist_impact: "high".into(),
            nist_risk: "high".into(),
            risk_factors: vec![RiskFactor {
                name: "cvss".into(),
                contribution: 30.0,
                reason: "r".into(),
            }],
            correlation_id: None,
            metadata,
        }
    }

    #[test]
    fn to_decision_reads_what_from_json_reads() {
        for d in [Decision::Allowed, Decision::Denied, Decision::Pending] {
            let b = body(d);
            let via_json = crate::AuthorizationDecision::from_json(
                &serde_json::to_value(&b).expect("serialises"),
            )
            .expect("parses");
            assert_eq!(b.to_decision(), via_json, "{d:?}");
        }
    }
}
