//! Limits of the HTTP server against a hostile client: slowloris and connection floods do not
//! starve `/health` and are closed by the server; slow bodies time out; request rates per
//! organisation and per agent; the per-organisation storage quota.
//!
//! Connection counts stay in the low hundreds (client and server ends live in this process), well
//! within a CI file-descriptor limit of 1024.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{harness_with, low_action};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// `GET /health` on a fresh connection: the time to the complete answer.
async fn health_on_fresh_connection(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer))
        .await
        .expect("/health answered within 5 s")
        .expect("read");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    started.elapsed()
}

/// p99 of `n` `/health` requests made one after another on fresh connections.
async fn health_p99(addr: SocketAddr, n: usize) -> Duration {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        times.push(health_on_fresh_connection(addr).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    times.sort();
    times[(n * 99 / 100).min(n - 1)]
}

/// Wait until the server closes `read` (end of stream or reset); how long that took.
async fn closed_by_server(mut read: tokio::net::tcp::OwnedReadHalf, limit: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let wait = async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, wait)
        .await
        .expect("the server closed the connection in time");
    started.elapsed()
}

/// A client sending a request head one byte every 100 ms, never finishing it. Resolves when the
/// server has closed the connection, with how long it stayed open.
fn slowloris(addr: SocketAddr, limit: Duration) -> JoinHandle<Duration> {
    tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (read, mut write) = stream.into_split();
        let writer = tokio::spawn(async move {
            let head = b"POST /api/v1/actions/submit HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
            for b in head.iter().chain(std::iter::repeat(&b'a')) {
                if write.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let open_for = closed_by_server(read, limit).await;
        writer.abort();
        open_for
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_and_health_keeps_answering() {
    let h = harness_with(|c| {
        c.header_timeout = Duration::from_secs(1);
        c.max_connections = 150;
    })
    .await;
    let addr = h.server.addr();
    let baseline = health_p99(addr, 5).await;

    let attack: Vec<_> = (0..200)
        .map(|_| slowloris(addr, Duration::from_secs(4)))
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let p99 = health_p99(addr, 20).await;
    assert!(
        p99 < Duration::from_millis(100),
        "/health p99 {p99:?} during the slowloris attack (baseline {baseline:?})"
    );
    // Each slow connection is closed within the header timeout (some earlier: beyond the cap
    // the oldest idle connection makes room for a new one).
    for a in attack {
        let open_for = a.await.unwrap();
        assert!(
            open_for < Duration::from_millis(2000),
            "a slow connection stayed open {open_for:?} with a 1 s header timeout"
        );
    }
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_does_not_starve_health() {
    let h = harness_with(|c| {
        c.header_timeout = Duration::from_secs(2);
        c.max_connections = 100;
    })
    .await;
    let addr = h.server.addr();
    // 300 idle sockets: three times the cap.
    let mut idle = Vec::new();
    for _ in 0..300 {
        let (read, write) = TcpStream::connect(addr).await.unwrap().into_split();
        idle.push((read, write));
    }
    let p99 = health_p99(addr, 20).await;
    assert!(
        p99 < Duration::from_millis(100),
        "/health p99 {p99:?} with 300 idle connections open"
    );
    // Every idle socket is closed by the server: the oldest at once to make room, the rest by
    // the header timeout.
    let closers: Vec<_> = idle
        .into_iter()
        .map(|(read, write)| {
            tokio::spawn(async move {
                let open_for = closed_by_server(read, Duration::from_secs(4)).await;
                drop(write);
                open_for
            })
        })
        .collect();
    for c in closers {
        c.await.unwrap();
    }
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_body_is_refused_with_408() {
    let h = harness_with(|c| c.body_timeout = Duration::from_millis(300)).await;
    let mut s = TcpStream::connect(h.server.addr()).await.unwrap();
    let head = format!(
        "POST /api/v1/actions/submit HTTP/1.1\r\nHost: localhost\r\nX-API-Key: {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"agent_id\":",
        h.agent
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"detail\""), "{text}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A complete request on a fresh connection is unaffected.
    let (status, _) = h.submit(&h.agent, low_action("fast-agent")).await;
    assert_eq!(status, 200);
    h.server.shutdown().await.unwrap();
}

/// `GET /api/v1/kill-switch/status` with `key`: status and `Retry-After`.
async fn status_call(h: &common::Harness, key: &str) -> (u16, Option<u64>, serde_json::Value) {
    let resp = h
        .http
        .get(h.url("/api/v1/kill-switch/status"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    (status, retry_after, resp.json().await.unwrap())
}

#[tokio::test]
async fn request_rates_per_agent_and_per_organisation_answer_429() {
    let h = harness_with(|c| {
        c.agent_rate = 0.2;
        c.agent_burst = 3;
        c.org_rate = 0.2;
        c.org_burst = 5;
    })
    .await;
    let a = h
        .server
        .create_api_key("acme", ascend_server::Role::Agent, Some("agent-a"))
        .await
        .unwrap();
    let b = h
        .server
        .create_api_key("acme", ascend_server::Role::Agent, Some("agent-b"))
        .await
        .unwrap();
    let other_org = h
        .server
        .create_api_key("globex", ascend_server::Role::Agent, Some("agent-a"))
        .await
        .unwrap();

    // agent-a: its burst of 3, then 429 with Retry-After and the usual error body.
    for _ in 0..3 {
        assert_eq!(status_call(&h, &a).await.0, 200);
    }
    let (status, retry_after, body) = status_call(&h, &a).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry_after.is_some_and(|s| s >= 1), "{retry_after:?}");
    assert!(
        body["detail"].as_str().unwrap().contains("agent-a"),
        "{body}"
    );

    // agent-b of the same organisation is not held back by agent-a...
    assert_eq!(status_call(&h, &b).await.0, 200);
    assert_eq!(status_call(&h, &b).await.0, 200);
    // ...until the organisation's burst of 5 is spent (refused requests took nothing).
    let (status, retry_after, body) = status_call(&h, &b).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry_after.is_some());
    assert!(
        body["detail"].as_str().unwrap().contains("organisation"),
        "{body}"
    );

    // Another organisation (with an agent of the same name) and unauthenticated routes are
    // unaffected.
    for _ in 0..3 {
        assert_eq!(status_call(&h, &other_org).await.0, 200);
    }
    assert_eq!(
        h.http.get(h.url("/health")).send().await.unwrap().status(),
        200
    );
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_storage_quota_refuses_new_records_with_507() {
    let h = harness_with(|c| c.org_quota_entries = 12).await;
    let key = h
        .server
        .create_api_key("small", ascend_server::Role::Agent, None)
        .await
        .unwrap();
    let mut accepted = 0;
    let refusal = loop {
        let (status, body) = h.submit(&key, low_action("quota-agent")).await;
        match status {
            200 => accepted += 1,
            507 => break body,
            s => panic!("unexpected {s}: {body}"),
        }
        assert!(accepted <= 12, "the quota of 12 entries was not enforced");
    };
    assert!(accepted >= 1);
    let detail = refusal["detail"].as_str().unwrap();
    assert!(detail.contains("quota"), "{detail}");
    // Over quota, reads still work, and the other organisations are unaffected.
    let (status, _) = h.get("/api/v1/actions", &key).await;
    assert_eq!(status, 200);
    let (status, body) = h.submit(&h.agent, low_action("other-agent")).await;
    assert_eq!(status, 200, "{body}");
    h.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_export_is_streamed_in_pages_and_complete() {
    let h = harness_with(|c| {
        c.agent_rate = 0.0;
        c.org_rate = 0.0;
    })
    .await;
    // More entries than two export pages (500 each), written concurrently.
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let http = h.http.clone();
            let url = h.url("/api/v1/actions/submit");
            let key = h.agent.clone();
            tokio::spawn(async move {
                for _ in 0..140 {
                    let resp = http
                        .post(&url)
                        .header("x-api-key", &key)
                        .json(&low_action(&format!("export-agent-{t}")))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 200);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let (_, page) = h.get("/api/v1/audit?limit=1", &h.reviewer).await;
    let total = page["total"].as_u64().unwrap();
    assert!(total > 1000, "{total}");

    let resp = h
        .http
        .get(h.url("/api/v1/audit/export"))
        .header("x-api-key", &h.reviewer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Streamed: no length known up front.
    assert!(resp.headers().get("content-length").is_none());
    let text = resp.text().await.unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, total);
    for (i, pair) in lines.windows(2).enumerate() {
        assert_eq!(
            pair[0]["seq"].as_i64().unwrap() + 1,
            pair[1]["seq"].as_i64().unwrap(),
            "at {i}"
        );
        assert_eq!(pair[0]["hash"], pair[1]["prev_hash"], "chain broken at {i}");
    }
    // An agent may not export (refused before anything is streamed).
    let (status, _) = h.get("/api/v1/audit/export", &h.agent).await;
    assert_eq!(status, 403);
    h.server.shutdown().await.unwrap();
}
