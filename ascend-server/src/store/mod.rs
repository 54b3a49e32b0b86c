//! Persistence behind one trait, [`Store`]: the embedded SQLite store
//! ([`sqlite::SqliteStore`]) and the PostgreSQL store of a replicated deployment
//! ([`postgres::PgStore`]).
//!
//! Every write is a typed method that applies one change together with its audit entry, in
//! one transaction: the store never decides anything. Rules that must see the current state
//! inside the transaction (approval votes, expiry, outcome reports) are handed in as an
//! [`ActionUpdate`] closure by the governance service, so a second store implements
//! persistence only. A write is acknowledged only after the transaction holding it committed
//! (the SQLite store batches concurrent writes into one commit: group commit).

pub mod postgres;
pub mod sqlite;

use std::future::Future;
use std::pin::Pin;

use crate::audit::VerifyReport;
use crate::error::Result;
use crate::model::{
    ActionFilter, ActionOutcome, ActionRecord, ActionState, AgentRecord, ApiKeyRecord, AuditDraft,
    AuditEntry, ChainHead, DeliveryAttempt, KillSwitchRecord, McpServerRecord, NewAction, PushKind,
    Snapshot, Timestamp, Webhook,
};

/// A boxed, sendable future (keeps [`Store`] object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A change to one stored action, applied inside the store's transaction to the action as it
/// is there. `Ok(None)`: nothing to change (nothing is written); `Ok(Some(entry))`: save the
/// action and append `entry` to the audit chain; `Err`: nothing is written and the error is
/// the answer.
pub type ActionUpdate = Box<dyn FnOnce(&mut ActionRecord) -> Result<Option<AuditDraft>> + Send>;

/// Checks an outcome report against the action's state inside the store's transaction and
/// builds its audit entry; an error writes nothing and is the answer.
pub type OutcomeCheck = Box<dyn FnOnce(&ActionState) -> Result<AuditDraft> + Send>;

/// An outcome report to store: how action `id` ended, and the check the stored action must
/// pass (inside the store's transaction) before it is recorded.
pub struct OutcomeWrite {
    /// Organisation.
    pub org_id: i64,
    /// Action id.
    pub id: i64,
    /// Completed or failed.
    pub outcome: ActionOutcome,
    /// The report, redacted.
    pub detail: serde_json::Value,
    /// When it was reported.
    pub at: Timestamp,
    /// Accepts or refuses the report and builds its audit entry.
    pub check: OutcomeCheck,
}

impl std::fmt::Debug for OutcomeWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutcomeWrite")
            .field("org_id", &self.org_id)
            .field("id", &self.id)
            .field("outcome", &self.outcome)
            .finish_non_exhaustive()
    }
}

/// A change another replica of the same database committed, heard through the store (the
/// PostgreSQL store's LISTEN/NOTIFY feed), for the in-memory state of this one.
// Changes are rare (keys, kill switches, registrations) and moved once: boxing the records
// would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Change {
    /// An organisation was created.
    Org {
        /// Its id.
        id: i64,
        /// Its name.
        name: String,
    },
    /// A key was created or revoked (the record as stored now).
    Key(ApiKeyRecord),
    /// A kill switch changed.
    KillSwitch(KillSwitchRecord),
    /// An agent was registered or updated.
    Agent(AgentRecord),
    /// An MCP server was registered, changed (`Some`) or deleted (`None`).
    McpServer {
        /// Organisation.
        org_id: i64,
        /// Server name.
        server_name: String,
        /// The entry as stored now.
        record: Option<McpServerRecord>,
    },
    /// An organisation's webhooks changed.
    Webhooks {
        /// Organisation.
        org_id: i64,
    },
    /// An event to push to the SDKs connected to this replica.
    Event(PeerEvent),
    /// Changes may have been missed (the feed reconnected): the state to start again from.
    Resync(Box<Snapshot>),
}

/// An event pushed to connected SDKs, sent to the other replicas ([`Store::broadcast`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PeerEvent {
    /// Organisation.
    pub org_id: i64,
    /// Agent concerned; None for organisation-wide events.
    pub agent_id: Option<String>,
    /// The key that submitted the action concerned (action events only).
    pub key_id: Option<String>,
    /// The SSE event name.
    pub push: PushKind,
    /// Event data.
    pub data: serde_json::Value,
}

/// Builds the audit entry of a new webhook once the store has assigned its id.
pub type WebhookAudit = Box<dyn FnOnce(&Webhook) -> AuditDraft + Send>;

