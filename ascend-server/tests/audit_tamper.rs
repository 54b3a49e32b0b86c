//! Tampering with a stopped server's database is detected by `ascend audit verify --db`, even by
//! someone with write access to the SQLite file who recomputes every hash: the 13 tamperings the
//! hash chain alone caught, and the 7 it did not (issue #16) — each a named case below.
//!
//! The attacker here can write the database, not the signing key nor the checkpoint log beside
//! it (see the README on what each placement proves).

mod common;

use std::path::{Path, PathBuf};

use ascend_server::Role;
use ascend_server::audit::{Problem, VerifyReport, entry_hash};
use ascend_server::cli::audit::{VerifyOptions, anchors, verify_file};
use ascend_server::model::AuditEntry;
use ascend_server::store::sqlite::codec::link_tag;
use ascend_server::store::sqlite::{anchor_report, audit_orgs, read_audit, verify_org_in};
use common::*;
use rusqlite::{Connection, params};
use serde_json::json;

/// A stopped server's database: a healthy chain in two organisations, with allowed, pending,
/// approved, denied and completed actions; checkpoints signed after every commit batch.
struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
    /// A denied action.
    denied: i64,
    /// A still pending action.
    pending: i64,
    /// An allowed action whose completion was reported.
    completed: i64,
    /// The second organisation.
    org2: i64,
}

