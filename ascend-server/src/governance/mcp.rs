//! The MCP server registry (wire-protocol §3.1 #27–#30). What the registry does to MCP calls is
//! described in [`crate::mcp_registry`].

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::Governance;
use super::access::{self, Operation};
use crate::audit::Event;
use crate::error::{Error, Result};
use crate::model::{AuditKind, McpServerRecord, Principal, now};
use crate::redact::redact_map;

/// A server to register (or update, keyed by name).
#[derive(Debug, Clone, Default)]
pub struct McpServerInput {
    /// The name MCP calls carry.
    pub server_name: String,
    /// `stdio`, `http`, …
    pub transport_type: String,
    /// Apply the tool lists and overrides.
    pub governance_enabled: bool,
    /// Display name.
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// URL.
    pub server_url: Option<String>,
    /// Connection settings (secret-looking values are redacted before storing).
    pub connection_config: Map<String, Value>,
    /// Tools that skip approval below high risk.
    pub auto_approve_tools: Vec<String>,
    /// Tools always refused.
    pub blocked_tools: Vec<String>,
    /// Minimum risk score per tool.
    pub tool_risk_overrides: BTreeMap<String, f64>,
}

impl Governance {
    /// Register or update a server. Returns the entry and whether it was new.
    pub async fn register_mcp_server(
        &self,
        p: &Principal,
        input: McpServerInput,
    ) -> Result<(McpServerRecord, bool)> {
        access::authorize(p, Operation::ManageMcpRegistry)?;
        let mut input = input;
        input.server_name = crate::ident::identifier("server_name", &input.server_name)?;
        for list in [&mut input.auto_approve_tools, &mut input.blocked_tools] {
            for t in list.iter_mut() {
                *t = crate::ident::identifier("tools", t)?;
            }
        }
        input.tool_risk_overrides = std::mem::take(&mut input.tool_risk_overrides)
            .into_iter()
            .map(|(t, v)| Ok((crate::ident::identifier("tool_risk_overrides", &t)?, v)))
            .collect::<Result<_>>()?;
        let _guard = self.state.mcp.changes.lock().await;
        let existing = self.state.mcp.get(p.org_id, &input.server_name);
        let at = now();
        let e = existing.as_deref();
        let record = McpServerRecord {
            id: e.map(|e| e.id).unwrap_or_default(),
            org_id: p.org_id,
            server_name: input.server_name,
            display_name: input.display_name,
            description: input.description,
            transport_type: input.transport_type,
            server_url: input.server_url,
            // Never keep secrets the server does not need.
            connection_config: Value::Object(redact_map(&input.connection_config)),
            governance_enabled: input.governance_enabled,
            active: e.is_none_or(|e| e.active),
            auto_approve_tools: input.auto_approve_tools,
            blocked_tools: input.blocked_tools,
            tool_risk_overrides: input.tool_risk_overrides,
            deactivation_reason: e.and_then(|e| e.deactivation_reason.clone()),
            deactivated_at: e.and_then(|e| e.deactivated_at),
            deactivated_by: e.and_then(|e| e.deactivated_by.clone()),
            registered_by: e
                .map(|e| e.registered_by.clone())
                .unwrap_or_else(|| p.name.clone()),
            created_at: e.map(|e| e.created_at).unwrap_or_else(|| at),
            updated_at: at,
        };
        let kind = if existing.is_some() {
            AuditKind::McpServerUpdated
        } else {
            AuditKind::McpServerRegistered
        };
        let stored = self.save_mcp(p, record, kind, None).await?;
        Ok((stored, existing.is_none()))
    }

    /// The caller's organisation's registry.
    pub fn mcp_servers(&self, p: &Principal) -> Result<Vec<Arc<McpServerRecord>>> {
        access::authorize(p, Operation::ReadMcpRegistry)?;
        Ok(self.state.mcp.list(p.org_id))
    }

    /// One entry.
    pub fn mcp_server(&self, p: &Principal, name: &str) -> Result<Arc<McpServerRecord>> {
        access::authorize(p, Operation::ReadMcpRegistry)?;
        self.state
            .mcp
            .get(p.org_id, name)
            .ok_or_else(|| Error::NotFound(format!("MCP server {name:?} not found")))
    }

    /// Remove an entry; the entry as it was.
    pub async fn delete_mcp_server(
        &self,
        p: &Principal,
        name: &str,
    ) -> Result<Arc<McpServerRecord>> {
        access::authorize(p, Operation::ManageMcpRegistry)?;
        let _guard = self.state.mcp.changes.lock().await;
        let s = self.mcp_server(p, name)?;
        let audit = self.draft(
            p,
            &Event::McpServerDeleted {
                server_name: &s.server_name,
                id: s.id,
            },
        );
        self.state
            .store
            .delete_mcp_server(p.org_id, s.server_name.clone(), audit)
            .await?;
        self.state.mcp.remove(p.org_id, &s.server_name);
        Ok(s)
    }

    /// Activate or deactivate an entry (a deactivated server's calls are all refused).
    pub async fn set_mcp_server_active(
        &self,
        p: &Principal,
        name: &str,
        active: bool,
        reason: Option<String>,
    ) -> Result<McpServerRecord> {
        access::authorize(p, Operation::ManageMcpRegistry)?;
        let _guard = self.state.mcp.changes.lock().await;
        let current = self.mcp_server(p, name)?;
        let mut record = (*current).clone();
        let at = now();
        record.active = active;
        record.updated_at = at;
        if active {
            record.deactivation_reason = None;
            record.deactivated_at = None;
            record.deactivated_by = None;
        } else {
            record.deactivation_reason = reason.clone();
            record.deactivated_at = Some(at);
            record.deactivated_by = Some(p.name.clone());
        }
        let kind = if active {
            AuditKind::McpServerActivated
        } else {
            AuditKind::McpServerDeactivated
        };
        self.save_mcp(p, record, kind, Some((current.active, reason)))
            .await
    }

    async fn save_mcp(
        &self,
        p: &Principal,
        record: McpServerRecord,
        kind: AuditKind,
        activation: Option<(bool, Option<String>)>,
    ) -> Result<McpServerRecord> {
        let audit = self.draft(
            p,
            &Event::McpServerSaved {
                kind,
                server: &record,
                activation,
            },
        );
        let stored = self.state.store.upsert_mcp_server(record, audit).await?;
        self.state.mcp.set(stored.clone());
        Ok(stored)
    }
}
