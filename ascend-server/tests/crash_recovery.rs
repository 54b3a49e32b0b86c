//! kill -9 during a burst of submits: every acknowledged decision is in the audit trail after a
//! restart, and the chain verifies.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ascend_server::cli::audit::verify_file;
use serde_json::{Value, json};

struct Server {
    child: Child,
    url: String,
    admin: Option<String>,
}

fn spawn(db: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut url = None;
    let mut admin = None;
    // "listening on", the admin key (first start only), then "database:".
    for _ in 0..5 {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(u) = line.strip_prefix("ascend server listening on ") {
            url = Some(u.trim().to_owned());
        }
        if let Some(k) = line.strip_prefix("admin key (shown once, store it now): ") {
            admin = Some(k.trim().to_owned());
        }
        if line.starts_with("database:") {
            break;
        }
    }
    Server {
        child,
        url: url.expect("server printed its address"),
        admin,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_loses_no_acknowledged_decision() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut server = spawn(&db);
    let key = server.admin.clone().expect("admin key on first start");
    let http = reqwest::Client::new();
    let acked = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (http, url, key, acked, stop) = (
            http.clone(),
            server.url.clone(),
            key.clone(),
            acked.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let body = json!({"agent_id": format!("crash-{t}"), "agent_name": "c",
                    "action_type": "database.read", "resource": "product_categories",
                    "action_details": {"i": i}});
                let r = http
                    .post(format!("{url}/api/v1/actions/submit"))
                    .header("x-api-key", &key)
                    .json(&body)
                    .send()
                    .await;
                let Ok(r) = r else { break };
                if r.status() != 200 {
                    break;
                }
                let Ok(v) = r.json::<Value>().await else {
                    break;
                };
                acked.lock().unwrap().push(v["id"].as_i64().unwrap());
            }
        }));
    }
    // Let the burst run until a good number of decisions was acknowledged, then kill -9.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 300 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 50, "only {} acknowledged", acked.len());

    // Restart on the same file: it opens, and the chain verifies.
    let mut again = spawn(&db);
    assert!(again.admin.is_none(), "the admin key is printed only once");
    let r = http
        .get(format!("{}/health", again.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    again.child.kill().unwrap();
    again.child.wait().unwrap();

    let reports = verify_file(&db).unwrap();
    assert!(reports.iter().all(|r| r.ok), "{reports:?}");
    let c = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = c
        .prepare("SELECT subject FROM audit_log WHERE kind = ?1")
        .unwrap();
    let decided = ascend_server::store::sqlite::codec::kind_value("action.decided");
    let audited: std::collections::HashSet<String> = stmt
        .query_map([decided], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for id in &acked {
        assert!(
            audited.contains(&format!("action:{id}")),
            "acknowledged action {id} missing"
        );
    }
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM actions", [], |r| r.get(0))
        .unwrap();
    assert!(n as usize >= acked.len());
}
