//! Persistence behind one trait, [`Store`], so a PostgreSQL store can follow the embedded
//! SQLite one ([`sqlite::SqliteStore`]).
//!
//! Writes are expressed as domain operations ([`WriteOp`]) rather than SQL so that a store can
//! batch them (group commit) and so the audit chain is appended in the same transaction as the
//! change it records. A write is acknowledged only after its batch committed.

pub mod sqlite;

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use ascend_runtime::wire::DecisionBody;

use crate::auth::Role;
use crate::error::Result;

/// A boxed, sendable future (keeps [`Store`] object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An API key as stored: only the SHA-256 of the secret is kept.
#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    /// Public key id (the part of the key between the prefix and the secret).
    pub key_id: String,
    /// Organisation the key belongs to.
    pub org_id: i64,
    /// What the key may do.
    pub role: Role,
    /// When set, the key acts for this one agent only.
    pub agent_id: Option<String>,
    /// SHA-256 of the whole key.
    pub key_hash: [u8; 32],
    /// Label shown as the actor in the audit trail.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

/// One reviewer's vote on a pending action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// Key id of the reviewer.
    pub key_id: String,
    /// Reviewer's name (audit actor).
    pub approver: String,
    /// Approve (true) or deny (false).
    pub approve: bool,
    /// Comment or reason.
    pub comment: Option<String>,
    /// RFC 3339.
    pub at: String,
}

/// Approval workflow state of a pending (or decided) action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalState {
    /// Distinct approvals needed.
    pub stages_required: u32,
    /// Who must approve (informational groups from the policy).
    pub required_approvers: Vec<String>,
    /// Votes so far.
    pub votes: Vec<Vote>,
    /// RFC 3339 expiry; an approval not given by then is denied with reason "expired".
    pub expires_at: Option<String>,
    /// When it was decided (RFC 3339).
    pub decided_at: Option<String>,
}

/// A new action and its first decision.
#[derive(Debug, Clone)]
pub struct NewAction {
    /// Pre-assigned id ([`Store::next_action_id`]).
    pub id: i64,
    /// Organisation.
    pub org_id: i64,
    /// Agent id.
    pub agent_id: String,
    /// Agent display name.
    pub agent_name: String,
    /// Action type.
    pub action_type: String,
    /// Resource.
    pub resource: String,
    /// Resource id.
    pub resource_id: Option<String>,
    /// The request as received (normalised).
    pub request: Value,
    /// The answer given.
    pub body: DecisionBody,
    /// Key id that submitted it (may never approve it).
    pub submitted_key: String,
    /// Idempotency key (`idem:` or `corr:` prefixed).
    pub idempotency_key: Option<String>,
    /// SHA-256 hex of the normalised request.
    pub request_hash: Option<String>,
    /// Approval workflow, when pending.
    pub approval: Option<ApprovalState>,
    /// RFC 3339.
    pub created_at: String,
}

/// An action as stored.
#[derive(Debug, Clone)]
pub struct ActionRecord {
    /// Id.
    pub id: i64,
    /// Organisation.
    pub org_id: i64,
    /// Agent id.
    pub agent_id: String,
    /// Agent name.
    pub agent_name: String,
    /// Action type.
    pub action_type: String,
    /// Resource.
    pub resource: String,
    /// Resource id.
    pub resource_id: Option<String>,
    /// The request.
    pub request: Value,
    /// The current decision body.
    pub body: DecisionBody,
    /// Key id that submitted it.
    pub submitted_key: String,
    /// Approval workflow.
    pub approval: Option<ApprovalState>,
    /// `completed` / `failed` once reported.
    pub outcome: Option<String>,
    /// The reported outcome body.
    pub outcome_detail: Option<Value>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Filter for listing actions.
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Only this status (`approved`, `denied`, `pending_approval`).
    pub status: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Offset.
    pub offset: u32,
}

/// An audit entry before it is chained (the store assigns seq, prev and hash).
#[derive(Debug, Clone)]
pub struct AuditDraft {
    /// Organisation whose chain it joins.
    pub org_id: i64,
    /// Event kind, e.g. `action.decided`.
    pub kind: String,
    /// Who did it (key name, `system`).
    pub actor: String,
    /// What it is about, e.g. `action:42`.
    pub subject: String,
    /// Details.
    pub payload: Value,
    /// RFC 3339.
    pub ts: String,
}

/// A chained audit entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Storage row id (insertion order).
    pub row_id: i64,
    /// Organisation.
    pub org_id: i64,
    /// Position in the organisation's chain, from 1.
    pub seq: i64,
    /// RFC 3339.
    pub ts: String,
    /// Event kind.
    pub kind: String,
    /// Actor.
    pub actor: String,
    /// Subject.
    pub subject: String,
    /// Payload exactly as hashed (JSON text).
    pub payload: String,
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 of this entry.
    pub hash: String,
}

/// The checkpointed head of an organisation's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Organisation.
    pub org_id: i64,
    /// Last sequence number.
    pub seq: i64,
    /// Hex hash of the last entry.
    pub hash: String,
}

