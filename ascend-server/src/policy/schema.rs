//! The Cedar vocabulary the engine provides: entity types, the request context and its schema.
//!
//! - principal `Agent::"<agent_id>"`, action `Action::"<action_type>"` (the submitted string,
//!   exactly), resource `Resource::"<resource>"`; no entity hierarchy (so `in` on a single
//!   entity means `==`);
//! - the context is the record [`CONTEXT_ATTRIBUTES`]: every attribute is always present (with
//!   a neutral default when the action does not say), so policies never need `has`.
//!
//! The same table generates the validation schema ([`schema_json`]) and is checked against the
//! context builder ([`build_context`]) by a unit test, so the two cannot drift.

use cedar_policy::{Context, RestrictedExpression};
use serde_json::{Map, Value, json};

use crate::risk::RiskAssessment;

/// Cedar type of a context attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// `Long`.
    Long,
    /// `Bool`.
    Bool,
    /// `String`.
    String,
    /// `Set<String>`.
    StringSet,
}

/// Every context attribute, its type and meaning.
pub const CONTEXT_ATTRIBUTES: &[(&str, AttrType, &str)] = &[
    (
        "risk_score",
        AttrType::Long,
        "composite risk 0–100, rounded down (agrees with risk_level bands)",
    ),
    (
        "risk_level",
        AttrType::String,
        "low | medium | high | critical",
    ),
    (
        "cvss_score",
        AttrType::Long,
        "CVSS v3.1 base score × 10 (0–100)",
    ),
    (
        "cvss_severity",
        AttrType::String,
        "None | Low | Medium | High | Critical",
    ),
    (
        "nist_risk",
        AttrType::String,
        "NIST SP 800-30 level: very low … very high",
    ),
    ("nist_likelihood", AttrType::String, "NIST likelihood"),
    ("nist_impact", AttrType::String, "NIST impact"),
    (
        "techniques",
        AttrType::StringSet,
        "MITRE ATT&CK technique ids, e.g. T1485",
    ),
    (
        "environment",
        AttrType::String,
        "deployment environment, lowercase",
    ),
    ("production", AttrType::Bool, "environment is production"),
    ("action_type", AttrType::String, "the submitted action type"),
    (
        "action_verb",
        AttrType::String,
        "read | list | create | write | send | execute | configure | grant | transfer | delete | other",
    ),
    (
        "action_family",
        AttrType::String,
        "read | write | delete | execute | financial | communication | admin | other",
    ),
    (
        "action_domain",
        AttrType::String,
        "first segment of the action type (database, mcp, …)",
    ),
    ("resource_id", AttrType::String, "resource id or \"\""),
    (
        "record_count",
        AttrType::Long,
        "records or targets affected (0 when unknown)",
    ),
    (
        "bulk",
        AttrType::Bool,
        "100+ records, a bulk hint, or an unbounded delete",
    ),
    (
        "amount",
        AttrType::Long,
        "money amount in whole units (0 when none)",
    ),
    (
        "amount_threshold_exceeded",
        AttrType::Bool,
        "amount_threshold is \"exceeded\"",
    ),
    (
        "external_transfer",
        AttrType::Bool,
        "money or data goes to an external party",
    ),
    ("pii_involved", AttrType::Bool, "personal data involved"),
    (
        "financial_data",
        AttrType::Bool,
        "financial records involved",
    ),
    (
        "data_classification",
        AttrType::String,
        "public | internal | confidential | pii | restricted",
    ),
    ("mcp", AttrType::Bool, "the action is an MCP tool call"),
    ("mcp_server", AttrType::String, "MCP server name or \"\""),
    ("mcp_tool", AttrType::String, "MCP tool name or \"\""),
    (
        "mcp_read_only",
        AttrType::Bool,
        "tool annotated readOnlyHint",
    ),
    (
        "mcp_destructive",
        AttrType::Bool,
        "tool annotated destructiveHint",
    ),
    (
        "path",
        AttrType::String,
        "most sensitive path named, or \"\"",
    ),
    (
        "path_sensitive",
        AttrType::Bool,
        "that path is sensitive (/etc, .env, .ssh, keys, system dirs)",
    ),
    (
        "path_class",
        AttrType::String,
        "none | system | system_config | credentials | secrets",
    ),
    ("recursive", AttrType::Bool, "recursive operation"),
    (
        "destructive",
        AttrType::Bool,
        "deletes, destructive command, or destructiveHint",
    ),
    ("agent_registered", AttrType::Bool, "agent is registered"),
    (
        "agent_autonomous",
        AttrType::Bool,
        "agent acts autonomously",
    ),
    (
        "compliance_flags",
        AttrType::StringSet,
        "compliance_flags of the action, lowercase",
    ),
];

