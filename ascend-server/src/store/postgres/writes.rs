//! The SQL of each write, run inside one transaction with its audit entry ([`append`]) and
//! the notice that tells the other replicas ([`notify`]).
//!
//! The audit chain of an organisation is serialised by a row lock on its `audit_heads` row,
//! taken by [`append`] as the last step of a write: the lock is held only from there to the
//! commit, and only writers of the same organisation wait on it.

use deadpool_postgres::Transaction;
use serde_json::{Value, json};
use tokio_postgres::error::SqlState;

use super::rows;
use crate::audit::chain::{GENESIS, entry_hash, parse_hash};
use crate::error::{Error, Result};
use crate::model::{
    ActionOutcome, ActionRecord, ActionState, AgentRecord, ApiKeyRecord, AuditDraft,
    DeliveryAttempt, KillSwitchRecord, McpServerRecord, NewAction, Timestamp, Webhook,
};
use crate::store::OutcomeWrite;
use ascend_runtime::Decision;

/// The channel of the notices about changed state.
pub const CHANGES: &str = "ascend_changes";
/// The channel of events pushed to connected SDKs.
pub const EVENTS: &str = "ascend_events";

/// Lock the organisation's head row (creating it at seq 0) and read it, in one statement.
const LOCK_HEAD: &str = "INSERT INTO audit_heads (org_id, seq, hash, updated_at) \
    VALUES ($1, 0, $2, $3) ON CONFLICT (org_id) DO UPDATE SET org_id = EXCLUDED.org_id \
    RETURNING seq, hash";

const APPEND: &str = "WITH entry AS (INSERT INTO audit_log (org_id, seq, ts, kind, actor, subject, \
    payload, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)) \
    UPDATE audit_heads SET seq = $2, hash = $9, updated_at = $3 WHERE org_id = $1";

/// Append an entry to its organisation's chain (see the module documentation).
pub async fn append(tx: &Transaction<'_>, draft: &AuditDraft) -> Result<()> {
    let payload = serde_json::to_string(&draft.payload)?;
    let ts = draft.ts.to_rfc3339();
    let genesis = hex::encode(GENESIS);
    let head = tx
        .query_one(
            &tx.prepare_cached(LOCK_HEAD).await?,
            &[&draft.org_id, &genesis, &ts],
        )
        .await?;
    let (last, prev_hex): (i64, String) = (head.try_get(0)?, head.try_get(1)?);
    let prev = parse_hash(&prev_hex)
        .ok_or_else(|| Error::Internal(format!("malformed chain head of org {}", draft.org_id)))?;
    let seq = last
        .checked_add(1)
        .ok_or_else(|| Error::Internal("audit sequence overflow".into()))?;
    let kind = draft.kind.as_str();
    let hash = hex::encode(entry_hash(
        draft.org_id,
        seq,
        &ts,
        kind,
        &draft.actor,
        &draft.subject,
        &payload,
        &prev,
    ));
    tx.execute(
        &tx.prepare_cached(APPEND).await?,
        &[
            &draft.org_id,
            &seq,
            &ts,
            &kind,
            &draft.actor,
            &draft.subject,
            &payload,
            &prev_hex,
            &hash,
        ],
    )
    .await?;
    Ok(())
}

/// Tell the other replicas, at commit, what changed (`notice` names it; they read it back).
pub async fn notify(tx: &Transaction<'_>, replica: &str, mut notice: Value) -> Result<()> {
    if let Some(o) = notice.as_object_mut() {
        o.insert("r".into(), Value::String(replica.to_owned()));
    }
    tx.execute(
        &tx.prepare_cached("SELECT pg_notify($1, $2)").await?,
        &[&CHANGES, &notice.to_string()],
    )
    .await?;
    Ok(())
}

pub async fn ensure_org(tx: &Transaction<'_>, name: &str, at: &Timestamp) -> Result<(i64, bool)> {
    let inserted = tx
        .query_opt(
            "INSERT INTO orgs (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING \
             RETURNING id",
            &[&name, &at.to_rfc3339()],
        )
        .await?;
    if let Some(row) = inserted {
        return Ok((row.try_get(0)?, true));
    }
    let row = tx
        .query_one("SELECT id FROM orgs WHERE name = $1", &[&name])
        .await?;
    Ok((row.try_get(0)?, false))
}

