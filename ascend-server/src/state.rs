//! The shared state of a running server: store, engines, key ring, kill switches, idempotency
//! memory, per-agent statistics and the event bus.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ascend_runtime::wire::KillSwitchStatus;
use serde_json::Value;
use tokio::sync::{OnceCell, broadcast, watch};

use crate::auth::KeyRing;
use crate::config::ServerConfig;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::mcp_registry::McpRegistry;
use crate::model::{AgentRecord, KillSwitchRecord, PushKind, Snapshot, Webhook, WebhookEvent};
use crate::risk::AgentProfile;
use crate::store::{PeerEvent, Store};

/// Something connected SDKs (SSE) and webhooks hear about.
#[derive(Debug, Clone)]
pub struct BusEvent {
    /// Organisation.
    pub org_id: i64,
    /// Agent concerned; None for organisation-wide events.
    pub agent_id: Option<String>,
    /// The key that submitted the action concerned (action events only).
    pub key_id: Option<String>,
    /// Pushed to connected SDKs under this name.
    pub push: Option<PushKind>,
    /// Delivered to webhooks subscribed to this event.
    pub webhook: Option<WebhookEvent>,
    /// Event data.
    pub data: Value,
}

/// One remembered idempotency key. Only the action id is kept (never the answer body): later
/// duplicates read the action back from the store.
#[derive(Debug)]
pub struct IdemEntry {
    /// SHA-256 of the request it was first used with (empty for legacy rows: any request).
    pub request_hash: String,
    /// The action id, filled once the first request with this key has been answered.
    pub cell: Arc<OnceCell<i64>>,
    /// When first seen.
    pub at: Instant,
    /// Insertion number (matches this entry to its place in the eviction queue).
    seq: u64,
}

impl IdemEntry {
    /// A key first seen now.
    pub fn new(request_hash: String, cell: Arc<OnceCell<i64>>) -> Self {
        Self {
            request_hash,
            cell,
            at: Instant::now(),
            seq: 0,
        }
    }
}

/// The idempotency memory: (org, key) → entry, bounded by a maximum entry count (oldest
/// evicted first) and a lifetime. Beyond it the store's unique index on (org, key) is the
/// backstop.
#[derive(Debug)]
pub struct IdemMap {
    entries: HashMap<(i64, String), IdemEntry>,
    /// Insertion order: (key, seq); records whose seq no longer matches are stale.
    order: VecDeque<((i64, String), u64)>,
    next_seq: u64,
    cap: usize,
}

