//! Reading records back from PostgreSQL rows (the column lists and their decoders).

use ascend_runtime::wire::DecisionBody;
use serde_json::Value;
use tokio_postgres::Row;

use crate::error::{Error, Result};
use crate::model::{
    ActionOutcome, ActionRecord, AgentRecord, ApiKeyRecord, ApprovalState, AuditEntry,
    KillSwitchRecord, McpServerRecord, Role, Timestamp, Webhook,
};

pub const ACTION_COLS: &str = "SELECT id, org_id, agent_id, agent_name, action_type, resource, \
    resource_id, request, body, submitted_key, approval, outcome, outcome_detail, created_at, \
    updated_at FROM actions";

pub const KEY_COLS: &str = "SELECT key_id, org_id, role, agent_id, key_hash, name, created_at, \
    owner, created_by, expires_at, revoked_at FROM api_keys";

pub const KILL_COLS: &str =
    "SELECT org_id, agent_id, active, reason, activated_at, activated_by FROM kill_switches";

pub const AGENT_COLS: &str = "SELECT org_id, agent_id, display_name, agent_type, environment, \
    metadata, registered_at FROM agents";

pub const WEBHOOK_COLS: &str = "SELECT id, org_id, url, events, secret, agent_id, active, \
    created_at, created_key, only_key FROM webhooks";

pub const MCP_COLS: &str = "SELECT id, org_id, server_name, display_name, description, \
    transport_type, server_url, connection_config, governance_enabled, active, auto_approve_tools, \
    blocked_tools, tool_risk_overrides, deactivation_reason, deactivated_at, deactivated_by, \
    registered_by, created_at, updated_at FROM mcp_servers";

pub const AUDIT_COLS: &str =
    "SELECT id, org_id, seq, ts, kind, actor, subject, payload, prev_hash, hash FROM audit_log";

fn ts(r: &Row, i: usize) -> Result<Timestamp> {
    let text: String = r.try_get(i)?;
    Timestamp::parse(&text)
        .ok_or_else(|| Error::Internal(format!("not an RFC 3339 time in the database: {text:?}")))
}

fn ts_opt(r: &Row, i: usize) -> Result<Option<Timestamp>> {
    let text: Option<String> = r.try_get(i)?;
    match text {
        None => Ok(None),
        Some(t) => Timestamp::parse(&t)
            .map(Some)
            .ok_or_else(|| Error::Internal(format!("not an RFC 3339 time in the database: {t:?}"))),
    }
}

fn json(r: &Row, i: usize) -> Result<Value> {
    let text: String = r.try_get(i)?;
    Ok(serde_json::from_str(&text)?)
}

pub fn action(r: &Row) -> Result<ActionRecord> {
    let body: String = r.try_get(8)?;
    let body: DecisionBody = serde_json::from_str(&body)?;
    let approval: Option<String> = r.try_get(10)?;
    let approval: Option<ApprovalState> = approval.and_then(|s| serde_json::from_str(&s).ok());
    let outcome: Option<String> = r.try_get(11)?;
    let detail: Option<String> = r.try_get(12)?;
    Ok(ActionRecord {
        id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        agent_id: r.try_get(2)?,
        agent_name: r.try_get(3)?,
        action_type: r.try_get(4)?,
        resource: r.try_get(5)?,
        resource_id: r.try_get(6)?,
        request: json(r, 7)?,
        body,
        submitted_key: r.try_get(9)?,
        approval,
        outcome: outcome.as_deref().and_then(ActionOutcome::parse),
        outcome_detail: detail.and_then(|s| serde_json::from_str(&s).ok()),
        created_at: ts(r, 13)?,
        updated_at: ts(r, 14)?,
    })
}

/// A key, or None for a row whose role this build does not know (it cannot authenticate).
pub fn key(r: &Row) -> Result<Option<ApiKeyRecord>> {
    let role: String = r.try_get(2)?;
    let Ok(parsed) = role.parse::<Role>() else {
        return Ok(None);
    };
    let hash: Vec<u8> = r.try_get(4)?;
    let Ok(key_hash) = <[u8; 32]>::try_from(hash) else {
        return Ok(None);
    };
    let name: String = r.try_get(5)?;
    Ok(Some(ApiKeyRecord {
        key_id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        role: parsed,
        agent_id: r.try_get(3)?,
        key_hash,
        owner: r.try_get::<_, Option<String>>(7)?.unwrap_or(name.clone()),
        name,
        created_at: ts(r, 6)?,
        created_by: r.try_get(8)?,
        expires_at: ts_opt(r, 9)?,
        revoked_at: ts_opt(r, 10)?,
    }))
}

pub fn kill_switch(r: &Row) -> Result<KillSwitchRecord> {
    let agent: String = r.try_get(1)?;
    Ok(KillSwitchRecord {
        org_id: r.try_get(0)?,
        agent_id: (!agent.is_empty()).then_some(agent),
        active: r.try_get(2)?,
        reason: r.try_get(3)?,
        activated_at: ts_opt(r, 4)?,
        activated_by: r.try_get(5)?,
    })
}

pub fn agent(r: &Row) -> Result<AgentRecord> {
    Ok(AgentRecord {
        org_id: r.try_get(0)?,
        agent_id: r.try_get(1)?,
        display_name: r.try_get(2)?,
        agent_type: r.try_get(3)?,
        environment: r.try_get(4)?,
        metadata: json(r, 5)?,
        registered_at: ts(r, 6)?,
    })
}

pub fn webhook(r: &Row) -> Result<Webhook> {
    let events: String = r.try_get(3)?;
    Ok(Webhook {
        id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        url: r.try_get(2)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        secret: r.try_get(4)?,
        agent_id: r.try_get(5)?,
        active: r.try_get(6)?,
        created_at: ts(r, 7)?,
        created_key: r.try_get(8)?,
        only_key: r.try_get(9)?,
    })
}

pub fn mcp(r: &Row) -> Result<McpServerRecord> {
    let list = |i: usize| -> Result<Vec<String>> {
        let s: String = r.try_get(i)?;
        Ok(serde_json::from_str(&s).unwrap_or_default())
    };
    let overrides: String = r.try_get(12)?;
    Ok(McpServerRecord {
        id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        server_name: r.try_get(2)?,
        display_name: r.try_get(3)?,
        description: r.try_get(4)?,
        transport_type: r.try_get(5)?,
        server_url: r.try_get(6)?,
        connection_config: json(r, 7)?,
        governance_enabled: r.try_get(8)?,
        active: r.try_get(9)?,
        auto_approve_tools: list(10)?,
        blocked_tools: list(11)?,
        tool_risk_overrides: serde_json::from_str(&overrides).unwrap_or_default(),
        deactivation_reason: r.try_get(13)?,
        deactivated_at: ts_opt(r, 14)?,
        deactivated_by: r.try_get(15)?,
        registered_by: r.try_get(16)?,
        created_at: ts(r, 17)?,
        updated_at: ts(r, 18)?,
    })
}

pub fn audit(r: &Row) -> Result<AuditEntry> {
    Ok(AuditEntry {
        row_id: r.try_get(0)?,
        org_id: r.try_get(1)?,
        seq: r.try_get(2)?,
        ts: r.try_get(3)?,
        kind: r.try_get(4)?,
        actor: r.try_get(5)?,
        subject: r.try_get(6)?,
        payload: r.try_get(7)?,
        prev_hash: r.try_get(8)?,
        hash: r.try_get(9)?,
    })
}