pub async fn insert_key(tx: &Transaction<'_>, key: &ApiKeyRecord) -> Result<()> {
    tx.execute(
        "INSERT INTO api_keys (key_id, org_id, role, agent_id, key_hash, name, created_at, owner, \
         created_by, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &key.key_id,
            &key.org_id,
            &key.role.as_str(),
            &key.agent_id,
            &key.key_hash.as_slice(),
            &key.name,
            &key.created_at.to_rfc3339(),
            &key.owner,
            &key.created_by,
            &key.expires_at.map(|t| t.to_rfc3339()),
            &key.revoked_at.map(|t| t.to_rfc3339()),
        ],
    )
    .await?;
    Ok(())
}

pub async fn revoke_key(
    tx: &Transaction<'_>,
    org_id: i64,
    key_id: &str,
    at: Timestamp,
) -> Result<()> {
    let n = tx
        .execute(
            "UPDATE api_keys SET revoked_at = $1 WHERE org_id = $2 AND key_id = $3 \
             AND revoked_at IS NULL",
            &[&at.to_rfc3339(), &org_id, &key_id],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound(format!(
            "key {key_id} not found or already revoked"
        )));
    }
    Ok(())
}

const INSERT_ACTION: &str = "INSERT INTO actions (id, org_id, agent_id, agent_name, action_type, \
    resource, resource_id, status, request, body, submitted_key, idempotency_key, request_hash, \
    approval, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
    $11, $12, $13, $14, $15, $16, $16)";

pub async fn insert_action(tx: &Transaction<'_>, a: &NewAction) -> Result<()> {
    let approval = a.approval.as_ref().map(serde_json::to_string).transpose()?;
    let expires_at = a
        .approval
        .as_ref()
        .and_then(|x| x.expires_at)
        .map(|t| t.to_rfc3339());
    tx.execute(
        &tx.prepare_cached(INSERT_ACTION).await?,
        &[
            &a.id,
            &a.org_id,
            &a.agent_id,
            &a.agent_name,
            &a.action_type,
            &a.resource,
            &a.resource_id,
            &a.body.status,
            &serde_json::to_string(&a.request)?,
            &serde_json::to_string(&a.body)?,
            &a.submitted_key,
            &a.idempotency_key,
            &a.request_hash,
            &approval,
            &expires_at,
            &a.created_at.to_rfc3339(),
        ],
    )
    .await
    .map_err(|e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            Error::Conflict("idempotency key already used".into())
        } else {
            Error::from(e)
        }
    })?;
    Ok(())
}

/// The action, locked until the transaction ends (concurrent votes apply one after another).
pub async fn lock_action(tx: &Transaction<'_>, org_id: i64, id: i64) -> Result<ActionRecord> {
    let sql = format!(
        "{} WHERE org_id = $1 AND id = $2 FOR UPDATE",
        rows::ACTION_COLS
    );
    let row = tx
        .query_opt(&tx.prepare_cached(&sql).await?, &[&org_id, &id])
        .await?
        .ok_or_else(|| Error::NotFound(format!("action {id} not found")))?;
    rows::action(&row)
}

pub async fn save_action_state(tx: &Transaction<'_>, a: &ActionRecord) -> Result<()> {
    let approval = a.approval.as_ref().map(serde_json::to_string).transpose()?;
    let detail = a
        .outcome_detail
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    tx.execute(
        "UPDATE actions SET status = $1, body = $2, approval = $3, outcome = $4, \
         outcome_detail = $5, updated_at = $6 WHERE org_id = $7 AND id = $8",
        &[
            &a.body.status,
            &serde_json::to_string(&a.body)?,
            &approval,
            &a.outcome.map(ActionOutcome::as_str),
            &detail,
            &a.updated_at.to_rfc3339(),
            &a.org_id,
            &a.id,
        ],
    )
    .await?;
    Ok(())
}