/// Entity type of principals.
pub const PRINCIPAL_TYPE: &str = "Agent";
/// Entity type of actions.
pub const ACTION_TYPE: &str = "Action";
/// Entity type of resources.
pub const RESOURCE_TYPE: &str = "Resource";
/// An action declared in every schema so that policies with an unconstrained action are
/// type-checked even when no policy names an action.
pub const PLACEHOLDER_ACTION: &str = "__any_action__";

/// The Cedar JSON schema for a set of action ids.
pub fn schema_json<'a>(actions: impl IntoIterator<Item = &'a str>) -> Value {
    let mut attributes = Map::new();
    for (name, ty, _) in CONTEXT_ATTRIBUTES {
        let t = match ty {
            AttrType::Long => json!({"type": "Long"}),
            AttrType::Bool => json!({"type": "Boolean"}),
            AttrType::String => json!({"type": "String"}),
            AttrType::StringSet => json!({"type": "Set", "element": {"type": "String"}}),
        };
        attributes.insert((*name).to_owned(), t);
    }
    let applies = json!({
        "appliesTo": {
            "principalTypes": [PRINCIPAL_TYPE],
            "resourceTypes": [RESOURCE_TYPE],
            "context": {"type": "Record", "attributes": Value::Object(attributes)},
        }
    });
    let mut acts = Map::new();
    acts.insert(PLACEHOLDER_ACTION.to_owned(), applies.clone());
    for a in actions {
        acts.insert(a.to_owned(), applies.clone());
    }
    json!({
        "": {
            "entityTypes": { PRINCIPAL_TYPE: {}, RESOURCE_TYPE: {} },
            "actions": Value::Object(acts),
        }
    })
}

/// Bit mask of every context attribute.
pub const ALL_ATTRIBUTES: u64 = (1u64 << CONTEXT_ATTRIBUTES.len()) - 1;

/// The bit of an attribute in a context mask.
pub fn attribute_bit(name: &str) -> Option<u64> {
    CONTEXT_ATTRIBUTES
        .iter()
        .position(|(n, _, _)| *n == name)
        .map(|i| 1u64 << i)
}

/// One context value, typed (what both the Cedar context and the decision cache key are made
/// of).
#[derive(Debug, Clone, PartialEq)]
enum Val<'a> {
    Long(i64),
    Str(&'a str),
    Bool(bool),
    Set(Vec<&'a str>),
}

impl Val<'_> {
    fn expr(&self) -> RestrictedExpression {
        match self {
            Val::Long(v) => RestrictedExpression::new_long(*v),
            Val::Str(s) => RestrictedExpression::new_string((*s).to_owned()),
            Val::Bool(b) => RestrictedExpression::new_bool(*b),
            Val::Set(items) => RestrictedExpression::new_set(
                items
                    .iter()
                    .map(|s| RestrictedExpression::new_string((*s).to_owned())),
            ),
        }
    }

    /// An unambiguous encoding: a tag, then the value (strings length-prefixed).
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Val::Long(v) => {
                out.push(b'L');
                out.extend_from_slice(&v.to_le_bytes());
            }
            Val::Str(s) => {
                out.push(b'S');
                encode_str(s, out);
            }
            Val::Bool(b) => out.extend_from_slice(if *b { b"T" } else { b"F" }),
            Val::Set(items) => {
                out.push(b'E');
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for s in items {
                    encode_str(s, out);
                }
            }
        }
    }
}

/// A string, length-prefixed (for decision cache keys).
pub fn encode_str(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Typed inputs of the context, computed once per request.
struct Inputs<'a> {
    action: &'a ascend_runtime::AgentAction,
    risk: &'a RiskAssessment,
    environment: String,
    score: i64,
    cvss10: i64,
}

impl<'a> Inputs<'a> {
    fn new(
        action: &'a ascend_runtime::AgentAction,
        environment: &str,
        risk: &'a RiskAssessment,
    ) -> Self {
        let env = environment.trim();
        let environment = if env.is_empty() {
            risk.features.environment.clone()
        } else {
            env.to_ascii_lowercase()
        };
        let score = if risk.score.is_finite() {
            risk.score.clamp(0.0, 100.0).floor() as i64
        } else {
            100
        };
        let cvss10 = if risk.cvss_score.is_finite() {
            (risk.cvss_score.clamp(0.0, 10.0) * 10.0).round() as i64
        } else {
            0
        };
        Inputs {
            action,
            risk,
            environment,
            score,
            cvss10,
        }
    }

