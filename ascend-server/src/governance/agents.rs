//! The agent registry.

use serde_json::{Map, Value, json};

use super::Governance;
use super::access::{self, Operation};
use crate::audit::Event;
use crate::error::{Error, Result};
use crate::model::{AgentRecord, Principal, WebhookEvent, now};
use crate::state::BusEvent;

/// An agent to register (or update).
#[derive(Debug, Clone, Default)]
pub struct AgentInput {
    /// Agent id.
    pub agent_id: String,
    /// Display name (default: the id).
    pub display_name: Option<String>,
    /// `supervised` (default), `autonomous`, …
    pub agent_type: Option<String>,
    /// Environment (default production).
    pub environment: Option<String>,
    /// Capabilities, allowed resources, SDK version and free metadata.
    pub metadata: Map<String, Value>,
}

/// The trust level an agent type implies.
pub fn trust_level(agent_type: &str) -> &'static str {
    if agent_type.eq_ignore_ascii_case("autonomous") {
        "restricted"
    } else {
        "standard"
    }
}

impl Governance {
    /// Register an agent (idempotent). Returns the record and whether it existed before.
    /// An agent whose trust level changes is announced (`agent.trust_changed`).
    pub async fn register_agent(
        &self,
        p: &Principal,
        input: AgentInput,
    ) -> Result<(AgentRecord, bool)> {
        access::authorize(p, Operation::RegisterAgent)?;
        let agent_id = input.agent_id.trim().to_owned();
        if agent_id.is_empty() {
            return Err(Error::field("agent_id", "field required"));
        }
        let agent_id =
            access::acting_agent(p, Operation::RegisterAgent, Some(&agent_id))?.unwrap_or(agent_id);
        let previous = self.state.agent_type(p.org_id, &agent_id);
        let at = now();
        let agent = AgentRecord {
            org_id: p.org_id,
            agent_id: agent_id.clone(),
            display_name: input.display_name.unwrap_or_else(|| agent_id.clone()),
            agent_type: input.agent_type.unwrap_or_else(|| "supervised".into()),
            environment: input.environment.unwrap_or_else(|| "production".into()),
            metadata: Value::Object(crate::redact::redact_map(&input.metadata)),
            registered_at: at,
        };
        let audit = Event::AgentRegistered(&agent).draft(p.org_id, &p.name, at);
        self.state.store.upsert_agent(agent.clone(), audit).await?;
        self.state.record_agent(&agent);
        if let Some(before) = &previous {
            let (was, now_level) = (trust_level(before), trust_level(&agent.agent_type));
            if was != now_level {
                self.state.publish(BusEvent {
                    key_id: None,
                    org_id: p.org_id,
                    agent_id: Some(agent_id.clone()),
                    push: None,
                    webhook: Some(WebhookEvent::AgentTrustChanged),
                    data: json!({"agent_id": agent_id, "previous_trust_level": was,
                                 "trust_level": now_level, "agent_type": agent.agent_type}),
                });
            }
        }
        Ok((agent, previous.is_some()))
    }
}
