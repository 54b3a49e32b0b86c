//! End to end, when things break: the control plane is down (fail-closed refuses; fail-open
//! proceeds and delivers the skipped-audit record once the server is back), and a reply is
//! lost after the server committed (the client's retry reuses the idempotency key, so the
//! server answers with the same action and records it once). Each test ends by verifying the
//! audit hash chain.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ascend_examples::harness::{ControlPlane, id_text, wait_until};
use ascend_runtime::global::scope;
use ascend_runtime::{Error, FailMode, governed};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

static RUNS: AtomicUsize = AtomicUsize::new(0);

/// A low-risk read: allowed whenever the server answers.
#[governed(
    action_type = "database.read",
    resource = "order_status",
    resource_id = order_id,
    risk_indicators(data_classification = "public")
)]
async fn order_status(order_id: &str) -> Result<String, Error> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{order_id}: shipped"))
}

static CLOSED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// The same read, counted separately (tests run in parallel).
#[governed(
    action_type = "database.read",
    resource = "order_status",
    resource_id = order_id,
    risk_indicators(data_classification = "public")
)]
async fn order_status_closed(order_id: &str) -> Result<String, Error> {
    CLOSED_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{order_id}: shipped"))
}

async fn verify_and_stop(plane: ControlPlane) {
    let reviewer = plane.reviewer().expect("reviewer");
    // Outcomes are reported in the background: let them land, then verify the whole chain.
    assert!(
        reviewer
            .wait_for_outcomes(plane.agent_id(), Duration::from_secs(15))
            .await
            .expect("outcomes"),
        "an allowed action's outcome never reached the server"
    );
    let v = reviewer.verify_audit().await.expect("verify");
    assert!(v.ok, "audit chain broken: {}", v.detail);
    assert!(v.entries > 0);
    plane.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_refuses_while_the_server_is_down() {
    let mut plane = ControlPlane::start("e2e-closed").await.expect("server");
    let client = plane
        .client_builder()
        .fail_mode(FailMode::Closed)
        .max_retries(1)
        .build()
        .expect("client");
    assert!(
        scope(client.clone(), order_status_closed("o1"))
            .await
            .is_ok()
    );
    assert_eq!(CLOSED_RUNS.load(Ordering::SeqCst), 1);
    // Let the outcome of o1 (reported in the background) land before pulling the plug.
    let reviewer = plane.reviewer().expect("reviewer");
    assert!(
        reviewer
            .wait_for_outcomes("e2e-closed", Duration::from_secs(15))
            .await
            .expect("outcomes")
    );

    plane.stop().await.expect("stop");
    let r = scope(client.clone(), order_status_closed("o2")).await;
    assert!(
        matches!(&r, Err(e) if e.is_unavailable()),
        "fail-closed must refuse as unavailable, got {r:?}"
    );
    assert_eq!(
        CLOSED_RUNS.load(Ordering::SeqCst),
        1,
        "the tool did not run"
    );
    assert_eq!(
        client.pending_fail_open_records(),
        0,
        "fail-closed queues nothing"
    );

    plane.restart().await.expect("restart");
    let reviewer = plane.reviewer().expect("reviewer");
    let actions = reviewer
        .actions(Some("e2e-closed"), None, 100)
        .await
        .expect("list");
    assert_eq!(
        actions.len(),
        1,
        "only the call made while the server was up: {actions:?}"
    );
    assert_eq!(actions[0]["resource_id"], "o1");
    verify_and_stop(plane).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_proceeds_and_delivers_the_record_later() {
    let mut plane = ControlPlane::start("e2e-open").await.expect("server");
    let client = plane
        .client_builder()
        .fail_mode(FailMode::Open)
        .max_retries(1)
        // Short recovery so the call after the restart reaches the server.
        .circuit_breaker(5, Duration::from_millis(300))
        .build()
        .expect("client");
    assert!(scope(client.clone(), order_status("p1")).await.is_ok());
    let reviewer = plane.reviewer().expect("reviewer");
    assert!(
        reviewer
            .wait_for_outcomes("e2e-open", Duration::from_secs(15))
            .await
            .expect("outcomes")
    );

    plane.stop().await.expect("stop");
    let r = scope(client.clone(), order_status("p2")).await;
    assert_eq!(
        r.ok().as_deref(),
        Some("p2: shipped"),
        "fail-open runs the tool"
    );
    assert_eq!(client.pending_fail_open_records(), 1);

    plane.restart().await.expect("restart");
    tokio::time::sleep(Duration::from_millis(400)).await; // let the breaker half-open
    assert!(scope(client.clone(), order_status("p3")).await.is_ok());
    let c = client.clone();
    // The queue empties when the delivery starts; the record is on the server soon after.
    let queued = wait_until(Duration::from_secs(15), || {
        c.pending_fail_open_records() == 0
    })
    .await;
    assert!(
        queued.is_some(),
        "the fail-open record never left the queue"
    );

    // On the server: p1, the record of p2 (marked fail_open, with its outcome), p3.
    let reviewer = plane.reviewer().expect("reviewer");
    let fail_open = reviewer
        .wait_for_fail_open_records("e2e-open", 1, Duration::from_secs(15))
        .await
        .expect("records");
    let actions = reviewer
        .actions(Some("e2e-open"), None, 100)
        .await
        .expect("list");
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert_eq!(fail_open.len(), 1, "exactly one fail-open record");
    let rec = &fail_open[0];
    assert_eq!(rec["resource_id"], "p2");
    assert!(
        rec["request"]["context"]["fail_open_action_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("fail_open_"))
    );
    // The tool's outcome travelled with the record.
    let id = id_text(&rec["id"]);
    let mut outcome = None;
    for _ in 0..150 {
        outcome = reviewer.action(&id).await.expect("action")["outcome"]
            .as_str()
            .map(str::to_owned);
        if outcome.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outcome.as_deref(), Some("completed"));
    verify_and_stop(plane).await;
}

// ─── a proxy that loses one reply ───────────────────────────────────────────────────────────

/// What the proxy saw.
#[derive(Default)]
struct ProxyLog {
    /// The `Idempotency-Key` of every submit that went through.
    submit_keys: Vec<String>,
    /// The server's reply that was never delivered.
    dropped_reply: Option<String>,
}

/// A TCP proxy in front of the server. The first reply to `POST /api/v1/actions/submit` is
/// read from the server — so the server has committed the action — and then, instead of being
/// forwarded, the client's connection is closed: to the client, the server died after commit
/// but before replying.
async fn start_lossy_proxy(upstream: std::net::SocketAddr) -> (String, Arc<Mutex<ProxyLog>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log = Arc::new(Mutex::new(ProxyLog::default()));
    let drops_left = Arc::new(AtomicUsize::new(1));
    let log2 = log.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let log = log2.clone();
            let drops_left = drops_left.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                proxy_connection(client, server, log, drops_left).await;
            });
        }
    });
    (format!("http://{addr}"), log)
}