/// The persistence interface of the server.
pub trait Store: Send + Sync + 'static {
    /// Create an organisation if it does not exist; its id.
    fn ensure_org(&self, name: String, now: Timestamp) -> BoxFuture<'_, Result<i64>>;
    /// Store a new API key.
    fn insert_key(&self, key: ApiKeyRecord, audit: AuditDraft) -> BoxFuture<'_, Result<()>>;
    /// Mark key `key_id` of organisation `org_id` revoked at `at` (404 when it is not there or
    /// already revoked).
    fn revoke_key(
        &self,
        org_id: i64,
        key_id: String,
        at: Timestamp,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<()>>;
    /// Store a new action with its first decision. A second action with the same
    /// organisation and idempotency key is refused with [`crate::Error::Conflict`] (and nothing
    /// of it, audit entry included, is written).
    fn insert_action(&self, action: NewAction, audit: AuditDraft) -> BoxFuture<'_, Result<()>>;
    /// Apply `update` to action `id` of organisation `org_id` (see [`ActionUpdate`]); the action
    /// after the change, or None when the update changed nothing.
    fn update_action(
        &self,
        org_id: i64,
        id: i64,
        update: ActionUpdate,
    ) -> BoxFuture<'_, Result<Option<ActionRecord>>>;
    /// Record how an action ended, after the write's `check` accepted it.
    fn record_outcome(&self, write: OutcomeWrite) -> BoxFuture<'_, Result<()>>;
    /// [`Store::record_outcome`] for a sender that does not wait: queued now, committed with
    /// the next write (or within the store's flush interval, or at close); a refusal by
    /// `check` or a failed commit is logged.
    fn record_outcome_later(&self, write: OutcomeWrite) -> Result<()>;
    /// Turn a kill switch on or off.
    fn set_kill_switch(
        &self,
        record: KillSwitchRecord,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<()>>;
    /// Register (or update) an agent.
    fn upsert_agent(&self, agent: AgentRecord, audit: AuditDraft) -> BoxFuture<'_, Result<()>>;
    /// Append an audit entry with no other change.
    fn append_audit(&self, audit: AuditDraft) -> BoxFuture<'_, Result<()>>;
    /// Create a webhook (its id is assigned here); the webhook as stored.
    fn insert_webhook(&self, hook: Webhook, audit: WebhookAudit) -> BoxFuture<'_, Result<Webhook>>;
    /// Replace a webhook's fields ([`crate::Error::NotFound`] when it does not exist).
    fn update_webhook(&self, hook: Webhook, audit: AuditDraft) -> BoxFuture<'_, Result<()>>;
    /// Delete a webhook ([`crate::Error::NotFound`] when it does not exist).
    fn delete_webhook(&self, org_id: i64, id: i64, audit: AuditDraft) -> BoxFuture<'_, Result<()>>;
    /// Log one webhook delivery attempt.
    fn log_delivery(&self, attempt: DeliveryAttempt) -> BoxFuture<'_, Result<()>>;
    /// Register or update an MCP server (keyed by organisation and name; the id and creation
    /// time of an existing entry are kept); the entry as stored.
    fn upsert_mcp_server(
        &self,
        server: McpServerRecord,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<McpServerRecord>>;
    /// Remove an MCP server from the registry ([`crate::Error::NotFound`] when absent).
    fn delete_mcp_server(
        &self,
        org_id: i64,
        server_name: String,
        audit: AuditDraft,
    ) -> BoxFuture<'_, Result<()>>;
    /// A fresh, never reused action id (unique across the replicas of one database). Ready at
    /// once as a rule; a store that reserves ids in blocks waits for a new block only when a
    /// burst used up the one in reserve.
    fn next_action_id(&self) -> BoxFuture<'_, Result<i64>>;
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
    fn expired_pending(&self, now: Timestamp) -> BoxFuture<'_, Result<Vec<(i64, i64)>>>;
    /// Audit entries of one organisation in insertion order, from `offset`, at most `limit`.
    fn audit_entries(
        &self,
        org_id: i64,
        offset: u64,
        limit: u64,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>>>;
    /// Number of audit entries of one organisation.
    fn audit_count(&self, org_id: i64) -> BoxFuture<'_, Result<u64>>;
    /// Writes queued and not yet committed (0 for a store without a queue).
    fn queue_depth(&self) -> usize {
        0
    }
    /// Whether the store answers and its schema is the one this build expects.
    fn ready(&self) -> BoxFuture<'_, Result<()>>;
    /// The checkpointed head of one organisation's chain.
    fn audit_head(&self, org_id: i64) -> BoxFuture<'_, Result<Option<ChainHead>>>;
    /// Re-walk one organisation's chain against its head, both read from one consistent
    /// snapshot (concurrent appends never look like a break), without loading the whole chain
    /// into memory.
    fn verify_audit(&self, org_id: i64) -> BoxFuture<'_, Result<VerifyReport>>;
    /// Webhooks of one organisation.
    fn webhooks(&self, org_id: i64) -> BoxFuture<'_, Result<Vec<Webhook>>>;
    /// Wait until every write queued so far is committed, then stop accepting writes.
    fn close(&self) -> BoxFuture<'_, Result<()>>;
    /// Read one key from the database, for a replica that does not know it yet (another
    /// replica created it a moment ago and its notice is on the way). None from a store that
    /// serves one process: its keys are all in memory.
    fn lookup_key(&self, key_id: String) -> BoxFuture<'_, Result<Option<ApiKeyRecord>>> {
        let _ = key_id;
        Box::pin(std::future::ready(Ok(None)))
    }
    /// Claim the first start of an empty database (the one that creates the first admin key):
    /// true for exactly one caller per database, however many replicas start at once. A store
    /// that serves one process has nobody to race (true).
    fn claim_first_start(&self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(std::future::ready(Ok(true)))
    }
    /// The feed of changes other replicas commit (taken once; None for a store that serves
    /// one process, like SQLite).
    fn changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Change>> {
        None
    }
    /// Send an event to the SDKs connected to the other replicas (nothing to do for a store
    /// that serves one process). Best effort: an SDK that misses it still sees the state by
    /// polling.
    fn broadcast(&self, event: PeerEvent) {
        let _ = event;
    }
}
