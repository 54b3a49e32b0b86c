//! What governance answered: [`Decision`], [`RiskLevel`], [`AuthorizationDecision`].
//!
//! Parsing is tolerant where the protocol is loose (case-insensitive decision strings, `id` vs
//! `action_id`, integer or string ids, `reviewed_by` for `approved_by`) and strict where silence
//! would be dangerous: an unknown decision string is an [`Error::Protocol`], never a silent
//! "pending" or "allowed" (the Python SDK's trap, wire-protocol §9.1.3).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;

/// The three outcomes of governance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The action may run.
    Allowed,
    /// The action must not run.
    Denied,
    /// A human must approve first.
    Pending,
}

impl Decision {
    /// The wire string (`allowed`, `denied`, `pending`).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Denied => "denied",
            Decision::Pending => "pending",
        }
    }

    /// The legacy `status` string the Python SDK also reads (`approved`, `denied`, `pending_approval`).
    pub fn as_status_str(self) -> &'static str {
        match self {
            Decision::Allowed => "approved",
            Decision::Denied => "denied",
            Decision::Pending => "pending_approval",
        }
    }

    /// Parse any decision or status string servers send, case-insensitively.
    /// Unknown strings are a protocol error.
    pub fn parse_wire(s: &str) -> Result<Self, Error> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "allowed" | "allow" | "approved" | "auto_approved" | "executed" | "permitted" => {
                Ok(Decision::Allowed)
            }
            "denied" | "deny" | "rejected" | "blocked" | "forbidden" | "expired" => {
                Ok(Decision::Denied)
            }
            "pending"
            | "pending_approval"
            | "escalated"
            | "require_approval"
            | "requires_approval"
            | "requires_modification" => Ok(Decision::Pending),
            _ => Err(Error::Protocol(format!("unknown decision string {s:?}"))),
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Decision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Decision::parse_wire(s)
    }
}

/// Risk level bands: low 0–39, medium 40–69, high 70–89, critical 90–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// 0–39.
    Low,
    /// 40–69.
    Medium,
    /// 70–89.
    High,
    /// 90–100.
    Critical,
}

impl RiskLevel {
    /// The band a 0–100 score falls in.
    pub fn from_score(score: f64) -> Self {
        if score >= 90.0 {
            RiskLevel::Critical
        } else if score >= 70.0 {
            RiskLevel::High
        } else if score >= 40.0 {
            RiskLevel::Medium
        } else {
            RiskLevel::Low
        }
    }

    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
            RiskLevel::Critical => "critical",
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RiskLevel {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(RiskLevel::Low),
            "medium" => Ok(RiskLevel::Medium),
            "high" => Ok(RiskLevel::High),
            "critical" => Ok(RiskLevel::Critical),
            _ => Err(Error::Protocol(format!("unknown risk level {s:?}"))),
        }
    }
}

/// One contribution to a risk score, with the reason a reviewer reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskFactor {
    /// Short machine name, e.g. `cvss`, `pii_involved`, `bulk_records`.
    pub name: String,
    /// Points this factor contributed to the 0–100 score.
    pub contribution: f64,
    /// Human-readable explanation.
    pub reason: String,
}

