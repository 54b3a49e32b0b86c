//! The domain model: the records the service keeps (actions, approvals and votes, keys,
//! organisations, agents, webhooks, MCP servers, audit entries), roles and principals, and the
//! enums that name decisions, audit kinds and events.
//!
//! This module depends on nothing else in the crate: the store, the engines' callers, the
//! audit trail and the governance service all speak in these types.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use ascend_runtime::wire::DecisionBody;

/// What a key may do. Roles are ordered: an operator may do what an admin may, an admin what a
/// reviewer may, a reviewer what an agent may. Only an operator manages organisations (and
/// creates keys in an organisation other than its own).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Submits actions, reports outcomes, reads its own decisions.
    #[default]
    Agent,
    /// Also approves and denies pending actions.
    Reviewer,
    /// Also creates keys, flips kill switches, reloads policies.
    Admin,
    /// Also creates organisations and their first keys (the platform's operator, not an
    /// organisation's admin).
    Operator,
}

impl Role {
    /// The wire / storage string.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is none of `agent`, `reviewer`, `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?} (agent, reviewer, admin, operator)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        match s.trim().to_ascii_lowercase().as_str() {
            "agent" => Ok(Role::Agent),
            "reviewer" => Ok(Role::Reviewer),
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Key id.
    pub key_id: String,
    /// Organisation.
    pub org_id: i64,
    /// Role.
    pub role: Role,
    /// Bound agent, if any.
    pub agent_id: Option<String>,
    /// Name used as audit actor.
    pub name: String,
    /// The people behind the key for separation of duties: its owner and the owner of the key
    /// that created it (a key minted by X counts as X too).
    pub people: Vec<String>,
}

impl Principal {
    /// An unbound agent key (a "fleet" key: submits for any agent id it names, but reads,
    /// reports and manages only what it submitted or created itself).
    pub fn is_fleet_key(&self) -> bool {
        self.role == Role::Agent && self.agent_id.is_none()
    }
}

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
    /// The person or service identity the key belongs to (separation of duties compares
    /// owners, not keys). Defaults to the name.
    pub owner: String,
    /// Owner of the key that created this one (`system` for keys the service issued itself).
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
    /// After this time the key no longer authenticates.
    pub expires_at: Option<Timestamp>,
    /// When it was revoked (it no longer authenticates).
    pub revoked_at: Option<Timestamp>,
}

impl ApiKeyRecord {
    /// Whether the key authenticates at `now` (not revoked, not expired).
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }

    /// The people behind the key ([`Principal::people`]).
    pub fn people(&self) -> Vec<String> {
        let mut people = vec![self.owner.clone()];
        if self.created_by != self.owner && self.created_by != "system" {
            people.push(self.created_by.clone());
        }
        people
    }
}

/// One reviewer's vote on a pending action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// Key id of the reviewer.
    pub key_id: String,
    /// Reviewer's name (audit actor).
    pub approver: String,
    /// The owner of the reviewer's key (the person; no person votes twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Approve (true) or deny (false).
    pub approve: bool,
    /// Comment or reason.
    pub comment: Option<String>,
    /// When.
    pub at: Timestamp,
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
    /// Expiry; an approval not given by then is denied with reason "expired".
    pub expires_at: Option<Timestamp>,
    /// When it was decided.
    pub decided_at: Option<Timestamp>,
}

/// A new action and its first decision.
#[derive(Debug, Clone)]
pub struct NewAction {
    /// Pre-assigned id ([`Store::next_action_id`](crate::store::Store::next_action_id)).
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
    /// When.
    pub created_at: Timestamp,
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
    /// How it ended, once reported.
    pub outcome: Option<ActionOutcome>,
    /// The reported outcome body.
    pub outcome_detail: Option<Value>,
    /// When.
    pub created_at: Timestamp,
    /// When.
    pub updated_at: Timestamp,
}

/// What an outcome report needs to know of a stored action (read without decoding its
/// request and decision bodies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionState {
    /// Id.
    pub id: i64,
    /// Agent.
    pub agent_id: String,
    /// Key id that submitted it.
    pub submitted_key: String,
    /// Whether it was allowed to run.
    pub allowed: bool,
    /// Its stored status text.
    pub status: String,
    /// The outcome reported so far.
    pub outcome: Option<ActionOutcome>,
}

