//! The SQL of each write: one function per change, run by the writer inside its transaction.

use rusqlite::{OptionalExtension, params};

use super::writer::Writer;
use super::{ACTION_COLS, MCP_COLS, action_from_row, mcp_from_row};
use crate::error::{Error, Result};
use crate::store::OutcomeWrite;
use ascend_runtime::Decision;

use crate::model::{
    ActionOutcome, ActionRecord, ActionState, AgentRecord, ApiKeyRecord, DeliveryAttempt,
    KillSwitchRecord, McpServerRecord, NewAction, Timestamp, Webhook,
};

pub(super) fn ensure_org(w: &mut Writer<'_, '_>, name: &str, at: &Timestamp) -> Result<i64> {
    w.tx.prepare_cached("INSERT OR IGNORE INTO orgs (name, created_at) VALUES (?1, ?2)")?
        .execute(params![name, at])?;
    Ok(w.tx
        .query_row("SELECT id FROM orgs WHERE name = ?1", params![name], |r| {
            r.get(0)
        })?)
}

pub(super) fn insert_key(w: &mut Writer<'_, '_>, key: &ApiKeyRecord) -> Result<()> {
    w.tx.prepare_cached(
        "INSERT INTO api_keys (key_id, org_id, role, agent_id, key_hash, name, created_at, owner, \
         created_by, expires_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        key.key_id,
        key.org_id,
        key.role.as_str(),
        key.agent_id,
        key.key_hash.as_slice(),
        key.name,
        key.created_at,
        key.owner,
        key.created_by,
        key.expires_at,
        key.revoked_at
    ])?;
    Ok(())
}

pub(super) fn revoke_key(
    w: &mut Writer<'_, '_>,
    org_id: i64,
    key_id: &str,
    at: Timestamp,
) -> Result<()> {
    let n =
        w.tx.prepare_cached(
            "UPDATE api_keys SET revoked_at = ?1 WHERE org_id = ?2 AND key_id = ?3 \
             AND revoked_at IS NULL",
        )?
        .execute(params![at, org_id, key_id])?;
    if n == 0 {
        return Err(Error::NotFound(format!(
            "key {key_id} not found or already revoked"
        )));
    }
    Ok(())
}

/// An action row ready to bind: its JSON columns rendered on the caller's thread, so the writer
/// (which every commit waits on) only binds and inserts, and the decision body is dropped there
/// too.
pub(super) struct ActionRow {
    pub(super) id: i64,
    org_id: i64,
    agent_id: String,
    agent_name: String,
    action_type: String,
    resource: String,
    resource_id: Option<String>,
    status: String,
    request: String,
    body: String,
    submitted_key: String,
    idempotency_key: Option<String>,
    request_hash: Option<String>,
    approval: Option<String>,
    expires_at: Option<Timestamp>,
    created_at: Timestamp,
}

/// JSON text with room for a typical decision body, so rendering it does not regrow the buffer.
fn json_text(v: &impl serde::Serialize, capacity: usize) -> Result<String> {
    let mut buf = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut buf, v)?;
    String::from_utf8(buf).map_err(|e| Error::Internal(format!("JSON output: {e}")))
}

impl ActionRow {
    pub(super) fn render(a: NewAction) -> Result<Self> {
        let approval = a.approval.as_ref().map(|x| json_text(x, 256)).transpose()?;
        let expires_at = a.approval.as_ref().and_then(|x| x.expires_at);
        Ok(Self {
            request: json_text(&a.request, 512)?,
            body: json_text(&a.body, 2048)?,
            status: a.body.status,
            id: a.id,
            org_id: a.org_id,
            agent_id: a.agent_id,
            agent_name: a.agent_name,
            action_type: a.action_type,
            resource: a.resource,
            resource_id: a.resource_id,
            submitted_key: a.submitted_key,
            idempotency_key: a.idempotency_key,
            request_hash: a.request_hash,
            approval,
            expires_at,
            created_at: a.created_at,
        })
    }
}

pub(super) fn insert_action(w: &mut Writer<'_, '_>, a: &ActionRow) -> Result<()> {
    w.tx.prepare_cached(
        "INSERT INTO actions (id, org_id, agent_id, agent_name, action_type, resource, resource_id, \
         status, request, body, submitted_key, idempotency_key, request_hash, approval, expires_at, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?16)",
    )?
    .execute(params![
        a.id,
        a.org_id,
        a.agent_id,
        a.agent_name,
        a.action_type,
        a.resource,
        a.resource_id,
        a.status,
        a.request,
        a.body,
        a.submitted_key,
        a.idempotency_key,
        a.request_hash,
        a.approval,
        a.expires_at,
        a.created_at
    ])
    .map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            Error::Conflict("idempotency key already used".into())
        }
        other => Error::from(other),
    })?;
    Ok(())
}

