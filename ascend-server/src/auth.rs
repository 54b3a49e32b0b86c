//! API keys: generation, hashing and authentication (who the caller is; what the caller may
//! do is decided in `governance::access`).
//!
//! A key reads `ascend_<key id>_<secret>`. Only the SHA-256 of the whole key is stored; a
//! presented key is found by its id and its hash compared in constant time (`subtle`). Keys are
//! accepted from `X-API-Key` or `Authorization: Bearer`; when both are present and differ,
//! `X-API-Key` wins (the boto3 wrapper sends a masked key in the Bearer header).

use std::collections::HashMap;
use std::sync::RwLock;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::model::{ApiKeyRecord, Principal, Role, Timestamp};

/// SHA-256 of a key.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// What a new key is: everything but its id and secret.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// Organisation.
    pub org_id: i64,
    /// Role.
    pub role: Role,
    /// The one agent it acts for.
    pub agent_id: Option<String>,
    /// Label (generated when None).
    pub name: Option<String>,
    /// Owner (the name when None).
    pub owner: Option<String>,
    /// Owner of the creating key (`system` for the service itself).
    pub created_by: String,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
}

/// A fresh key and its record (the key itself is shown once and never stored).
pub fn generate_key(spec: KeySpec, now: Timestamp) -> Result<(String, ApiKeyRecord)> {
    let key_id = random_hex(6)?;
    let secret = random_hex(20)?;
    let key = format!("ascend_{key_id}_{secret}");
    let name = spec
        .name
        .unwrap_or_else(|| format!("{}-{key_id}", spec.role));
    let record = ApiKeyRecord {
        key_hash: hash_key(&key),
        key_id,
        org_id: spec.org_id,
        role: spec.role,
        agent_id: spec.agent_id,
        owner: spec.owner.unwrap_or_else(|| name.clone()),
        name,
        created_by: spec.created_by,
        created_at: now,
        expires_at: spec.expires_at,
        revoked_at: None,
    };
    Ok((key, record))
}

/// A random webhook secret (`whsec_…`).
pub fn generate_secret() -> Result<String> {
    Ok(format!("whsec_{}", random_hex(24)?))
}

/// The key presented by a request, if any.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let x_api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if x_api_key.is_some() {
        return x_api_key;
    }
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|s| !s.is_empty())
}

/// Mask a key for logs: `ascend_<id>_****`.
pub fn mask_key(key: &str) -> String {
    match key.rsplit_once('_') {
        Some((prefix, _)) => format!("{prefix}_****"),
        None => "****".to_owned(),
    }
}

/// In-memory index of keys by id, with the time each was last used.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: RwLock<HashMap<String, ApiKeyRecord>>,
    last_used: RwLock<HashMap<String, Timestamp>>,
    /// Unknown key ids read through from the store recently, and when.
    looked_up: std::sync::Mutex<HashMap<String, std::time::Instant>>,
}

/// How long an unknown key id is not read through again.
const LOOKUP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// Most unknown key ids remembered (beyond it, lookups wait until the memory is pruned).
const LOOKUPS_REMEMBERED: usize = 10_000;

