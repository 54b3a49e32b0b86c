//! `ascend serve` with `OTEL_EXPORTER_OTLP_ENDPOINT`: the decision's spans are exported over
//! OTLP/HTTP as children of the caller's `traceparent` (one trace from the agent's governed
//! call to the server's decision). The collector is a plain HTTP receiver on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Accept OTLP requests; send (path, body) of each.
async fn collector(listener: TcpListener, out: mpsc::UnboundedSender<(String, Vec<u8>)>) {
    while let Ok((mut sock, _)) = listener.accept().await {
        let out = out.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            loop {
                // Headers.
                let end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    let mut chunk = [0u8; 4096];
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < end + len {
                    let mut chunk = [0u8; 4096];
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let body = buf[end..end + len].to_vec();
                buf.drain(..end + len);
                let _ = out.send((path, body));
                let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                if sock.write_all(ok).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_spans_join_the_callers_trace() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, mut received) = mpsc::unbounded_channel();
    tokio::spawn(collector(listener, tx));

    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ascend"))
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("otlp.db"))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ascend serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let (mut url, mut key) = (None, None);
    for line in lines.by_ref() {
        let line = line.expect("output");
        if let Some(u) = line.strip_prefix("ascend server listening on ") {
            url = Some(u.trim().to_owned());
        }
        if let Some(k) = line.strip_prefix("admin key (shown once, store it now): ") {
            key = Some(k.trim().to_owned());
        }
        if line.starts_with("database: ") {
            break;
        }
    }
    let (url, key) = (url.expect("address"), key.expect("admin key"));
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/actions/submit"))
        .header("x-api-key", &key)
        .header("traceparent", format!("00-{trace_id}-{parent}-01"))
        .json(&serde_json::json!({
            "agent_id": "otlp-agent", "agent_name": "a", "action_type": "database.read",
            "resource": "product_categories", "action_details": {}
        }))
        .send()
        .await
        .expect("submit");
    assert_eq!(r.status().as_u16(), 200);
    // The exported span carries the caller's trace id and, as its parent, the caller's span id
    // (both as raw bytes in the protobuf).
    let want_trace = hex::decode(trace_id).expect("hex");
    let want_parent = hex::decode(parent).expect("hex");
    let found = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some((path, body)) = received.recv().await {
            let has = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
            if path == "/v1/traces"
                && has(&want_trace)
                && has(&want_parent)
                && has(b"ascend_api")
                && has(b"ascend.decide")
                && has(b"ascend.store_commit")
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        found,
        "no OTLP span of the caller's trace reached the collector"
    );
}
