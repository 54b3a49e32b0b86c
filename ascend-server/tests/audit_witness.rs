//! The checkpoint witness webhook: every signed checkpoint also goes to a receiver outside the
//! server (here on 127.0.0.1), signed like the other webhooks; a truncation that the database
//! and the local checkpoint log were both made to agree with still shows against what the
//! witness received.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ascend_server::Role;
use ascend_server::audit::checkpoint::{self, Checkpoint, Signer};
use ascend_server::audit::{Problem, VerifyReport};
use ascend_server::cli::audit::{VerifyOptions, verify_file, verify_file_with};
use ascend_server::config::beside;
use ascend_server::store::sqlite::read_audit;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use rusqlite::{Connection, params};
use serde_json::Value;

const SECRET: &str = "whsec_witness_test";

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

async fn witness() -> (String, Received) {
    let rec = Received::default();
    let r2 = rec.clone();
    let app = axum::Router::new().route(
        "/witness",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let r = r2.clone();
            async move {
                r.0.lock().unwrap().push((headers, body));
                (StatusCode::OK, "{}")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/witness"), rec)
}

/// The checkpoints received with a valid signature (each delivery's HMAC checked).
fn received(rec: &Received) -> Vec<Checkpoint> {
    let mut out = Vec::new();
    for (headers, body) in rec.0.lock().unwrap().iter() {
        let ts = headers["x-timestamp"].to_str().unwrap();
        let sig = headers["x-signature"].to_str().unwrap();
        assert_eq!(ascend_server::webhooks::signature(SECRET, ts, body), sig);
        assert_eq!(headers["x-webhook-event"], "audit.checkpoint");
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["event"], "audit.checkpoint");
        for c in v["data"]["checkpoints"].as_array().unwrap() {
            out.push(serde_json::from_value(c.clone()).unwrap());
        }
    }
    out
}

fn first_broken(reports: &[VerifyReport]) -> Option<&VerifyReport> {
    reports.iter().find(|r| !r.ok)
}

#[tokio::test]
async fn the_witness_receives_signed_checkpoints_and_exposes_a_truncation() {
    let (url, rec) = witness().await;
    let h = harness_with(|c| {
        c.audit.every = 1;
        c.webhook_allow_hosts = vec!["127.0.0.1/32".parse().unwrap()];
        c.audit.witness_url = Some(url.clone());
        c.audit.witness_secret = Some(SECRET.into());
    })
    .await;
    for i in 0..2 {
        let (s, v) = h.submit(&h.agent, low_action(&format!("w-{i}"))).await;
        assert_eq!(s, 200, "{v}");
    }
    for _ in 0..3 {
        h.server
            .create_api_key("default", Role::Agent, None)
            .await
            .unwrap();
    }
    let db = h.server.db_path().to_owned();
    let last = |db: &std::path::Path| -> i64 {
        Connection::open(db)
            .unwrap()
            .query_row("SELECT MAX(seq) FROM audit_log WHERE org_id = 1", [], |r| {
                r.get(0)
            })
            .unwrap()
    };
    let end = last(&db);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !received(&rec).iter().any(|c| c.org_id == 1 && c.seq == end) {
        assert!(
            std::time::Instant::now() < deadline,
            "the witness never got entry {end}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let dir = h.dir;
    h.server.shutdown().await.unwrap();

    // Every checkpoint the witness holds is signed by the server's key and they chain.
    let key = Signer::load_or_create(&beside(&db, "audit-key"))
        .unwrap()
        .verifying_key();
    let got = received(&rec);
    assert!(got.iter().all(|c| c.signature_ok(&key)));
    let trusted = checkpoint::check(&key, &[("witness", &got)], "witness");
    assert!(trusted.problems.is_empty(), "{:?}", trusted.problems);
    assert!(trusted.of(1).iter().any(|s| s.seq == end));
    let witness_log = dir.path().join("witness.jsonl");
    let lines: String = got.iter().map(|c| c.to_line() + "\n").collect();
    std::fs::write(&witness_log, lines).unwrap();
    assert!(verify_file(&db).unwrap().iter().all(|r| r.ok));

    // Someone with the database and the local log drops the last three entries and every
    // checkpoint of them, in both places, and lowers the head: the local files agree.
    let keep = end - 3;
    let c = Connection::open(&db).unwrap();
    c.execute(
        "DELETE FROM audit_log WHERE org_id = 1 AND seq > ?1",
        [keep],
    )
    .unwrap();
    c.execute(
        "DELETE FROM audit_checkpoints WHERE org_id = 1 AND seq > ?1",
        [keep],
    )
    .unwrap();
    let e = read_audit(&c, 1, 0, 1000)
        .unwrap()
        .into_iter()
        .find(|e| e.seq == keep)
        .unwrap();
    c.execute(
        "UPDATE audit_heads SET seq = ?1, hash = ?2, updated_at = ?3 WHERE org_id = 1",
        params![keep, e.hash, e.ts],
    )
    .unwrap();
    drop(c);
    let log = beside(&db, "checkpoints.jsonl");
    let (local, _) = checkpoint::read_log(&log).unwrap();
    let kept: String = local
        .iter()
        .filter(|c| c.org_id != 1 || c.seq <= keep)
        .map(|c| c.to_line() + "\n")
        .collect();
    std::fs::write(&log, kept).unwrap();
    let reports = verify_file(&db).unwrap();
    assert!(
        first_broken(&reports).is_none(),
        "the local files were made consistent: {reports:#?}"
    );

    // Against what the witness received, the truncation shows.
    let reports = verify_file_with(
        &db,
        &VerifyOptions {
            checkpoints: Some(witness_log),
            pubkey: Some(key),
        },
    )
    .unwrap();
    let r = first_broken(&reports).expect("the truncation is reported");
    assert!(
        r.findings
            .iter()
            .any(|f| f.problem == Problem::Truncated && f.seq == keep + 1),
        "{r:#?}"
    );
}

#[test]
fn a_witness_needs_a_secret_and_a_permitted_url() {
    let mut c = ascend_server::config::ServerConfig::default();
    c.audit.witness_url = Some("http://127.0.0.1:9/witness".into());
    assert!(ascend_server::webhooks::witness(&c).is_err(), "no secret");
    c.audit.witness_secret = Some(SECRET.into());
    assert!(
        ascend_server::webhooks::witness(&c).is_err(),
        "loopback without webhook_allow_hosts"
    );
    c.webhook_allow_hosts = vec!["127.0.0.1/32".parse().unwrap()];
    let hook = ascend_server::webhooks::witness(&c).unwrap().unwrap();
    assert_eq!(hook.url, "http://127.0.0.1:9/witness");
}
