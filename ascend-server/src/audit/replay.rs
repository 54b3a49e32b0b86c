//! Replaying the actions from their audit events, to compare with the `actions` rows.
//!
//! Every change to an action is written with its audit entry in one transaction, and that entry
//! carries `row_sha256`, the digest of the action's stored row after the change (added by the
//! store). So the state the chain implies for an action — its decision and status, the votes,
//! the outcome, and the exact row — can be replayed from the chain alone, and any difference
//! from the `actions` table is a finding: a decision flipped from denied to allowed, a deleted
//! action row, a row with no audit entry, or any other edited column.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::model::AuditEntry;

/// What the chain says about one action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Chain entry that recorded its decision (`action.decided`).
    pub decided_seq: i64,
    /// Sequence number of the last entry about it.
    pub last_seq: i64,
    /// Decision (`allowed` / `denied` / `pending`).
    pub decision: String,
    /// Status string (`approved` / `denied` / `pending_approval`).
    pub status: String,
    /// Votes in order: (reviewer key id, approve).
    pub votes: Vec<(String, bool)>,
    /// `completed` / `failed`.
    pub outcome: Option<String>,
    /// Digest of the stored row after the last change, when the entry recorded it.
    pub row_sha256: Option<String>,
}

/// An action row as verification reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAction {
    /// Action id.
    pub id: i64,
    /// `status` column.
    pub status: String,
    /// `body.decision`.
    pub decision: String,
    /// `body.status`.
    pub body_status: String,
    /// `body.execution_allowed`.
    pub execution_allowed: bool,
    /// Votes of the `approval` column: (key id, approve).
    pub votes: Vec<(String, bool)>,
    /// `outcome` column.
    pub outcome: Option<String>,
    /// Digest of the whole row as stored.
    pub row_sha256: String,
}

/// A difference between the chain and the `actions` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Chain entry to look at (the action's last entry; for a row the chain never mentions,
    /// one past the end of the chain).
    pub seq: i64,
    /// A sentence.
    pub detail: String,
}

#[derive(Deserialize)]
struct Fields {
    decision: Option<String>,
    status: Option<String>,
    approve: Option<bool>,
    approver_key: Option<String>,
    row_sha256: Option<String>,
}

/// What a stretch of the chain says about one action: each field is None until an entry of
/// the stretch set it (so the stretches of a parallel walk combine in order, [`Replay::merge`]).
#[derive(Debug, Clone, Default)]
struct Partial {
    decided_seq: Option<i64>,
    last_seq: i64,
    /// (decision, status): always set together.
    decision: Option<(String, String)>,
    votes: Vec<(String, bool)>,
    outcome: Option<String>,
    row_sha256: Option<String>,
}

impl Partial {
    fn then(mut self, later: Partial) -> Partial {
        self.votes.extend(later.votes);
        Partial {
            decided_seq: later.decided_seq.or(self.decided_seq),
            last_seq: later.last_seq,
            decision: later.decision.or(self.decision),
            votes: self.votes,
            outcome: later.outcome.or(self.outcome),
            row_sha256: later.row_sha256.or(self.row_sha256),
        }
    }

    fn done(self) -> Replayed {
        let (decision, status) = self.decision.unwrap_or_default();
        Replayed {
            decided_seq: self.decided_seq.unwrap_or(0),
            last_seq: self.last_seq,
            decision,
            status,
            votes: self.votes,
            outcome: self.outcome,
            row_sha256: self.row_sha256,
        }
    }
}

/// Accumulates the replayed state of every action of one organisation's chain.
#[derive(Debug, Default)]
pub struct Replay {
    actions: BTreeMap<i64, Partial>,
    unreadable: Vec<Divergence>,
    last_seq: i64,
}

fn status_of(decision: &str) -> &'static str {
    match decision {
        "allowed" => "approved",
        "denied" => "denied",
        _ => "pending_approval",
    }
}

const KINDS: [&[u8]; 6] = [
    b"action.decided",
    b"action.approval_vote",
    b"action.denied_by_reviewer",
    b"action.expired",
    b"action.completed",
    b"action.failed",
];

impl Replay {
    /// A new, empty replay.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next entry (any kind; those not about an action are skipped).
    pub fn observe(&mut self, e: &AuditEntry) {
        self.observe_raw(
            e.seq,
            e.kind.as_bytes(),
            e.subject.as_bytes(),
            e.payload.as_bytes(),
        );
    }