impl KeyRing {
    /// Add (or replace) a key.
    pub fn insert(&self, record: ApiKeyRecord) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(record.key_id.clone(), record);
        }
    }

    /// Mark a key revoked: it stops authenticating at once.
    pub fn revoke(&self, key_id: &str, at: Timestamp) {
        if let Ok(mut keys) = self.keys.write()
            && let Some(k) = keys.get_mut(key_id)
        {
            k.revoked_at = Some(at);
        }
    }

    /// The id of a well-formed key this ring does not hold and has not read through from the
    /// store within the last second (then recorded as read through now); None otherwise. Keeps
    /// a flood of made-up keys from becoming a flood of database reads.
    pub fn worth_looking_up(&self, key: &str) -> Option<String> {
        let rest = key.strip_prefix("ascend_")?;
        let (key_id, secret) = rest.split_once('_')?;
        let well_formed = |s: &str| {
            !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        if !well_formed(key_id) || !well_formed(secret) {
            return None;
        }
        if self.keys.read().ok()?.contains_key(key_id) {
            return None;
        }
        let now = std::time::Instant::now();
        let mut seen = self.looked_up.lock().ok()?;
        if seen.len() >= LOOKUPS_REMEMBERED {
            seen.retain(|_, at| now.duration_since(*at) < LOOKUP_EVERY);
            if seen.len() >= LOOKUPS_REMEMBERED {
                return None;
            }
        }
        match seen.get(key_id) {
            Some(at) if now.duration_since(*at) < LOOKUP_EVERY => None,
            _ => {
                seen.insert(key_id.to_owned(), now);
                Some(key_id.to_owned())
            }
        }
    }

    /// One key's record.
    pub fn get(&self, key_id: &str) -> Option<ApiKeyRecord> {
        self.keys.read().ok()?.get(key_id).cloned()
    }

    /// The keys of an organisation (revoked ones included), oldest first, each with the time
    /// it was last used since the service started.
    pub fn of_org(&self, org_id: i64) -> Vec<(ApiKeyRecord, Option<Timestamp>)> {
        let Ok(keys) = self.keys.read() else {
            return Vec::new();
        };
        let used = self.last_used.read().ok();
        let mut out: Vec<_> = keys
            .values()
            .filter(|k| k.org_id == org_id)
            .map(|k| {
                let at = used.as_ref().and_then(|u| u.get(&k.key_id).copied());
                (k.clone(), at)
            })
            .collect();
        out.sort_by(|a, b| (a.0.created_at, &a.0.key_id).cmp(&(b.0.created_at, &b.0.key_id)));
        out
    }

    /// The people behind key `key_id` (its owner, and its creator's owner).
    pub fn people_of(&self, key_id: &str) -> Vec<String> {
        self.get(key_id)
            .map(|k| k.people())
            .unwrap_or_else(|| vec![format!("key:{key_id}")])
    }

    /// Authenticate a presented key.
    pub fn authenticate(&self, key: &str) -> Result<Principal> {
        let rest = key.strip_prefix("ascend_").ok_or(Error::Unauthorized)?;
        let (key_id, _secret) = rest.split_once('_').ok_or(Error::Unauthorized)?;
        let presented = hash_key(key);
        let keys = self
            .keys
            .read()
            .map_err(|_| Error::Internal("key ring poisoned".into()))?;
        let record = keys.get(key_id).ok_or(Error::Unauthorized)?;
        let now = Timestamp::now();
        // The hash is compared first and in constant time; a revoked or expired key then
        // answers exactly like an unknown one.
        if bool::from(record.key_hash.ct_eq(&presented)) && record.is_usable(now) {
            let principal = Principal {
                key_id: record.key_id.clone(),
                org_id: record.org_id,
                role: record.role,
                agent_id: record.agent_id.clone(),
                name: record.name.clone(),
                people: record.people(),
            };
            drop(keys);
            self.touch(&principal.key_id, now);
            Ok(principal)
        } else {
            Err(Error::Unauthorized)
        }
    }
}

impl KeyRing {
    /// Record a use, at most once a second per key (one write lock per key and second).
    fn touch(&self, key_id: &str, now: Timestamp) {
        let fresh = self
            .last_used
            .read()
            .ok()
            .and_then(|u| u.get(key_id).copied())
            .is_some_and(|at| now.micros_since(at) < 1_000_000);
        if !fresh && let Ok(mut u) = self.last_used.write() {
            u.insert(key_id.to_owned(), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_read_through_at_most_once_a_second() {
        let ring = KeyRing::default();
        let key = "ascend_0123abcd_00112233445566778899";
        assert_eq!(ring.worth_looking_up(key).as_deref(), Some("0123abcd"));
        assert_eq!(
            ring.worth_looking_up(key),
            None,
            "not again within a second"
        );
        for malformed in ["", "nonsense", "ascend__x", "ascend_ab-cd_ef", "ascend_ab_"] {
            assert_eq!(ring.worth_looking_up(malformed), None, "{malformed:?}");
        }
        let (known, rec) = generate_key(
            KeySpec {
                org_id: 1,
                role: Role::Agent,
                agent_id: Some("a".into()),
                name: None,
                owner: None,
                created_by: "system".into(),
                expires_at: None,
            },
            Timestamp::now(),
        )
        .unwrap();
        ring.insert(rec);
        assert_eq!(ring.worth_looking_up(&known), None, "a key the ring holds");
    }

    #[test]
    fn generated_keys_authenticate_and_others_do_not() {
        let ring = KeyRing::default();
        let spec = KeySpec {
            org_id: 1,
            role: Role::Agent,
            agent_id: Some("a".into()),
            name: None,
            owner: None,
            created_by: "system".into(),
            expires_at: None,
        };
        let (key, rec) = generate_key(spec, Timestamp::now()).unwrap();
        let id = rec.key_id.clone();
        ring.insert(rec);
        assert_eq!(ring.authenticate(&key).unwrap().role, Role::Agent);
        let mut bad = key.clone();
        bad.pop();
        bad.push('x');
        assert!(ring.authenticate(&bad).is_err());
        assert!(ring.authenticate("nonsense").is_err());
        assert!(ring.authenticate("").is_err());
        ring.revoke(&id, Timestamp::now());
        assert!(
            ring.authenticate(&key).is_err(),
            "a revoked key stops at once"
        );
    }

    #[test]
    fn x_api_key_wins_over_bearer() {
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "a".parse().unwrap());
        h.insert("authorization", "Bearer b".parse().unwrap());
        assert_eq!(presented_key(&h), Some("a"));
        h.remove("x-api-key");
        assert_eq!(presented_key(&h), Some("b"));
    }

    #[test]
    fn masking_hides_the_secret() {
        assert_eq!(mask_key("ascend_abc_secret"), "ascend_abc_****");
    }
}