fn id_of(v: &serde_json::Value) -> i64 {
    v["id"]
        .as_i64()
        .or_else(|| v["id"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("no id in {v}"))
}

async fn populated() -> Db {
    let h = harness_with(|c| c.audit.every = 1).await;
    let mut pending = Vec::new();
    let mut allowed = Vec::new();
    for i in 0..3 {
        let (s, v) = h.submit(&h.agent, low_action(&format!("agent-{i}"))).await;
        assert_eq!(s, 200, "{v}");
        allowed.push(id_of(&v));
        let (_, v) = h
            .submit(&h.agent, pending_action(&format!("agent-{i}")))
            .await;
        assert_eq!(v["decision"], "pending", "{v}");
        pending.push(id_of(&v));
    }
    let (_, v) = h.submit(&h.agent, denied_action("agent-9")).await;
    assert_eq!(v["decision"], "denied", "{v}");
    let denied = id_of(&v);
    let (s, v) = h
        .post(
            &format!("/api/v1/actions/{}/approve", pending[0]),
            &h.reviewer,
            json!({"comment": "fine"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = h
        .post(
            &format!("/api/agent-action/{}/complete", allowed[0]),
            &h.agent,
            json!({"result": "ok", "duration_ms": 3}),
        )
        .await;
    assert!(s < 300, "{s} {v}");
    let second = h
        .server
        .create_api_key("second", Role::Agent, None)
        .await
        .unwrap();
    for i in 0..2 {
        let (s, v) = h.submit(&second, low_action(&format!("other-{i}"))).await;
        assert_eq!(s, 200, "{v}");
    }
    let org2 = h.server.org_id("second").await.unwrap();
    let path = h.server.db_path().to_owned();
    let dir = h.dir;
    h.server.shutdown().await.unwrap();
    let reports = verify_file(&path).unwrap();
    assert!(reports.iter().all(|r| r.ok), "{reports:#?}");
    assert!(reports[0].entries >= 12, "{reports:?}");
    assert_eq!(
        reports[0].signed_through,
        Some(last_seq(&Connection::open(&path).unwrap(), 1))
    );
    Db {
        _dir: dir,
        path,
        denied,
        pending: pending[1],
        completed: allowed[0],
        org2,
    }
}

fn reports(path: &Path) -> Vec<VerifyReport> {
    let reports = verify_file(path).unwrap();
    // Every split of the chains into ranges walked in parallel reports exactly the same.
    let anchors = anchors(path, &VerifyOptions::default()).unwrap();
    let c = Connection::open(path).unwrap();
    for ranges in [2, 3, 7] {
        let mut split: Vec<VerifyReport> = anchor_report(&anchors).into_iter().collect();
        for org in audit_orgs(&c, &anchors).unwrap() {
            split.push(verify_org_in(&c, org, &anchors, Some(ranges)).unwrap());
        }
        assert_eq!(split, reports, "{ranges} ranges");
    }
    reports
}

/// The first finding: (organisation, first bad sequence number, problem).
fn broken(path: &Path) -> (i64, i64, Problem) {
    let reports = reports(path);
    let r = reports
        .iter()
        .find(|r| !r.ok)
        .unwrap_or_else(|| panic!("tampering not detected: {reports:#?}"));
    assert!(!r.findings.is_empty());
    (r.org_id, r.broken_at.unwrap(), r.problem.unwrap())
}

fn last_seq(c: &Connection, org: i64) -> i64 {
    c.query_row(
        "SELECT MAX(seq) FROM audit_log WHERE org_id = ?1",
        [org],
        |r| r.get(0),
    )
    .unwrap()
}

fn open(db: &Db) -> Connection {
    Connection::open(&db.path).unwrap()
}

/// The entries of `org` as stored, decoded (times and kinds as text, hashes as hex).
fn entries(c: &Connection, org: i64) -> Vec<AuditEntry> {
    read_audit(c, org, 0, u64::MAX >> 1).unwrap()
}

fn entry(c: &Connection, org: i64, seq: i64) -> AuditEntry {
    entries(c, org)
        .into_iter()
        .find(|e| e.seq == seq)
        .unwrap_or_else(|| panic!("no entry {seq}"))
}

fn hash_of(e: &AuditEntry) -> [u8; 32] {
    hex::decode(&e.hash).unwrap().try_into().unwrap()
}

/// What an attacker does after rewriting entries: recompute the hash of every entry of `org`
/// from `from` on (in chain order, linking each to the one before), then the head.
fn rehash_from(c: &Connection, org: i64, from: i64) {
    let mut prev: [u8; 32] = if from == 1 {
        [0u8; 32]
    } else {
        hash_of(&entry(c, org, from - 1))
    };
    let mut rows = entries(c, org);
    rows.retain(|e| e.seq >= from);
    rows.sort_by_key(|e| e.seq);
    for e in rows {
        let hash = entry_hash(
            org, e.seq, &e.ts, &e.kind, &e.actor, &e.subject, &e.payload, &prev,
        );
        c.execute(
            "UPDATE audit_log SET hash = ?1, link = ?2 WHERE id = ?3",
            params![&hash[..], link_tag(&prev), e.row_id],
        )
        .unwrap();
        prev = hash;
    }
    set_head(c, org, last_seq(c, org));
}

/// Point the stored head at entry `seq` (as the writer would have).
fn set_head(c: &Connection, org: i64, seq: i64) {
    let e = entry(c, org, seq);
    c.execute(
        "UPDATE audit_heads SET seq = ?2, hash = ?3, updated_at = ?4 WHERE org_id = ?1",
        params![org, seq, e.hash, e.ts],
    )
    .unwrap();
}

// ---- The 13 tamperings the hash chain alone already caught. ----

#[tokio::test]
async fn case01_edited_payload() {
    let db = populated().await;
    open(&db)
        .execute(
            "UPDATE audit_log SET payload = replace(payload, 'agent', 'agenT') \
             WHERE org_id = 1 AND seq = 5",
            [],
        )
        .unwrap();
    assert_eq!(broken(&db.path), (1, 5, Problem::Edited));
}

#[tokio::test]
async fn case02_edited_entry_rehashed_alone() {
    let db = populated().await;
    let c = open(&db);
    let e = entry(&c, 1, 4);
    let payload = e.payload.replace("agent", "agenT");
    let prev: [u8; 32] = hex::decode(&e.prev_hash).unwrap().try_into().unwrap();
    let hash = entry_hash(1, 4, &e.ts, &e.kind, &e.actor, &e.subject, &payload, &prev);
    c.execute(
        "UPDATE audit_log SET payload = ?1, hash = ?2 WHERE org_id = 1 AND seq = 4",
        params![payload, &hash[..]],
    )
    .unwrap();
    // Entry 4 is consistent in itself, so it is the signed checkpoint of entry 4 (and the link
    // from entry 5) that tells.
    assert_eq!(broken(&db.path), (1, 4, Problem::Rewritten));
}

#[tokio::test]
async fn case03_deleted_entry() {
    let db = populated().await;
    open(&db)
        .execute("DELETE FROM audit_log WHERE org_id = 1 AND seq = 6", [])
        .unwrap();
    assert_eq!(broken(&db.path), (1, 6, Problem::Missing));
}

#[tokio::test]
async fn case04_reordered_entries() {
    let db = populated().await;
    let c = open(&db);
    let id = |seq: i64| -> i64 {
        c.query_row(
            "SELECT id FROM audit_log WHERE org_id = 1 AND seq = ?1",
            [seq],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (id3, id4) = (id(3), id(4));
    c.execute("UPDATE audit_log SET id = -1 WHERE id = ?1", [id3])
        .unwrap();
    c.execute(
        "UPDATE audit_log SET id = ?1 WHERE id = ?2",
        params![id3, id4],
    )
    .unwrap();
    c.execute("UPDATE audit_log SET id = ?1 WHERE id = -1", [id4])
        .unwrap();
    assert_eq!(broken(&db.path).2, Problem::Reordered);
}

#[tokio::test]
async fn case05_truncated_tail() {
    let db = populated().await;
    let c = open(&db);
    let last = last_seq(&c, 1);
    c.execute(
        "DELETE FROM audit_log WHERE org_id = 1 AND seq > ?1",
        [last - 3],
    )
    .unwrap();
    assert_eq!(broken(&db.path), (1, last - 2, Problem::Truncated));
}

#[tokio::test]
async fn case06_edited_kind() {
    let db = populated().await;
    open(&db)
        .execute(
            "UPDATE audit_log SET kind = 'action.approval_vote' WHERE org_id = 1 AND seq = 3",
            [],
        )
        .unwrap();
    assert_eq!(broken(&db.path), (1, 3, Problem::Edited));
}

#[tokio::test]
async fn case07_edited_actor() {
    let db = populated().await;
    open(&db)
        .execute(
            "UPDATE audit_log SET actor = 'someone-else' WHERE org_id = 1 AND seq = 7",
            [],
        )
        .unwrap();
    assert_eq!(broken(&db.path), (1, 7, Problem::Edited));
}

#[tokio::test]
async fn case08_edited_timestamp() {
    let db = populated().await;
    open(&db)
        .execute(
            "UPDATE audit_log SET ts = '2020-01-01T00:00:00Z' WHERE org_id = 1 AND seq = 2",
            [],
        )
        .unwrap();
    assert_eq!(broken(&db.path), (1, 2, Problem::Edited));
}

#[tokio::test]
async fn case09_edited_stored_hash() {
    let db = populated().await;
    open(&db)
        .execute(
            "UPDATE audit_log SET hash = ?1 WHERE org_id = 1 AND seq = 8",
            [vec![7u8; 32]],
        )
        .unwrap();
    assert_eq!(broken(&db.path), (1, 8, Problem::Edited));
}

/// The previous hash is not stored twice (it is the previous row's `hash`); the `link` tag of
/// the entry stands in for the old `prev_hash` column.
#[tokio::test]
async fn case10_edited_prev_hash() {
    let db = populated().await;
    open(&db)
        .execute(
            "UPDATE audit_log SET link = (link + 1) % 65536 WHERE org_id = 1 AND seq = 9",
            [],
        )
        .unwrap();
    assert_eq!(broken(&db.path), (1, 9, Problem::Edited));
}

#[tokio::test]
async fn case11_head_deleted() {
    let db = populated().await;
    open(&db)
        .execute("DELETE FROM audit_heads WHERE org_id = 1", [])
        .unwrap();
    assert_eq!(broken(&db.path), (1, 1, Problem::Truncated));
}

#[tokio::test]
async fn case12_head_hash_edited() {
    let db = populated().await;
    let c = open(&db);
    let last = last_seq(&c, 1);
    c.execute(
        "UPDATE audit_heads SET hash = ?1 WHERE org_id = 1",
        [hex::encode([9u8; 32])],
    )
    .unwrap();
    assert_eq!(broken(&db.path), (1, last, Problem::Edited));
}

#[tokio::test]
async fn case13_duplicated_entry() {
    let db = populated().await;
    open(&db)
        .execute(
            "INSERT INTO audit_log (org_id, seq, ts, kind, actor, subject, payload, hash, link) \
             SELECT org_id, seq, ts, kind, actor, subject, payload, hash, link \
             FROM audit_log WHERE org_id = 1 AND seq = 3",
            [],
        )
        .unwrap();
    assert_eq!(broken(&db.path).2, Problem::Reordered);
}

// ---- The 7 the hash chain alone missed (issue #16). ----

#[tokio::test]
async fn case14_truncated_tail_and_head_lowered() {
    let db = populated().await;
    let c = open(&db);
    let last = last_seq(&c, 1);
    c.execute(
        "DELETE FROM audit_log WHERE org_id = 1 AND seq > ?1",
        [last - 3],
    )
    .unwrap();
    set_head(&c, 1, last - 3);
    assert_eq!(broken(&db.path), (1, last - 2, Problem::Truncated));
}

#[tokio::test]
async fn case15_edited_and_later_hashes_and_head_recomputed() {
    let db = populated().await;
    let c = open(&db);
    c.execute(
        "UPDATE audit_log SET payload = replace(payload, 'agent', 'agenT') \
         WHERE org_id = 1 AND seq = 4",
        [],
    )
    .unwrap();
    rehash_from(&c, 1, 4);
    assert_eq!(broken(&db.path), (1, 4, Problem::Rewritten));
}

#[tokio::test]
async fn case16_deleted_renumbered_rehashed() {
    let db = populated().await;
    let c = open(&db);
    c.execute("DELETE FROM audit_log WHERE org_id = 1 AND seq = 6", [])
        .unwrap();
    c.execute(
        "UPDATE audit_log SET seq = seq - 1 WHERE org_id = 1 AND seq > 6",
        [],
    )
    .unwrap();
    rehash_from(&c, 1, 6);
    assert_eq!(broken(&db.path), (1, 6, Problem::Rewritten));
}

#[tokio::test]
async fn case17_forged_approval_appended_with_correct_hash() {
    let db = populated().await;
    let c = open(&db);
    let id = db.pending;
    // The attacker approves the pending action in the actions table...
    c.execute(
        "UPDATE actions SET status = 'approved', \
         body = json_set(body, '$.decision', 'allowed', '$.status', 'approved', \
                         '$.execution_allowed', json('true')), \
         approval = json_insert(approval, '$.votes[#]', json(?2)) WHERE id = ?1",
        params![
            id,
            json!({"key_id": "k_forged", "approver": "forger", "approve": true,
                   "comment": null, "at": "2026-01-01T00:00:00Z"})
            .to_string()
        ],
    )
    .unwrap();
    // ...and appends the matching vote, with the row digest and a correct chained hash.
    let digest = ascend_server::store::sqlite::action_row_digest(&c, 1, id)
        .unwrap()
        .unwrap();
    let last = last_seq(&c, 1);
    let prev = hash_of(&entry(&c, 1, last));
    let payload = json!({"action_id": id, "approve": true, "comment": null,
        "approver_key": "k_forged", "status": "approved", "decided": true,
        "row_sha256": digest})
    .to_string();
    let (ts, kind, actor, subject) = (
        "2026-01-01T00:00:00Z",
        "action.approval_vote",
        "forger",
        format!("action:{id}"),
    );
    let hash = entry_hash(1, last + 1, ts, kind, actor, &subject, &payload, &prev);
    c.execute(
        "INSERT INTO audit_log (org_id, seq, ts, kind, actor, subject, payload, hash, link) \
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            last + 1,
            ts,
            kind,
            actor,
            subject,
            payload,
            &hash[..],
            link_tag(&prev)
        ],
    )
    .unwrap();
    set_head(&c, 1, last + 1);
    // Without the signed shutdown checkpoint this would be a consistent chain and table.
    let r = &reports(&db.path)[0];
    assert_eq!(r.findings.len(), 1, "{r:#?}");
    assert_eq!(broken(&db.path), (1, last + 1, Problem::Unsigned));
}

#[tokio::test]
async fn case18_all_of_an_organisations_rows_and_head_deleted() {
    let db = populated().await;
    let c = open(&db);
    c.execute("DELETE FROM audit_log WHERE org_id = ?1", [db.org2])
        .unwrap();
    c.execute("DELETE FROM audit_heads WHERE org_id = ?1", [db.org2])
        .unwrap();
    assert_eq!(broken(&db.path), (db.org2, 1, Problem::Truncated));
}

#[tokio::test]
async fn case19_decision_changed_from_denied_to_allowed() {
    let db = populated().await;
    open(&db)
        .execute(
            "UPDATE actions SET status = 'approved', \
             body = json_set(body, '$.decision', 'allowed', '$.status', 'approved', \
                             '$.execution_allowed', json('true')) WHERE id = ?1",
            [db.denied],
        )
        .unwrap();
    let (org, _, problem) = broken(&db.path);
    assert_eq!((org, problem), (1, Problem::Diverged));
    let r = &reports(&db.path)[0];
    assert!(
        r.detail.contains(&format!("action {}", db.denied)) && r.detail.contains("denied"),
        "{r:#?}"
    );
}

#[tokio::test]
async fn case20_action_row_deleted() {
    let db = populated().await;
    open(&db)
        .execute("DELETE FROM actions WHERE id = ?1", [db.completed])
        .unwrap();
    let (org, _, problem) = broken(&db.path);
    assert_eq!((org, problem), (1, Problem::Diverged));
    let r = &reports(&db.path)[0];
    assert!(
        r.detail.contains("missing from the actions table"),
        "{r:#?}"
    );
}

// ---- The anchors themselves. ----

#[tokio::test]
async fn a_forged_checkpoint_in_the_database_is_refused() {
    let db = populated().await;
    open(&db)
        .execute(
            "UPDATE audit_checkpoints SET seq = seq + 1 WHERE org_id = 1 AND n = 2",
            [],
        )
        .unwrap();
    assert_eq!(broken(&db.path).2, Problem::Checkpoint);
}

#[tokio::test]
async fn checkpoints_deleted_from_the_database_still_show_in_the_log() {
    let db = populated().await;
    let c = open(&db);
    c.execute("DELETE FROM audit_checkpoints WHERE org_id = 1", [])
        .unwrap();
    c.execute("DELETE FROM audit_log WHERE org_id = 1 AND seq > 5", [])
        .unwrap();
    set_head(&c, 1, 5);
    let r = &reports(&db.path)[0];
    assert!(!r.ok);
    assert!(
        r.findings
            .iter()
            .any(|f| f.problem == Problem::Checkpoint
                && f.detail.contains("missing from the database")),
        "{r:#?}"
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.problem == Problem::Truncated && f.seq == 6),
        "{r:#?}"
    );
}

#[tokio::test]
async fn the_command_line_reports_ok_and_breaks() {
    let db = populated().await;
    let bin = env!("CARGO_BIN_EXE_ascend");
    let out = std::process::Command::new(bin)
        .args(["audit", "verify", "--db"])
        .arg(&db.path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK ("), "{stdout}");
    assert!(stdout.contains("signed through entry"), "{stdout}");
    open(&db)
        .execute("DELETE FROM audit_log WHERE org_id = 1 AND seq = 2", [])
        .unwrap();
    let out = std::process::Command::new(bin)
        .args(["audit", "verify", "--db"])
        .arg(&db.path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("BROKEN at entry 2 (missing)"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one readable line: {stderr}"
    );
}