/// Filter for listing actions.
#[derive(Debug, Clone, Default)]
pub struct ActionFilter {
    /// Only this agent.
    pub agent_id: Option<String>,
    /// Only actions submitted with this key (a fleet key's own).
    pub submitted_key: Option<String>,
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
    /// Event kind.
    pub kind: AuditKind,
    /// Who did it (key name, `system`).
    pub actor: String,
    /// What it is about, e.g. `action:42`.
    pub subject: String,
    /// Details.
    pub payload: Value,
    /// When.
    pub ts: Timestamp,
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
    /// When (RFC 3339, exactly the text that was hashed).
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
    /// When.
    pub activated_at: Option<Timestamp>,
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
    /// When.
    pub registered_at: Timestamp,
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
    /// Key that created it (an agent key manages only its own agent's or its own webhooks).
    pub created_key: Option<String>,
    /// Created by a fleet key: only events of actions that key submitted (and organisation-wide
    /// kill-switch changes) are delivered.
    pub only_key: Option<String>,
    /// Enabled.
    pub active: bool,
    /// When.
    pub created_at: Timestamp,
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
    /// When.
    pub at: Timestamp,
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
    /// When it was deactivated.
    pub deactivated_at: Option<Timestamp>,
    /// Who deactivated it.
    pub deactivated_by: Option<String>,
    /// Who registered it (key name).
    pub registered_by: String,
    /// When.
    pub created_at: Timestamp,
    /// When.
    pub updated_at: Timestamp,
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

/// A point in time (UTC, microsecond precision). Stored and sent as RFC 3339 text with
/// microseconds (`2026-12-01T10:00:00.123456Z`), compared as a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(chrono::DateTime<chrono::Utc>);

impl Timestamp {
    /// Now, truncated to microseconds (what storage keeps).
    pub fn now() -> Self {
        let t = chrono::Utc::now();
        let micros = t.timestamp_micros();
        Self(chrono::DateTime::from_timestamp_micros(micros).unwrap_or(t))
    }

    /// Parse RFC 3339 text (any offset; kept as UTC).
    pub fn parse(s: &str) -> Option<Self> {
        chrono::DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|t| Self(t.with_timezone(&chrono::Utc)))
    }

    /// This time plus `d` (saturating at the far future).
    pub fn plus(self, d: std::time::Duration) -> Self {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| self.0.checked_add_signed(d))
            .map_or(Self(chrono::DateTime::<chrono::Utc>::MAX_UTC), Self)
    }

    /// This time minus `d` (saturating at the distant past).
    pub fn minus(self, d: std::time::Duration) -> Self {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| self.0.checked_sub_signed(d))
            .map_or(Self(chrono::DateTime::<chrono::Utc>::MIN_UTC), Self)
    }

    /// The RFC 3339 text with microseconds.
    pub fn to_rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(&self) -> i64 {
        self.0.timestamp_micros()
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.0.timestamp()
    }

    /// Microseconds from `earlier` to `self` (negative when `earlier` is later; saturating).
    pub fn micros_since(self, earlier: Timestamp) -> i64 {
        self.0
            .timestamp_micros()
            .saturating_sub(earlier.0.timestamp_micros())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {text:?}")))
    }
}

/// The current time.
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// How hard commits are pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// `synchronous=NORMAL` in WAL mode: a commit survives a crash of the process (kill -9);
    /// the last commits may be lost on power failure.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit (batch) is fsynced.
    Full,
}

/// How an allowed action ended, as its agent reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionOutcome {
    /// The tool ran and succeeded.
    Completed,
    /// The tool ran and failed.
    Failed,
}

impl ActionOutcome {
    /// The wire and storage string.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Completed => "completed",
            ActionOutcome::Failed => "failed",
        }
    }

    /// Parse the storage string.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "completed" => Some(ActionOutcome::Completed),
            "failed" => Some(ActionOutcome::Failed),
            _ => None,
        }
    }
}

/// Why a submit was refused before the engines ran (the `code` of the governance 403 body).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The agent or its organisation is halted.
    KillSwitch,
    /// The organisation uses an MCP registry and the server is not in it.
    McpServerUnregistered,
    /// The MCP server is deactivated.
    McpServerDeactivated,
    /// The MCP tool is in the server's blocked tools.
    McpToolBlocked,
}

impl Refusal {
    /// The machine-readable code on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::KillSwitch => "KILL_SWITCH_ACTIVE",
            Refusal::McpServerUnregistered => "MCP_SERVER_UNREGISTERED_DENY",
            Refusal::McpServerDeactivated => "MCP_SERVER_DEACTIVATED_DENY",
            Refusal::McpToolBlocked => "MCP_TOOL_BLOCKED_DENY",
        }
    }
}

