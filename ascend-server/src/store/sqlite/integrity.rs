//! The audit side of the SQLite store: signed checkpoint persistence, the digest of an action
//! row, and verification straight from the database (chain walk, signed checkpoints, and the
//! actions replayed from their audit events against the `actions` table).

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{codec, read_head};
use crate::audit::GENESIS;
use crate::audit::checkpoint::{self, Checkpoint, Reason};
use crate::audit::evidence::{EvidenceWriter, ExportRange, Manifest};
use crate::audit::replay::{Replay, StoredAction};
use crate::audit::{ChainVerifier, Finding, Problem, VerifyReport};
use crate::error::Result;

/// Schema of the checkpoint table (migration 4).
/// A head's `updated_at` becomes the time of the entry it names (verification compares them).
pub(super) const MIGRATION: &str = r#"
CREATE TABLE audit_checkpoints (org_id INTEGER NOT NULL, n INTEGER NOT NULL, seq INTEGER NOT NULL,
  hash TEXT NOT NULL, ts TEXT NOT NULL, reason TEXT NOT NULL, prev TEXT NOT NULL, sig TEXT NOT NULL,
  PRIMARY KEY (org_id, n));
UPDATE audit_heads SET updated_at = COALESCE((SELECT a.ts FROM audit_log a
  WHERE a.org_id = audit_heads.org_id AND a.seq = audit_heads.seq), updated_at);
"#;

/// Every column of an action row, in the order its digest covers them.
const ACTION_ROW: &str = "SELECT id, org_id, agent_id, agent_name, action_type, resource, \
    resource_id, status, request, body, submitted_key, idempotency_key, request_hash, approval, \
    expires_at, outcome, outcome_detail, created_at, updated_at FROM actions";
const ACTION_ROW_COLS: usize = 19;

/// Store a checkpoint (inside the writer's transaction).
pub(super) fn insert_checkpoint(c: &Connection, cp: &Checkpoint) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO audit_checkpoints (org_id, n, seq, hash, ts, reason, prev, sig) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        cp.org_id,
        cp.n,
        cp.seq,
        cp.hash,
        cp.ts,
        cp.reason.as_str(),
        cp.prev,
        cp.sig
    ])?;
    Ok(())
}

fn checkpoint_from_row(r: &Row<'_>) -> rusqlite::Result<Checkpoint> {
    let reason: String = r.get(5)?;
    let parsed = Reason::parse(&reason);
    Ok(Checkpoint {
        org_id: r.get(0)?,
        n: r.get(1)?,
        seq: r.get(2)?,
        hash: r.get(3)?,
        ts: r.get(4)?,
        reason: parsed.unwrap_or(Reason::Periodic),
        prev: r.get(6)?,
        // An unknown reason cannot have been signed: the checkpoint fails verification.
        sig: if parsed.is_some() {
            r.get(7)?
        } else {
            String::new()
        },
    })
}

