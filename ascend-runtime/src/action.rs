//! What an agent asks to do: [`AgentAction`] and the well-known [`ActionType`]s.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An action an agent wants to perform, in the wire form of `POST /api/v1/actions/submit`.
///
/// `agent_id` and `agent_name` may be left empty: the client fills them from its configuration
/// (falling back to `"unknown"` / `"Unknown Agent"` like the Python SDK). Every field deserializes
/// with a default so a server can accept partial bodies and report missing fields itself.
///
/// ```
/// use ascend_runtime::AgentAction;
/// use serde_json::json;
///
/// let action = AgentAction::new("database.write", "customer_profiles")
///     .with_resource_id("cust_42")
///     .with_parameter("field", json!("billing_address"))
///     .with_risk_indicator("pii_involved", json!(true));
/// assert_eq!(action.action_type, "database.write");
/// assert_eq!(action.action_details["field"], "billing_address");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentAction {
    /// The agent's id (filled from the client when empty).
    pub agent_id: String,
    /// The agent's display name (filled from the client when empty).
    pub agent_name: String,
    /// Free-form category, e.g. `database.write`, `transaction`, `mcp.write_file`.
    pub action_type: String,
    /// The target, e.g. `customer_profiles`, `stripe_api`.
    pub resource: String,
    /// The specific record or object, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// Parameters of the call, plus `tool_name` / `description`.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub action_details: Map<String, Value>,
    /// Free-form context (e.g. `business_justification`, `environment`).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub context: Map<String, Value>,
    /// Caller hints for the risk engine (`pii_involved`, `amount_threshold`, `data_sensitivity`, …).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub risk_indicators: Map<String, Value>,
    /// Multi-agent orchestration session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orchestration_session_id: Option<String>,
    /// The action that spawned this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_action_id: Option<i64>,
    /// Depth in an orchestration tree (0–5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orchestration_depth: Option<u8>,
    /// The MCP server this action goes through; the server applies its MCP registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_server_name: Option<String>,
    /// The model acting; the server applies its model registry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

impl AgentAction {
    /// A new action of `action_type` on `resource`.
    pub fn new(action_type: impl Into<String>, resource: impl Into<String>) -> Self {
        Self {
            action_type: action_type.into(),
            resource: resource.into(),
            ..Self::default()
        }
    }

    /// Set the agent identity sent with this action.
    pub fn with_agent(
        mut self,
        agent_id: impl Into<String>,
        agent_name: impl Into<String>,
    ) -> Self {
        self.agent_id = agent_id.into();
        self.agent_name = agent_name.into();
        self
    }

    /// Set the resource id.
    pub fn with_resource_id(mut self, resource_id: impl Into<String>) -> Self {
        self.resource_id = Some(resource_id.into());
        self
    }

    /// Add one parameter to `action_details`.
    pub fn with_parameter(mut self, key: impl Into<String>, value: Value) -> Self {
        self.action_details.insert(key.into(), value);
        self
    }

    /// Add one context entry.
    pub fn with_context(mut self, key: impl Into<String>, value: Value) -> Self {
        self.context.insert(key.into(), value);
        self
    }

    /// Add one risk indicator.
    pub fn with_risk_indicator(mut self, key: impl Into<String>, value: Value) -> Self {
        self.risk_indicators.insert(key.into(), value);
        self
    }

    /// Set `action_details.tool_name`.
    pub fn with_tool_name(self, tool_name: impl Into<String>) -> Self {
        self.with_parameter("tool_name", Value::String(tool_name.into()))
    }

    /// Set `action_details.description`.
    pub fn with_description(self, description: impl Into<String>) -> Self {
        self.with_parameter("description", Value::String(description.into()))
    }

    /// Set the MCP server name.
    pub fn with_mcp_server(mut self, name: impl Into<String>) -> Self {
        self.mcp_server_name = Some(name.into());
        self
    }
}

/// Well-known action types of the protocol. Any other string is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionType;

impl ActionType {
    /// Reading data.
    pub const DATA_ACCESS: &'static str = "data_access";
    /// Changing data.
    pub const DATA_MODIFICATION: &'static str = "data_modification";
    /// Moving money.
    pub const TRANSACTION: &'static str = "transaction";
    /// Recommending something to a person.
    pub const RECOMMENDATION: &'static str = "recommendation";
    /// Sending a message (email, chat, SMS).
    pub const COMMUNICATION: &'static str = "communication";
    /// Operating a system (processes, configuration).
    pub const SYSTEM_OPERATION: &'static str = "system_operation";
    /// Querying.
    pub const QUERY: &'static str = "query";
    /// Analysing data.
    pub const ANALYSIS: &'static str = "analysis";
    /// Producing a report.
    pub const REPORT_GENERATION: &'static str = "report_generation";
    /// Calling an external API.
    pub const API_CALL: &'static str = "api_call";
    /// Reading a database.
    pub const DATABASE_READ: &'static str = "database.read";
    /// Writing a database.
    pub const DATABASE_WRITE: &'static str = "database.write";
    /// Deleting from a database.
    pub const DATABASE_DELETE: &'static str = "database.delete";
}

/// A fresh idempotency key for one submit: a random (version 4) UUID drawn from the calling
/// thread's fast RNG instead of the operating system's (no system call per governed call).
/// The key only has to be unique — retries of one submit reuse it so the server never creates
/// a second action — not secret: the request carrying it is authenticated by the API key.
/// Formatted in place (no allocation): backends borrow it as a `&str`.
pub(crate) fn idempotency_key() -> IdempotencyKey {
    let mut text = [0_u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Builder::from_random_bytes(fastrand::u128(..).to_le_bytes())
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut text);
    IdempotencyKey(text)
}

/// A hyphenated UUID, held inline.
pub(crate) struct IdempotencyKey([u8; uuid::fmt::Hyphenated::LENGTH]);

impl IdempotencyKey {
    pub(crate) fn as_str(&self) -> &str {
        // Always ASCII (hex digits and hyphens, written by `encode_lower`).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

#[cfg(test)]
mod key_tests {
    #[test]
    fn idempotency_keys_are_v4_uuids_and_differ() {
        let a = super::idempotency_key();
        let b = super::idempotency_key();
        assert_ne!(a.as_str(), b.as_str());
        let parsed = uuid::Uuid::parse_str(a.as_str()).map(|u| u.get_version_num());
        assert_eq!(parsed.ok(), Some(4));
        assert_eq!(a.as_str().len(), 36);
    }
}