/// The name of an event pushed to connected SDKs over the event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PushKind {
    /// A kill switch changed (`{"blocked", "reason", "agent_id"}`).
    KillSwitch,
    /// A pending action was decided (`{"action_id", "decision", ...}`).
    Decision,
}

impl PushKind {
    /// The SSE event name.
    pub fn as_str(self) -> &'static str {
        match self {
            PushKind::KillSwitch => "kill_switch",
            PushKind::Decision => "decision",
        }
    }

    /// The kind of an SSE event name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kill_switch" => Some(PushKind::KillSwitch),
            "decision" => Some(PushKind::Decision),
            _ => None,
        }
    }
}

pub use ascend_runtime::wire::WebhookEvent;

/// What kind of change an audit entry records (its `kind` in the chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// The server started.
    ServerStarted,
    /// A submitted action was decided by the engines.
    ActionDecided,
    /// A submit was refused before the engines (kill switch, MCP registry).
    ActionBlocked,
    /// A reviewer approved (one stage).
    ApprovalVote,
    /// A reviewer denied.
    DeniedByReviewer,
    /// A pending approval expired.
    ActionExpired,
    /// The agent reported completion.
    ActionCompleted,
    /// The agent reported failure.
    ActionFailed,
    /// A kill switch was turned on.
    KillSwitchTriggered,
    /// A kill switch was turned off.
    KillSwitchReleased,
    /// An agent was registered or updated.
    AgentRegistered,
    /// An API key was created.
    KeyCreated,
    /// An API key was revoked.
    KeyRevoked,
    /// An organisation was created.
    OrgCreated,
    /// Policies were reloaded (or a reload failed).
    PolicyReloaded,
    /// An MCP server was registered.
    McpServerRegistered,
    /// A registered MCP server was changed.
    McpServerUpdated,
    /// An MCP server was activated.
    McpServerActivated,
    /// An MCP server was deactivated.
    McpServerDeactivated,
    /// An MCP server was removed.
    McpServerDeleted,
    /// A webhook was created.
    WebhookCreated,
    /// A webhook was changed.
    WebhookUpdated,
    /// A webhook was deleted.
    WebhookDeleted,
}

impl AuditKind {
    /// Every kind.
    pub const ALL: [AuditKind; 23] = [
        AuditKind::ServerStarted,
        AuditKind::ActionDecided,
        AuditKind::ActionBlocked,
        AuditKind::ApprovalVote,
        AuditKind::DeniedByReviewer,
        AuditKind::ActionExpired,
        AuditKind::ActionCompleted,
        AuditKind::ActionFailed,
        AuditKind::KillSwitchTriggered,
        AuditKind::KillSwitchReleased,
        AuditKind::AgentRegistered,
        AuditKind::KeyCreated,
        AuditKind::KeyRevoked,
        AuditKind::OrgCreated,
        AuditKind::PolicyReloaded,
        AuditKind::McpServerRegistered,
        AuditKind::McpServerUpdated,
        AuditKind::McpServerActivated,
        AuditKind::McpServerDeactivated,
        AuditKind::McpServerDeleted,
        AuditKind::WebhookCreated,
        AuditKind::WebhookUpdated,
        AuditKind::WebhookDeleted,
    ];

    /// The `kind` string stored in (and hashed into) the chain.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::ServerStarted => "server.started",
            AuditKind::ActionDecided => "action.decided",
            AuditKind::ActionBlocked => "action.blocked",
            AuditKind::ApprovalVote => "action.approval_vote",
            AuditKind::DeniedByReviewer => "action.denied_by_reviewer",
            AuditKind::ActionExpired => "action.expired",
            AuditKind::ActionCompleted => "action.completed",
            AuditKind::ActionFailed => "action.failed",
            AuditKind::KillSwitchTriggered => "kill_switch.triggered",
            AuditKind::KillSwitchReleased => "kill_switch.released",
            AuditKind::AgentRegistered => "agent.registered",
            AuditKind::KeyCreated => "key.created",
            AuditKind::KeyRevoked => "key.revoked",
            AuditKind::OrgCreated => "org.created",
            AuditKind::PolicyReloaded => "policy.reloaded",
            AuditKind::McpServerRegistered => "mcp_server.registered",
            AuditKind::McpServerUpdated => "mcp_server.updated",
            AuditKind::McpServerActivated => "mcp_server.activated",
            AuditKind::McpServerDeactivated => "mcp_server.deactivated",
            AuditKind::McpServerDeleted => "mcp_server.deleted",
            AuditKind::WebhookCreated => "webhook.created",
            AuditKind::WebhookUpdated => "webhook.updated",
            AuditKind::WebhookDeleted => "webhook.deleted",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