pub(super) fn load_action(w: &mut Writer<'_, '_>, org_id: i64, id: i64) -> Result<ActionRecord> {
    w.tx.prepare_cached(&format!("{ACTION_COLS} WHERE org_id = ?1 AND id = ?2"))?
        .query_row(params![org_id, id], action_from_row)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("action {id} not found")))
}

pub(super) fn save_action_state(w: &mut Writer<'_, '_>, a: &ActionRecord) -> Result<()> {
    let approval = a.approval.as_ref().map(serde_json::to_string).transpose()?;
    w.tx.prepare_cached(
        "UPDATE actions SET status = ?1, body = ?2, approval = ?3, outcome = ?4, outcome_detail = ?5, \
         updated_at = ?6 WHERE org_id = ?7 AND id = ?8",
    )?
    .execute(params![
        a.body.status,
        serde_json::to_string(&a.body)?,
        approval,
        a.outcome.map(|o| o.as_str()),
        a.outcome_detail
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?,
        a.updated_at,
        a.org_id,
        a.id
    ])?;
    Ok(())
}

pub(super) fn action_state(w: &mut Writer<'_, '_>, org_id: i64, id: i64) -> Result<ActionState> {
    w.tx.prepare_cached(
        "SELECT agent_id, status, outcome, submitted_key FROM actions WHERE org_id = ?1 AND id = ?2",
    )?
    .query_row(params![org_id, id], |r| {
        let status: String = r.get(1)?;
        let outcome: Option<String> = r.get(2)?;
        Ok(ActionState {
            id,
            agent_id: r.get(0)?,
            submitted_key: r.get(3)?,
            allowed: status == Decision::Allowed.as_status_str(),
            status,
            outcome: outcome.as_deref().and_then(ActionOutcome::parse),
        })
    })
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("action {id} not found")))
}

/// Record an outcome report once its check accepted the stored action, with its audit entry.
pub(super) fn record_outcome(w: &mut Writer<'_, '_>, o: OutcomeWrite) -> Result<()> {
    let state = action_state(w, o.org_id, o.id)?;
    let audit = (o.check)(&state)?;
    set_outcome(w, o.org_id, o.id, o.outcome, &o.detail, o.at)?;
    w.append_action(&audit, o.id)
}

pub(super) fn set_outcome(
    w: &mut Writer<'_, '_>,
    org_id: i64,
    id: i64,
    outcome: ActionOutcome,
    detail: &serde_json::Value,
    at: Timestamp,
) -> Result<()> {
    w.tx.prepare_cached(
        "UPDATE actions SET outcome = ?1, outcome_detail = ?2, updated_at = ?3 \
         WHERE org_id = ?4 AND id = ?5",
    )?
    .execute(params![
        outcome.as_str(),
        serde_json::to_string(detail)?,
        at,
        org_id,
        id
    ])?;
    Ok(())
}

pub(super) fn set_kill_switch(w: &mut Writer<'_, '_>, record: &KillSwitchRecord) -> Result<()> {
    w.tx.prepare_cached(
        "INSERT INTO kill_switches (org_id, agent_id, active, reason, activated_at, activated_by) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(org_id, agent_id) DO UPDATE SET \
         active = excluded.active, reason = excluded.reason, activated_at = excluded.activated_at, \
         activated_by = excluded.activated_by",
    )?
    .execute(params![
        record.org_id,
        record.agent_id.clone().unwrap_or_default(),
        i64::from(record.active),
        record.reason,
        record.activated_at,
        record.activated_by
    ])?;
    Ok(())
}

pub(super) fn upsert_agent(w: &mut Writer<'_, '_>, agent: &AgentRecord) -> Result<()> {
    w.tx.prepare_cached(
        "INSERT INTO agents (org_id, agent_id, display_name, agent_type, environment, metadata, registered_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(org_id, agent_id) DO UPDATE SET \
         display_name = excluded.display_name, agent_type = excluded.agent_type, \
         environment = excluded.environment, metadata = excluded.metadata",
    )?
    .execute(params![
        agent.org_id,
        agent.agent_id,
        agent.display_name,
        agent.agent_type,
        agent.environment,
        serde_json::to_string(&agent.metadata)?,
        agent.registered_at
    ])?;
    Ok(())
}

