//! Re-walk a chain and report the first place it breaks.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use super::chain::{GENESIS, entry_hash, parse_hash};
use crate::model::{AuditEntry, ChainHead};

/// How a chain is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Problem {
    /// An entry's content no longer matches its hash, or the next entry's link.
    Edited,
    /// An entry is gone from the middle of the chain.
    Missing,
    /// Entries are out of order.
    Reordered,
    /// Entries are gone from the end (the checkpointed head is further than the chain).
    Truncated,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::Edited => "edited",
            Problem::Missing => "missing",
            Problem::Reordered => "reordered",
            Problem::Truncated => "truncated",
        })
    }
}

/// The result of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Organisation verified.
    pub org_id: i64,
    /// True when the whole chain verified.
    pub ok: bool,
    /// Entries walked.
    pub entries: u64,
    /// Sequence number where it breaks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<i64>,
    /// How it breaks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
    /// A sentence for humans.
    pub detail: String,
}

impl VerifyReport {
    fn broken(org_id: i64, entries: u64, seq: i64, problem: Problem, detail: String) -> Self {
        Self {
            org_id,
            ok: false,
            entries,
            broken_at: Some(seq),
            problem: Some(problem),
            detail,
        }
    }
}

/// Verify one organisation's entries (in storage insertion order) against its checkpointed head.
///
/// The entries must all be in memory; [`ChainVerifier`] does the same walk one entry at a time
/// (what the store's streaming verification uses).
pub fn verify_chain(org_id: i64, entries: &[AuditEntry], head: Option<&ChainHead>) -> VerifyReport {
    let all_seqs: HashSet<i64> = entries.iter().map(|e| e.seq).collect();
    let mut v = ChainVerifier::new(org_id, head.cloned());
    for e in entries {
        if let Some(broken) = v.push(e, |seq| all_seqs.contains(&seq)) {
            return broken;
        }
    }
    v.finish()
}

/// An incremental chain walk: feed entries in storage insertion order with [`push`], then call
/// [`finish`]. Memory use is constant (no entry is kept), so a chain of any length can be
/// verified while streaming it from the database.
///
/// Read the head and the entries in one consistent snapshot (one read transaction): a head
/// read after the entries may already count entries appended in between, which would look
/// like truncation.
///
/// [`push`]: ChainVerifier::push
/// [`finish`]: ChainVerifier::finish
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    org_id: i64,
    head: Option<ChainHead>,
    expected_seq: i64,
    prev: [u8; 32],
    walked: u64,
    /// Stored hash of the entry whose seq is the head's (for a head behind the chain).
    at_head: Option<String>,
}

impl ChainVerifier {
    /// Start a walk of `org_id`'s chain, checked against its checkpointed `head`.
    pub fn new(org_id: i64, head: Option<ChainHead>) -> Self {
        Self {
            org_id,
            head,
            expected_seq: 1,
            prev: GENESIS,
            walked: 0,
            at_head: None,
        }
    }

    /// Entries verified so far.
    pub fn walked(&self) -> u64 {
        self.walked
    }

    /// Check the next entry. `has_seq(n)` must say whether an entry with sequence number `n`
    /// exists anywhere in the chain (it is asked only when the entry is out of sequence, to
    /// tell reordering from a gap). Returns the report when the chain breaks here; once it
    /// did, stop feeding entries.
    pub fn push(
        &mut self,
        e: &AuditEntry,
        has_seq: impl FnOnce(i64) -> bool,
    ) -> Option<VerifyReport> {
        let (org_id, walked, expected_seq) = (self.org_id, self.walked, self.expected_seq);
        if e.seq != expected_seq {
            if e.seq < expected_seq || has_seq(expected_seq) {
                return Some(VerifyReport::broken(
                    org_id,
                    walked,
                    e.seq,
                    Problem::Reordered,
                    format!("entry {} found where entry {expected_seq} belongs", e.seq),
                ));
            }
            return Some(VerifyReport::broken(
                org_id,
                walked,
                expected_seq,
                Problem::Missing,
                format!(
                    "entries {expected_seq}..{} are missing (next present entry is {})",
                    e.seq - 1,
                    e.seq
                ),
            ));
        }
        let stored_prev = parse_hash(&e.prev_hash);
        let stored_hash = parse_hash(&e.hash);
        let (Some(stored_prev), Some(stored_hash)) = (stored_prev, stored_hash) else {
            return Some(VerifyReport::broken(
                org_id,
                walked,
                e.seq,
                Problem::Edited,
                format!("entry {} has a malformed hash", e.seq),
            ));
        };
        let computed = entry_hash(
            e.org_id,
            e.seq,
            &e.ts,
            &e.kind,
            &e.actor,
            &e.subject,
            &e.payload,
            &stored_prev,
        );
        if computed != stored_hash || e.org_id != org_id {
            return Some(VerifyReport::broken(
                org_id,
                walked,
                e.seq,
                Problem::Edited,
                format!("entry {} does not match its hash (content edited)", e.seq),
            ));
        }
        if stored_prev != self.prev {
            // The entry is self-consistent but does not link to its predecessor: the
            // predecessor was rewritten (and re-hashed) after this entry was written.
            return Some(VerifyReport::broken(
                org_id,
                walked,
                e.seq - 1,
                Problem::Edited,
                format!(
                    "entry {} was rewritten: entry {} links to a different hash",
                    e.seq - 1,
                    e.seq
                ),
            ));
        }
        if self.head.as_ref().is_some_and(|h| h.seq == e.seq) {
            self.at_head = Some(e.hash.clone());
        }
        self.prev = stored_hash;
        self.expected_seq += 1;
        self.walked += 1;
        None
    }

    /// The verdict once every entry was pushed: compares the end of the chain with the head.
    pub fn finish(self) -> VerifyReport {
        let (org_id, walked, prev) = (self.org_id, self.walked, self.prev);
        if let Some(head) = &self.head {
            let last = self.expected_seq - 1;
            if head.seq > last {
                return VerifyReport::broken(
                    org_id,
                    walked,
                    last + 1,
                    Problem::Truncated,
                    format!(
                        "chain ends at entry {last} but the checkpointed head is entry {}",
                        head.seq
                    ),
                );
            }
            if head.seq == last && parse_hash(&head.hash) != Some(prev) {
                return VerifyReport::broken(
                    org_id,
                    walked,
                    last,
                    Problem::Edited,
                    format!("entry {last} does not match the checkpointed head hash"),
                );
            }
            if head.seq < last
                && head.seq > 0
                && self.at_head.as_deref() != Some(head.hash.as_str())
            {
                // Entries past the checkpoint: consistent chain, but the checkpointed entry
                // itself does not match.
                return VerifyReport::broken(
                    org_id,
                    walked,
                    head.seq,
                    Problem::Edited,
                    format!("entry {} does not match the checkpointed head", head.seq),
                );
            }
        } else if walked > 0 {
            return VerifyReport::broken(
                org_id,
                walked,
                1,
                Problem::Truncated,
                "the chain head checkpoint is missing".to_owned(),
            );
        }
        VerifyReport {
            org_id,
            ok: true,
            entries: walked,
            broken_at: None,
            problem: None,
            detail: format!("OK: {walked} entries, chain intact"),
        }
    }
}