/// A kill switch (organisation-wide when `agent_id` is None).
#[derive(Debug, Clone, PartialEq)]
pub struct KillSwitchRecord {
    /// Organisation.
    pub org_id: i64,
    /// Agent, or the whole organisation.
    pub agent_id: Option<String>,
    /// Halted?
    pub active: bool,
    /// Operator's reason.
    pub reason: Option<String>,
    /// RFC 3339.
    pub activated_at: Option<String>,
    /// Who.
    pub activated_by: Option<String>,
}

/// A registered agent.
#[derive(Debug, Clone)]
pub struct AgentRecord {
    /// Organisation.
    pub org_id: i64,
    /// Agent id.
    pub agent_id: String,
    /// Display name.
    pub display_name: String,
    /// `supervised`, `autonomous`, …
    pub agent_type: String,
    /// Environment.
    pub environment: String,
    /// Extra registration data.
    pub metadata: Value,
    /// RFC 3339.
    pub registered_at: String,
}

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    /// Id.
    pub id: i64,
    /// Organisation.
    pub org_id: i64,
    /// Target URL.
    pub url: String,
    /// Subscribed events.
    pub events: Vec<String>,
    /// HMAC secret.
    pub secret: String,
    /// Only events of this agent, when set.
    pub agent_id: Option<String>,
    /// Enabled.
    pub active: bool,
    /// RFC 3339.
    pub created_at: String,
}

/// One delivery attempt.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    /// Webhook.
    pub webhook_id: i64,
    /// Organisation.
    pub org_id: i64,
    /// Event name.
    pub event: String,
    /// 1-based attempt number.
    pub attempt: u32,
    /// HTTP status, when a response arrived.
    pub status_code: Option<u16>,
    /// Transport error text.
    pub error: Option<String>,
    /// Round trip.
    pub latency_ms: f64,
    /// RFC 3339.
    pub at: String,
}

/// An MCP server in an organisation's MCP registry (wire-protocol §3.3 #27–#30, §6.2–6.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpServerRecord {
    /// Storage id (stable across updates).
    pub id: i64,
    /// Organisation.
    pub org_id: i64,
    /// The name MCP calls carry as `mcp_server_name` / `mcp_server` (unique per organisation).
    pub server_name: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `stdio`, `http`, `sse`, … (informational).
    pub transport_type: String,
    /// URL of the server (informational).
    pub server_url: Option<String>,
    /// Connection settings (informational; secret-looking values redacted before storing).
    pub connection_config: Value,
    /// When false the tool lists and overrides are not applied (activation still is).
    pub governance_enabled: bool,
    /// A deactivated server's calls are all refused (the kill switch of one MCP server).
    pub active: bool,
    /// Tools whose calls skip human approval when their risk level is below high.
    pub auto_approve_tools: Vec<String>,
    /// Tools whose calls are always refused.
    pub blocked_tools: Vec<String>,
    /// Per-tool minimum risk score (0–100), passed to the risk engine.
    pub tool_risk_overrides: std::collections::BTreeMap<String, f64>,
    /// Why it was deactivated.
    pub deactivation_reason: Option<String>,
    /// When it was deactivated (RFC 3339).
    pub deactivated_at: Option<String>,
    /// Who deactivated it.
    pub deactivated_by: Option<String>,
    /// Who registered it (key name).
    pub registered_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// What a vote, an expiry or an outcome report changed.
#[derive(Debug, Clone)]
pub struct ActionChange {
    /// The action after the change.
    pub action: ActionRecord,
    /// Whether the action reached a final approved/denied state with this change.
    pub decided: bool,
}

/// A write operation. Each one is applied atomically together with its audit entries.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Create an organisation if it does not exist.
    EnsureOrg {
        /// Name.
        name: String,
        /// RFC 3339.
        now: String,
    },
    /// Store a new API key.
    CreateKey {
        /// The key.
        key: ApiKeyRecord,
        /// Audit entry.
        audit: AuditDraft,
    },
    /// Store a new action with its decision.
    Submit {
        /// The action.
        action: Box<NewAction>,
        /// Audit entry.
        audit: AuditDraft,
    },
    /// A reviewer approves or denies a pending action.
    Vote {
        /// Organisation.
        org_id: i64,
        /// Action.
        action_id: i64,
        /// The vote.
        vote: Vote,
    },
    /// Deny a pending action whose approval expired (no-op if not pending or not expired).
    Expire {
        /// Organisation.
        org_id: i64,
        /// Action.
        action_id: i64,
        /// RFC 3339.
        now: String,
    },
    /// Record completion or failure reported by the agent.
    Outcome {
        /// Organisation.
        org_id: i64,
        /// Action.
        action_id: i64,
        /// `completed` or `failed`.
        outcome: String,
        /// The reported body.
        detail: Value,
        /// Actor (key name).
        actor: String,
        /// RFC 3339.
        now: String,
    },
    /// Turn a kill switch on or off.
    KillSwitch {
        /// New state.
        record: KillSwitchRecord,
        /// Audit entry.
        audit: AuditDraft,
    },
    /// Register (or update) an agent.
    RegisterAgent {
        /// The agent.
        agent: AgentRecord,
        /// Audit entry.
        audit: AuditDraft,
    },
    /// Append an audit entry with no other change (policy reload, blocked submits).
    Audit(AuditDraft),
    /// Create a webhook.
    CreateWebhook {
        /// The webhook (id ignored).
        webhook: Webhook,
    },
    /// Replace a webhook's fields.
    UpdateWebhook {
        /// The webhook as it should be.
        webhook: Webhook,
    },
    /// Delete a webhook.
    DeleteWebhook {
        /// Organisation.
        org_id: i64,
        /// Id.
        id: i64,
    },
    /// Log a delivery attempt.
    LogDelivery(DeliveryAttempt),
    /// Register or update an MCP server (keyed by organisation and name; the id and creation
    /// time of an existing entry are kept). Replies [`WriteReply::McpServer`].
    UpsertMcpServer {
        /// The server as it should be (id ignored).
        server: Box<McpServerRecord>,
        /// Audit entry.
        audit: AuditDraft,
    },
    /// Remove an MCP server from the registry.
    DeleteMcpServer {
        /// Organisation.
        org_id: i64,
        /// Server name.
        server_name: String,
        /// Audit entry.
        audit: AuditDraft,
    },
}

