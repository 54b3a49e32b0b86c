//! Load run of `ascend-server`: decisions per second and client-side p50/p99 latency of
//! `POST /api/v1/actions/submit` over loopback, with the durable audit trail (SQLite WAL, group
//! commit, audit entry in the same transaction as the action).
//!
//! `cargo run --release -p ascend-bench --bin server_load [-- SEQ_REQUESTS CONC_REQUESTS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use ascend_server::{Role, ServerConfig, start};
use serde_json::json;

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn report(name: &str, mut lat: Vec<Duration>, wall: Duration) {
    lat.sort_unstable();
    let n = lat.len();
    println!(
        "{name}: {n} decisions in {:.2} s = {:.0} decisions/s; latency p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        pct(&lat, 0.50).as_secs_f64() * 1e6,
        pct(&lat, 0.99).as_secs_f64() * 1e6,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
    );
}

async fn one(http: &reqwest::Client, url: &str, key: &str, i: u64) -> Duration {
    let body = json!({
        "agent_id": format!("load-agent-{}", i % 8), "agent_name": "Load Agent",
        "action_type": "database.read", "resource": "product_categories",
        "action_details": {"query": "list", "i": i},
        "risk_indicators": {"data_classification": "public"}
    });
    let t = Instant::now();
    let r = http
        .post(url)
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), 200, "submit failed");
    let _ = r.bytes().await.expect("body");
    t.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seq_n = args.first().copied().unwrap_or(5_000);
    let conc_n = args.get(1).copied().unwrap_or(40_000);
    let dir = std::env::temp_dir().join(format!("ascend-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let server = start(ServerConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        db_path: dir.join("load.db"),
        // Load from one key far above the default request rates; the limits are not measured.
        org_rate: 0.0,
        agent_rate: 0.0,
        ..ServerConfig::default()
    })
    .await
    .expect("server");
    let key = server
        .create_api_key("default", Role::Agent, None)
        .await
        .expect("key");
    let url = format!("{}/api/v1/actions/submit", server.base_url());
    let http = ascend_server::webhooks::http_client(Duration::from_secs(30)).expect("client");

    for i in 0..2_000 {
        one(&http, &url, &key, i).await;
    }

    // Concurrency 1.
    let mut lat = Vec::with_capacity(seq_n as usize);
    let t = Instant::now();
    for i in 0..seq_n {
        lat.push(one(&http, &url, &key, 10_000_000 + i).await);
    }
    report("concurrency 1 ", lat, t.elapsed());

    // Concurrency 16.
    let conc = 16u64;
    let per = conc_n / conc;
    let (http, url, key) = (Arc::new(http), Arc::new(url), Arc::new(key));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conc {
        let (http, url, key) = (http.clone(), url.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per as usize);
            for i in 0..per {
                lat.push(one(&http, &url, &key, 20_000_000 + w * per + i).await);
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("task"));
    }
    report("concurrency 16", lat, t.elapsed());

    server.shutdown().await.expect("shutdown");
    let reports = ascend_server::cli::audit::verify_file(&dir.join("load.db")).expect("verify");
    for r in &reports {
        println!("audit org {}: ok={} entries={}", r.org_id, r.ok, r.entries);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
