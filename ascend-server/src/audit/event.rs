//! Typed audit events: every state change of the governance service is one [`Event`], and this
//! file is the one place where an event becomes the `kind`, `subject` and JSON payload that are
//! hashed into the chain. (The store adds one field to the payload of an entry about an action:
//! `row_sha256`, the digest of the action's row as committed with it; see [`super::replay`].)

use serde_json::{Value, json};

use ascend_runtime::wire::DecisionBody;

use crate::model::{
    ActionOutcome, AgentRecord, AuditDraft, AuditKind, KillSwitchRecord, McpServerRecord, Refusal,
    Role, Timestamp, Vote, Webhook,
};

/// The facts of a submit refused before the engines ran.
#[derive(Debug, Clone)]
pub struct Blocked {
    /// Agent.
    pub agent_id: String,
    /// Action type.
    pub action_type: String,
    /// Resource.
    pub resource: String,
    /// Why (a sentence).
    pub reason: String,
    /// The refusal.
    pub refusal: Refusal,
    /// For MCP registry refusals: server, tool and the redacted request parts.
    pub mcp: Option<BlockedMcp>,
}

/// The MCP part of a [`Blocked`] submit.
#[derive(Debug, Clone)]
pub struct BlockedMcp {
    /// Server name.
    pub server: String,
    /// Tool, when known.
    pub tool: Option<String>,
    /// Redacted `action_details`, `context`, `risk_indicators`.
    pub request: Value,
}

/// The facts of a decided submit.
#[derive(Debug, Clone)]
pub struct Decided<'a> {
    /// The answer given (id, decision, risk, rule).
    pub body: &'a DecisionBody,
    /// The request as stored (redacted).
    pub request: &'a Value,
    /// Environment.
    pub environment: &'a str,
    /// MCP tool, when the call is one.
    pub mcp_tool: Option<&'a str>,
    /// Whether an MCP registry entry auto-approved it.
    pub auto_approved: bool,
    /// Key that submitted it.
    pub submitted_key: &'a str,
}