/// The result of a [`WriteOp`].
#[derive(Debug, Clone)]
pub enum WriteReply {
    /// Nothing to report.
    Done,
    /// An organisation id.
    Org(i64),
    /// An action changed.
    Action(Box<ActionChange>),
    /// A webhook id.
    Webhook(i64),
    /// The op matched nothing (e.g. expiry of an already decided action).
    Unchanged,
    /// An MCP server as stored.
    McpServer(Box<McpServerRecord>),
}

/// Everything the service keeps in memory, loaded once at start.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Organisations (id, name).
    pub orgs: Vec<(i64, String)>,
    /// All keys.
    pub keys: Vec<ApiKeyRecord>,
    /// All kill switches.
    pub kill_switches: Vec<KillSwitchRecord>,
    /// All agents.
    pub agents: Vec<AgentRecord>,
    /// Distinct (org, agent, action type) seen.
    pub seen_action_types: Vec<(i64, String, String)>,
    /// Recent idempotency keys: (org, key, request hash, action id).
    pub idempotency: Vec<(i64, String, String, i64)>,
    /// The MCP registries of every organisation.
    pub mcp_servers: Vec<McpServerRecord>,
}

/// The persistence interface of the server.
pub trait Store: Send + Sync + 'static {
    /// Apply one write; resolves after the batch containing it committed.
    fn write(&self, op: WriteOp) -> BoxFuture<'_, Result<WriteReply>>;
    /// A fresh, never reused action id.
    fn next_action_id(&self) -> i64;
    /// Load the in-memory state (keys, kill switches, agents, recent idempotency keys).
    fn snapshot(&self, idempotency_since: String) -> BoxFuture<'_, Result<Snapshot>>;
    /// One action of one organisation.
    fn get_action(&self, org_id: i64, id: i64) -> BoxFuture<'_, Result<Option<ActionRecord>>>;
    /// The action submitted with an idempotency key, and the request hash it was submitted
    /// with (empty when unknown).
    fn get_action_by_idempotency_key(
        &self,
        org_id: i64,
        key: String,
    ) -> BoxFuture<'_, Result<Option<(String, ActionRecord)>>>;
    /// Actions of one organisation, newest first, and the total count matching the filter.
    fn list_actions(
        &self,
        org_id: i64,
        filter: ActionFilter,
    ) -> BoxFuture<'_, Result<(Vec<ActionRecord>, u64)>>;
    /// Pending actions whose approval expired before `now`: (org, id).
    fn expired_pending(&self, now: String) -> BoxFuture<'_, Result<Vec<(i64, i64)>>>;
    /// Audit entries of one organisation in insertion order, from `offset`, at most `limit`.
    fn audit_entries(
        &self,
        org_id: i64,
        offset: u64,
        limit: u64,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>>>;
    /// Number of audit entries of one organisation.
    fn audit_count(&self, org_id: i64) -> BoxFuture<'_, Result<u64>>;
    /// The checkpointed head of one organisation's chain.
    fn audit_head(&self, org_id: i64) -> BoxFuture<'_, Result<Option<ChainHead>>>;
    /// Re-walk one organisation's chain against its head, both read from one consistent
    /// snapshot (concurrent appends never look like a break), without loading the whole chain
    /// into memory.
    fn verify_audit(&self, org_id: i64) -> BoxFuture<'_, Result<crate::audit::VerifyReport>>;
    /// Webhooks of one organisation.
    fn webhooks(&self, org_id: i64) -> BoxFuture<'_, Result<Vec<Webhook>>>;
    /// Wait until every write queued so far is committed, then stop accepting writes.
    fn close(&self) -> BoxFuture<'_, Result<()>>;
}
