//! Webhook egress guard: private, loopback, link-local and metadata addresses are refused at
//! configure time (literal IPs) and at delivery (after DNS resolution, before connecting) unless
//! allow-listed; the test endpoint reports delivered / failed only.
//!
//! Every address used here is loopback: refused addresses are refused before any connection,
//! which the receivers below check by counting the connections they accept.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ascend_server::{Role, start};
use common::{Harness, harness_with};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback HTTP receiver answering every request with `status`; its port and the number of
/// connections it accepted.
async fn receiver(status: u16) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = Vec::new();
                // Read the head and the (small) body, then answer.
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, accepted)
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

async fn configure(h: &Harness, url: &str) -> (u16, Value) {
    h.post(
        "/api/webhooks/configure",
        &h.agent,
        json!({"url": url, "events": ["action.denied"]}),
    )
    .await
}

async fn test_delivery(h: &Harness, id: &str) -> Value {
    let (s, v) = h
        .send(
            reqwest::Method::POST,
            &format!("/api/webhooks/{id}/test"),
            Some(&h.agent),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

fn id_of(hook: &Value) -> String {
    hook["webhook_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn blocked_literal_addresses_are_refused_at_configure_time() {
    // 127.0.0.1 is allow-listed by the harness; nothing else is.
    let h = harness_with(|_| {}).await;
    for url in [
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/hook",
        "https://[fd00:ec2::254]/latest",
        "https://100.100.100.200/meta",
        "https://[::ffff:169.254.169.254]/x",
        "https://0.0.0.0/x",
        "https://192.168.1.1/x",
        "http://127.0.0.2:9/hook",
    ] {
        let (s, v) = configure(&h, url).await;
        assert_eq!(s, 422, "{url}: {v}");
        assert!(v["errors"]["url"].is_string(), "{url}: {v}");
    }
    // An update to a blocked address is refused too.
    let (port, _) = receiver(200).await;
    let (s, hook) = configure(&h, &format!("http://127.0.0.1:{port}/hook")).await;
    assert_eq!(s, 200, "{hook}");
    let (s, v) = h
        .send(
            reqwest::Method::PUT,
            &format!("/api/webhooks/{}", id_of(&hook)),
            Some(&h.agent),
            Some(json!({"url": "https://169.254.169.254/latest"})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_before_connecting() {
    let h = harness_with(|c| c.webhook_allow_hosts.clear()).await;
    let (port, accepted) = receiver(200).await;
    // A host name passes configure (it is checked once resolved, at delivery).
    let (s, hook) = configure(&h, &format!("http://localhost:{port}/hook")).await;
    assert_eq!(s, 200, "{hook}");
    let t = test_delivery(&h, &id_of(&hook)).await;
    assert_eq!(t["success"], false, "{t}");
    assert!(t["status_code"].is_null(), "{t}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "the receiver was reached"
    );
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn allow_listed_loopback_is_delivered_to() {
    let h = harness_with(|_| {}).await; // 127.0.0.1/32 allow-listed
    let (port, accepted) = receiver(200).await;
    for host in ["127.0.0.1", "localhost"] {
        let (s, hook) = configure(&h, &format!("http://{host}:{port}/hook")).await;
        assert_eq!(s, 200, "{hook}");
        let t = test_delivery(&h, &id_of(&hook)).await;
        assert_eq!(t["success"], true, "{host}: {t}");
        assert_eq!(t["status_code"], 200, "{host}: {t}");
        assert!(t["response_time_ms"].as_f64().is_some(), "{t}");
    }
    // localhost resolves to ::1 too; only the allow-listed 127.0.0.1 was used.
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn open_and_closed_ports_look_the_same() {
    let h = harness_with(|_| {}).await;
    let (open, accepted) = receiver(404).await;
    let closed = closed_port().await;
    let mut answers = Vec::new();
    for port in [open, closed] {
        let (s, hook) = configure(&h, &format!("http://127.0.0.1:{port}/hook")).await;
        assert_eq!(s, 200, "{hook}");
        answers.push(test_delivery(&h, &id_of(&hook)).await);
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "the open port was tried"
    );
    assert_eq!(answers[0], answers[1], "an open and a closed port differ");
    assert_eq!(answers[0]["success"], false);
    assert!(answers[0]["status_code"].is_null());
    h.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stored_url_is_checked_again_at_delivery() {
    common::tls();
    let dir = tempfile::tempdir().unwrap();
    let (port, accepted) = receiver(200).await;
    // Configured while 127.0.0.1 was allow-listed...
    let server = start(common::config(dir.path())).await.unwrap();
    let agent = server
        .create_api_key("default", Role::Agent, None)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let hook: Value = http
        .post(format!("{}/api/webhooks/configure", server.base_url()))
        .header("x-api-key", &agent)
        .json(&json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["action.denied"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = id_of(&hook);
    server.shutdown().await.unwrap();
    // ...then the operator removes it from the allow list.
    let mut config = common::config(dir.path());
    config.webhook_allow_hosts.clear();
    let server = start(config).await.unwrap();
    // (The same key: a fleet agent key sees only the webhooks it created.)
    let t: Value = http
        .post(format!("{}/api/webhooks/{id}/test", server.base_url()))
        .header("x-api-key", &agent)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["success"], false, "{t}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "the receiver was reached"
    );
    server.shutdown().await.unwrap();
}
