//! Re-walk a chain and report the first place it breaks.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use super::chain::{GENESIS, entry_hash, parse_hash};
use crate::store::{AuditEntry, ChainHead};

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
pub fn verify_chain(org_id: i64, entries: &[AuditEntry], head: Option<&ChainHead>) -> VerifyReport {
    let all_seqs: HashSet<i64> = entries.iter().map(|e| e.seq).collect();
    let mut expected_seq = 1i64;
    let mut prev = GENESIS;
    let mut walked = 0u64;
    for e in entries {
        if e.seq != expected_seq {
            if e.seq < expected_seq || all_seqs.contains(&expected_seq) {
                return VerifyReport::broken(
                    org_id,
                    walked,
                    e.seq,
                    Problem::Reordered,
                    format!("entry {} found where entry {expected_seq} belongs", e.seq),
                );
            }
            return VerifyReport::broken(
                org_id,
                walked,
                expected_seq,
                Problem::Missing,
                format!(
                    "entries {expected_seq}..{} are missing (next present entry is {})",
                    e.seq - 1,
                    e.seq
                ),
            );
        }
        let stored_prev = parse_hash(&e.prev_hash);
        let stored_hash = parse_hash(&e.hash);
        let (Some(stored_prev), Some(stored_hash)) = (stored_prev, stored_hash) else {
            return VerifyReport::broken(
                org_id,
                walked,
                e.seq,
                Problem::Edited,
                format!("entry {} has a malformed hash", e.seq),
            );
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
            return VerifyReport::broken(
                org_id,
                walked,
                e.seq,
                Problem::Edited,
                format!("entry {} does not match its hash (content edited)", e.seq),
            );
        }
        if stored_prev != prev {
            // The entry is self-consistent but does not link to its predecessor: the
            // predecessor was rewritten (and re-hashed) after this entry was written.
            return VerifyReport::broken(
                org_id,
                walked,
                e.seq - 1,
                Problem::Edited,
                format!(
                    "entry {} was rewritten: entry {} links to a different hash",
                    e.seq - 1,
                    e.seq
                ),
            );
        }
        prev = stored_hash;
        expected_seq += 1;
        walked += 1;
    }
    if let Some(head) = head {
        let last = expected_seq - 1;
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
        if head.seq < last {
            // Entries past the checkpoint: consistent chain, but nobody checkpointed them.
            let at = entries
                .iter()
                .find(|e| e.seq == head.seq)
                .map(|e| e.hash.clone());
            if at.as_deref() != Some(head.hash.as_str()) && head.seq > 0 {
                return VerifyReport::broken(
                    org_id,
                    walked,
                    head.seq,
                    Problem::Edited,
                    format!("entry {} does not match the checkpointed head", head.seq),
                );
            }
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
