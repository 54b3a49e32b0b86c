//! Three `ascend serve` processes on one PostgreSQL database, sharing no memory: approvals and
//! kill switches cross replicas, and a replica SIGKILLed under load loses no acknowledged
//! decision.
//!
//! Needs PostgreSQL (`common::pg`): skipped without it unless `ASCEND_PG_TESTS=1` (CI).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{low_action, pending_action};

/// One `ascend serve` process.
struct Replica {
    child: Child,
    url: String,
    admin_key: Option<String>,
}

impl Replica {
    fn start(db: &str) -> Replica {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ascend"))
            .args(["serve", "--bind", "127.0.0.1:0", "--db", db])
            .args(["--org-rate", "0", "--agent-rate", "0"])
            .current_dir(dir.path())
            .env_remove("ASCEND_DB")
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ascend serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut url, mut admin_key) = (None, None);
        for line in lines.by_ref() {
            let line = line.expect("read serve output");
            if let Some(u) = line.strip_prefix("ascend server listening on ") {
                url = Some(u.trim().to_owned());
            }
            if let Some(k) = line.strip_prefix("admin key (shown once, store it now): ") {
                admin_key = Some(k.trim().to_owned());
            }
            if line.starts_with("database: ") {
                break;
            }
        }
        // Keep draining stdout so the process never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        std::mem::forget(dir);
        Replica {
            child,
            url: url.expect("the server printed its address"),
            admin_key,
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Cluster {
    replicas: Vec<Replica>,
    http: reqwest::Client,
    admin: String,
    agent: String,
    reviewer: String,
}

impl Cluster {
    /// Replica A first (it migrates the database and creates the admin key), then B and C.
    async fn start(db: &str) -> Cluster {
        common::tls();
        let a = Replica::start(db);
        let admin = a
            .admin_key
            .clone()
            .expect("first start prints the admin key");
        let replicas = vec![a, Replica::start(db), Replica::start(db)];
        assert!(
            replicas[1].admin_key.is_none(),
            "one admin key per database"
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let mut c = Cluster {
            replicas,
            http,
            admin,
            agent: String::new(),
            reviewer: String::new(),
        };
        // Keys created on A must work on C at once (the key ring follows the database).
        c.agent = c
            .new_key(
                0,
                json!({"role": "agent", "name": "agent", "owner": "agent-team", "fleet": true}),
            )
            .await;
        // A reviewer behind whom nobody of the agent key stands (separation of duties),
        // created on B by a second admin made on A.
        let second = c
            .new_key(
                0,
                json!({"role": "admin", "name": "second admin", "owner": "bob"}),
            )
            .await;
        let (s, v) = c
            .post(
                1,
                "/api/v1/keys",
                &second,
                json!({"role": "reviewer", "name": "reviewer", "owner": "alice"}),
            )
            .await;
        assert_eq!(s, 201, "a key created on A works on B at once: {v}");
        c.reviewer = v["key"].as_str().expect("key").to_owned();
        c
    }

    async fn new_key(&self, on: usize, body: Value) -> String {
        let (s, v) = self.post(on, "/api/v1/keys", &self.admin, body).await;
        assert_eq!(s, 201, "{v}");
        v["key"].as_str().expect("key").to_owned()
    }

    async fn send(
        &self,
        on: usize,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.replicas[on].url))
            .header("x-api-key", key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, on: usize, path: &str, key: &str, body: Value) -> (u16, Value) {
        self.send(on, reqwest::Method::POST, path, key, Some(body))
            .await
    }

    async fn get(&self, on: usize, path: &str, key: &str) -> (u16, Value) {
        self.send(on, reqwest::Method::GET, path, key, None).await
    }
}

fn database() -> Option<String> {
    common::pg::database()
}

/// An agent on C waits on a pending action; a reviewer approves it on B; C's event stream
/// pushes the decision and C's status answers approved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_on_another_replica_resumes_the_waiting_call() {
    let Some(db) = database() else { return };
    let c = Cluster::start(&db).await;
    // The push stream of replica C, opened before the submit.
    let mut stream = c
        .http
        .get(format!("{}/api/v1/events/stream", c.replicas[2].url))
        .header("x-api-key", &c.agent)
        .send()
        .await
        .expect("event stream");
    assert_eq!(stream.status().as_u16(), 200);
    let (s, v) = c
        .post(
            2,
            "/api/v1/actions/submit",
            &c.agent,
            pending_action("ag-wait"),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "pending_approval", "{v}");
    let id = v["id"].as_i64().expect("id");
    let (s, v) = c
        .post(
            1,
            &format!("/api/v1/actions/{id}/approve"),
            &c.reviewer,
            json!({"comments": "ok"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // The decision arrives on C's stream.
    let pushed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut seen = String::new();
        while let Some(chunk) = stream.chunk().await.expect("stream chunk") {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: decision") && seen.contains(&format!("\"action_id\":\"{id}\""))
            {
                return seen;
            }
        }
        panic!("stream ended before the decision: {seen}");
    })
    .await
    .expect("the decision is pushed by replica C within 10 s");
    assert!(pushed.contains("approved"), "{pushed}");
    let (s, v) = c
        .get(2, &format!("/api/v1/actions/{id}/status"), &c.agent)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "approved", "{v}");
}