/// Governance's answer for one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthorizationDecision {
    /// Server-assigned id of the action (string form of an integer on our server).
    pub action_id: String,
    /// Allowed, denied or pending.
    pub decision: Decision,
    /// Composite risk 0–100, when scored.
    pub risk_score: Option<f64>,
    /// Band of the risk score.
    pub risk_level: Option<RiskLevel>,
    /// Why this decision was made.
    pub reason: Option<String>,
    /// Id of the rule that determined the decision.
    pub rule_id: Option<String>,
    /// Name of the rule that determined the decision (e.g. "Block Bulk Deletions").
    pub rule_name: Option<String>,
    /// Policies the action violates.
    pub policy_violations: Vec<String>,
    /// Conditions attached to an allowed action (e.g. `fail_open_mode`).
    pub conditions: Vec<String>,
    /// Approval request to wait on, when pending.
    pub approval_request_id: Option<String>,
    /// Who must approve, when pending.
    pub required_approvers: Vec<String>,
    /// Who approved (or denied) a pending action.
    pub approved_by: Option<String>,
    /// When it was approved (raw string from the server).
    pub approved_at: Option<String>,
    /// When a pending approval expires (raw string).
    pub expires_at: Option<String>,
    /// Reviewer comments.
    pub comments: Option<String>,
    /// Whether the action may execute.
    pub execution_allowed: bool,
    /// CVSS v3.1 base score 0.0–10.0.
    pub cvss_score: Option<f64>,
    /// CVSS severity (None/Low/Medium/High/Critical).
    pub cvss_severity: Option<String>,
    /// CVSS v3.1 vector string.
    pub cvss_vector: Option<String>,
    /// Top MITRE ATT&CK tactic.
    pub mitre_tactic: Option<String>,
    /// Top MITRE ATT&CK technique id.
    pub mitre_technique: Option<String>,
    /// All MITRE ATT&CK technique ids the action resembles.
    pub mitre_techniques: Vec<String>,
    /// NIST SP 800-30 level of risk.
    pub nist_risk: Option<String>,
    /// Every contribution to the risk score.
    pub risk_factors: Vec<RiskFactor>,
    /// The raw `status`/`decision` string the server sent.
    pub raw_status: Option<String>,
    /// Everything else the server sent.
    pub metadata: Map<String, Value>,
}

impl AuthorizationDecision {
    /// A decision with only the outcome set.
    pub fn new(action_id: impl Into<String>, decision: Decision) -> Self {
        Self {
            action_id: action_id.into(),
            decision,
            risk_score: None,
            risk_level: None,
            reason: None,
            rule_id: None,
            rule_name: None,
            policy_violations: Vec::new(),
            conditions: Vec::new(),
            approval_request_id: None,
            required_approvers: Vec::new(),
            approved_by: None,
            approved_at: None,
            expires_at: None,
            comments: None,
            execution_allowed: decision == Decision::Allowed,
            cvss_score: None,
            cvss_severity: None,
            cvss_vector: None,
            mitre_tactic: None,
            mitre_technique: None,
            mitre_techniques: Vec::new(),
            nist_risk: None,
            risk_factors: Vec::new(),
            raw_status: None,
            metadata: Map::new(),
        }
    }

    /// Set the reason (builder style).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Whether the action may run.
    pub fn is_allowed(&self) -> bool {
        self.decision == Decision::Allowed
    }

    /// Whether the action was denied.
    pub fn is_denied(&self) -> bool {
        self.decision == Decision::Denied
    }

    /// Whether a human must still decide.
    pub fn is_pending(&self) -> bool {
        self.decision == Decision::Pending
    }