/// One state change, as the audit trail records it.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// The server started.
    ServerStarted {
        /// Listening address (or `embedded`).
        addr: String,
        /// Number of policies loaded.
        policies: usize,
        /// Policy directory, when not the built-in set.
        policies_dir: Option<String>,
    },
    /// A submit was decided by the engines.
    ActionDecided(Decided<'a>),
    /// A submit was refused before the engines.
    ActionBlocked(Blocked),
    /// A reviewer voted.
    Voted {
        /// Action.
        action_id: i64,
        /// The vote.
        vote: &'a Vote,
        /// Status after the vote.
        status: &'a str,
        /// Whether the vote decided the action.
        decided: bool,
    },
    /// A pending approval expired.
    Expired {
        /// Action.
        action_id: i64,
    },
    /// The agent reported how an allowed action ended.
    Outcome {
        /// Action.
        action_id: i64,
        /// Completed or failed.
        outcome: ActionOutcome,
        /// The report (redacted).
        report: &'a Value,
    },
    /// A kill switch changed.
    KillSwitch(&'a KillSwitchRecord),
    /// An agent was registered or updated.
    AgentRegistered(&'a AgentRecord),
    /// A key was created.
    KeyCreated {
        /// Key id.
        key_id: &'a str,
        /// Role.
        role: Role,
        /// Bound agent.
        agent_id: Option<&'a str>,
        /// Key name.
        name: &'a str,
        /// Its owner (person or service identity).
        owner: &'a str,
        /// When it stops working, if ever.
        expires_at: Option<Timestamp>,
        /// The key it replaces (rotation).
        replaces: Option<&'a str>,
    },
    /// An API key was revoked (or replaced by rotation).
    KeyRevoked {
        /// Key id.
        key_id: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// An organisation was created.
    OrgCreated {
        /// Its name.
        name: &'a str,
    },
    /// Policies were reloaded, or a reload failed.
    PolicyReloaded {
        /// Directory.
        dir: String,
        /// Whether the new set is active.
        ok: bool,
        /// Policies active now.
        policies: usize,
        /// Why it failed.
        error: Option<String>,
    },
    /// An MCP registry entry was registered, updated, activated or deactivated.
    McpServerSaved {
        /// Which change.
        kind: AuditKind,
        /// The entry as it will be stored.
        server: &'a McpServerRecord,
        /// For activation changes: the previous state and the reason.
        activation: Option<(bool, Option<String>)>,
    },
    /// An MCP registry entry was removed.
    McpServerDeleted {
        /// Server name.
        server_name: &'a str,
        /// Its id.
        id: i64,
    },
    /// A webhook was created, updated or deleted (never with its secret).
    Webhook {
        /// Which change.
        kind: AuditKind,
        /// The webhook (as it is after the change; before it for a deletion).
        hook: &'a Webhook,
    },
}

impl Event<'_> {
    /// The kind stored in the chain.
    pub fn kind(&self) -> AuditKind {
        match self {
            Event::ServerStarted { .. } => AuditKind::ServerStarted,
            Event::ActionDecided(_) => AuditKind::ActionDecided,
            Event::ActionBlocked(_) => AuditKind::ActionBlocked,
            Event::Voted { vote, .. } if vote.approve => AuditKind::ApprovalVote,
            Event::Voted { .. } => AuditKind::DeniedByReviewer,
            Event::Expired { .. } => AuditKind::ActionExpired,
            Event::Outcome {
                outcome: ActionOutcome::Completed,
                ..
            } => AuditKind::ActionCompleted,
            Event::Outcome { .. } => AuditKind::ActionFailed,
            Event::KillSwitch(r) if r.active => AuditKind::KillSwitchTriggered,
            Event::KillSwitch(_) => AuditKind::KillSwitchReleased,
            Event::AgentRegistered(_) => AuditKind::AgentRegistered,
            Event::KeyCreated { .. } => AuditKind::KeyCreated,
            Event::KeyRevoked { .. } => AuditKind::KeyRevoked,
            Event::OrgCreated { .. } => AuditKind::OrgCreated,
            Event::PolicyReloaded { .. } => AuditKind::PolicyReloaded,
            Event::McpServerSaved { kind, .. } | Event::Webhook { kind, .. } => *kind,
            Event::McpServerDeleted { .. } => AuditKind::McpServerDeleted,
        }
    }

    /// What the entry is about, e.g. `action:42`.
    pub fn subject(&self, org_id: i64) -> String {
        match self {
            Event::ServerStarted { addr, .. } => format!("server:{addr}"),
            Event::ActionDecided(d) => format!("action:{}", d.body.id),
            Event::ActionBlocked(b) => format!("agent:{}", b.agent_id),
            Event::Voted { action_id, .. }
            | Event::Expired { action_id }
            | Event::Outcome { action_id, .. } => format!("action:{action_id}"),
            Event::KillSwitch(r) => match &r.agent_id {
                Some(a) => format!("agent:{a}"),
                None => format!("org:{org_id}"),
            },
            Event::AgentRegistered(a) => format!("agent:{}", a.agent_id),
            Event::KeyCreated { key_id, .. } | Event::KeyRevoked { key_id, .. } => {
                format!("key:{key_id}")
            }
            Event::OrgCreated { .. } => format!("org:{org_id}"),
            Event::PolicyReloaded { dir, .. } => format!("policies:{dir}"),
            Event::McpServerSaved { server, .. } => format!("mcp_server:{}", server.server_name),
            Event::McpServerDeleted { server_name, .. } => format!("mcp_server:{server_name}"),
            Event::Webhook { hook, .. } => format!("webhook:{}", hook.id),
        }
    }

    /// The JSON payload hashed into the chain.
    pub fn payload(&self) -> Value {
        match self {
            Event::ServerStarted {
                policies,
                policies_dir,
                ..
            } => json!({"version": env!("CARGO_PKG_VERSION"), "policies": policies,
                        "policies_dir": policies_dir}),
            Event::ActionDecided(d) => decided_payload(d),
            Event::ActionBlocked(b) => blocked_payload(b),
            Event::Voted {
                action_id,
                vote,
                status,
                decided,
            } => json!({
                "action_id": action_id,
                "approve": vote.approve,
                "comment": vote.comment,
                "approver_key": vote.key_id,
                "approver_owner": vote.owner,
                "status": status,
                "decided": decided,
            }),
            Event::Expired { action_id } => {
                json!({"action_id": action_id, "status": "denied", "reason": "expired"})
            }
            Event::Outcome {
                action_id, report, ..
            } => json!({"action_id": action_id, "report": report}),
            Event::KillSwitch(r) => {
                json!({"agent_id": r.agent_id, "active": r.active, "reason": r.reason})
            }
            Event::AgentRegistered(a) => json!({"agent_id": a.agent_id,
                "agent_type": a.agent_type, "display_name": a.display_name}),
            Event::KeyCreated {
                key_id,
                role,
                agent_id,
                name,
                owner,
                expires_at,
                replaces,
            } => json!({"key_id": key_id, "role": role.as_str(), "agent_id": agent_id,
                        "name": name, "owner": owner, "expires_at": expires_at,
                        "replaces": replaces}),
            Event::KeyRevoked { key_id, reason } => json!({"key_id": key_id, "reason": reason}),
            Event::OrgCreated { name } => json!({"name": name}),
            Event::PolicyReloaded {
                ok,
                policies,
                error,
                ..
            } => json!({"ok": ok, "policies": policies, "error": error}),
            Event::McpServerSaved {
                server, activation, ..
            } => {
                let mut payload = server.view();
                if let (Value::Object(o), Some((was_active, reason))) = (&mut payload, activation) {
                    o.insert("was_active".into(), Value::Bool(*was_active));
                    o.insert("reason".into(), json!(reason));
                }
                payload
            }
            Event::McpServerDeleted { server_name, id } => {
                json!({"server_name": server_name, "id": id})
            }
            Event::Webhook { hook, .. } => json!({
                "webhook_id": hook.id, "url": hook.url, "events": hook.events,
                "active": hook.active, "agent_id": hook.agent_id,
            }),
        }
    }

    /// The entry to append: this event in organisation `org_id`, done by `actor` at `ts`.
    pub fn draft(&self, org_id: i64, actor: &str, ts: Timestamp) -> AuditDraft {
        AuditDraft {
            org_id,
            kind: self.kind(),
            actor: actor.to_owned(),
            subject: self.subject(org_id),
            payload: self.payload(),
            ts,
        }
    }
}

fn decided_payload(d: &Decided<'_>) -> Value {
    let b = d.body;
    let request = d.request;
    json!({
        "action_id": b.id,
        "agent_id": request.get("agent_id"),
        "action_type": request.get("action_type"),
        "resource": request.get("resource"),
        "resource_id": request.get("resource_id"),
        "environment": d.environment,
        "action_details": request.get("action_details"),
        "context": request.get("context"),
        "risk_indicators": request.get("risk_indicators"),
        "mcp_server_name": request.get("mcp_server_name"),
        "mcp_tool": d.mcp_tool,
        "decision": b.decision.as_str(),
        "risk_score": b.risk_score,
        "risk_level": b.risk_level.as_str(),
        "rule_id": b.rule_id,
        "rule_name": b.rule_name,
        "reason": b.reason,
        "policy_violations": b.policy_violations,
        "auto_approved": d.auto_approved,
        "submitted_key": d.submitted_key,
    })
}

fn blocked_payload(b: &Blocked) -> Value {
    let mut payload = json!({"agent_id": b.agent_id, "action_type": b.action_type,
        "resource": b.resource, "reason": b.reason, "code": b.refusal.code()});
    if let (Value::Object(o), Some(m)) = (&mut payload, &b.mcp) {
        o.insert("mcp_server_name".into(), json!(m.server));
        o.insert("mcp_tool".into(), json!(m.tool));
        if let Value::Object(parts) = &m.request {
            for k in ["action_details", "context", "risk_indicators"] {
                o.insert(k.into(), parts.get(k).cloned().unwrap_or(Value::Null));
            }
        }
    }
    payload
}