    fn value(&self, name: &str) -> Option<Val<'_>> {
        use Val::{Bool, Long, Set, Str};
        let f = &self.risk.features;
        let mcp = f.mcp.as_ref();
        let v = match name {
            "risk_score" => Long(self.score),
            "risk_level" => Str(self.risk.level.as_str()),
            "cvss_score" => Long(self.cvss10),
            "cvss_severity" => Str(&self.risk.cvss_severity),
            "nist_risk" => Str(self.risk.nist_risk.as_str()),
            "nist_likelihood" => Str(self.risk.nist_likelihood.as_str()),
            "nist_impact" => Str(self.risk.nist_impact.as_str()),
            "techniques" => Set(self.risk.mitre_techniques.iter().map(|t| t.id).collect()),
            "environment" => Str(&self.environment),
            "production" => Bool(self.environment.starts_with("prod")),
            "action_type" => Str(&self.action.action_type),
            "action_verb" => Str(f.verb.as_str()),
            "action_family" => Str(f.verb.family()),
            "action_domain" => Str(&f.domain),
            "resource_id" => Str(self.action.resource_id.as_deref().unwrap_or("")),
            "record_count" => Long(f.record_count.unwrap_or(0)),
            "bulk" => Bool(f.bulk),
            "amount" => Long(f.amount.unwrap_or(0)),
            "amount_threshold_exceeded" => Bool(f.amount_threshold_exceeded),
            "external_transfer" => Bool(f.external_transfer),
            "pii_involved" => Bool(f.pii),
            "financial_data" => Bool(f.financial),
            "data_classification" => Str(f.data_class.as_str()),
            "mcp" => Bool(mcp.is_some()),
            "mcp_server" => Str(mcp.map_or("", |m| m.server.as_str())),
            "mcp_tool" => Str(mcp.map_or("", |m| m.tool.as_str())),
            "mcp_read_only" => Bool(mcp.is_some_and(|m| m.read_only_hint == Some(true))),
            "mcp_destructive" => Bool(mcp.is_some_and(|m| m.destructive_hint == Some(true))),
            "path" => Str(f.path.as_deref().unwrap_or("")),
            "path_sensitive" => Bool(f.path_class != crate::risk::PathClass::None),
            "path_class" => Str(f.path_class.as_str()),
            "recursive" => Bool(f.recursive),
            "destructive" => Bool(
                f.verb == crate::risk::Verb::Delete
                    || f.destructive_command
                    || mcp.is_some_and(|m| m.destructive_hint == Some(true)),
            ),
            "agent_registered" => Bool(f.agent.registered),
            "agent_autonomous" => Bool(f.agent.autonomous),
            "compliance_flags" => Set(f.compliance_flags.iter().map(String::as_str).collect()),
            _ => return None,
        };
        Some(v)
    }

    /// The masked attributes, in table order.
    fn masked(&self, mask: u64) -> impl Iterator<Item = (&'static str, Val<'_>)> {
        CONTEXT_ATTRIBUTES
            .iter()
            .enumerate()
            .filter(move |(i, _)| mask & (1u64 << i) != 0)
            .filter_map(|(_, (name, _, _))| self.value(name).map(|v| (*name, v)))
    }
}

/// The request context for an action and its assessment, built directly from typed values (no
/// JSON round trip). Only the attributes whose bit is set in `mask` are built: the engine passes
/// the attributes the evaluated policies reference (building all 36 costs about 15 µs, most of
/// a decision), which cannot change a decision since no evaluated policy reads the others.
pub fn build_context(
    action: &ascend_runtime::AgentAction,
    environment: &str,
    risk: &RiskAssessment,
    mask: u64,
) -> Result<Context, String> {
    let inputs = Inputs::new(action, environment, risk);
    let pairs = inputs
        .masked(mask)
        .map(|(name, v)| (name.to_owned(), v.expr()));
    Context::from_pairs(pairs).map_err(|e| e.to_string())
}

/// Append to `out` the encoding of exactly the masked context values [`build_context`] would
/// build (name and value of each, in table order): two requests with equal encodings get equal
/// contexts. The decision cache keys on it.
pub fn encode_context(
    action: &ascend_runtime::AgentAction,
    environment: &str,
    risk: &RiskAssessment,
    mask: u64,
    out: &mut Vec<u8>,
) {
    let inputs = Inputs::new(action, environment, risk);
    for (name, v) in inputs.masked(mask) {
        encode_str(name, out);
        v.encode(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_provides_exactly_the_schema_attributes() {
        let action = ascend_runtime::AgentAction::new("database.read", "users");
        let ctx = build_context(
            &action,
            "production",
            &RiskAssessment::default(),
            ALL_ATTRIBUTES,
        )
        .expect("context builds");
        for (name, _, _) in CONTEXT_ATTRIBUTES {
            assert!(ctx.get(name).is_some(), "context lacks `{name}`");
        }
        let n = ctx.into_iter().count();
        assert_eq!(n, CONTEXT_ATTRIBUTES.len());
        assert!(CONTEXT_ATTRIBUTES.len() < 64, "masks are u64");
        let only = attribute_bit("amount").expect("known") | attribute_bit("mcp").expect("known");
        let ctx = build_context(&action, "", &RiskAssessment::default(), only).expect("builds");
        assert_eq!(ctx.into_iter().count(), 2);
    }
}
