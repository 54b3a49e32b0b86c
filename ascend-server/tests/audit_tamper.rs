//! Tampering with the audit trail is detected: edit, delete, reorder, truncate.

mod common;

use std::path::{Path, PathBuf};

use ascend_server::audit::Problem;
use ascend_server::cli::audit::verify_file;
use common::*;
use rusqlite::{Connection, params};

/// A database with a healthy chain of at least 10 entries; returns (dir guard, db path).
async fn populated() -> (tempfile::TempDir, PathBuf) {
    let h = harness().await;
    for i in 0..4 {
        h.submit(&h.agent, low_action(&format!("agent-{i}"))).await;
        h.submit(&h.agent, pending_action(&format!("agent-{i}")))
            .await;
    }
    let path = h.server.db_path().to_owned();
    let dir = h.dir;
    h.server.shutdown().await.unwrap();
    let reports = verify_file(&path).unwrap();
    assert!(reports.iter().all(|r| r.ok), "{reports:?}");
    assert!(reports[0].entries >= 10);
    (dir, path)
}

fn broken(path: &Path) -> (i64, Problem) {
    let reports = verify_file(path).unwrap();
    let r = reports.iter().find(|r| !r.ok).expect("tampering detected");
    (r.broken_at.unwrap(), r.problem.unwrap())
}

#[tokio::test]
async fn edited_entry_is_detected() {
    let (_d, path) = populated().await;
    let c = Connection::open(&path).unwrap();
    c.execute(
        "UPDATE audit_log SET payload = replace(payload, 'database', 'databa5e') WHERE seq = 5",
        [],
    )
    .unwrap();
    assert_eq!(broken(&path), (5, Problem::Edited));
}

#[tokio::test]
async fn edited_and_rehashed_entry_is_detected() {
    let (_d, path) = populated().await;
    let c = Connection::open(&path).unwrap();
    // The attacker rewrites entry 4 and recomputes its own hash: entry 5 no longer links to it.
    let (org, ts, kind, actor, subject, payload, prev): (i64, String, String, String, String, String, String) = c
        .query_row(
            "SELECT org_id, ts, kind, actor, subject, payload, prev_hash FROM audit_log WHERE seq = 4",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )
        .unwrap();
    let payload = payload.replace("agent", "agenT");
    let prev: [u8; 32] = hex::decode(prev).unwrap().try_into().unwrap();
    let hash =
        ascend_server::audit::entry_hash(org, 4, &ts, &kind, &actor, &subject, &payload, &prev);
    c.execute(
        "UPDATE audit_log SET payload = ?1, hash = ?2 WHERE seq = 4",
        params![payload, hex::encode(hash)],
    )
    .unwrap();
    assert_eq!(broken(&path), (4, Problem::Edited));
}

#[tokio::test]
async fn deleted_entry_is_detected() {
    let (_d, path) = populated().await;
    let c = Connection::open(&path).unwrap();
    c.execute("DELETE FROM audit_log WHERE seq = 6", [])
        .unwrap();
    assert_eq!(broken(&path), (6, Problem::Missing));
}

#[tokio::test]
async fn reordered_entries_are_detected() {
    let (_d, path) = populated().await;
    let c = Connection::open(&path).unwrap();
    let id3: i64 = c
        .query_row("SELECT id FROM audit_log WHERE seq = 3", [], |r| r.get(0))
        .unwrap();
    let id4: i64 = c
        .query_row("SELECT id FROM audit_log WHERE seq = 4", [], |r| r.get(0))
        .unwrap();
    c.execute("UPDATE audit_log SET id = -1 WHERE id = ?1", params![id3])
        .unwrap();
    c.execute(
        "UPDATE audit_log SET id = ?1 WHERE id = ?2",
        params![id3, id4],
    )
    .unwrap();
    c.execute("UPDATE audit_log SET id = ?1 WHERE id = -1", params![id4])
        .unwrap();
    assert_eq!(broken(&path).1, Problem::Reordered);
}

#[tokio::test]
async fn truncated_chain_is_detected() {
    let (_d, path) = populated().await;
    let c = Connection::open(&path).unwrap();
    let last: i64 = c
        .query_row("SELECT MAX(seq) FROM audit_log", [], |r| r.get(0))
        .unwrap();
    c.execute("DELETE FROM audit_log WHERE seq > ?1", params![last - 3])
        .unwrap();
    assert_eq!(broken(&path), (last - 2, Problem::Truncated));
}

#[tokio::test]
async fn the_command_line_reports_ok_and_breaks() {
    let (_d, path) = populated().await;
    let bin = env!("CARGO_BIN_EXE_ascend");
    let out = std::process::Command::new(bin)
        .args(["audit", "verify", "--db"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK ("), "{stdout}");
    let c = Connection::open(&path).unwrap();
    c.execute("DELETE FROM audit_log WHERE seq = 2", [])
        .unwrap();
    let out = std::process::Command::new(bin)
        .args(["audit", "verify", "--db"])
        .arg(&path)
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
