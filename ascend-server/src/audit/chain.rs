//! Canonical, unambiguous encoding of an audit entry and its SHA-256.
//!
//! Each field is written as an 8-byte big-endian length followed by its bytes, after a domain
//! tag, so no two different entries encode to the same bytes (unlike a joined string, where
//! `"a|b" + "c"` and `"a" + "b|c"` collide). The previous entry's hash is one of the fields, which
//! makes the entries a chain.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry of a chain.
pub const GENESIS: [u8; 32] = [0u8; 32];

const DOMAIN: &[u8] = b"ascend-audit-v1";

/// SHA-256 over the canonical encoding of one entry.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    org_id: i64,
    seq: i64,
    ts: &str,
    kind: &str,
    actor: &str,
    subject: &str,
    payload: &str,
    prev_hash: &[u8; 32],
) -> [u8; 32] {
    entry_hash_raw(
        org_id,
        seq,
        [
            ts.as_bytes(),
            kind.as_bytes(),
            actor.as_bytes(),
            subject.as_bytes(),
            payload.as_bytes(),
        ],
        prev_hash,
    )
}

/// [`entry_hash`] over the stored bytes of the text fields (ts, kind, actor, subject,
/// payload), as read from the database without decoding them.
pub fn entry_hash_raw(org_id: i64, seq: i64, text: [&[u8]; 5], prev_hash: &[u8; 32]) -> [u8; 32] {
    // One contiguous encoding, hashed in one call: SHA-256 fed 18 small pieces spends more on
    // the pieces than on the compression (most entries fit the stack buffer).
    const STACK: usize = 1024;
    let len = 9 * 8 + DOMAIN.len() + 16 + 32 + text.iter().map(|t| t.len()).sum::<usize>();
    let mut stack = [0u8; STACK];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if len <= STACK {
        &mut stack[..len]
    } else {
        heap.resize(len, 0);
        &mut heap
    };
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        buf[at..at + 8].copy_from_slice(&(bytes.len() as u64).to_be_bytes());
        buf[at + 8..at + 8 + bytes.len()].copy_from_slice(bytes);
        at += 8 + bytes.len();
    };
    put(DOMAIN);
    put(&org_id.to_be_bytes());
    put(&seq.to_be_bytes());
    for t in text {
        put(t);
    }
    put(prev_hash);
    Sha256::digest(&buf[..]).into()
}

/// The canonical encoding [`entry_hash`] hashes (for measuring hash implementations).
#[allow(clippy::too_many_arguments)]
pub fn canonical(
    org_id: i64,
    seq: i64,
    ts: &str,
    kind: &str,
    actor: &str,
    subject: &str,
    payload: &str,
    prev_hash: &[u8; 32],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 256);
    for f in [
        DOMAIN,
        &org_id.to_be_bytes()[..],
        &seq.to_be_bytes()[..],
        ts.as_bytes(),
        kind.as_bytes(),
        actor.as_bytes(),
        subject.as_bytes(),
        payload.as_bytes(),
        &prev_hash[..],
    ] {
        out.extend_from_slice(&(f.len() as u64).to_be_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Parse a 64-character lowercase hex hash (the only form ever stored: an upper-case digit
/// would be an edit that changes no hash, so it is refused).
pub fn parse_hash(hex_str: &str) -> Option<[u8; 32]> {
    if hex_str.len() != 64 || hex_str.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut out).ok()?;
    Some(out)
}

/// How an entry links to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The previous row's hash; the tag its writer saw.
    Tag(u16),
    /// A previous hash stored explicitly (None: malformed).
    Full(Option<[u8; 32]>),
}

/// One entry as verification reads it: fields borrowed from the row (or a decoder buffer).
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    /// Organisation.
    pub org_id: i64,
    /// Sequence number.
    pub seq: i64,
    /// Time text, as hashed.
    pub ts: &'a [u8],
    /// Kind text, as hashed.
    pub kind: &'a [u8],
    /// Actor.
    pub actor: &'a [u8],
    /// Subject.
    pub subject: &'a [u8],
    /// Payload.
    pub payload: &'a [u8],
    /// Stored hash (None: malformed).
    pub hash: Option<[u8; 32]>,
    /// Link to the previous entry.
    pub link: Link,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_unambiguous() {
        let a = entry_hash(1, 1, "t", "ab", "c", "s", "{}", &GENESIS);
        let b = entry_hash(1, 1, "t", "a", "bc", "s", "{}", &GENESIS);
        assert_ne!(a, b);
    }

    #[test]
    fn canonical_is_what_is_hashed() {
        let bytes = canonical(1, 2, "t", "k", "a", "s", "{}", &[3u8; 32]);
        let direct: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(
            direct,
            entry_hash(1, 2, "t", "k", "a", "s", "{}", &[3u8; 32])
        );
    }

    #[test]
    fn prev_hash_is_covered() {
        let a = entry_hash(1, 2, "t", "k", "a", "s", "{}", &GENESIS);
        let b = entry_hash(1, 2, "t", "k", "a", "s", "{}", &[1u8; 32]);
        assert_ne!(a, b);
    }
}