/// The checkpoints stored in the database (one organisation's, or all), in order.
pub fn read_checkpoints(c: &Connection, org_id: Option<i64>) -> Result<Vec<Checkpoint>> {
    let mut stmt = c.prepare_cached(
        "SELECT org_id, n, seq, hash, ts, reason, prev, sig FROM audit_checkpoints \
         WHERE ?1 IS NULL OR org_id = ?1 ORDER BY org_id, n",
    )?;
    let rows = stmt
        .query_map(params![org_id], checkpoint_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// The newest stored checkpoint of each organisation (where the writer continues).
pub(super) fn last_checkpoints(c: &Connection) -> Result<HashMap<i64, Checkpoint>> {
    let mut out = HashMap::new();
    for cp in read_checkpoints(c, None)? {
        out.insert(cp.org_id, cp);
    }
    Ok(out)
}

fn put(h: &mut Sha256, v: ValueRef<'_>) {
    let (tag, bytes): (u8, std::borrow::Cow<'_, [u8]>) = match v {
        ValueRef::Null => (0, (&[][..]).into()),
        ValueRef::Integer(i) => (1, i.to_be_bytes().to_vec().into()),
        ValueRef::Real(f) => (2, f.to_be_bytes().to_vec().into()),
        ValueRef::Text(t) => (3, t.into()),
        ValueRef::Blob(b) => (4, b.into()),
    };
    h.update([tag]);
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(&bytes);
}

fn row_digest(r: &Row<'_>) -> rusqlite::Result<String> {
    let mut h = Sha256::new();
    h.update(b"ascend-action-row-v1");
    for i in 0..ACTION_ROW_COLS {
        put(&mut h, r.get_ref(i)?);
    }
    Ok(hex::encode(h.finalize()))
}

/// Hex SHA-256 over every column of action `id` as stored (typed, length-prefixed); None when
/// the row does not exist.
pub fn action_row_digest(c: &Connection, org_id: i64, id: i64) -> Result<Option<String>> {
    Ok(
        c.prepare_cached(&format!("{ACTION_ROW} WHERE org_id = ?1 AND id = ?2"))?
            .query_row(params![org_id, id], row_digest)
            .optional()?,
    )
}

fn stored_action(r: &Row<'_>) -> rusqlite::Result<StoredAction> {
    let text = |i: usize| -> rusqlite::Result<Option<String>> {
        Ok(match r.get_ref(i)? {
            ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
            _ => None,
        })
    };
    let body: Value = text(9)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let approval: Value = text(13)?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let votes = approval
        .get("votes")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .map(|v| {
                    (
                        v.get("key_id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        v.get("approve").and_then(Value::as_bool).unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or("<unreadable>")
            .to_owned()
    };
    Ok(StoredAction {
        id: r.get(0)?,
        status: text(7)?.unwrap_or_default(),
        decision: s(&body, "decision"),
        body_status: s(&body, "status"),
        execution_allowed: body
            .get("execution_allowed")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        votes,
        outcome: text(15)?,
        row_sha256: row_digest(r)?,
    })
}

/// What verification trusts besides the database: the public key and the checkpoints of the
/// log outside it (read before the database snapshot is taken, so every checkpoint in it is
/// visible in the snapshot).
#[derive(Debug, Clone, Default)]
pub struct Anchors {
    /// The checkpoint signing key's public half; None: checkpoints are not checked.
    pub key: Option<VerifyingKey>,
    /// Checkpoints read from the log file.
    pub log: Vec<Checkpoint>,
    /// Lines of the log that did not parse.
    pub bad_lines: Vec<checkpoint::BadLine>,
}

/// Chains shorter than this are walked on one thread.
const PARALLEL_FROM: i64 = 50_000;

/// Verify one organisation straight from the database: the chain walk against the stored head
/// and the signed checkpoints (from the database and the log), and the actions replayed from
/// their entries against the `actions` table.
///
/// The head, the checkpoints and the bounds of the chain are read in ONE read transaction (one
/// WAL snapshot, so appends committed meanwhile never look like a break). A long chain is then
/// walked in parallel: split into ranges of row ids up to the last id of that snapshot, each
/// range read and re-hashed on its own thread with its own read connection and transaction.
/// An entry's hash depends only on its row and the previous row's stored hash, so each range
/// starts from the stored hash of the row before it, and the links are compared at the seams
/// (each range must start exactly where the one before it ended). The server only ever
/// appends to `audit_log`, at ids above the snapshot's last one, so every range reads the rows
/// of the snapshot. When a range breaks, or a seam does not match, that part is walked again on
/// the snapshot's own connection from the exact state the earlier ranges reached: the findings
/// (the first bad sequence number and what it looks like) are those of a walk on one thread.
///
/// Used by the server (`GET /api/v1/audit/verify`) and by `ascend audit verify --db`.
pub fn verify_org(c: &Connection, org_id: i64, anchors: &Anchors) -> Result<VerifyReport> {
    verify_org_in(c, org_id, anchors, None)
}

/// [`verify_org`] with the chain split into exactly `ranges` ranges (None: one per core for a
/// long chain, else one). Every split gives the same report.
pub fn verify_org_in(
    c: &Connection,
    org_id: i64,
    anchors: &Anchors,
    ranges: Option<usize>,
) -> Result<VerifyReport> {
    // Rolled back (it only read) when dropped.
    let tx = c.unchecked_transaction()?;
    let head = read_head(&tx, org_id)?;
    let head_at: Option<String> = tx
        .query_row(
            "SELECT updated_at FROM audit_heads WHERE org_id = ?1",
            params![org_id],
            |r| r.get(0),
        )
        .optional()?;
    let head_seq = head.as_ref().map(|h| h.seq);
    let mut extra: Vec<Finding> = Vec::new();
    let mut base = ChainVerifier::new(org_id, head);
    if let Some(key) = &anchors.key {
        let db = read_checkpoints(&tx, Some(org_id))?;
        let log: Vec<Checkpoint> = anchors
            .log
            .iter()
            .filter(|c| c.org_id == org_id)
            .cloned()
            .collect();
        let trusted = checkpoint::check(
            key,
            &[("checkpoint log", &log), ("database", &db)],
            "database",
        );
        extra.extend(trusted.problems.iter().map(|p| Finding {
            seq: p.seq,
            problem: Problem::Checkpoint,
            detail: p.detail.clone(),
        }));
        base = base.with_signed(trusted.of(org_id));
    }
    let (min_id, max_id): (Option<i64>, Option<i64>) = tx.query_row(
        "SELECT MIN(id), MAX(id) FROM audit_log WHERE org_id = ?1",
        params![org_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let ranges = match (min_id, max_id) {
        (Some(lo), Some(hi)) => split(lo - 1, hi, head_seq.unwrap_or(0), ranges),
        _ => Vec::new(),
    };
    // The head's seq as a guess of the chain's length: a chain that fills its span of row ids
    // is read in row id order, a sparse one (other organisations in between) through the index.
    let dense = match (min_id, max_id, head_seq) {
        (Some(lo), Some(hi), Some(n)) => n.saturating_mul(2) > hi - lo,
        _ => false,
    };
    let walks = walk_ranges(&tx, org_id, &ranges, &base, head_seq, dense)?;
    let mut state = base;
    let mut broken: Option<VerifyReport> = None;
    let mut replay = Replay::new();
    let mut head_entry_ts: Option<String> = None;
    for (i, w) in walks.into_iter().enumerate() {
        replay.merge(w.replay);
        if w.head_ts.is_some() {
            head_entry_ts = w.head_ts;
        }
        if broken.is_some() {
            continue;
        }
        let seam_ok = w.start == Some(state.position());
        if w.broken || !seam_ok {
            // Walk again from the exact state reached, on the snapshot, to the end.
            let from = ranges[i].0;
            let last = ranges.last().map_or(from, |r| r.1);
            broken = Some(rewalk(&tx, org_id, (from, last), state.clone(), dense)?);
            continue;
        }
        let mut next = w.verifier;
        next.carry(&state);
        state = next;
    }
    let mut report = match broken {
        Some(r) => r,
        None => state.finish(),
    };
    if let (Some(seq), Some(at), Some(ts)) = (head_seq, &head_at, &head_entry_ts)
        && at != ts
    {
        extra.push(Finding {
            seq,
            problem: Problem::Edited,
            detail: format!(
                "the stored head was rewritten: its time {at} is not entry {seq}'s {ts}"
            ),
        });
    }
    let mut stmt = tx.prepare(&format!("{ACTION_ROW} WHERE org_id = ?1"))?;
    let stored = stmt
        .query_map(params![org_id], stored_action)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    extra.extend(replay.compare(stored).into_iter().map(|d| Finding {
        seq: d.seq,
        problem: Problem::Diverged,
        detail: d.detail,
    }));
    report.add(extra);
    Ok(report)
}

/// Ranges of row ids `(after, up_to]` covering `(lo, hi]`: one per core for a long chain.
fn split(lo: i64, hi: i64, length: i64, ranges: Option<usize>) -> Vec<(i64, i64)> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let n = match ranges {
        Some(n) => n.clamp(1, 64) as i64,
        None if length.max(hi - lo) >= PARALLEL_FROM => cores.clamp(1, 8) as i64,
        None => 1,
    };
    let span = hi - lo;
    (0..n)
        .map(|k| {
            (
                lo + span / n * k,
                if k + 1 == n {
                    hi
                } else {
                    lo + span / n * (k + 1)
                },
            )
        })
        .collect()
}

/// What one range's walk found.
struct RangeWalk {
    /// The last entry before the range: (seq, stored hash); None when there is none, or
    /// (.., zeros) when its hash is malformed.
    start: Option<(i64, [u8; 32])>,
    /// The walk from there (speculative: exact when `start` is where the earlier ranges ended).
    verifier: ChainVerifier,
    /// The walk broke in the range (its report is made again by [`rewalk`]).
    broken: bool,
    replay: Replay,
    /// Time text of the range's last entry with the head's seq.
    head_ts: Option<String>,
}

fn rows_sql(dense: bool) -> String {
    // `+org_id`: scan the table in row id order instead of the index.
    format!(
        "SELECT {} FROM audit_log WHERE {}org_id = ?1 AND id > ?2 AND id <= ?3 ORDER BY id",
        codec::COLUMNS,
        if dense { "+" } else { "" }
    )
}

/// Walk each range, on this connection when there is one range, else on one thread and
/// read connection each.
fn walk_ranges(
    tx: &Connection,
    org_id: i64,
    ranges: &[(i64, i64)],
    base: &ChainVerifier,
    head_seq: Option<i64>,
    dense: bool,
) -> Result<Vec<RangeWalk>> {
    let path = tx.path().filter(|p| !p.is_empty()).map(str::to_owned);
    let (Some(path), true) = (path, ranges.len() > 1) else {
        return ranges
            .iter()
            .map(|r| walk_range(tx, org_id, *r, base, head_seq, dense))
            .collect();
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = ranges
            .iter()
            .map(|r| {
                let path = path.as_str();
                s.spawn(move || -> Result<RangeWalk> {
                    let c = Connection::open_with_flags(
                        path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    c.busy_timeout(std::time::Duration::from_secs(5))?;
                    let tx = c.unchecked_transaction()?;
                    walk_range(&tx, org_id, *r, base, head_seq, dense)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(crate::error::Error::Internal(
                        "a verify thread panicked".into(),
                    ))
                })
            })
            .collect()
    })
}

/// The last entry at or before row id `at`: (seq, stored hash).
fn entry_before(c: &Connection, org_id: i64, at: i64) -> Result<Option<(i64, [u8; 32])>> {
    Ok(c.prepare_cached(
        "SELECT seq, hash FROM audit_log WHERE org_id = ?1 AND id <= ?2 ORDER BY id DESC LIMIT 1",
    )?
    .query_row(params![org_id, at], |r| {
        Ok((
            r.get(0)?,
            codec::hash_of(r.get_ref(1)?).unwrap_or([0u8; 32]),
        ))
    })
    .optional()?)
}

fn walk_range(
    c: &Connection,
    org_id: i64,
    (after, up_to): (i64, i64),
    base: &ChainVerifier,
    head_seq: Option<i64>,
    dense: bool,
) -> Result<RangeWalk> {
    let start = entry_before(c, org_id, after)?;
    let mut verifier = match start {
        Some((seq, hash)) => base.resume_after(seq, hash),
        None => base.clone(),
    };
    let mut broken = false;
    let mut replay = Replay::new();
    let mut head_ts = None;
    let mut stmt = c.prepare(&rows_sql(dense))?;
    let mut rows = stmt.query(params![org_id, after, up_to])?;
    let mut dec = codec::RowDecoder::new();
    while let Some(row) = rows.next()? {
        let e = dec.decode(row)?;
        replay.observe_raw(e.seq, e.kind, e.subject, e.payload);
        if head_seq == Some(e.seq) {
            head_ts = Some(String::from_utf8_lossy(e.ts).into_owned());
        }
        if !broken {
            // Out of sequence is a break, walked again exactly by `rewalk`.
            broken = verifier.push_ref(&e, |_| true).is_some();
        }
    }
    Ok(RangeWalk {
        start: start.or(Some((0, GENESIS))),
        verifier,
        broken,
        replay,
        head_ts,
    })
}

/// The exact walk from `v` over the rows `(after, up_to]`, on the snapshot's connection.
fn rewalk(
    tx: &Connection,
    org_id: i64,
    (after, up_to): (i64, i64),
    mut v: ChainVerifier,
    dense: bool,
) -> Result<VerifyReport> {
    let mut stmt = tx.prepare(&rows_sql(dense))?;
    let mut rows = stmt.query(params![org_id, after, up_to])?;
    let mut dec = codec::RowDecoder::new();
    while let Some(row) = rows.next()? {
        let e = dec.decode(row)?;
        let mut lookup_error = None;
        let broken = v.push_ref(&e, |seq| {
            match tx
                .query_row(
                    "SELECT 1 FROM audit_log WHERE org_id = ?1 AND seq = ?2 LIMIT 1",
                    params![org_id, seq],
                    |_| Ok(()),
                )
                .optional()
            {
                Ok(found) => found.is_some(),
                Err(e) => {
                    lookup_error = Some(e);
                    false
                }
            }
        });
        if let Some(e) = lookup_error {
            return Err(e.into());
        }
        if let Some(r) = broken {
            return Ok(r);
        }
    }
    Ok(v.finish())
}

/// Problems of the anchors that belong to no organisation (unreadable log lines; a log whose
/// checkpoints nobody can check), as a report for organisation 0 when there are any.
pub fn anchor_report(anchors: &Anchors) -> Option<VerifyReport> {
    let mut findings: Vec<Finding> = anchors
        .bad_lines
        .iter()
        .map(|b| Finding {
            seq: 0,
            problem: Problem::Checkpoint,
            detail: format!(
                "line {} of the checkpoint log is not a checkpoint: {}",
                b.line, b.error
            ),
        })
        .collect();
    if anchors.key.is_none() && !anchors.log.is_empty() {
        findings.push(Finding {
            seq: 0,
            problem: Problem::Checkpoint,
            detail: "the checkpoint log cannot be checked without the public key (--pubkey FILE)"
                .into(),
        });
    }
    if findings.is_empty() {
        return None;
    }
    let mut r = VerifyReport::empty(0);
    r.add(findings);
    Some(r)
}

/// Every organisation id that has audit entries, a chain head, or a signed checkpoint (in the
/// database or in `anchors`' log).
pub fn audit_orgs(c: &Connection, anchors: &Anchors) -> Result<Vec<i64>> {
    let mut stmt = c.prepare(
        "SELECT org_id FROM audit_heads UNION SELECT DISTINCT org_id FROM audit_log \
         UNION SELECT DISTINCT org_id FROM audit_checkpoints ORDER BY 1",
    )?;
    let mut rows = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    rows.extend(anchors.log.iter().map(|c| c.org_id));
    rows.sort_unstable();
    rows.dedup();
    Ok(rows)
}

/// Write an evidence package of the database at `db` into `dir`: the entries in `range`
/// (streamed), every checkpoint of the exported organisations (from the database and from
/// `log`, once each), and `key`.
pub fn export_evidence(
    db: &std::path::Path,
    dir: &std::path::Path,
    key: &VerifyingKey,
    log: &[Checkpoint],
    range: &ExportRange,
) -> Result<Manifest> {
    let c = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    super::check_schema(&c)?;
    let tx = c.unchecked_transaction()?;
    let anchors = Anchors {
        log: log.to_vec(),
        ..Anchors::default()
    };
    let orgs: Vec<i64> = match range.org {
        Some(o) => vec![o],
        None => audit_orgs(&tx, &anchors)?,
    };
    let from = range.from.unwrap_or(1).max(1);
    let to = range.to.unwrap_or(i64::MAX);
    let mut w = EvidenceWriter::create(dir)?;
    let mut cps: Vec<Checkpoint> = Vec::new();
    for org in orgs {
        w.org(org, from);
        // Every row in order (each entry's `prev_hash` is the previous row's hash), those in
        // the range written.
        let mut stmt = tx.prepare(&format!(
            "SELECT {} FROM audit_log WHERE org_id = ?1 ORDER BY id",
            codec::COLUMNS
        ))?;
        let mut rows = stmt.query(params![org])?;
        let mut dec = codec::RowDecoder::new();
        let mut prev = codec::genesis_hex();
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(2)?;
            if (from..=to).contains(&seq) {
                let e = dec.entry(row, &prev)?;
                w.entry(&e)?;
                prev = e.hash;
            } else {
                prev = codec::shown(row.get_ref(8)?);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for cp in read_checkpoints(&tx, Some(org))?
            .into_iter()
            .chain(log.iter().filter(|c| c.org_id == org).cloned())
        {
            if seen.insert(cp.to_line()) {
                cps.push(cp);
            }
        }
    }
    w.finish(&cps, key)
}