impl IdemMap {
    /// An empty memory holding at most `cap` keys (at least one).
    pub fn new(cap: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
            cap: cap.max(1),
        }
    }

    /// Number of remembered keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of one key.
    pub fn get(&self, key: &(i64, String)) -> Option<&IdemEntry> {
        self.entries.get(key)
    }

    /// Remember a key (replacing any entry it had), evicting the oldest keys beyond the cap.
    pub fn insert(&mut self, key: (i64, String), mut entry: IdemEntry) {
        self.next_seq += 1;
        entry.seq = self.next_seq;
        self.order.push_back((key.clone(), entry.seq));
        self.entries.insert(key, entry);
        while self.entries.len() > self.cap {
            let Some((k, seq)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&k).is_some_and(|e| e.seq == seq) {
                self.entries.remove(&k);
            }
        }
        // Replaced keys leave stale records behind; keep the queue proportional to the map.
        if self.order.len() > 2 * self.cap.max(16) {
            let entries = &self.entries;
            self.order
                .retain(|(k, seq)| entries.get(k).is_some_and(|e| e.seq == *seq));
        }
    }

    /// Replace the entry of `key` only if it is still the one holding `cell`.
    pub fn replace_if(&mut self, key: (i64, String), cell: &Arc<OnceCell<i64>>, entry: IdemEntry) {
        if self
            .entries
            .get(&key)
            .is_some_and(|e| Arc::ptr_eq(&e.cell, cell))
        {
            self.insert(key, entry);
        }
    }

    /// Drop keys first seen at least `ttl` ago (oldest first: the queue is in time order).
    pub fn prune(&mut self, ttl: Duration) {
        while let Some((k, seq)) = self.order.front() {
            match self.entries.get(k) {
                Some(e) if e.seq == *seq => {
                    if e.at.elapsed() < ttl {
                        break;
                    }
                    self.entries.remove(k);
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }
}

#[derive(Debug, Default)]
struct AgentStats {
    registered: bool,
    autonomous: bool,
    denials: VecDeque<Instant>,
    recent: VecDeque<Instant>,
    seen_types: HashSet<String>,
}

/// Kill switches in memory (the store has the durable copy).
#[derive(Debug, Default)]
pub struct KillSwitches {
    map: HashMap<(i64, String), KillSwitchRecord>,
}

impl KillSwitches {
    fn key(org_id: i64, agent: Option<&str>) -> (i64, String) {
        (org_id, agent.unwrap_or_default().to_owned())
    }

    /// Record a new state.
    pub fn set(&mut self, rec: KillSwitchRecord) {
        self.map
            .insert(Self::key(rec.org_id, rec.agent_id.as_deref()), rec);
    }

    /// The active switch that halts `agent` (its own first, then its organisation's).
    pub fn blocking(&self, org_id: i64, agent: Option<&str>) -> Option<&KillSwitchRecord> {
        let own = agent
            .filter(|a| !a.is_empty())
            .and_then(|a| self.map.get(&Self::key(org_id, Some(a))))
            .filter(|r| r.active);
        own.or_else(|| self.map.get(&Self::key(org_id, None)).filter(|r| r.active))
    }

    /// How many switches are on.
    pub fn active_count(&self) -> usize {
        self.map.values().filter(|r| r.active).count()
    }

    /// The switches of an organisation that are on: the organisation's own first, then the
    /// agents' by id.
    pub fn active_in(&self, org_id: i64) -> Vec<KillSwitchRecord> {
        let mut on: Vec<KillSwitchRecord> = self
            .map
            .values()
            .filter(|r| r.org_id == org_id && r.active)
            .cloned()
            .collect();
        on.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
        on
    }

    /// The status body for an agent (or the organisation).
    pub fn status(&self, org_id: i64, agent: Option<&str>) -> KillSwitchStatus {
        match self.blocking(org_id, agent) {
            Some(r) => KillSwitchStatus {
                blocked: true,
                reason: r.reason.clone(),
                activated_at: r.activated_at.map(|t| t.to_rfc3339()),
                activated_by: r.activated_by.clone(),
            },
            None => KillSwitchStatus::default(),
        }
    }
}

/// Shared state of one server.
pub struct AppState {
    /// Configuration.
    pub config: ServerConfig,
    /// Persistence.
    pub store: Arc<dyn Store>,
    /// Risk and policy engines.
    pub engine: Engine,
    /// API keys.
    pub keys: KeyRing,
    /// Kill switches.
    pub kill: RwLock<KillSwitches>,
    /// Idempotency memory: (org, key) → entry.
    pub idempotency: Mutex<IdemMap>,
    agents: Mutex<HashMap<(i64, String), AgentStats>>,
    /// Organisation names by id.
    pub orgs: RwLock<HashMap<i64, String>>,
    /// Event bus (SSE streams and webhook dispatcher subscribe).
    pub events: broadcast::Sender<BusEvent>,
    /// Webhooks by organisation (dropped on every change).
    pub webhook_cache: RwLock<HashMap<i64, Arc<Vec<Webhook>>>>,
    /// HTTP client for webhooks.
    pub http: reqwest::Client,
    /// Server start.
    pub started: Instant,
    /// MCP registries of every organisation.
    pub mcp: McpRegistry,
    /// Flips to true when the server shuts down (long-lived responses such as the event stream
    /// end on it).
    shutdown: watch::Sender<bool>,
    /// Operational metrics (`GET /metrics`).
    pub metrics: crate::metrics::Metrics,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// Build the state from a store snapshot.
    pub fn new(
        config: ServerConfig,
        store: Arc<dyn Store>,
        engine: Engine,
        snapshot: Snapshot,
        http: reqwest::Client,
    ) -> Self {
        let keys = KeyRing::default();
        for k in snapshot.keys {
            keys.insert(k);
        }
        let mut kill = KillSwitches::default();
        for k in snapshot.kill_switches {
            kill.set(k);
        }
        let mut agents: HashMap<(i64, String), AgentStats> = HashMap::new();
        for a in &snapshot.agents {
            let s = agents.entry((a.org_id, a.agent_id.clone())).or_default();
            s.registered = true;
            s.autonomous = a.agent_type.eq_ignore_ascii_case("autonomous");
        }
        for (org, agent, ty) in snapshot.seen_action_types {
            agents
                .entry((org, agent))
                .or_default()
                .seen_types
                .insert(ty);
        }
        let mut idem = IdemMap::new(config.idempotency_max_keys);
        for (org, key, hash, id) in snapshot.idempotency {
            let cell = Arc::new(OnceCell::new_with(Some(id)));
            idem.insert((org, key), IdemEntry::new(hash, cell));
        }
        let (events, _) = broadcast::channel(4096);
        let mcp = McpRegistry::new(snapshot.mcp_servers);
        Self {
            config,
            store,
            engine,
            keys,
            kill: RwLock::new(kill),
            idempotency: Mutex::new(idem),
            agents: Mutex::new(agents),
            orgs: RwLock::new(snapshot.orgs.into_iter().collect()),
            events,
            webhook_cache: RwLock::new(HashMap::new()),
            http,
            started: Instant::now(),
            mcp,
            shutdown: watch::channel(false).0,
            metrics: crate::metrics::Metrics::default(),
        }
    }

    /// Signal shutdown to long-lived responses (idempotent).
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// A receiver that sees `true` once shutdown was signalled.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Publish an event (no subscriber is fine); one pushed to SDKs also goes to the SDKs
    /// connected to the other replicas of the same database.
    pub fn publish(&self, event: BusEvent) {
        if let Some(push) = event.push {
            self.store.broadcast(PeerEvent {
                org_id: event.org_id,
                agent_id: event.agent_id.clone(),
                key_id: event.key_id.clone(),
                push,
                data: event.data.clone(),
            });
        }
        let _ = self.events.send(event);
    }

    /// An event another replica published: pushed to the SDKs connected here, never
    /// delivered to webhooks (the replica it happened on does that).
    pub fn publish_from_peer(&self, event: PeerEvent) {
        let _ = self.events.send(BusEvent {
            org_id: event.org_id,
            agent_id: event.agent_id,
            key_id: event.key_id,
            push: Some(event.push),
            webhook: None,
            data: event.data,
        });
    }

    /// The risk engine's view of an agent, and record this action in its statistics.
    pub fn agent_profile(&self, org_id: i64, agent_id: &str, action_type: &str) -> AgentProfile {
        let Ok(mut agents) = self.agents.lock() else {
            return AgentProfile::default();
        };
        let s = agents.entry((org_id, agent_id.to_owned())).or_default();
        let now = Instant::now();
        while s
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            s.recent.pop_front();
        }
        while s
            .denials
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(3600))
        {
            s.denials.pop_front();
        }
        let first_use = !s.seen_types.contains(action_type);
        let profile = AgentProfile {
            registered: s.registered,
            autonomous: s.autonomous,
            recent_denials: u32::try_from(s.denials.len()).unwrap_or(u32::MAX),
            first_use_of_action_type: first_use,
            actions_last_minute: u32::try_from(s.recent.len()).unwrap_or(u32::MAX),
        };
        if first_use && s.seen_types.len() < 10_000 {
            s.seen_types.insert(action_type.to_owned());
        }
        if s.recent.len() < 100_000 {
            s.recent.push_back(now);
        }
        profile
    }

    /// Count a denial against an agent.
    pub fn record_denial(&self, org_id: i64, agent_id: &str) {
        if let Ok(mut agents) = self.agents.lock() {
            let s = agents.entry((org_id, agent_id.to_owned())).or_default();
            if s.denials.len() < 10_000 {
                s.denials.push_back(Instant::now());
            }
        }
    }

    /// Remember a registered agent.
    pub fn record_agent(&self, agent: &AgentRecord) {
        if let Ok(mut agents) = self.agents.lock() {
            let s = agents
                .entry((agent.org_id, agent.agent_id.clone()))
                .or_default();
            s.registered = true;
            s.autonomous = agent.agent_type.eq_ignore_ascii_case("autonomous");
        }
    }

    /// The registered type of an agent (`autonomous` or `supervised`), None when unregistered.
    pub fn agent_type(&self, org_id: i64, agent_id: &str) -> Option<String> {
        let agents = self.agents.lock().ok()?;
        let s = agents.get(&(org_id, agent_id.to_owned()))?;
        s.registered.then(|| {
            if s.autonomous {
                "autonomous"
            } else {
                "supervised"
            }
            .to_owned()
        })
    }

    /// Whether an agent is registered.
    pub fn is_registered(&self, org_id: i64, agent_id: &str) -> bool {
        self.agents
            .lock()
            .ok()
            .and_then(|a| a.get(&(org_id, agent_id.to_owned())).map(|s| s.registered))
            .unwrap_or(false)
    }

    /// Drop idempotency keys older than the configured lifetime.
    pub fn prune_idempotency(&self) {
        let ttl = self.config.idempotency_ttl;
        if let Ok(mut m) = self.idempotency.lock() {
            m.prune(ttl);
        }
    }

    /// Read the kill switch state.
    pub fn kill_status(&self, org_id: i64, agent: Option<&str>) -> Result<KillSwitchStatus> {
        self.kill
            .read()
            .map(|k| k.status(org_id, agent))
            .map_err(|_| Error::Internal("kill switch state poisoned".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64) -> IdemEntry {
        IdemEntry::new("h".repeat(64), Arc::new(OnceCell::new_with(Some(id))))
    }

    #[test]
    fn idempotency_memory_is_bounded_oldest_first() {
        let mut m = IdemMap::new(100);
        for i in 0..10_000 {
            m.insert((1, format!("idem:{i}")), entry(i));
            assert!(m.len() <= 100);
        }
        assert_eq!(m.len(), 100);
        assert!(m.order.len() <= 2 * 100);
        assert!(m.get(&(1, "idem:9899".into())).is_none());
        let kept = m.get(&(1, "idem:9900".into())).unwrap();
        // Entries hold the action id only, never an answer body.
        assert_eq!(kept.cell.get(), Some(&9900));
        // Re-inserting a key keeps one entry and the queue proportional to the map.
        for _ in 0..1000 {
            m.insert((1, "idem:9999".into()), entry(1));
        }
        assert_eq!(m.len(), 100);
        assert!(m.order.len() <= 2 * 100);
    }

    #[test]
    fn idempotency_memory_expires() {
        let mut m = IdemMap::new(10);
        m.insert((1, "a".into()), entry(1));
        m.insert((1, "b".into()), entry(2));
        m.prune(Duration::from_secs(3600));
        assert_eq!(m.len(), 2);
        m.prune(Duration::ZERO);
        assert!(m.is_empty());
        assert!(m.order.is_empty());
    }

    #[test]
    fn replace_if_only_replaces_the_same_cell() {
        let mut m = IdemMap::new(10);
        let cell = Arc::new(OnceCell::new());
        m.insert((1, "a".into()), IdemEntry::new("x".into(), cell.clone()));
        m.replace_if((1, "a".into()), &Arc::new(OnceCell::new()), entry(5));
        assert_eq!(m.get(&(1, "a".into())).unwrap().request_hash, "x");
        m.replace_if((1, "a".into()), &cell, entry(5));
        assert_eq!(m.get(&(1, "a".into())).unwrap().cell.get(), Some(&5));
    }
}
