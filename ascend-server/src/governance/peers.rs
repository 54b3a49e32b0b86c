//! What the other replicas of the same database changed, applied to this replica's memory:
//! keys, kill switches, agents, MCP registry, webhooks, organisations, and the events pushed to
//! connected SDKs. The store hears the changes ([`Store::changes`](crate::store::Store::changes));
//! this file is the one place they are applied.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedReceiver;

use crate::state::AppState;
use crate::store::Change;

/// Apply changes until the store's feed ends.
pub async fn follow(state: Arc<AppState>, mut changes: UnboundedReceiver<Change>) {
    while let Some(change) = changes.recv().await {
        apply(&state, change);
    }
}

/// Apply one change.
pub fn apply(state: &AppState, change: Change) {
    match change {
        Change::Org { id, name } => {
            if let Ok(mut orgs) = state.orgs.write() {
                orgs.insert(id, name);
            }
        }
        Change::Key(record) => state.keys.insert(record),
        Change::KillSwitch(record) => {
            tracing::warn!(
                org = record.org_id,
                agent = ?record.agent_id,
                active = record.active,
                "kill switch changed on another replica"
            );
            if let Ok(mut kill) = state.kill.write() {
                kill.set(record);
            }
        }
        Change::Agent(agent) => state.record_agent(&agent),
        Change::McpServer {
            org_id,
            server_name,
            record,
        } => match record {
            Some(r) => state.mcp.set(r),
            None => state.mcp.remove(org_id, &server_name),
        },
        Change::Webhooks { org_id } => crate::webhooks::invalidate(state, org_id),
        Change::Event(event) => state.publish_from_peer(event),
        Change::Resync(snapshot) => {
            let snapshot = *snapshot;
            if let Ok(mut orgs) = state.orgs.write() {
                orgs.extend(snapshot.orgs);
            }
            for k in snapshot.keys {
                state.keys.insert(k);
            }
            if let Ok(mut kill) = state.kill.write() {
                for k in snapshot.kill_switches {
                    kill.set(k);
                }
            }
            for a in &snapshot.agents {
                state.record_agent(a);
            }
            state.mcp.reset(snapshot.mcp_servers);
            if let Ok(mut cache) = state.webhook_cache.write() {
                cache.clear();
            }
            tracing::info!("caught up with the other replicas");
        }
    }
}
