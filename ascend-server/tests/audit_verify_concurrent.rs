//! Audit verification while the chain grows: the head and the entries are read from one
//! snapshot, so appends racing with a verification never look like a broken chain.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{harness_with, low_action};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_never_reports_a_false_break_during_appends() {
    // Writers append as fast as they can: request rates off (they are tested in limits.rs).
    let h = Arc::new(
        harness_with(|c| {
            c.agent_rate = 0.0;
            c.org_rate = 0.0;
        })
        .await,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let appended = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for w in 0..3 {
        let (h, stop, appended) = (h.clone(), stop.clone(), appended.clone());
        writers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (s, body) = h.submit(&h.agent, low_action(&format!("racer-{w}"))).await;
                assert_eq!(s, 200, "{body}");
                appended.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Verify over and over while the writers append; every report must be OK.
    let mut last_count = 0u64;
    let mut runs = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while runs < 40 || appended.load(Ordering::Relaxed) < 50 {
        let (s, report) = h.get("/api/v1/audit/verify", &h.reviewer).await;
        assert_eq!(s, 200, "{report}");
        assert_eq!(report["ok"], true, "false break while appending: {report}");
        let n = report["entries"].as_u64().unwrap_or_default();
        assert!(n >= last_count, "the chain shrank: {last_count} -> {n}");
        last_count = n;
        runs += 1;
        assert!(
            std::time::Instant::now() < deadline,
            "too slow: {runs} verifications, {} appends",
            appended.load(Ordering::Relaxed)
        );
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    // The final walk sees every entry: the appends, key creations and the start entry.
    let (_, report) = h.get("/api/v1/audit/verify", &h.reviewer).await;
    assert_eq!(report["ok"], true, "{report}");
    let total = report["entries"].as_u64().unwrap_or_default();
    assert!(
        total >= appended.load(Ordering::Relaxed) as u64,
        "{total} entries for {} appends",
        appended.load(Ordering::Relaxed)
    );
    // Offline verification of the same file (streamed, one snapshot) agrees.
    let reports = ascend_server::cli::audit::verify_file(h.server.db_path()).unwrap();
    assert!(reports.iter().all(|r| r.ok), "{reports:?}");
    let h = Arc::into_inner(h).expect("no other owner");
    h.server.shutdown().await.unwrap();
}

#[test]
fn streaming_verifier_matches_the_in_memory_walk() {
    use ascend_server::audit::{ChainVerifier, GENESIS, entry_hash, verify_chain};
    use ascend_server::model::{AuditEntry, ChainHead};

    let mut entries = Vec::new();
    let mut prev = GENESIS;
    for seq in 1..=5i64 {
        let hash = entry_hash(7, seq, "t", "k", "a", "s", "{}", &prev);
        entries.push(AuditEntry {
            row_id: seq,
            org_id: 7,
            seq,
            ts: "t".into(),
            kind: "k".into(),
            actor: "a".into(),
            subject: "s".into(),
            payload: "{}".into(),
            prev_hash: hex(&prev),
            hash: hex(&hash),
        });
        prev = hash;
    }
    let head = ChainHead {
        org_id: 7,
        seq: 5,
        hash: hex(&prev),
    };
    let walk = |entries: &[AuditEntry], head: &ChainHead| {
        let mut v = ChainVerifier::new(7, Some(head.clone()));
        for e in entries {
            if let Some(r) = v.push(e, |s| entries.iter().any(|x| x.seq == s)) {
                return r;
            }
        }
        v.finish()
    };
    assert!(walk(&entries, &head).ok);
    assert_eq!(
        walk(&entries, &head),
        verify_chain(7, &entries, Some(&head))
    );
    // A gap and a swap are reported the same way by both.
    let mut gap = entries.clone();
    gap.remove(2);
    assert_eq!(walk(&gap, &head), verify_chain(7, &gap, Some(&head)));
    assert!(!walk(&gap, &head).ok);
    let mut swapped = entries.clone();
    swapped.swap(1, 2);
    assert_eq!(
        walk(&swapped, &head),
        verify_chain(7, &swapped, Some(&head))
    );
    assert!(!walk(&swapped, &head).ok);
}

fn hex(b: &[u8; 32]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
