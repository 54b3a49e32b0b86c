//! Migration 5 (the compact audit rows) converts a database of the schema before it in place:
//! the chain, the signed checkpoints and what the API shows of each entry are unchanged, and a
//! tampering made before the migration is still reported after it.

use std::path::{Path, PathBuf};

use ascend_server::Durability;
use ascend_server::audit::checkpoint::{CheckpointLog, Reason, Signer};
use ascend_server::audit::{GENESIS, Problem, entry_hash};
use ascend_server::cli::audit::verify_file;
use ascend_server::config::beside;
use ascend_server::model::{AuditEntry, Timestamp};
use ascend_server::store::Store;
use ascend_server::store::sqlite::{SqliteStore, migrate_to, read_audit};
use rusqlite::{Connection, params};

/// A database at schema 4 with the chains of two organisations written as the server before
/// migration 5 wrote them (hex hashes, `prev_hash` stored, times and kinds as text), a signed
/// checkpoint of each head in the database and the log beside it.
fn old_database(dir: &Path) -> PathBuf {
    let db = dir.join("old.db");
    let mut c = Connection::open(&db).unwrap();
    migrate_to(&mut c, 4).unwrap();
    let signer = Signer::load_or_create(&beside(&db, "audit-key")).unwrap();
    let mut log = CheckpointLog::open(&beside(&db, "checkpoints.jsonl")).unwrap();
    for (org, n) in [(1i64, 40i64), (2, 5)] {
        let mut prev = GENESIS;
        let mut last_ts = String::new();
        for seq in 1..=n {
            let ts = Timestamp::now().to_rfc3339();
            let kind = if seq % 3 == 0 {
                "key.created"
            } else {
                "action.blocked"
            };
            let subject = format!("agent:agent-{}", seq % 4);
            let payload = format!(r#"{{"n":{seq},"reason":"low risk"}}"#);
            let hash = entry_hash(org, seq, &ts, kind, "agent-key", &subject, &payload, &prev);
            c.execute(
                "INSERT INTO audit_log (org_id, seq, ts, kind, actor, subject, payload, \
                 prev_hash, hash) VALUES (?1, ?2, ?3, ?4, 'agent-key', ?5, ?6, ?7, ?8)",
                params![
                    org,
                    seq,
                    ts,
                    kind,
                    subject,
                    payload,
                    hex::encode(prev),
                    hex::encode(hash)
                ],
            )
            .unwrap();
            prev = hash;
            last_ts = ts;
        }
        c.execute(
            "INSERT INTO audit_heads (org_id, seq, hash, updated_at) VALUES (?1, ?2, ?3, ?4)",
            params![org, n, hex::encode(prev), last_ts],
        )
        .unwrap();
        let cp = signer.sign(
            org,
            1,
            (n, prev),
            Timestamp::now().to_rfc3339(),
            Reason::Periodic,
            [0u8; 32],
        );
        c.execute(
            "INSERT INTO audit_checkpoints (org_id, n, seq, hash, ts, reason, prev, sig) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                cp.org_id,
                cp.n,
                cp.seq,
                cp.hash,
                cp.ts,
                cp.reason.as_str(),
                cp.prev,
                cp.sig
            ],
        )
        .unwrap();
        log.append(&[cp]).unwrap();
    }
    db
}

fn copy(db: &Path, to: &Path) -> PathBuf {
    for suffix in ["", ".audit-key", ".checkpoints.jsonl"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        std::fs::copy(&from, to.join(format!("old.db{suffix}"))).unwrap();
    }
    to.join("old.db")
}

async fn migrate(db: &Path) {
    let store = SqliteStore::open(db, Durability::Normal).unwrap();
    store.close().await.unwrap();
}

fn shown(db: &Path, org: i64) -> Vec<AuditEntry> {
    read_audit(&Connection::open(db).unwrap(), org, 0, 1000).unwrap()
}