    /// Parse a server response body (submit, status, or approval check).
    ///
    /// Rules: the decision comes from `decision`, or `status` when `decision` is absent or null;
    /// neither present, or an unknown string, is a [`Error::Protocol`]. The id comes from
    /// `action_id`, else `id`, integer or string. `reviewed_by`/`reviewed_at` are fallbacks for
    /// `approved_by`/`approved_at`. An unknown `risk_level` is dropped (the score still counts)
    /// rather than failing the whole decision.
    pub fn from_json(body: &Value) -> Result<Self, Error> {
        let obj = body
            .as_object()
            .ok_or_else(|| Error::Protocol("decision body is not a JSON object".into()))?;

        let raw = non_null(obj, "decision")
            .or_else(|| non_null(obj, "status"))
            .ok_or_else(|| {
                Error::Protocol("response carries neither `decision` nor `status`".into())
            })?;
        let raw = raw
            .as_str()
            .ok_or_else(|| Error::Protocol(format!("decision is not a string: {raw}")))?;
        let decision = Decision::parse_wire(raw)?;

        let action_id = non_null(obj, "action_id")
            .or_else(|| non_null(obj, "id"))
            .map(id_string)
            .transpose()?
            .unwrap_or_default();

        let risk_score = non_null(obj, "risk_score").and_then(Value::as_f64);
        let risk_level = str_field(obj, "risk_level")
            .and_then(|s| s.parse().ok())
            .or_else(|| risk_score.map(RiskLevel::from_score));

        let execution_allowed = match non_null(obj, "execution_allowed") {
            // Never let the flag contradict a non-allowed decision.
            Some(Value::Bool(b)) => *b && decision == Decision::Allowed,
            _ => decision == Decision::Allowed,
        };

        let mitre_techniques = match non_null(obj, "mitre_techniques") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|t| match t {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let risk_factors = non_null(obj, "risk_factors")
            .and_then(|v| serde_json::from_value::<Vec<RiskFactor>>(v.clone()).ok())
            .unwrap_or_default();

        let mut metadata = match obj.get("metadata") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        metadata
            .entry("raw_status")
            .or_insert_with(|| Value::String(raw.to_owned()));

        Ok(Self {
            action_id,
            decision,
            risk_score,
            risk_level,
            reason: str_field(obj, "reason").or_else(|| str_field(obj, "rejection_reason")),
            rule_id: str_or_num_field(obj, "rule_id"),
            rule_name: str_field(obj, "rule_name"),
            policy_violations: str_list(obj, "policy_violations"),
            conditions: str_list(obj, "conditions"),
            approval_request_id: str_or_num_field(obj, "approval_request_id"),
            required_approvers: str_list(obj, "required_approvers"),
            approved_by: str_field(obj, "approved_by").or_else(|| str_field(obj, "reviewed_by")),
            approved_at: str_field(obj, "approved_at").or_else(|| str_field(obj, "reviewed_at")),
            expires_at: str_field(obj, "expires_at"),
            comments: str_field(obj, "comments"),
            execution_allowed,
            cvss_score: non_null(obj, "cvss_score").and_then(Value::as_f64),
            cvss_severity: str_field(obj, "cvss_severity"),
            cvss_vector: str_field(obj, "cvss_vector"),
            mitre_tactic: str_field(obj, "mitre_tactic"),
            mitre_technique: str_field(obj, "mitre_technique"),
            mitre_techniques,
            nist_risk: str_field(obj, "nist_risk"),
            risk_factors,
            raw_status: Some(raw.to_owned()),
            metadata,
        })
    }
}

fn non_null<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn str_field(obj: &Map<String, Value>, key: &str) -> Option<String> {
    non_null(obj, key)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn str_or_num_field(obj: &Map<String, Value>, key: &str) -> Option<String> {
    non_null(obj, key).and_then(|v| id_string(v).ok())
}

fn str_list(obj: &Map<String, Value>, key: &str) -> Vec<String> {
    match non_null(obj, key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn id_string(v: &Value) -> Result<String, Error> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(Error::Protocol(format!(
            "id is neither string nor integer: {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tolerant_parsing() {
        let d = AuthorizationDecision::from_json(&json!({"id": 7, "status": "APPROVED"})).unwrap();
        assert_eq!(d.decision, Decision::Allowed);
        assert_eq!(d.action_id, "7");
        assert!(d.execution_allowed);

        let d = AuthorizationDecision::from_json(
            &json!({"action_id": "a1", "decision": null, "status": "pending_approval", "reviewed_by": "r"}),
        )
        .unwrap();
        assert_eq!(d.decision, Decision::Pending);
        assert_eq!(d.approved_by.as_deref(), Some("r"));
    }

    #[test]
    fn strict_on_unknown_decisions() {
        for body in [
            json!({"decision": "maybe"}),
            json!({"id": 1}),
            json!({"decision": 3}),
            json!([1, 2]),
        ] {
            assert!(matches!(
                AuthorizationDecision::from_json(&body),
                Err(Error::Protocol(_))
            ));
        }
    }

    #[test]
    fn execution_allowed_never_contradicts_a_denial() {
        let d = AuthorizationDecision::from_json(
            &json!({"decision": "denied", "execution_allowed": true}),
        )
        .unwrap();
        assert!(!d.execution_allowed);
    }
}
