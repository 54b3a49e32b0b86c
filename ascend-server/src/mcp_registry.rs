//! The MCP registry of each organisation, in memory (the store has the durable copy), and the
//! rules it applies to MCP calls (wire-protocol §6.2–6.3).
//!
//! Enforcement on every submit that names an MCP server (`mcp_server_name` on the generic
//! endpoint, `mcp_server` on the MCP endpoint):
//!
//! * an organisation that has registered **no** MCP server does not use the registry: its MCP
//!   calls go to the normal risk and policy evaluation (a fresh server works out of the box);
//! * once it registered at least one, a call through a server it did not register is refused
//!   (`MCP_SERVER_UNREGISTERED_DENY`);
//! * a deactivated server's calls are all refused (`MCP_SERVER_DEACTIVATED_DENY`): the kill
//!   switch of one MCP server;
//! * a tool in the server's `blocked_tools` is refused (`MCP_TOOL_BLOCKED_DENY`);
//! * a tool in `auto_approve_tools` skips human approval when its risk level is below high (a
//!   policy denial still stands);
//! * `tool_risk_overrides[tool]` is a minimum risk score handed to the risk engine.
//!
//! Refusals are HTTP 403 governance bodies, which the Python SDK and our runtime read as DENIED.
//! With `governance_enabled: false` a registered, active server is let through to the normal
//! evaluation without its tool lists and overrides (deactivation still applies).
//!
//! Server and tool names are kept and matched in their canonical form ([`crate::ident`]: NFKC,
//! default-ignorables removed, lower case), so a block is not dodged by spelling a tool
//! differently (`Write_File`, `write\u{200b}_file`, full-width letters).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};

use crate::model::{McpServerRecord, Refusal};

/// Why the registry refuses a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// Which refusal (its code is `MCP_SERVER_UNREGISTERED_DENY`, `MCP_SERVER_DEACTIVATED_DENY`
    /// or `MCP_TOOL_BLOCKED_DENY`).
    pub refusal: Refusal,
    /// A sentence for the agent and the reviewer.
    pub reason: String,
}

/// What the registry says about an allowed call.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The organisation uses the registry (has registered at least one MCP server).
    pub registry_in_use: bool,
    /// The server's entry, when registered.
    pub server: Option<Arc<McpServerRecord>>,
}

impl Facts {
    /// The entry, when registered with governance enabled (its tool lists apply).
    pub fn governed(&self) -> Option<&McpServerRecord> {
        self.server.as_deref().filter(|s| s.governance_enabled)
    }
}

impl McpServerRecord {
    /// Whether calls of `tool` are always refused.
    pub fn blocks(&self, tool: &str) -> bool {
        let tool = crate::ident::fold(tool);
        self.blocked_tools
            .iter()
            .any(|t| crate::ident::fold(t) == tool)
    }

    /// Whether calls of `tool` skip human approval below high risk.
    pub fn auto_approves(&self, tool: &str) -> bool {
        self.auto_approve_tools.iter().any(|t| t == tool)
    }

    /// The minimum risk score configured for `tool`.
    pub fn risk_override(&self, tool: &str) -> Option<f64> {
        let tool = crate::ident::fold(tool);
        self.tool_risk_overrides
            .iter()
            .find(|(t, _)| crate::ident::fold(t) == tool)
            .map(|(_, v)| *v)
    }

    /// The JSON view the API returns (`server{…}` of #27–#30).
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "server_name": self.server_name,
            "display_name": self.display_name.clone().unwrap_or_else(|| self.server_name.clone()),
            "description": self.description,
            "transport_type": self.transport_type,
            "server_url": self.server_url,
            "connection_config": self.connection_config,
            "governance_enabled": self.governance_enabled,
            "is_active": self.active,
            "status": if self.active { "active" } else { "inactive" },
            "auto_approve_tools": self.auto_approve_tools,
            "blocked_tools": self.blocked_tools,
            "tool_risk_overrides": self.tool_risk_overrides,
            "deactivation_reason": self.deactivation_reason,
            "deactivated_at": self.deactivated_at,
            "deactivated_by": self.deactivated_by,
            "registered_by": self.registered_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

type Servers = HashMap<i64, HashMap<String, Arc<McpServerRecord>>>;

/// Every organisation's MCP registry, in memory.
#[derive(Debug, Default)]
pub struct McpRegistry {
    servers: RwLock<Servers>,
    /// Held while a registry change is written, so the store and memory apply changes in the
    /// same order.
    pub changes: tokio::sync::Mutex<()>,
}

impl McpRegistry {
    /// A registry holding `records`.
    pub fn new(records: Vec<McpServerRecord>) -> Self {
        let reg = Self::default();
        for r in records {
            reg.set(r);
        }
        reg
    }

    /// Record a server's new state.
    pub fn set(&self, record: McpServerRecord) {
        if let Ok(mut s) = self.servers.write() {
            s.entry(record.org_id)
                .or_default()
                .insert(record.server_name.clone(), Arc::new(record));
        }
    }

    /// Hold exactly `records` from now on (a replica catching up after missed changes).
    pub fn reset(&self, records: Vec<McpServerRecord>) {
        if let Ok(mut s) = self.servers.write() {
            s.clear();
        }
        for r in records {
            self.set(r);
        }
    }

