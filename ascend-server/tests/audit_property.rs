//! Property: a random single-byte edit anywhere in the audit data (entries, heads), the
//! checkpoint data (the database's checkpoints and the checkpoint log) or the actions table is
//! detected by `ascend audit verify --db`.
//!
//! "Anywhere" is every stored value of those tables except the SQLite row id of `audit_log`
//! (its storage position: an edit that keeps the order changes nothing the audit states, one that
//! breaks it is the reordering the tamper suite covers).

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ascend_server::Role;
use ascend_server::cli::audit::verify_file;
use common::*;
use proptest::prelude::*;
use rusqlite::Connection;
use rusqlite::types::Value as Sql;
use serde_json::json;

/// (table, columns) that hold audit, checkpoint and action data.
const TABLES: &[(&str, &[&str])] = &[
    (
        "audit_log",
        &[
            "org_id", "seq", "ts", "kind", "actor", "subject", "payload", "hash", "link",
        ],
    ),
    ("audit_heads", &["org_id", "seq", "hash", "updated_at"]),
    (
        "audit_checkpoints",
        &["org_id", "n", "seq", "hash", "ts", "reason", "prev", "sig"],
    ),
    (
        "actions",
        &[
            "id",
            "org_id",
            "agent_id",
            "agent_name",
            "action_type",
            "resource",
            "resource_id",
            "status",
            "request",
            "body",
            "submitted_key",
            "idempotency_key",
            "request_hash",
            "approval",
            "expires_at",
            "outcome",
            "outcome_detail",
            "created_at",
            "updated_at",
        ],
    ),
];

/// A stopped server's files (database, key, checkpoint log), made once.
fn template() -> &'static (tempfile::TempDir, PathBuf) {
    static T: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    T.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let h = harness_with(|c| c.audit.every = 3).await;
            let mut pending = Vec::new();
            for i in 0..2 {
                let (_, v) = h.submit(&h.agent, low_action(&format!("p-{i}"))).await;
                let id = v["id"].as_i64().unwrap();
                h.post(
                    &format!("/api/agent-action/{id}/complete"),
                    &h.agent,
                    json!({"result": "ok"}),
                )
                .await;
                let (_, v) = h.submit(&h.agent, pending_action(&format!("p-{i}"))).await;
                pending.push(v["id"].as_i64().unwrap());
            }
            h.submit(&h.agent, denied_action("p-9")).await;
            h.post(
                &format!("/api/v1/actions/{}/approve", pending[0]),
                &h.reviewer,
                json!({"comment": "ok"}),
            )
            .await;
            h.post(
                &format!("/api/v1/actions/{}/deny", pending[1]),
                &h.reviewer,
                json!({"reason": "no"}),
            )
            .await;
            let other = h
                .server
                .create_api_key("second", Role::Agent, None)
                .await
                .unwrap();
            h.submit(&other, low_action("o-1")).await;
            let path = h.server.db_path().to_owned();
            let dir = h.dir;
            h.server.shutdown().await.unwrap();
            let c = Connection::open(&path).unwrap();
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .unwrap();
            drop(c);
            let reports = verify_file(&path).unwrap();
            assert!(reports.iter().all(|r| r.ok), "{reports:#?}");
            (dir, path)
        })
    })
}

/// A fresh copy of the template's files; (guard, database path).
fn copy() -> (tempfile::TempDir, PathBuf) {
    let (dir, db) = template();
    let to = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.path().join(e.file_name())).unwrap();
    }
    let db = to.path().join(db.file_name().unwrap());
    (to, db)
}

fn printable(pick: u8, not: u8) -> u8 {
    let b = 0x20 + pick % 0x5f;
    if b == not {
        if b == 0x7e { 0x20 } else { b + 1 }
    } else {
        b
    }
}

/// Edit one byte of one stored value; false when the edit cannot be made (a constraint refused
/// it, or the chosen cell holds no such byte).
fn edit_cell(db: &Path, table: usize, row: u32, col: u32, at: u32, byte: u8) -> bool {
    let (name, cols) = TABLES[table % TABLES.len()];
    let c = Connection::open(db).unwrap();
    let rowids: Vec<i64> = c
        .prepare(&format!("SELECT rowid FROM {name} ORDER BY rowid"))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    if rowids.is_empty() {
        return false;
    }
    let rowid = rowids[row as usize % rowids.len()];
    for k in 0..cols.len() {
        let col = cols[(col as usize + k) % cols.len()];
        let v: Sql = c
            .query_row(
                &format!("SELECT {col} FROM {name} WHERE rowid = ?1"),
                [rowid],
                |r| r.get(0),
            )
            .unwrap();
        let new = match v {
            Sql::Integer(i) => {
                let x = i64::from(printable(byte, 0) & 0x7f).max(1);
                Sql::Integer(i ^ x)
            }
            Sql::Text(t) => {
                let ascii: Vec<usize> = t
                    .bytes()
                    .enumerate()
                    .filter(|(_, b)| b.is_ascii())
                    .map(|(i, _)| i)
                    .collect();
                if ascii.is_empty() {
                    continue;
                }
                let i = ascii[at as usize % ascii.len()];
                let mut bytes = t.into_bytes();
                bytes[i] = printable(byte, bytes[i]);
                Sql::Text(String::from_utf8(bytes).unwrap())
            }
            Sql::Blob(mut b) => {
                if b.is_empty() {
                    continue;
                }
                let i = at as usize % b.len();
                b[i] ^= printable(byte, 0) | 1;
                Sql::Blob(b)
            }
            _ => continue,
        };
        return c
            .execute(
                &format!("UPDATE {name} SET {col} = ?1 WHERE rowid = ?2"),
                rusqlite::params![new, rowid],
            )
            .is_ok();
    }
    false
}

fn edit_log(db: &Path, at: u32, byte: u8) -> bool {
    let log = db.with_file_name(format!(
        "{}.checkpoints.jsonl",
        db.file_name().unwrap().to_string_lossy()
    ));
    let mut bytes = std::fs::read(&log).unwrap();
    if bytes.is_empty() {
        return false;
    }
    let i = at as usize % bytes.len();
    bytes[i] = printable(byte, bytes[i]);
    std::fs::write(&log, bytes).unwrap();
    true
}

proptest! {
    // 64 cases in CI (seconds); AUDIT_PROP_CASES=N for a longer search.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("AUDIT_PROP_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_single_byte_edit_is_detected(
        target in 0usize..5,
        row in any::<u32>(),
        col in any::<u32>(),
        at in any::<u32>(),
        byte in any::<u8>(),
    ) {
        let (_guard, db) = copy();
        let edited = if target == 4 {
            edit_log(&db, at, byte)
        } else {
            edit_cell(&db, target, row, col, at, byte)
        };
        prop_assume!(edited);
        // A value the reader cannot even decode (an error, exit non-zero) is a detection too.
        if let Ok(reports) = verify_file(&db) {
            prop_assert!(
                reports.iter().any(|r| !r.ok),
                "undetected edit (target {target}): {reports:#?}"
            );
        }
    }
}