/// A kill switch set on A is refused by C within p99 ≤ 100 ms (and released likewise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_on_one_replica_halts_agents_on_another_within_100ms() {
    let Some(db) = database() else { return };
    let c = Cluster::start(&db).await;
    let mut halt = Vec::new();
    for round in 0..20 {
        let agent = format!("ag-kill-{round}");
        let (s, v) = c
            .post(2, "/api/v1/actions/submit", &c.agent, low_action(&agent))
            .await;
        assert_eq!(s, 200, "allowed before the switch: {v}");
        let t0 = Instant::now();
        let (s, v) = c
            .post(
                0,
                "/api/v1/kill-switch/trigger",
                &c.admin,
                json!({"agent_id": agent, "reason": "test"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        loop {
            let (s, v) = c
                .post(2, "/api/v1/actions/submit", &c.agent, low_action(&agent))
                .await;
            if s == 403 {
                assert!(v.to_string().contains("KILL_SWITCH"), "{v}");
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "C never refused: {v}"
            );
        }
        halt.push(t0.elapsed());
        let (s, v) = c
            .post(
                0,
                "/api/v1/kill-switch/release",
                &c.admin,
                json!({"agent_id": agent}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    halt.sort();
    let p99 = halt[halt.len() - 1];
    println!(
        "kill switch A → refused on C: p50 {:?}, max (p99 of 20) {:?}",
        halt[halt.len() / 2],
        p99
    );
    assert!(
        p99 <= Duration::from_millis(100),
        "p99 {p99:?} > 100 ms: {halt:?}"
    );
}

/// 3 replicas × 8 clients × 2,000 idempotent submits; replica B is SIGKILLed mid-run and its
/// clients retry on the others with the same idempotency keys. No acknowledged decision is
/// lost, no key has two actions, and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_decision() {
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 2_000;
    let Some(db) = database() else { return };
    let mut c = Cluster::start(&db).await;
    let urls: Arc<Vec<String>> = Arc::new(c.replicas.iter().map(|r| r.url.clone()).collect());
    let dead = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(HashMap::<String, i64>::new()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for replica in 0..urls.len() {
        for client in 0..CLIENTS {
            let (urls, dead, acked) = (urls.clone(), dead.clone(), acked.clone());
            let (http, key) = (c.http.clone(), c.agent.clone());
            tasks.push(tokio::spawn(async move {
                let mut retries = 0u32;
                for i in 0..PER_CLIENT {
                    let idem = format!("r{replica}-c{client}-{i}");
                    let mut on = replica;
                    let id = loop {
                        if on == 1 && dead.load(Ordering::Acquire) {
                            on = 2;
                        }
                        let sent = http
                            .post(format!("{}/api/v1/actions/submit", urls[on]))
                            .header("x-api-key", &key)
                            .header("idempotency-key", &idem)
                            .json(&low_action(&format!("ag-load-{replica}-{client}")))
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status().as_u16() == 200 => {
                                let v: Value = r.json().await.expect("decision body");
                                break v["id"].as_i64().expect("id");
                            }
                            // Refused connection, reset, or a 5xx of a dying replica: retry
                            // the same key elsewhere.
                            _ => {
                                retries += 1;
                                on = (on + 1) % urls.len();
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    };
                    if let Ok(mut m) = acked.lock() {
                        m.insert(idem, id);
                    }
                }
                retries
            }));
        }
    }
    // SIGKILL replica B once about a third of the submits are acknowledged.
    let total = urls.len() * CLIENTS * PER_CLIENT;
    loop {
        let n = acked.lock().map(|m| m.len()).unwrap_or(0);
        if n >= total / 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.replicas[1].child.kill().expect("SIGKILL replica B");
    dead.store(true, Ordering::Release);
    let mut retries = 0;
    for t in tasks {
        retries += t.await.expect("client task");
    }
    let elapsed = started.elapsed();
    let acked = acked.lock().expect("acked").clone();
    assert_eq!(acked.len(), total);
    println!(
        "{total} submits on 3 replicas (one SIGKILLed) in {elapsed:?} ({:.0}/s), {retries} retries",
        total as f64 / elapsed.as_secs_f64()
    );
    // Every acknowledged decision is in the database, under its key, exactly once.
    let (client, conn) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT idempotency_key, id FROM actions WHERE idempotency_key LIKE 'idem:r%-c%-%'",
            &[],
        )
        .await
        .expect("query");
    let mut stored: HashMap<String, i64> = HashMap::new();
    for r in rows {
        let (k, id): (String, i64) = (r.get(0), r.get(1));
        // The header's key is stored in its own namespace.
        let k = k.strip_prefix("idem:").unwrap_or(&k).to_owned();
        assert!(
            stored.insert(k.clone(), id).is_none(),
            "two actions for key {k}"
        );
    }
    for (k, id) in &acked {
        assert_eq!(
            stored.get(k),
            Some(id),
            "acknowledged decision {k} → {id} lost"
        );
    }
    assert_eq!(
        stored.len(),
        total,
        "an unacknowledged action was stored twice"
    );
    // One unbroken chain, verified through a surviving replica.
    let (s, v) = c.get(2, "/api/v1/audit/verify", &c.admin).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
}

/// Three replicas started at once on an empty database: exactly one creates (and prints) the
/// first admin key, and the migrations run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_started_together_create_one_admin_key() {
    let Some(db) = database() else { return };
    let starts: Vec<_> = (0..3)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || Replica::start(&db))
        })
        .collect();
    let replicas: Vec<Replica> = starts
        .into_iter()
        .map(|t| t.join().expect("replica start"))
        .collect();
    let keys: Vec<&String> = replicas
        .iter()
        .filter_map(|r| r.admin_key.as_ref())
        .collect();
    assert_eq!(keys.len(), 1, "one admin key for the database: {keys:?}");
    // It works on every replica.
    common::tls();
    let http = reqwest::Client::new();
    for r in &replicas {
        let s = http
            .get(format!("{}/api/v1/keys", r.url))
            .header("x-api-key", keys[0].as_str())
            .send()
            .await
            .expect("request")
            .status();
        assert_eq!(s.as_u16(), 200);
    }
}

/// A replica whose listening connection is cut reconnects and catches up: a kill switch set
/// on A while C was not listening still halts C's agents.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_lost_its_feed_catches_up() {
    let Some(db) = database() else { return };
    let c = Cluster::start(&db).await;
    let (client, conn) = tokio_postgres::connect(&db, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let cut = client
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
            &[],
        )
        .await
        .expect("terminate the listeners");
    assert_eq!(cut.len(), 3, "one listening connection per replica");
    // Set at once, while the replicas are reconnecting (their first retry waits 100 ms).
    let (s, v) = c
        .post(
            0,
            "/api/v1/kill-switch/trigger",
            &c.admin,
            json!({"agent_id": "ag-feed", "reason": "feed test"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let t0 = Instant::now();
    loop {
        let (s, _) = c
            .post(2, "/api/v1/actions/submit", &c.agent, low_action("ag-feed"))
            .await;
        if s == 403 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "C never caught up with the kill switch"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("caught up after the feed was cut: {:?}", t0.elapsed());
    // And it follows changes again afterwards.
    let t1 = Instant::now();
    let (s, v) = c
        .post(
            0,
            "/api/v1/kill-switch/release",
            &c.admin,
            json!({"agent_id": "ag-feed"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    loop {
        let (s, _) = c
            .post(2, "/api/v1/actions/submit", &c.agent, low_action("ag-feed"))
            .await;
        if s == 200 {
            break;
        }
        assert!(t1.elapsed() < Duration::from_secs(5), "C stopped following");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