/// Record an outcome report once its check accepted the stored action, with its audit entry.
pub async fn record_outcome(tx: &Transaction<'_>, o: OutcomeWrite) -> Result<()> {
    let row = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT agent_id, status, outcome, submitted_key FROM actions \
                 WHERE org_id = $1 AND id = $2 FOR UPDATE",
            )
            .await?,
            &[&o.org_id, &o.id],
        )
        .await?
        .ok_or_else(|| Error::NotFound(format!("action {} not found", o.id)))?;
    let status: String = row.try_get(1)?;
    let outcome: Option<String> = row.try_get(2)?;
    let state = ActionState {
        id: o.id,
        agent_id: row.try_get(0)?,
        submitted_key: row.try_get(3)?,
        allowed: status == Decision::Allowed.as_status_str(),
        status,
        outcome: outcome.as_deref().and_then(ActionOutcome::parse),
    };
    let audit = (o.check)(&state)?;
    tx.execute(
        &tx.prepare_cached(
            "UPDATE actions SET outcome = $1, outcome_detail = $2, updated_at = $3 \
             WHERE org_id = $4 AND id = $5",
        )
        .await?,
        &[
            &o.outcome.as_str(),
            &serde_json::to_string(&o.detail)?,
            &o.at.to_rfc3339(),
            &o.org_id,
            &o.id,
        ],
    )
    .await?;
    append(tx, &audit).await
}

pub async fn set_kill_switch(tx: &Transaction<'_>, r: &KillSwitchRecord) -> Result<()> {
    tx.execute(
        "INSERT INTO kill_switches (org_id, agent_id, active, reason, activated_at, activated_by) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, agent_id) DO UPDATE SET \
         active = EXCLUDED.active, reason = EXCLUDED.reason, \
         activated_at = EXCLUDED.activated_at, activated_by = EXCLUDED.activated_by",
        &[
            &r.org_id,
            &r.agent_id.clone().unwrap_or_default(),
            &r.active,
            &r.reason,
            &r.activated_at.map(|t| t.to_rfc3339()),
            &r.activated_by,
        ],
    )
    .await?;
    Ok(())
}