    /// [`observe`] of an entry's stored bytes.
    ///
    /// [`observe`]: Replay::observe
    pub fn observe_raw(&mut self, seq: i64, kind: &[u8], subject: &[u8], payload: &[u8]) {
        self.last_seq = self.last_seq.max(seq);
        let Some(k) = KINDS.iter().position(|k| *k == kind) else {
            return;
        };
        let kind = std::str::from_utf8(KINDS[k]).unwrap_or_default();
        let Some(id) = subject
            .strip_prefix(b"action:")
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<i64>().ok())
        else {
            self.unreadable.push(Divergence {
                seq,
                detail: format!("entry {seq} ({kind}) names no action"),
            });
            return;
        };
        let f: Fields = match serde_json::from_slice(payload) {
            Ok(f) => f,
            Err(err) => {
                self.unreadable.push(Divergence {
                    seq,
                    detail: format!("entry {seq} has an unreadable payload: {err}"),
                });
                return;
            }
        };
        let a = self.actions.entry(id).or_default();
        a.last_seq = seq;
        if f.row_sha256.is_some() {
            a.row_sha256 = f.row_sha256;
        }
        match k {
            0 => {
                let d = f.decision.unwrap_or_default();
                a.decided_seq = Some(seq);
                a.decision = Some((d.clone(), status_of(&d).to_owned()));
            }
            1 | 2 => {
                let approve = f.approve.unwrap_or(false);
                a.votes.push((f.approver_key.unwrap_or_default(), approve));
                if let Some(s) = f.status {
                    let d = match s.as_str() {
                        "approved" => "allowed",
                        "denied" => "denied",
                        _ => "pending",
                    };
                    a.decision = Some((d.to_owned(), s));
                }
            }
            3 => a.decision = Some(("denied".to_owned(), "denied".to_owned())),
            4 => a.outcome = Some("completed".to_owned()),
            _ => a.outcome = Some("failed".to_owned()),
        }
    }

    /// Append the replay of the stretch of the chain that follows this one.
    pub fn merge(&mut self, later: Replay) {
        self.last_seq = self.last_seq.max(later.last_seq);
        self.unreadable.extend(later.unreadable);
        for (id, p) in later.actions {
            let merged = match self.actions.remove(&id) {
                Some(earlier) => earlier.then(p),
                None => p,
            };
            self.actions.insert(id, merged);
        }
    }

    /// Compare with the stored rows (every action row of the organisation, in any order).
    pub fn compare(self, rows: impl IntoIterator<Item = StoredAction>) -> Vec<Divergence> {
        let mut out = self.unreadable;
        let mut replayed: BTreeMap<i64, Replayed> = self
            .actions
            .into_iter()
            .map(|(id, p)| (id, p.done()))
            .collect();
        let end = self.last_seq + 1;
        for row in rows {
            let Some(r) = replayed.remove(&row.id) else {
                out.push(Divergence {
                    seq: end,
                    detail: format!(
                        "action {} is in the actions table but no audit entry records it \
                         (its audit entries are missing, or the row was forged)",
                        row.id
                    ),
                });
                continue;
            };
            if let Some(d) = compare_one(&r, &row) {
                out.push(Divergence {
                    seq: r.last_seq,
                    detail: d,
                });
            }
        }
        for (id, r) in replayed {
            if r.decided_seq == 0 {
                out.push(Divergence {
                    seq: r.last_seq,
                    detail: format!("entry {} is about action {id}, never decided", r.last_seq),
                });
            } else {
                out.push(Divergence {
                    seq: r.decided_seq,
                    detail: format!(
                        "action {id} (decided in entry {}) is missing from the actions table",
                        r.decided_seq
                    ),
                });
            }
        }
        out.sort_by_key(|d| d.seq);
        out
    }
}

fn compare_one(r: &Replayed, row: &StoredAction) -> Option<String> {
    let id = row.id;
    if r.decided_seq == 0 {
        return Some(format!("action {id} has no action.decided entry"));
    }
    if row.decision != r.decision
        || row.status != r.status
        || row.body_status != r.status
        || row.execution_allowed != (r.decision == "allowed")
    {
        return Some(format!(
            "action {id}: the actions table says {} (status {}, execution_allowed {}) but the \
             audit trail says {} (status {})",
            row.decision, row.status, row.execution_allowed, r.decision, r.status
        ));
    }
    if row.votes != r.votes {
        return Some(format!(
            "action {id}: the actions table holds {} vote(s), the audit trail {}",
            row.votes.len(),
            r.votes.len()
        ));
    }
    if row.outcome != r.outcome {
        return Some(format!(
            "action {id}: outcome {:?} in the actions table, {:?} in the audit trail",
            row.outcome, r.outcome
        ));
    }
    if let Some(d) = &r.row_sha256
        && *d != row.row_sha256
    {
        return Some(format!(
            "action {id}: the row differs from the one recorded with entry {} (a column was \
             edited)",
            r.last_seq
        ));
    }
    None
}