pub(super) fn insert_webhook(w: &mut Writer<'_, '_>, hook: &Webhook) -> Result<i64> {
    w.tx.prepare_cached(
        "INSERT INTO webhooks (org_id, url, events, secret, agent_id, active, created_at, \
         created_key, only_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        hook.org_id,
        hook.url,
        serde_json::to_string(&hook.events)?,
        hook.secret,
        hook.agent_id,
        i64::from(hook.active),
        hook.created_at,
        hook.created_key,
        hook.only_key
    ])?;
    Ok(w.tx.last_insert_rowid())
}

pub(super) fn update_webhook(w: &mut Writer<'_, '_>, hook: &Webhook) -> Result<()> {
    let n =
        w.tx.prepare_cached(
            "UPDATE webhooks SET url = ?1, events = ?2, secret = ?3, active = ?4 \
             WHERE org_id = ?5 AND id = ?6",
        )?
        .execute(params![
            hook.url,
            serde_json::to_string(&hook.events)?,
            hook.secret,
            i64::from(hook.active),
            hook.org_id,
            hook.id
        ])?;
    if n == 0 {
        return Err(Error::NotFound(format!("webhook {} not found", hook.id)));
    }
    Ok(())
}

pub(super) fn delete_webhook(w: &mut Writer<'_, '_>, org_id: i64, id: i64) -> Result<()> {
    let n =
        w.tx.prepare_cached("DELETE FROM webhooks WHERE org_id = ?1 AND id = ?2")?
            .execute(params![org_id, id])?;
    if n == 0 {
        return Err(Error::NotFound(format!("webhook {id} not found")));
    }
    Ok(())
}

pub(super) fn log_delivery(w: &mut Writer<'_, '_>, d: &DeliveryAttempt) -> Result<()> {
    w.tx.prepare_cached(
        "INSERT INTO webhook_deliveries (webhook_id, org_id, event, attempt, status_code, error, latency_ms, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        d.webhook_id,
        d.org_id,
        d.event,
        d.attempt,
        d.status_code,
        d.error,
        d.latency_ms,
        d.at
    ])?;
    Ok(())
}

pub(super) fn upsert_mcp_server(
    w: &mut Writer<'_, '_>,
    m: &McpServerRecord,
) -> Result<McpServerRecord> {
    w.tx.prepare_cached(
        "INSERT INTO mcp_servers (org_id, server_name, display_name, description, transport_type, \
         server_url, connection_config, governance_enabled, active, auto_approve_tools, blocked_tools, \
         tool_risk_overrides, deactivation_reason, deactivated_at, deactivated_by, registered_by, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, \
         ?15, ?16, ?17, ?18) ON CONFLICT(org_id, server_name) DO UPDATE SET \
         display_name = excluded.display_name, description = excluded.description, \
         transport_type = excluded.transport_type, server_url = excluded.server_url, \
         connection_config = excluded.connection_config, \
         governance_enabled = excluded.governance_enabled, active = excluded.active, \
         auto_approve_tools = excluded.auto_approve_tools, blocked_tools = excluded.blocked_tools, \
         tool_risk_overrides = excluded.tool_risk_overrides, \
         deactivation_reason = excluded.deactivation_reason, \
         deactivated_at = excluded.deactivated_at, deactivated_by = excluded.deactivated_by, \
         updated_at = excluded.updated_at",
    )?
    .execute(params![
        m.org_id,
        m.server_name,
        m.display_name,
        m.description,
        m.transport_type,
        m.server_url,
        serde_json::to_string(&m.connection_config)?,
        i64::from(m.governance_enabled),
        i64::from(m.active),
        serde_json::to_string(&m.auto_approve_tools)?,
        serde_json::to_string(&m.blocked_tools)?,
        serde_json::to_string(&m.tool_risk_overrides)?,
        m.deactivation_reason,
        m.deactivated_at,
        m.deactivated_by,
        m.registered_by,
        m.created_at,
        m.updated_at
    ])?;
    Ok(w.tx
        .prepare_cached(&format!(
            "{MCP_COLS} WHERE org_id = ?1 AND server_name = ?2"
        ))?
        .query_row(params![m.org_id, m.server_name], mcp_from_row)?)
}

pub(super) fn delete_mcp_server(
    w: &mut Writer<'_, '_>,
    org_id: i64,
    server_name: &str,
) -> Result<()> {
    let n =
        w.tx.prepare_cached("DELETE FROM mcp_servers WHERE org_id = ?1 AND server_name = ?2")?
            .execute(params![org_id, server_name])?;
    if n == 0 {
        return Err(Error::NotFound(format!(
            "MCP server {server_name:?} not found"
        )));
    }
    Ok(())
}
