//! Kill switches: per organisation or per agent, durable, pushed to connected SDKs at once.

use serde_json::json;

use ascend_runtime::wire::KillSwitchStatus;

use super::Governance;
use super::access::{self, Operation};
use crate::audit::Event;
use crate::error::{Error, Result};
use crate::model::{KillSwitchRecord, Principal, PushKind, now};
use crate::state::BusEvent;

/// Turn a switch on or off.
#[derive(Debug, Clone)]
pub struct KillSwitchInput {
    /// One agent, or (None) the whole organisation.
    pub agent_id: Option<String>,
    /// Halt (true) or release (false).
    pub active: bool,
    /// The operator's reason (required to halt).
    pub reason: Option<String>,
}

impl Governance {
    /// The state that applies to `agent` (the key's own agent for a bound key), or to the
    /// organisation.
    pub fn kill_switch_status(
        &self,
        p: &Principal,
        agent: Option<&str>,
    ) -> Result<KillSwitchStatus> {
        access::authorize(p, Operation::ReadKillSwitch)?;
        let asked = agent.map(crate::ident::fold);
        let agent = access::bound_agent(p, Operation::ReadKillSwitch).or(asked.as_deref());
        self.state.kill_status(p.org_id, agent)
    }

    /// Set a switch, durably, then push it to connected SDKs.
    pub async fn set_kill_switch(
        &self,
        p: &Principal,
        input: KillSwitchInput,
    ) -> Result<KillSwitchRecord> {
        access::authorize(p, Operation::SetKillSwitch)?;
        if input.active && input.reason.is_none() {
            return Err(Error::field("reason", "a reason is required"));
        }
        let agent_id = input
            .agent_id
            .as_deref()
            .map(|a| crate::ident::identifier("agent_id", a))
            .transpose()?;
        let at = now();
        let record = KillSwitchRecord {
            org_id: p.org_id,
            agent_id,
            active: input.active,
            reason: input.reason.clone(),
            activated_at: Some(at),
            activated_by: Some(p.name.clone()),
        };
        let audit = Event::KillSwitch(&record).draft(p.org_id, &p.name, at);
        self.state
            .store
            .set_kill_switch(record.clone(), audit)
            .await?;
        self.state
            .kill
            .write()
            .map_err(|_| Error::Internal("kill switch state poisoned".into()))?
            .set(record.clone());
        self.state.publish(BusEvent {
            key_id: None,
            org_id: p.org_id,
            agent_id: input.agent_id.clone(),
            push: Some(PushKind::KillSwitch),
            webhook: None,
            data: json!({"blocked": input.active, "reason": input.reason, "agent_id": input.agent_id}),
        });
        tracing::warn!(org = p.org_id, agent = ?input.agent_id, active = input.active, "kill switch changed");
        Ok(record)
    }
}
