//! The governance service: one set of typed operations under every front-end — the HTTP API,
//! the `ascend` command line, the embedded backend of the runtime, later the console.
//!
//! Each operation takes the caller's [`Principal`] and typed input and returns typed output.
//! Who may do it is decided in [`access`] (one table); each state change writes exactly one
//! typed audit event ([`crate::audit::Event`]) through the store, then publishes its push and
//! webhook events.
//!
//! | file | operations |
//! |---|---|
//! | [`submit`] | submit (kill switch, MCP registry, engines, approvals, idempotency) |
//! | [`actions`] | read, list, vote (approve / deny), expire, report outcome |
//! | [`kill_switch`] | status, set / clear |
//! | [`keys`] | create keys, organisations |
//! | [`agents`] | agent registry |
//! | [`webhooks`] | webhook subscriptions and test deliveries |
//! | [`mcp`] | MCP server registry |
//! | [`audit`] | audit query, export, verify; policy reload |
//! | [`peers`] | changes made by the other replicas of the same database |

pub mod access;
pub mod actions;
pub mod agents;
pub mod audit;
pub mod keys;
pub mod kill_switch;
pub mod mcp;
pub mod ops;
pub mod peers;
pub mod submit;
pub mod webhooks;

use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use crate::config::ServerConfig;
use crate::error::Result;
use crate::model::{AuditDraft, Principal, now};
use crate::state::{AppState, BusEvent};

pub use access::Operation;
pub use submit::{McpFacts, SubmitInput};

/// The governance service (cheap to clone: one shared state).
#[derive(Clone)]
pub struct Governance {
    state: Arc<AppState>,
}

impl std::fmt::Debug for Governance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governance").finish_non_exhaustive()
    }
}

impl Governance {
    /// The service over a server's state.
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// The state (for the background tasks of the crate).
    pub(crate) fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.state.config
    }

    /// Who presents `key` (401 when nobody). A well-formed key this replica has not heard of
    /// is read through from the store once (at most once a second per key id): another
    /// replica may have created it a moment ago.
    pub async fn authenticate(&self, key: &str) -> Result<Principal> {
        let found = self.state.keys.authenticate(key);
        if found.is_ok() {
            return found;
        }
        let Some(key_id) = self.state.keys.worth_looking_up(key) else {
            return found;
        };
        match self.state.store.lookup_key(key_id).await? {
            Some(record) => {
                self.state.keys.insert(record);
                self.state.keys.authenticate(key)
            }
            None => found,
        }
    }

    /// Hear every event published from now on (push stream, webhooks, embedded waits).
    pub fn subscribe(&self) -> broadcast::Receiver<BusEvent> {
        self.state.events.subscribe()
    }

    /// Becomes true when the service shuts down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.state.shutdown_signal()
    }

    /// Seconds since the service started.
    pub fn uptime_seconds(&self) -> u64 {
        self.state.started.elapsed().as_secs()
    }

    /// Number of active policies.
    pub fn policy_count(&self) -> usize {
        self.state.engine.policy.policy_count()
    }

    /// The risk and policy engines.
    pub fn engine(&self) -> &crate::engine::Engine {
        &self.state.engine
    }

    /// Commit every write queued so far and stop the store (the service is unusable after).
    pub async fn close(&self) -> Result<()> {
        self.state.store.close().await
    }

    /// Audit draft of an event done by `p` now.
    fn draft(&self, p: &Principal, event: &crate::audit::Event<'_>) -> AuditDraft {
        event.draft(p.org_id, &p.name, now())
    }
}