async fn proxy_connection(
    client: TcpStream,
    server: TcpStream,
    log: Arc<Mutex<ProxyLog>>,
    drops_left: Arc<AtomicUsize>,
) {
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut server_rd, mut server_wr) = server.into_split();
    // Requests seen on this connection (HTTP/1.1 keep-alive: several in a row).
    let requests = Arc::new(Mutex::new(String::new()));
    let req2 = requests.clone();
    let log2 = log.clone();
    let upstream = tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("POST /api/v1/actions/submit") {
                let key = text
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("idempotency-key")
                            .then(|| value.trim().to_owned())
                    })
                    .unwrap_or_default();
                if let Ok(mut l) = log2.lock() {
                    l.submit_keys.push(key);
                }
            }
            if let Ok(mut r) = req2.lock() {
                r.push_str(&text);
            }
            if server_wr.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match server_rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let is_submit_reply = requests
            .lock()
            .map(|r| r.contains("POST /api/v1/actions/submit"))
            .unwrap_or(false);
        if is_submit_reply
            && drops_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| d.checked_sub(1))
                .is_ok()
        {
            // Keep what the server answered (to compare ids), then hang up on the client.
            let mut reply = String::from_utf8_lossy(&buf[..n]).into_owned();
            if let Ok(Ok(m)) =
                tokio::time::timeout(Duration::from_millis(200), server_rd.read(&mut buf)).await
            {
                reply.push_str(&String::from_utf8_lossy(&buf[..m]));
            }
            if let Ok(mut l) = log.lock() {
                l.dropped_reply = Some(reply);
            }
            upstream.abort();
            return; // dropping both halves closes the client's connection without a reply
        }
        if client_wr.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    upstream.abort();
}

/// The JSON body of a raw HTTP/1.1 reply.
fn reply_body(raw: &str) -> Value {
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    // Tolerate chunked encoding: take the outermost JSON object.
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map(|e| e + 1).unwrap_or(body.len());
    serde_json::from_str(&body[start..end]).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_a_lost_reply_returns_the_same_action_once() {
    let plane = ControlPlane::start("e2e-idem").await.expect("server");
    let base = plane.base_url().trim_start_matches("http://").to_owned();
    let upstream: std::net::SocketAddr = base.parse().expect("addr");
    let (proxy_url, log) = start_lossy_proxy(upstream).await;
    let client = plane
        .client_builder()
        .api_url(proxy_url)
        .max_retries(3)
        .build()
        .expect("client");

    let r = scope(client.clone(), order_status("i1")).await;
    assert_eq!(
        r.ok().as_deref(),
        Some("i1: shipped"),
        "the retry succeeded"
    );

    let (keys, dropped) = {
        let l = log.lock().expect("log");
        (l.submit_keys.clone(), l.dropped_reply.clone())
    };
    assert_eq!(keys.len(), 2, "one submit, one retry: {keys:?}");
    assert!(!keys[0].is_empty(), "the submit carries an Idempotency-Key");
    assert_eq!(keys[0], keys[1], "the retry reuses the idempotency key");
    let dropped = reply_body(dropped.as_deref().expect("a reply was dropped"));
    let first_id = id_text(&dropped["action_id"]);
    assert!(
        !first_id.is_empty() && first_id != "null",
        "the server committed: {dropped}"
    );

    // One action, with the id of the lost reply; the client reported the outcome under it,
    // so the client received that same id from the retry.
    let reviewer = plane.reviewer().expect("reviewer");
    let actions = reviewer
        .actions(Some("e2e-idem"), None, 100)
        .await
        .expect("list");
    assert_eq!(
        actions.len(),
        1,
        "the retry created no second action: {actions:?}"
    );
    assert_eq!(id_text(&actions[0]["id"]), first_id);
    let mut outcome = None;
    for _ in 0..150 {
        outcome = reviewer.action(&first_id).await.expect("action")["outcome"]
            .as_str()
            .map(str::to_owned);
        if outcome.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(outcome.as_deref(), Some("completed"));

    // One audit entry for the decision.
    let subject = format!("action:{first_id}");
    let decided = reviewer
        .audit_events()
        .await
        .expect("audit")
        .iter()
        .filter(|e| e["resource"] == subject.as_str() && e["event_type"] == "action.decided")
        .count();
    assert_eq!(decided, 1, "the audit holds one decision for the action");
    verify_and_stop(plane).await;
}
