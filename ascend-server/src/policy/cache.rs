//! The decision cache: the policy decision of a request, remembered by everything the decision
//! depends on.
//!
//! With no entities, a Cedar decision is a function of the principal, action and resource uids
//! and the context; the engine builds the context from the attributes its evaluated policies
//! read (the bucket's mask), so the key is: the principal, action and resource ids and the
//! encoded masked context values ([`super::schema::encode_context`]). The whole key is stored
//! and compared (never a hash alone), so a hit is the decision the same request got before from
//! the same policy set. The cache belongs to one loaded set: a reload starts with an empty one.
//!
//! Bounded: at [`CAPACITY`] entries it is cleared (the working set of distinct requests of an
//! agent fleet is small; a clear costs one miss per distinct request).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::PolicyDecision;

/// Entries kept before the cache is cleared.
pub const CAPACITY: usize = 16_384;

/// Hits and misses since the engine was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Decisions answered from the cache.
    pub hits: u64,
    /// Decisions evaluated by Cedar (and then remembered).
    pub misses: u64,
}

/// Decisions by request key.
#[derive(Debug, Default)]
pub struct DecisionCache {
    map: Mutex<HashMap<Box<[u8]>, Arc<PolicyDecision>>>,
}

impl DecisionCache {
    /// The decision remembered for `key`.
    pub fn get(&self, key: &[u8]) -> Option<Arc<PolicyDecision>> {
        self.map.lock().ok()?.get(key).cloned()
    }

    /// Remember a decision.
    pub fn put(&self, key: Box<[u8]>, decision: Arc<PolicyDecision>) {
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= CAPACITY {
                m.clear();
            }
            m.insert(key, decision);
        }
    }

    /// Number of remembered decisions.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Hit and miss counters shared by every set an engine loads.
#[derive(Debug, Default)]
pub struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Counters {
    /// Count a hit.
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a miss.
    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}
