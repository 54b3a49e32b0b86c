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

/// A fresh key and its record (the key itself is shown once and never stored).
pub fn generate_key(
    org_id: i64,
    role: Role,
    agent_id: Option<String>,
    name: Option<String>,
    now: Timestamp,
) -> Result<(String, ApiKeyRecord)> {
    let key_id = random_hex(6)?;
    let secret = random_hex(20)?;
    let key = format!("ascend_{key_id}_{secret}");
    let name = name.unwrap_or_else(|| format!("{role}-{key_id}"));
    let record = ApiKeyRecord {
        key_hash: hash_key(&key),
        key_id,
        org_id,
        role,
        agent_id,
        name,
        created_at: now,
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

/// In-memory index of keys by id.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: RwLock<HashMap<String, ApiKeyRecord>>,
}

impl KeyRing {
    /// Add (or replace) a key.
    pub fn insert(&self, record: ApiKeyRecord) {
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(record.key_id.clone(), record);
        }
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
        if bool::from(record.key_hash.ct_eq(&presented)) {
            Ok(Principal {
                key_id: record.key_id.clone(),
                org_id: record.org_id,
                role: record.role,
                agent_id: record.agent_id.clone(),
                name: record.name.clone(),
            })
        } else {
            Err(Error::Unauthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_authenticate_and_others_do_not() {
        let ring = KeyRing::default();
        let (key, rec) = generate_key(1, Role::Agent, None, None, Timestamp::now()).unwrap();
        ring.insert(rec);
        assert_eq!(ring.authenticate(&key).unwrap().role, Role::Agent);
        let mut bad = key.clone();
        bad.pop();
        bad.push('x');
        assert!(ring.authenticate(&bad).is_err());
        assert!(ring.authenticate("nonsense").is_err());
        assert!(ring.authenticate("").is_err());
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
