//! Per-caller limits, applied to every authenticated request before its handler runs:
//!
//! * **Request rates** — a token bucket per organisation and one per agent (the key's bound
//!   agent, else the key itself), each with a sustained rate and a burst
//!   (`org_rate`/`org_burst`, `agent_rate`/`agent_burst`). A request over either is answered
//!   429 with `Retry-After` (whole seconds until a token is back) and consumes nothing.
//! * **Storage quota** — requests that add stored records (action submissions, agent and MCP
//!   server registrations, webhooks, keys) are refused with 507 once the organisation holds
//!   `org_quota_entries` audit entries. Every stored change writes exactly one audit entry, so
//!   the count of audit entries is the organisation's row count; each is bounded in size by the
//!   body limit. The count is read from the store at most once a second per organisation and
//!   counted up locally in between, so the quota is never overshot by more than the requests in
//!   flight. Reads, decisions on pending actions, outcome reports, deletions and kill switches
//!   stay possible over quota.
//!
//! Requests without a valid key pass through untouched: the handler's authentication answers
//! them 401.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Shared;
use crate::auth::presented_key;
use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::model::Principal;

/// Buckets kept before full (idle) ones are dropped.
const MAX_BUCKETS: usize = 100_000;
/// How long a stored audit count is trusted.
const COUNT_TTL: Duration = Duration::from_secs(1);

/// The limits of one router.
pub struct Limits {
    governance: Shared,
    org: Rate,
    agent: Rate,
    quota: u64,
    state: Mutex<LimitState>,
}

#[derive(Debug, Clone, Copy)]
struct Rate {
    per_sec: f64,
    burst: f64,
}

impl Rate {
    fn on(&self) -> bool {
        self.per_sec > 0.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self, rate: Rate, now: Instant) {
        let gained = now.saturating_duration_since(self.at).as_secs_f64() * rate.per_sec;
        self.tokens = (self.tokens + gained).min(rate.burst);
        self.at = now;
    }

    /// Seconds until one token is available (0 when one is).
    fn wait(&self, rate: Rate) -> f64 {
        if self.tokens >= 1.0 {
            0.0
        } else {
            (1.0 - self.tokens) / rate.per_sec
        }
    }
}

#[derive(Default)]
struct LimitState {
    orgs: HashMap<i64, Bucket>,
    agents: HashMap<(i64, String), Bucket>,
    counts: HashMap<i64, StoredCount>,
}

#[derive(Debug, Clone, Copy)]
struct StoredCount {
    entries: u64,
    read_at: Instant,
}

fn bucket<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Bucket>,
    key: K,
    rate: Rate,
    now: Instant,
) -> &mut Bucket {
    if map.len() >= MAX_BUCKETS {
        map.retain(|_, b| {
            b.refill(rate, now);
            b.tokens < rate.burst
        });
    }
    let b = map.entry(key).or_insert(Bucket {
        tokens: rate.burst,
        at: now,
    });
    b.refill(rate, now);
    b
}