    /// Forget a server.
    pub fn remove(&self, org_id: i64, server_name: &str) {
        if let Ok(mut s) = self.servers.write()
            && let Some(org) = s.get_mut(&org_id)
        {
            org.remove(server_name);
            if org.is_empty() {
                s.remove(&org_id);
            }
        }
    }

    /// One server of one organisation.
    pub fn get(&self, org_id: i64, server_name: &str) -> Option<Arc<McpServerRecord>> {
        self.servers
            .read()
            .ok()?
            .get(&org_id)?
            .get(&crate::ident::fold(server_name))
            .cloned()
    }

    /// The servers of one organisation, by name.
    pub fn list(&self, org_id: i64) -> Vec<Arc<McpServerRecord>> {
        let mut out: Vec<_> = self
            .servers
            .read()
            .ok()
            .and_then(|s| s.get(&org_id).map(|m| m.values().cloned().collect()))
            .unwrap_or_default();
        out.sort_by(|a, b| a.server_name.cmp(&b.server_name));
        out
    }

    /// Apply the registry to a call of `tool` (when known) through `server`.
    ///
    /// ```
    /// use ascend_server::mcp_registry::McpRegistry;
    /// let reg = McpRegistry::default();
    /// // No server registered: the registry is not in use and lets everything through.
    /// assert!(reg.check(1, "anything", Some("delete_file")).is_ok());
    /// ```
    pub fn check(&self, org_id: i64, server: &str, tool: Option<&str>) -> Result<Facts, Denial> {
        let (in_use, entry) = match self.servers.read() {
            Ok(s) => match s.get(&org_id) {
                Some(org) if !org.is_empty() => {
                    (true, org.get(&crate::ident::fold(server)).cloned())
                }
                _ => (false, None),
            },
            // A poisoned lock must not open the gate.
            Err(_) => {
                return Err(Denial {
                    refusal: Refusal::McpServerUnregistered,
                    reason: "the MCP registry is unavailable".into(),
                });
            }
        };
        if !in_use {
            return Ok(Facts::default());
        }
        let Some(entry) = entry else {
            return Err(Denial {
                refusal: Refusal::McpServerUnregistered,
                reason: format!(
                    "MCP server {server:?} is not registered in this organisation's MCP registry"
                ),
            });
        };
        if !entry.active {
            let why = entry
                .deactivation_reason
                .as_deref()
                .filter(|r| !r.trim().is_empty())
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            return Err(Denial {
                refusal: Refusal::McpServerDeactivated,
                reason: format!("MCP server {server:?} is deactivated{why}"),
            });
        }
        if entry.governance_enabled
            && let Some(tool) = tool
            && entry.blocks(tool)
        {
            return Err(Denial {
                refusal: Refusal::McpToolBlocked,
                reason: format!("tool {tool:?} is blocked on MCP server {server:?}"),
            });
        }
        Ok(Facts {
            registry_in_use: true,
            server: Some(entry),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(org: i64, name: &str) -> McpServerRecord {
        McpServerRecord {
            id: 1,
            org_id: org,
            server_name: name.into(),
            display_name: None,
            description: None,
            transport_type: "stdio".into(),
            server_url: None,
            connection_config: json!({}),
            governance_enabled: true,
            active: true,
            auto_approve_tools: vec!["list_directory".into()],
            blocked_tools: vec!["Delete_File".into()],
            tool_risk_overrides: [("write_file".to_owned(), 80.0)].into_iter().collect(),
            deactivation_reason: None,
            deactivated_at: None,
            deactivated_by: None,
            registered_by: "admin".into(),
            created_at: crate::model::Timestamp::now(),
            updated_at: crate::model::Timestamp::now(),
        }
    }

    #[test]
    fn rules_apply_per_organisation() {
        let reg = McpRegistry::new(vec![record(1, "fs")]);
        assert!(reg.check(2, "other", None).is_ok(), "org 2 has no registry");
        assert_eq!(
            reg.check(1, "other", None).map(|_| ()),
            Err(Denial {
                refusal: Refusal::McpServerUnregistered,
                reason:
                    "MCP server \"other\" is not registered in this organisation's MCP registry"
                        .into()
            })
        );
        let err = reg.check(1, "fs", Some("delete_file")).err();
        assert_eq!(err.map(|d| d.refusal.code()), Some("MCP_TOOL_BLOCKED_DENY"));
        let facts = reg.check(1, "fs", Some("write_file")).ok();
        let gov = facts.as_ref().and_then(Facts::governed);
        assert_eq!(gov.and_then(|s| s.risk_override("WRITE_FILE")), Some(80.0));
        assert!(gov.is_some_and(|s| s.auto_approves("list_directory")));
        assert!(!gov.is_some_and(|s| s.auto_approves("LIST_DIRECTORY")));
    }

    #[test]
    fn deactivated_server_refuses_everything_and_delete_ends_the_registry() {
        let mut r = record(1, "fs");
        r.active = false;
        r.deactivation_reason = Some("incident".into());
        let reg = McpRegistry::new(vec![r]);
        let d = reg.check(1, "fs", Some("read_file")).err();
        assert_eq!(
            d.as_ref().map(|d| d.refusal.code()),
            Some("MCP_SERVER_DEACTIVATED_DENY")
        );
        assert!(d.is_some_and(|d| d.reason.contains("incident")));
        reg.remove(1, "fs");
        assert!(reg.check(1, "unknown", None).is_ok());
    }
}
