//! Re-walk a chain and report the first place it breaks.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use super::chain::{EntryRef, GENESIS, Link, entry_hash_raw, parse_hash};
use super::checkpoint::{Reason, SignedHead};
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
    /// Entries are gone from the end (the stored head or a signed checkpoint is further than
    /// the chain, or the stored head is older than a signed checkpoint).
    Truncated,
    /// A consistently re-hashed chain that no longer matches a signed checkpoint.
    Rewritten,
    /// Entries appended after the server's signed shutdown checkpoint (not written by it).
    Unsigned,
    /// The checkpoints themselves: a bad signature, a gap, a fork, one missing from the database.
    Checkpoint,
    /// An action's stored state differs from the state replayed from its audit entries.
    Diverged,
}

impl Problem {
    fn rank(self) -> u8 {
        match self {
            Problem::Checkpoint => 1,
            Problem::Diverged => 2,
            _ => 0,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::Edited => "edited",
            Problem::Missing => "missing",
            Problem::Reordered => "reordered",
            Problem::Truncated => "truncated",
            Problem::Rewritten => "rewritten",
            Problem::Unsigned => "unsigned",
            Problem::Checkpoint => "checkpoint",
            Problem::Diverged => "diverged",
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
    /// The last entry a verified signed checkpoint covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_through: Option<i64>,
    /// Every finding, first bad sequence number first (the first is also in `broken_at`,
    /// `problem` and `detail`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

/// One thing verification found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The first bad sequence number (one past the end of the chain for what is missing
    /// there).
    pub seq: i64,
    /// What kind of problem.
    pub problem: Problem,
    /// What it looks like.
    pub detail: String,
}

impl VerifyReport {
    /// An OK report of an empty chain (findings are then [`VerifyReport::add`]ed).
    pub fn empty(org_id: i64) -> Self {
        Self {
            org_id,
            ok: true,
            entries: 0,
            broken_at: None,
            problem: None,
            detail: "OK".into(),
            signed_through: None,
            findings: Vec::new(),
        }
    }

    fn broken(org_id: i64, entries: u64, seq: i64, problem: Problem, detail: String) -> Self {
        Self {
            org_id,
            ok: false,
            entries,
            broken_at: Some(seq),
            problem: Some(problem),
            detail: detail.clone(),
            signed_through: None,
            findings: vec![Finding {
                seq,
                problem,
                detail,
            }],
        }
    }

    /// Add findings (from the cross-checks); the report then points at the earliest one.
    pub fn add(&mut self, more: impl IntoIterator<Item = Finding>) {
        let before = self.findings.len();
        self.findings.extend(more);
        if self.findings.len() == before {
            return;
        }
        // The chain's own breaks first (they explain the rest), then the checkpoints, then
        // the actions table; each by sequence number.
        self.findings.sort_by_key(|f| (f.problem.rank(), f.seq));
        self.findings.dedup();
        let first = &self.findings[0];
        self.ok = false;
        self.broken_at = Some(first.seq);
        self.problem = Some(first.problem);
        self.detail = if self.findings.len() > 1 {
            format!("{} (and {} more)", first.detail, self.findings.len() - 1)
        } else {
            first.detail.clone()
        };
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

/// The link tag of a previous hash (its first two bytes).
fn link_tag(prev: &[u8; 32]) -> i64 {
    i64::from(u16::from_be_bytes([prev[0], prev[1]]))
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
    at_head: Option<[u8; 32]>,
    /// Verified signed checkpoints of this organisation, in order.
    signed: Vec<SignedHead>,
    /// Index of the next signed checkpoint to compare.
    next_signed: usize,
    /// The last entry a signed checkpoint matched.
    signed_through: i64,
    /// A range of a chain (evidence export): no stored head to compare, and the first entry's
    /// `prev_hash` is taken as stored (only a signed checkpoint can vouch for it).
    range: bool,
    /// No stored head is expected.
    range_mode: bool,
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
            signed: Vec::new(),
            next_signed: 0,
            signed_through: 0,
            range: false,
            range_mode: false,
        }
    }

    /// Walk a range of `org_id`'s chain starting at entry `from` (an evidence package).
    pub fn for_range(org_id: i64, from: i64) -> Self {
        let mut v = Self::new(org_id, None);
        v.expected_seq = from.max(1);
        v.signed_through = from.max(1) - 1;
        v.range = from > 1;
        v.range_mode = true;
        v
    }

    /// Also compare the chain with these verified signed checkpoints (in checkpoint order).
    pub fn with_signed(mut self, signed: &[SignedHead]) -> Self {
        self.signed = signed.to_vec();
        self
    }

    /// Entries verified so far.
    pub fn walked(&self) -> u64 {
        self.walked
    }

    /// The state of a walk of this chain that verified entries 1..=`seq` without a break, the
    /// last with hash `hash`: where a walk of the next range of the chain starts (the ranges
    /// of a parallel verification). Only a walk from entry 1 (not [`for_range`]) continues so.
    ///
    /// [`for_range`]: ChainVerifier::for_range
    pub fn resume_after(&self, seq: i64, hash: [u8; 32]) -> Self {
        let mut v = self.clone();
        v.expected_seq = seq + 1;
        v.prev = hash;
        v.walked = u64::try_from(seq).unwrap_or(0);
        // An unbroken walk passed every signed checkpoint up to `seq`, and matched each one at
        // its own entry (checkpoints of entry 0, an empty chain, match nothing).
        v.next_signed = self.signed.partition_point(|s| s.seq <= seq);
        v.signed_through = self.signed[..v.next_signed]
            .iter()
            .rev()
            .find(|s| s.seq >= 1)
            .map_or(0, |s| s.seq);
        v.at_head = None;
        v
    }

    /// After walking a later range from [`resume_after`]: keep what an earlier range saw of
    /// the head's entry.
    ///
    /// [`resume_after`]: ChainVerifier::resume_after
    pub fn carry(&mut self, earlier: &ChainVerifier) {
        if self.at_head.is_none() {
            self.at_head = earlier.at_head;
        }
    }

    /// The last entry verified: (sequence number, hash); (0, zeros) before the first.
    pub fn position(&self) -> (i64, [u8; 32]) {
        (self.expected_seq - 1, self.prev)
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
        let entry = EntryRef {
            org_id: e.org_id,
            seq: e.seq,
            ts: e.ts.as_bytes(),
            kind: e.kind.as_bytes(),
            actor: e.actor.as_bytes(),
            subject: e.subject.as_bytes(),
            payload: e.payload.as_bytes(),
            hash: parse_hash(&e.hash),
            link: Link::Full(parse_hash(&e.prev_hash)),
        };
        self.push_ref(&entry, has_seq)
    }

    /// [`push`] of an entry read straight from storage.
    ///
    /// [`push`]: ChainVerifier::push
    pub fn push_ref(
        &mut self,
        e: &EntryRef<'_>,
        has_seq: impl FnOnce(i64) -> bool,
    ) -> Option<VerifyReport> {
        let (org_id, walked, expected_seq) = (self.org_id, self.walked, self.expected_seq);
        let broken = |seq: i64, problem: Problem, detail: String| {
            Some(VerifyReport::broken(org_id, walked, seq, problem, detail))
        };
        if e.seq != expected_seq {
            if e.seq < expected_seq || has_seq(expected_seq) {
                return broken(
                    e.seq,
                    Problem::Reordered,
                    format!("entry {} found where entry {expected_seq} belongs", e.seq),
                );
            }
            return broken(
                expected_seq,
                Problem::Missing,
                format!(
                    "entries {expected_seq}..{} are missing (next present entry is {})",
                    e.seq - 1,
                    e.seq
                ),
            );
        }
        let malformed = || {
            broken(
                e.seq,
                Problem::Edited,
                format!("entry {} has a malformed hash", e.seq),
            )
        };
        // The entry before `e` was rewritten (and re-hashed) after `e` was written: `e` still
        // links to the old hash.
        let rewritten = || {
            broken(
                e.seq - 1,
                Problem::Edited,
                format!(
                    "entry {} was rewritten: entry {} links to a different hash",
                    e.seq - 1,
                    e.seq
                ),
            )
        };
        let Some(stored_hash) = e.hash else {
            return malformed();
        };
        let text = [e.ts, e.kind, e.actor, e.subject, e.payload];
        let stored_prev = match e.link {
            Link::Full(Some(p)) => p,
            Link::Full(None) => return malformed(),
            Link::Tag(t) if i64::from(t) == link_tag(&self.prev) => self.prev,
            Link::Tag(_) => {
                // The entry was written after a different previous entry.
                let computed = entry_hash_raw(e.org_id, e.seq, text, &self.prev);
                return if computed == stored_hash && e.org_id == org_id || e.seq <= 1 {
                    broken(
                        e.seq,
                        Problem::Edited,
                        format!("entry {}'s link to the entry before it was edited", e.seq),
                    )
                } else {
                    rewritten()
                };
            }
        };
        let computed = entry_hash_raw(e.org_id, e.seq, text, &stored_prev);
        if computed != stored_hash || e.org_id != org_id {
            return broken(
                e.seq,
                Problem::Edited,
                format!("entry {} does not match its hash (content edited)", e.seq),
            );
        }
        if self.range && self.walked == 0 {
            self.prev = stored_prev;
        }
        if stored_prev != self.prev {
            // The entry is self-consistent but does not link to its predecessor: the
            // predecessor was rewritten (and re-hashed) after this entry was written.
            return rewritten();
        }
        if self.head.as_ref().is_some_and(|h| h.seq == e.seq) {
            self.at_head = Some(stored_hash);
        }
        while let Some(s) = self.signed.get(self.next_signed)
            && s.seq <= e.seq
        {
            if s.seq == e.seq && s.hash != stored_hash {
                let from = self.signed_through + 1;
                return broken(
                    from,
                    Problem::Rewritten,
                    format!(
                        "entry {} does not match signed checkpoint {}: entries {from}..={} were \
                         rewritten (re-hashed) after they were signed",
                        e.seq, s.n, e.seq
                    ),
                );
            }
            if s.seq == e.seq {
                self.signed_through = e.seq;
            }
            self.next_signed += 1;
        }
        self.prev = stored_hash;
        self.expected_seq += 1;
        self.walked += 1;
        None
    }

    /// The verdict once every entry was pushed: compares the end of the chain with the stored
    /// head and with the signed checkpoints.
    pub fn finish(self) -> VerifyReport {
        let last = self.expected_seq - 1;
        let (org_id, walked) = (self.org_id, self.walked);
        let signed_max = self.signed.iter().map(|s| s.seq).max().unwrap_or(0);
        let mut findings = self.signed_findings(last, signed_max);
        let signed_through = (self.signed_through > 0
            && self.signed.iter().any(|s| s.seq == self.signed_through))
        .then_some(self.signed_through);
        let unsigned = last - self.signed_through;
        let has_signed = !self.signed.is_empty();
        let mut report = self.finish_head();
        if report.ok {
            report.detail = match (has_signed, signed_through) {
                (true, Some(s)) if unsigned > 0 => format!(
                    "{}; signed through entry {s}, {unsigned} newer entries not yet signed",
                    report.detail
                ),
                (true, Some(s)) => format!("{}; signed through entry {s}", report.detail),
                _ if walked > 0 => format!("{}; no signed checkpoint covers it", report.detail),
                _ => report.detail,
            };
        }
        report.signed_through = signed_through;
        findings.retain(|f| !report.findings.contains(f));
        report.add(findings);
        let _ = org_id;
        report
    }

    fn signed_findings(&self, last: i64, signed_max: i64) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(s) = self.signed.iter().find(|s| s.seq > last) {
            out.push(Finding {
                seq: last + 1,
                problem: Problem::Truncated,
                detail: if last == 0 {
                    format!(
                        "the chain is empty but signed checkpoint {} covers entry {}: its \
                         entries were deleted",
                        s.n, s.seq
                    )
                } else {
                    format!(
                        "chain ends at entry {last} but signed checkpoint {} covers entry {}",
                        s.n, s.seq
                    )
                },
            });
        }
        if let Some(h) = &self.head
            && h.seq < signed_max
        {
            out.push(Finding {
                seq: h.seq + 1,
                problem: Problem::Truncated,
                detail: format!(
                    "the stored head (entry {}) is older than the last signed checkpoint \
                     (entry {signed_max})",
                    h.seq
                ),
            });
        }
        for w in self.signed.windows(2) {
            if w[0].reason == Reason::Shutdown
                && w[1].reason == Reason::Startup
                && w[1].seq > w[0].seq
            {
                out.push(Finding {
                    seq: w[0].seq + 1,
                    problem: Problem::Unsigned,
                    detail: format!(
                        "entries {}..={} were appended while the server was stopped (between \
                         signed checkpoints {} and {})",
                        w[0].seq + 1,
                        w[1].seq,
                        w[0].n,
                        w[1].n
                    ),
                });
            }
        }
        if let Some(s) = self.signed.last()
            && s.reason == Reason::Shutdown
            && last > s.seq
        {
            out.push(Finding {
                seq: s.seq + 1,
                problem: Problem::Unsigned,
                detail: format!(
                    "entries {}..={last} were appended after the server's signed shutdown \
                     (checkpoint {}, entry {}): the server did not write them",
                    s.seq + 1,
                    s.n,
                    s.seq
                ),
            });
        }
        out
    }

    fn finish_head(self) -> VerifyReport {
        let (org_id, walked, prev) = (self.org_id, self.walked, self.prev);
        if self.range_mode {
            return VerifyReport {
                detail: format!("OK: {walked} entries, chain intact"),
                entries: walked,
                ..VerifyReport::empty(org_id)
            };
        }
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
            if head.seq < last && head.seq > 0 && self.at_head != parse_hash(&head.hash) {
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
            signed_through: None,
            findings: Vec::new(),
        }
    }
}
