//! The offline evidence package: exported from a stopped server's database, verified with only
//! the package and the public key (what an external auditor runs), and tampering with the
//! package shows even when the manifest is rewritten to match.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use ascend_server::audit::evidence::Manifest;
use common::*;

fn ascend(args: &[&str], paths: &[&Path]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ascend"));
    c.args(args);
    for p in paths {
        c.arg(p);
    }
    c.output().unwrap()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(args)
        .output()
        .unwrap()
}

fn sha256_hex(path: &Path) -> (String, u64) {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    (
        hex::encode(sha2::Sha256::digest(&bytes)),
        bytes.len() as u64,
    )
}

/// Rewrite the manifest so its digests match the files again (what an attacker would do).
fn reseal_manifest(dir: &Path) {
    let mut m: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    for (name, d) in m.files.iter_mut() {
        let (sha, bytes) = sha256_hex(&dir.join(name));
        d.sha256 = sha;
        d.bytes = bytes;
    }
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
}

#[tokio::test]
async fn an_auditor_verifies_the_package_offline_and_sees_tampering() {
    let h = harness_with(|c| c.audit.every = 2).await;
    for i in 0..5 {
        h.submit(&h.agent, low_action(&format!("e-{i}"))).await;
        h.submit(&h.agent, pending_action(&format!("e-{i}"))).await;
    }
    let db = h.server.db_path().to_owned();
    let dir = h.dir;
    h.server.shutdown().await.unwrap();

    // The public key, obtained out of band.
    let out = run(&["audit", "pubkey", "--db", db.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let pubkey = dir.path().join("auditor.pub");
    std::fs::write(&pubkey, &out.stdout).unwrap();

    let ev = dir.path().join("evidence");
    let out = ascend(
        &["audit", "export", "--evidence"],
        &[&ev, Path::new("--db"), &db],
    );
    assert!(out.status.success(), "{out:?}");
    for f in [
        "entries.jsonl",
        "checkpoints.jsonl",
        "pubkey.txt",
        "manifest.json",
    ] {
        assert!(ev.join(f).exists(), "{f}");
    }
    // The database is not needed: move it away.
    std::fs::rename(&db, dir.path().join("gone.db")).unwrap();
    let verify = |ev: &Path, key: &Path| {
        ascend(
            &["audit", "verify", "--evidence"],
            &[ev, Path::new("--pubkey"), key],
        )
    };
    let out = verify(&ev, &pubkey);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("OK (") && stdout.contains("signed through"),
        "{stdout}"
    );

    // Another key: nothing verifies.
    let other = dir.path().join("other.pub");
    let s = ascend_server::audit::Signer::from_hex(&"42".repeat(32)).unwrap();
    std::fs::write(&other, s.public_hex()).unwrap();
    let out = verify(&ev, &other);
    assert!(!out.status.success(), "{out:?}");

    // An entry edited and the whole package re-hashed, manifest included: the signed
    // checkpoints still tell.
    let entries = std::fs::read_to_string(ev.join("entries.jsonl")).unwrap();
    let mut lines: Vec<String> = entries.lines().map(str::to_owned).collect();
    let mut e: ascend_server::model::AuditEntry = serde_json::from_str(&lines[3]).unwrap();
    e.actor = "someone-else".into();
    let prev: [u8; 32] = hex::decode(&e.prev_hash).unwrap().try_into().unwrap();
    e.hash = hex::encode(ascend_server::audit::entry_hash(
        e.org_id, e.seq, &e.ts, &e.kind, &e.actor, &e.subject, &e.payload, &prev,
    ));
    lines[3] = serde_json::to_string(&e).unwrap();
    let mut prev_hash = e.hash.clone();
    for line in lines.iter_mut().skip(4) {
        let mut n: ascend_server::model::AuditEntry = serde_json::from_str(line).unwrap();
        n.prev_hash = prev_hash.clone();
        let p: [u8; 32] = hex::decode(&n.prev_hash).unwrap().try_into().unwrap();
        n.hash = hex::encode(ascend_server::audit::entry_hash(
            n.org_id, n.seq, &n.ts, &n.kind, &n.actor, &n.subject, &n.payload, &p,
        ));
        prev_hash = n.hash.clone();
        *line = serde_json::to_string(&n).unwrap();
    }
    std::fs::write(ev.join("entries.jsonl"), lines.join("\n") + "\n").unwrap();
    reseal_manifest(&ev);
    let out = verify(&ev, &pubkey);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("(rewritten)"), "{stdout}");
}

#[tokio::test]
async fn a_range_of_one_organisation_verifies_and_a_damaged_copy_does_not() {
    let h = harness_with(|c| c.audit.every = 1).await;
    for i in 0..6 {
        h.submit(&h.agent, low_action(&format!("r-{i}"))).await;
    }
    let db = h.server.db_path().to_owned();
    let dir = h.dir;
    h.server.shutdown().await.unwrap();
    let pubkey = dir.path().join("k.pub");
    let out = run(&["audit", "pubkey", "--db", db.to_str().unwrap()]);
    std::fs::write(&pubkey, &out.stdout).unwrap();
    let ev = dir.path().join("range");
    let out = ascend(
        &[
            "audit",
            "export",
            "--org",
            "1",
            "--from",
            "3",
            "--to",
            "7",
            "--evidence",
        ],
        &[&ev, Path::new("--db"), &db],
    );
    assert!(out.status.success(), "{out:?}");
    let m: Manifest =
        serde_json::from_slice(&std::fs::read(ev.join("manifest.json")).unwrap()).unwrap();
    assert_eq!((m.orgs[0].from, m.orgs[0].to, m.entries), (3, 7, 5));
    let out = ascend(
        &["audit", "verify", "--evidence"],
        &[&ev, Path::new("--pubkey"), &pubkey],
    );
    assert!(out.status.success(), "{out:?}");
    // A line dropped from the copy (manifest left as exported).
    let entries = std::fs::read_to_string(ev.join("entries.jsonl")).unwrap();
    let kept: Vec<&str> = entries
        .lines()
        .filter(|l| !l.contains("\"seq\":5,"))
        .collect();
    assert_eq!(kept.len(), 4);
    std::fs::write(ev.join("entries.jsonl"), kept.join("\n") + "\n").unwrap();
    let out = ascend(
        &["audit", "verify", "--evidence"],
        &[&ev, Path::new("--pubkey"), &pubkey],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("does not match the manifest"), "{stdout}");
    assert!(stdout.contains("BROKEN at entry 5 (missing)"), "{stdout}");
}