impl Limits {
    /// The limits configured for `governance`.
    pub fn new(governance: Shared) -> Self {
        let c: &ServerConfig = governance.config();
        let org = Rate {
            per_sec: c.org_rate,
            burst: f64::from(c.org_burst.max(1)),
        };
        let agent = Rate {
            per_sec: c.agent_rate,
            burst: f64::from(c.agent_burst.max(1)),
        };
        let quota = c.org_quota_entries;
        Self {
            governance,
            org,
            agent,
            quota,
            state: Mutex::new(LimitState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LimitState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Take one token from the caller's agent and organisation buckets, or neither.
    fn take(&self, p: &Principal, now: Instant) -> Result<()> {
        let agent = p
            .agent_id
            .clone()
            .unwrap_or_else(|| format!("key {}", p.key_id));
        let mut st = self.lock();
        let st = &mut *st;
        let mut wait = 0.0f64;
        let mut which = String::new();
        if self.agent.on() {
            let b = bucket(&mut st.agents, (p.org_id, agent.clone()), self.agent, now);
            if b.wait(self.agent) > 0.0 {
                wait = b.wait(self.agent);
                which = format!(
                    "agent {agent:?} ({} requests per second)",
                    self.agent.per_sec
                );
            }
        }
        if self.org.on() {
            let b = bucket(&mut st.orgs, p.org_id, self.org, now);
            if b.wait(self.org) > wait {
                wait = b.wait(self.org);
                which = format!(
                    "the organisation ({} requests per second)",
                    self.org.per_sec
                );
            }
        }
        if wait > 0.0 {
            let retry_after_secs = (wait.ceil() as u64).max(1);
            return Err(Error::RateLimited {
                detail: format!(
                    "rate limit exceeded for {which}; retry after {retry_after_secs} s"
                ),
                retry_after_secs,
            });
        }
        if self.agent.on()
            && let Some(b) = st.agents.get_mut(&(p.org_id, agent))
        {
            b.tokens -= 1.0;
        }
        if self.org.on()
            && let Some(b) = st.orgs.get_mut(&p.org_id)
        {
            b.tokens -= 1.0;
        }
        Ok(())
    }

    /// Refuse a request that would add records once the organisation is at its quota; count an
    /// admitted one.
    async fn check_quota(&self, org_id: i64, now: Instant) -> Result<()> {
        if self.quota == 0 {
            return Ok(());
        }
        {
            let mut st = self.lock();
            if let Some(c) = st.counts.get_mut(&org_id)
                && now.saturating_duration_since(c.read_at) < COUNT_TTL
            {
                return self.admit(c);
            }
        }
        let entries = self.governance.state().store.audit_count(org_id).await?;
        let read = StoredCount {
            entries,
            read_at: Instant::now(),
        };
        let mut st = self.lock();
        let c = st.counts.entry(org_id).or_insert(read);
        if c.read_at < read.read_at {
            *c = read;
        }
        self.admit(c)
    }

    /// Count one more entry for an admitted request (corrected by the next read), or refuse.
    fn admit(&self, c: &mut StoredCount) -> Result<()> {
        if c.entries >= self.quota {
            return Err(Error::QuotaExceeded(format!(
                "storage quota exceeded: the organisation holds {} of at most {} entries; \
                 delete records or ask the operator to raise org_quota_entries",
                c.entries, self.quota
            )));
        }
        c.entries += 1;
        Ok(())
    }
}

/// Does this request add stored records (and so count against the quota)?
fn adds_records(method: &Method, path: &str) -> bool {
    *method == Method::POST
        && matches!(
            path.trim_end_matches('/'),
            "/api/v1/actions/submit"
                | "/api/v1/mcp/actions/submit"
                | "/api/registry/agents"
                | "/api/registry/mcp-servers"
                | "/api/webhooks/configure"
                | "/api/v1/keys"
        )
}

/// The middleware: rate limits and quota for authenticated requests.
pub async fn enforce(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    let principal = match presented_key(req.headers()) {
        Some(k) => limits.governance.authenticate(k).await.ok(),
        None => None,
    };
    let Some(p) = principal else {
        return next.run(req).await;
    };
    let now = Instant::now();
    if let Err(e) = limits.take(&p, now) {
        return e.into_response();
    }
    if adds_records(req.method(), req.uri().path())
        && let Err(e) = limits.check_quota(p.org_id, now).await
    {
        return e.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_its_burst() {
        let rate = Rate {
            per_sec: 2.0,
            burst: 3.0,
        };
        let t0 = Instant::now();
        let mut b = Bucket {
            tokens: 0.0,
            at: t0,
        };
        assert!((b.wait(rate) - 0.5).abs() < 1e-9);
        b.refill(rate, t0 + Duration::from_millis(500));
        assert!((b.tokens - 1.0).abs() < 1e-9);
        b.refill(rate, t0 + Duration::from_secs(60));
        assert!((b.tokens - 3.0).abs() < 1e-9);
        assert_eq!(b.wait(rate), 0.0);
    }

    #[test]
    fn only_record_adding_routes_count_against_the_quota() {
        assert!(adds_records(&Method::POST, "/api/v1/actions/submit"));
        assert!(adds_records(&Method::POST, "/api/webhooks/configure"));
        assert!(!adds_records(&Method::GET, "/api/v1/actions"));
        assert!(!adds_records(&Method::POST, "/api/v1/actions/7/deny"));
        assert!(!adds_records(&Method::POST, "/api/v1/kill-switch/trigger"));
    }
}