pub async fn upsert_agent(tx: &Transaction<'_>, a: &AgentRecord) -> Result<()> {
    tx.execute(
        "INSERT INTO agents (org_id, agent_id, display_name, agent_type, environment, metadata, \
         registered_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org_id, agent_id) DO \
         UPDATE SET display_name = EXCLUDED.display_name, agent_type = EXCLUDED.agent_type, \
         environment = EXCLUDED.environment, metadata = EXCLUDED.metadata",
        &[
            &a.org_id,
            &a.agent_id,
            &a.display_name,
            &a.agent_type,
            &a.environment,
            &serde_json::to_string(&a.metadata)?,
            &a.registered_at.to_rfc3339(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn insert_webhook(tx: &Transaction<'_>, h: &Webhook) -> Result<i64> {
    let row = tx
        .query_one(
            "INSERT INTO webhooks (org_id, url, events, secret, agent_id, active, created_at, \
             created_key, only_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            &[
                &h.org_id,
                &h.url,
                &serde_json::to_string(&h.events)?,
                &h.secret,
                &h.agent_id,
                &h.active,
                &h.created_at.to_rfc3339(),
                &h.created_key,
                &h.only_key,
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}

pub async fn update_webhook(tx: &Transaction<'_>, h: &Webhook) -> Result<()> {
    let n = tx
        .execute(
            "UPDATE webhooks SET url = $1, events = $2, secret = $3, active = $4 \
             WHERE org_id = $5 AND id = $6",
            &[
                &h.url,
                &serde_json::to_string(&h.events)?,
                &h.secret,
                &h.active,
                &h.org_id,
                &h.id,
            ],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound(format!("webhook {} not found", h.id)));
    }
    Ok(())
}

pub async fn delete_webhook(tx: &Transaction<'_>, org_id: i64, id: i64) -> Result<()> {
    let n = tx
        .execute(
            "DELETE FROM webhooks WHERE org_id = $1 AND id = $2",
            &[&org_id, &id],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound(format!("webhook {id} not found")));
    }
    Ok(())
}

pub async fn log_delivery(tx: &Transaction<'_>, d: &DeliveryAttempt) -> Result<()> {
    tx.execute(
        "INSERT INTO webhook_deliveries (webhook_id, org_id, event, attempt, status_code, error, \
         latency_ms, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &d.webhook_id,
            &d.org_id,
            &d.event,
            &i64::from(d.attempt),
            &d.status_code.map(i32::from),
            &d.error,
            &d.latency_ms,
            &d.at.to_rfc3339(),
        ],
    )
    .await?;
    Ok(())
}

pub async fn upsert_mcp_server(
    tx: &Transaction<'_>,
    m: &McpServerRecord,
) -> Result<McpServerRecord> {
    let sql = format!(
        "INSERT INTO mcp_servers (org_id, server_name, display_name, description, transport_type, \
         server_url, connection_config, governance_enabled, active, auto_approve_tools, \
         blocked_tools, tool_risk_overrides, deactivation_reason, deactivated_at, deactivated_by, \
         registered_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18) ON CONFLICT (org_id, server_name) DO UPDATE SET \
         display_name = EXCLUDED.display_name, description = EXCLUDED.description, \
         transport_type = EXCLUDED.transport_type, server_url = EXCLUDED.server_url, \
         connection_config = EXCLUDED.connection_config, \
         governance_enabled = EXCLUDED.governance_enabled, active = EXCLUDED.active, \
         auto_approve_tools = EXCLUDED.auto_approve_tools, blocked_tools = EXCLUDED.blocked_tools, \
         tool_risk_overrides = EXCLUDED.tool_risk_overrides, \
         deactivation_reason = EXCLUDED.deactivation_reason, \
         deactivated_at = EXCLUDED.deactivated_at, deactivated_by = EXCLUDED.deactivated_by, \
         updated_at = EXCLUDED.updated_at RETURNING {}",
        rows::MCP_COLS
            .trim_start_matches("SELECT ")
            .trim_end_matches(" FROM mcp_servers")
    );
    let row = tx
        .query_one(
            &sql,
            &[
                &m.org_id,
                &m.server_name,
                &m.display_name,
                &m.description,
                &m.transport_type,
                &m.server_url,
                &serde_json::to_string(&m.connection_config)?,
                &m.governance_enabled,
                &m.active,
                &serde_json::to_string(&m.auto_approve_tools)?,
                &serde_json::to_string(&m.blocked_tools)?,
                &serde_json::to_string(&m.tool_risk_overrides)?,
                &m.deactivation_reason,
                &m.deactivated_at.map(|t| t.to_rfc3339()),
                &m.deactivated_by,
                &m.registered_by,
                &m.created_at.to_rfc3339(),
                &m.updated_at.to_rfc3339(),
            ],
        )
        .await?;
    rows::mcp(&row)
}

pub async fn delete_mcp_server(tx: &Transaction<'_>, org_id: i64, name: &str) -> Result<()> {
    let n = tx
        .execute(
            "DELETE FROM mcp_servers WHERE org_id = $1 AND server_name = $2",
            &[&org_id, &name],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound(format!("MCP server {name:?} not found")));
    }
    Ok(())
}

/// The notices of each kind of change (what [`super::feed`] reads back).
pub mod notice {
    use super::{Value, json};

    pub fn org(id: i64) -> Value {
        json!({"t": "org", "org": id})
    }
    pub fn key(key_id: &str) -> Value {
        json!({"t": "key", "id": key_id})
    }
    pub fn kill_switch(org_id: i64, agent_id: Option<&str>) -> Value {
        json!({"t": "kill", "org": org_id, "id": agent_id.unwrap_or_default()})
    }
    pub fn agent(org_id: i64, agent_id: &str) -> Value {
        json!({"t": "agent", "org": org_id, "id": agent_id})
    }
    pub fn mcp(org_id: i64, name: &str) -> Value {
        json!({"t": "mcp", "org": org_id, "id": name})
    }
    pub fn webhooks(org_id: i64) -> Value {
        json!({"t": "webhooks", "org": org_id})
    }
}