#[tokio::test]
async fn an_old_database_migrates_and_still_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let db = old_database(dir.path());
    // What the API showed before: the old rows as stored.
    let before: Vec<(String, String, String, String)> = Connection::open(&db)
        .unwrap()
        .prepare("SELECT ts, kind, prev_hash, hash FROM audit_log WHERE org_id = 1 ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    migrate(&db).await;

    let c = Connection::open(&db).unwrap();
    let version: i64 = c
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(version, 5);
    let (blobs, ints, old_column): (i64, i64, i64) = c
        .query_row(
            "SELECT (SELECT COUNT(*) FROM audit_log WHERE typeof(hash) = 'blob' \
             AND length(hash) = 32), (SELECT COUNT(*) FROM audit_log WHERE typeof(ts) = \
             'integer' AND typeof(kind) = 'integer' AND typeof(link) = 'integer'), \
             (SELECT COUNT(*) FROM pragma_table_info('audit_log') WHERE name = 'prev_hash')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((blobs, ints, old_column), (45, 45, 0));

    let after: Vec<(String, String, String, String)> = shown(&db, 1)
        .into_iter()
        .map(|e| (e.ts, e.kind, e.prev_hash, e.hash))
        .collect();
    assert_eq!(after, before, "the API shows the same entries");

    let reports = verify_file(&db).unwrap();
    assert_eq!(reports.len(), 2, "{reports:#?}");
    assert!(reports.iter().all(|r| r.ok), "{reports:#?}");
    assert_eq!((reports[0].entries, reports[1].entries), (40, 5));
    assert_eq!(reports[0].signed_through, Some(40));

    // The migrated chain grows on: new entries link to the migrated ones.
    let store = SqliteStore::open(&db, Durability::Normal).unwrap();
    store
        .append_audit(ascend_server::model::AuditDraft {
            org_id: 1,
            kind: ascend_server::model::AuditKind::KeyCreated,
            actor: "admin".into(),
            subject: "key:k_1".into(),
            payload: serde_json::json!({"n": 41}),
            ts: ascend_server::model::now(),
        })
        .await
        .unwrap();
    store.close().await.unwrap();
    let reports = verify_file(&db).unwrap();
    assert!(reports.iter().all(|r| r.ok), "{reports:#?}");
    assert_eq!(reports[0].entries, 41);
}

#[tokio::test]
async fn tampering_before_the_migration_is_still_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = old_database(dir.path());
    // Each copy gets one edit of the old schema, then migrates.
    let cases: [(&str, i64, Problem); 4] = [
        // A stored prev_hash edited alone (the column migration 5 drops).
        (
            "UPDATE audit_log SET prev_hash = '07' || substr(prev_hash, 3) \
             WHERE org_id = 1 AND seq = 7",
            7,
            Problem::Edited,
        ),
        // A hash in upper case: the same bytes, but not what the server writes.
        (
            "UPDATE audit_log SET hash = upper(hash) WHERE org_id = 1 AND seq = 9",
            9,
            Problem::Edited,
        ),
        (
            "UPDATE audit_log SET payload = replace(payload, 'low', 'LOW') \
             WHERE org_id = 1 AND seq = 12",
            12,
            Problem::Edited,
        ),
        (
            "UPDATE audit_log SET ts = '2020-01-01T00:00:00Z' WHERE org_id = 1 AND seq = 3",
            3,
            Problem::Edited,
        ),
    ];
    for (i, (sql, seq, problem)) in cases.into_iter().enumerate() {
        let to = dir.path().join(format!("case{i}"));
        std::fs::create_dir_all(&to).unwrap();
        let copy = copy(&db, &to);
        Connection::open(&copy).unwrap().execute(sql, []).unwrap();
        migrate(&copy).await;
        let reports = verify_file(&copy).unwrap();
        let r = &reports[0];
        assert_eq!(
            (r.ok, r.broken_at, r.problem),
            (false, Some(seq), Some(problem)),
            "{sql}: {r:#?}"
        );
    }
}
