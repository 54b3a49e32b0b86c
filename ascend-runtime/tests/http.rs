//! The client against a real HTTP server on loopback: status mapping, retries, Retry-After,
//! idempotency, circuit breaker, fail modes, kill switch, headers and signing.

mod common;

use std::time::{Duration, Instant};

use ascend_runtime::signing::canonical_json;
use ascend_runtime::{AgentAction, Decision, Error, EvaluateOptions, FailMode};
use common::{KEY, Reply, Server, dead_url, eventually};
use serde_json::json;

const SUBMIT: &str = "POST /api/v1/actions/submit";

fn action() -> AgentAction {
    AgentAction::new("database.write", "customer_profiles").with_resource_id("c42")
}

type Check = fn(&Error) -> bool;

#[tokio::test]
async fn every_status_maps_to_its_error() {
    let server = Server::start().await;
    let client = server
        .client()
        .max_retries(0)
        .circuit_breaker(0, Duration::from_secs(1))
        .build()
        .unwrap();
    let cases: Vec<(Reply, Check)> = vec![
        (Reply::status(400), |e| {
            matches!(e, Error::Validation { .. })
        }),
        (Reply::status(401), |e| {
            matches!(e, Error::Authentication { .. })
        }),
        (Reply::status(403), |e| matches!(e, Error::Forbidden { .. })),
        (Reply::status(404), |e| matches!(e, Error::NotFound { .. })),
        (Reply::status(408), |e| matches!(e, Error::Timeout { .. })),
        (Reply::status(409), |e| matches!(e, Error::Conflict { .. })),
        (
            Reply::Json(
                422,
                json!({"detail": "bad", "errors": {"resource": "required"}}),
            ),
            |e| matches!(e, Error::Validation { field_errors, .. } if field_errors["resource"] == "required"),
        ),
        (
            Reply::Raw(429, vec![("retry-after", "7".into())], b"{}".to_vec()),
            |e| matches!(e, Error::RateLimited { retry_after: Some(d) } if *d == Duration::from_secs(7)),
        ),
        (Reply::status(500), |e| {
            matches!(e, Error::Server { status: 500, .. })
        }),
        (Reply::status(501), |e| {
            matches!(e, Error::Server { status: 501, .. })
        }),
        (Reply::status(502), |e| {
            matches!(e, Error::Server { status: 502, .. })
        }),
        (Reply::status(503), |e| {
            matches!(e, Error::Server { status: 503, .. })
        }),
        (Reply::status(504), |e| {
            matches!(e, Error::Server { status: 504, .. })
        }),
        (Reply::status(418), |e| matches!(e, Error::Protocol(_))),
        (Reply::Raw(200, vec![], b"{not json".to_vec()), |e| {
            matches!(e, Error::Protocol(_))
        }),
        (Reply::ok(json!({"id": 3, "decision": "perhaps"})), |e| {
            matches!(e, Error::Protocol(_))
        }),
    ];
    for (i, (reply, check)) in cases.into_iter().enumerate() {
        let route = format!("GET /api/v1/actions/s{i}/status");
        server.script(&route, [reply.clone()]);
        let err = client
            .get_action_status(&format!("s{i}"))
            .await
            .unwrap_err();
        assert!(check(&err), "case {i} ({reply:?}) gave {err:?}");
        assert_eq!(
            server.count(&route),
            1,
            "case {i}: one attempt without retries"
        );
    }
}

#[tokio::test]
async fn governance_403_is_a_denied_decision() {
    let server = Server::start().await;
    let client = server.client().build().unwrap();
    let body = json!({"detail": {"error": "governance_violation: MCP_SERVER_UNREGISTERED_DENY",
                                 "detail": "MCP server not registered", "correlation_id": "c"}});
    server.script(
        SUBMIT,
        [Reply::Json(403, body.clone()), Reply::Json(403, body)],
    );
    let d = client
        .evaluate_action(action(), EvaluateOptions::default())
        .await
        .unwrap();
    assert!(d.is_denied());
    let err = client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Denied(d) if d.reason.as_deref() == Some("MCP server not registered"))
    );
}

#[tokio::test]
async fn retries_keep_one_idempotency_key_and_correlation_id() {
    let server = Server::start().await;
    let client = server.client().max_retries(3).build().unwrap();
    server.script(
        SUBMIT,
        [
            Reply::status(503),
            Reply::Drop,
            Reply::Truncated,
            Reply::decision(9, "allowed"),
        ],
    );
    let d = client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap();
    assert_eq!(d.action_id, "9");
    let seen = server.seen_on(SUBMIT);
    assert_eq!(seen.len(), 4);
    let keys: Vec<_> = seen
        .iter()
        .map(|s| s.header("idempotency-key").unwrap())
        .collect();
    let cids: Vec<_> = seen
        .iter()
        .map(|s| s.header("x-correlation-id").unwrap())
        .collect();
    assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
    assert!(cids.iter().all(|c| c == &cids[0]), "{cids:?}");

    // A new logical call gets a new key.
    client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap();
    let last = server.seen_on(SUBMIT).pop().unwrap();
    assert_ne!(last.header("idempotency-key").unwrap(), keys[0]);
}

#[tokio::test]
async fn retry_count_and_backoff_are_bounded() {
    let server = Server::start().await;
    let client = server
        .client()
        .max_retries(2)
        .retry_backoff(Duration::from_millis(30), Duration::from_millis(60))
        .build()
        .unwrap();
    server.default("GET /api/v1/actions/x/status", Reply::status(500));
    let started = Instant::now();
    let err = client.get_action_status("x").await.unwrap_err();
    assert!(matches!(err, Error::Server { status: 500, .. }));
    let seen = server.seen_on("GET /api/v1/actions/x/status");
    assert_eq!(seen.len(), 3, "1 attempt + 2 retries");
    for pair in seen.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap < Duration::from_millis(60 + 400),
            "backoff gap {gap:?} above cap + slack"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));

    // Non-retryable errors are not retried.
    server.default("GET /api/v1/actions/y/status", Reply::status(404));
    assert!(client.get_action_status("y").await.is_err());
    assert_eq!(server.count("GET /api/v1/actions/y/status"), 1);
}

#[tokio::test]
async fn retry_after_is_honoured_and_capped() {
    let server = Server::start().await;
    let client = server
        .client()
        .max_retries(2)
        .retry_after_cap(Duration::from_millis(300))
        .build()
        .unwrap();
    let date = httpdate_in(Duration::from_secs(30));
    server.script(
        "GET /api/v1/actions/r/status",
        [
            Reply::Raw(429, vec![("retry-after", "1".into())], b"{}".to_vec()),
            Reply::Raw(429, vec![("retry-after", date)], b"{}".to_vec()),
            Reply::decision(5, "allowed"),
        ],
    );
    let d = client.get_action_status("r").await.unwrap();
    assert_eq!(d.decision, Decision::Allowed);
    let seen = server.seen_on("GET /api/v1/actions/r/status");
    assert_eq!(seen.len(), 3);
    for pair in seen.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(250),
            "Retry-After not honoured: {gap:?}"
        );
        assert!(
            gap < Duration::from_millis(900),
            "Retry-After not capped: {gap:?}"
        );
    }

    // Exhausted: RateLimited with the server's value.
    server.default(
        "GET /api/v1/actions/q/status",
        Reply::Raw(429, vec![("retry-after", "0".into())], b"{}".to_vec()),
    );
    let err = client.get_action_status("q").await.unwrap_err();
    assert!(matches!(
        err,
        Error::RateLimited {
            retry_after: Some(_)
        }
    ));
    assert_eq!(server.count("GET /api/v1/actions/q/status"), 3);
}

fn httpdate_in(d: Duration) -> String {
    // RFC 7231 IMF-fixdate, via chrono (the runtime parses it with httpdate).
    (chrono::Utc::now() + chrono::Duration::from_std(d).unwrap())
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

#[tokio::test]
async fn circuit_breaker_opens_half_opens_and_closes() {
    let server = Server::start().await;
    let client = server
        .client()
        .max_retries(0)
        .circuit_breaker(3, Duration::from_millis(300))
        .circuit_probe_successes(2)
        .build()
        .unwrap();
    let route = "GET /api/v1/actions/c/status";
    server.script(route, (0..3).map(|_| Reply::status(502)));
    server.default(route, Reply::decision(1, "allowed"));
    for _ in 0..3 {
        assert!(matches!(
            client.get_action_status("c").await,
            Err(Error::Server { .. })
        ));
    }
    // Open: refused locally, fast, no request.
    let t = Instant::now();
    let err = client.get_action_status("c").await.unwrap_err();
    assert!(
        matches!(err, Error::CircuitOpen { retry_in } if retry_in <= Duration::from_millis(300))
    );
    assert!(t.elapsed() < Duration::from_millis(100));
    let err = client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::CircuitOpen { .. }));
    assert_eq!(server.count(route), 3);
    assert_eq!(server.count(SUBMIT), 0);

    tokio::time::sleep(Duration::from_millis(350)).await;
    // Half-open: probes go through; two successes close it.
    client.get_action_status("c").await.unwrap();
    client.get_action_status("c").await.unwrap();
    assert_eq!(server.count(route), 5);
    // Closed: a single failure no longer opens it.
    server.script(route, [Reply::status(500)]);
    assert!(client.get_action_status("c").await.is_err());
    client.get_action_status("c").await.unwrap();
}

#[tokio::test]
async fn timeouts_and_connection_errors() {
    let server = Server::start().await;
    let client = server
        .client()
        .max_retries(1)
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    server.default(
        "GET /api/v1/actions/slow/status",
        Reply::Delay(
            Duration::from_millis(1500),
            Box::new(Reply::decision(1, "allowed")),
        ),
    );
    let err = client.get_action_status("slow").await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(server.count("GET /api/v1/actions/slow/status"), 2);

    let dead = ascend_runtime::AscendClient::builder()
        .ignore_env()
        .api_key(KEY)
        .api_url(dead_url())
        .max_retries(2)
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(10))
        .build()
        .unwrap();
    let err = dead.get_action_status("1").await.unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");

    server.default("GET /api/v1/actions/cut/status", Reply::Truncated);
    let err = client.get_action_status("cut").await.unwrap_err();
    assert!(matches!(err, Error::Connection { .. }), "{err:?}");
}

#[tokio::test]
async fn tls_errors_are_never_fail_open() {
    let server = Server::start().await;
    // Speak TLS to a plain-HTTP server: the handshake fails.
    let client = ascend_runtime::AscendClient::builder()
        .ignore_env()
        .api_key(KEY)
        .api_url(format!("https://localhost:{}", server.addr.port()))
        .fail_mode(FailMode::Open)
        .max_retries(2)
        .build()
        .unwrap();
    let err = client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    assert_eq!(client.pending_fail_open_records(), 0);
}

#[tokio::test]
async fn fail_closed_never_allows() {
    let server = Server::start().await;
    let client = server.client().max_retries(1).build().unwrap();
    assert_eq!(client.fail_mode(), FailMode::Closed);
    server.default(SUBMIT, Reply::status(503));
    let err = client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Server { status: 503, .. }));
    let err = client
        .evaluate_action(action(), EvaluateOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_unavailable());

    let dead = ascend_runtime::AscendClient::builder()
        .ignore_env()
        .api_key(KEY)
        .api_url(dead_url())
        .max_retries(0)
        .build()
        .unwrap();
    assert!(matches!(
        dead.authorize(action(), EvaluateOptions::default()).await,
        Err(Error::Connection { .. })
    ));
}

#[tokio::test]
async fn fail_open_allows_queues_then_flushes() {
    let server = Server::start().await;
    let client = server
        .client()
        .max_retries(0)
        .fail_mode(FailMode::Open)
        .build()
        .unwrap();
    server.script(SUBMIT, [Reply::status(503), Reply::status(500)]);
    let d = client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap();
    assert!(d.is_allowed());
    assert_eq!(d.conditions, vec!["fail_open_mode".to_owned()]);
    assert!(d.action_id.starts_with("fail_open_asc_"));
    client.report_outcome(
        &d.action_id,
        ascend_runtime::Outcome::Completed {
            duration: Duration::from_millis(3),
        },
    );
    let d2 = client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap();
    assert!(d2.conditions.contains(&"fail_open_mode".to_owned()));
    assert_eq!(client.pending_fail_open_records(), 2);

    // The server answers again: the next call flushes the records.
    let ok = client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap();
    assert!(ok.conditions.is_empty());
    eventually(Duration::from_secs(5), || {
        client.pending_fail_open_records() == 0
    })
    .await;
    eventually(Duration::from_secs(5), || server.count(SUBMIT) == 5).await;
    let delivered: Vec<_> = server
        .seen_on(SUBMIT)
        .into_iter()
        .filter(|s| s.json()["context"]["fail_open"] == json!(true))
        .collect();
    assert_eq!(delivered.len(), 2);
    assert_eq!(
        delivered[0].header("idempotency-key").unwrap(),
        delivered[0].json()["context"]["fail_open_action_id"]
            .as_str()
            .unwrap()
    );
    assert!(
        delivered
            .iter()
            .any(|s| s.json()["context"]["fail_open_action_id"] == json!(d.action_id))
    );
    // The outcome reported while queued follows its record.
    eventually(Duration::from_secs(5), || {
        server.count("POST /api/agent-action/1/complete") >= 1
    })
    .await;
}

#[tokio::test]
async fn fail_open_queue_overflow_is_counted() {
    let server = Server::start().await;
    let client = server
        .client()
        .max_retries(0)
        .fail_mode(FailMode::Open)
        .fail_open_queue_capacity(2)
        .build()
        .unwrap();
    server.default(SUBMIT, Reply::status(503));
    for _ in 0..5 {
        client
            .authorize(action(), EvaluateOptions::default())
            .await
            .unwrap();
    }
    assert_eq!(client.pending_fail_open_records(), 2);
    assert_eq!(client.dropped_fail_open_records(), 3);
}

#[tokio::test]
async fn fail_open_never_on_denial_timeout_validation_or_auth() {
    let server = Server::start().await;
    let client = server
        .client()
        .max_retries(0)
        .circuit_breaker(0, Duration::from_secs(1))
        .fail_mode(FailMode::Open)
        .build()
        .unwrap();
    server.script(SUBMIT, [Reply::decision(1, "denied")]);
    assert!(matches!(
        client.authorize(action(), EvaluateOptions::default()).await,
        Err(Error::Denied(_))
    ));

    server.script(SUBMIT, [Reply::decision(2, "pending")]);
    server.default(
        "GET /api/v1/actions/2/status",
        Reply::decision(2, "pending"),
    );
    let err = client
        .authorize(action(), EvaluateOptions::wait(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ApprovalTimeout { ref action_id, .. } if action_id == "2"),
        "{err:?}"
    );

    // Pending while the server goes down: still a timeout, never allowed.
    server.script(SUBMIT, [Reply::decision(3, "pending")]);
    server.default("GET /api/v1/actions/3/status", Reply::status(503));
    let err = client
        .authorize(action(), EvaluateOptions::wait(Duration::from_millis(200)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApprovalTimeout { .. }), "{err:?}");

    let before = server.count(SUBMIT);
    let err = client
        .authorize(
            AgentAction::new("database.write", "  "),
            EvaluateOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Validation { ref field_errors, .. } if field_errors.contains_key("resource"))
    );
    assert_eq!(server.count(SUBMIT), before, "validation makes no request");

    server.script(SUBMIT, [Reply::status(401)]);
    assert!(matches!(
        client.authorize(action(), EvaluateOptions::default()).await,
        Err(Error::Authentication { .. })
    ));
    server.script(SUBMIT, [Reply::ok(json!({"decision": "rejected-ish"}))]);
    assert!(matches!(
        client.authorize(action(), EvaluateOptions::default()).await,
        Err(Error::Protocol(_))
    ));
    assert_eq!(client.pending_fail_open_records(), 0);
}

#[tokio::test]
async fn pending_then_approved_by_polling() {
    let server = Server::start().await;
    let client = server.client().build().unwrap();
    server.script(SUBMIT, [Reply::decision(12, "pending")]);
    server.script(
        "GET /api/v1/actions/12/status",
        [
            Reply::decision(12, "pending"),
            Reply::Json(200, json!({"id": 12, "status": "escalated"})),
        ],
    );
    server.default(
        "GET /api/v1/actions/12/status",
        Reply::ok(json!({"id": 12, "status": "approved", "reviewed_by": "ann@example.com"})),
    );
    let d = client
        .authorize(action(), EvaluateOptions::wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(d.approved_by.as_deref(), Some("ann@example.com"));
    assert_eq!(server.count("GET /api/v1/actions/12/status"), 3);

    // Without waiting, a pending decision is returned as-is by evaluate and refused by authorize.
    server.script(
        SUBMIT,
        [
            Reply::decision(13, "pending"),
            Reply::decision(14, "pending"),
        ],
    );
    let d = client
        .evaluate_action(action(), EvaluateOptions::no_wait())
        .await
        .unwrap();
    assert!(d.is_pending());
    assert_eq!(d.approval_request_id.as_deref(), Some("77"));
    assert!(matches!(
        client.authorize(action(), EvaluateOptions::no_wait()).await,
        Err(Error::PendingApproval { action_id, approval_request_id })
            if action_id == "14" && approval_request_id.as_deref() == Some("77")
    ));
}

#[tokio::test]
async fn kill_switch_blocks_without_network() {
    let server = Server::start().await;
    let client = server
        .client()
        .kill_switch_watch(Duration::from_millis(30), 3)
        .build()
        .unwrap();
    server.default(
        "GET /api/sdk/kill-switch/status",
        Reply::ok(json!({"blocked": true, "reason": "incident 7"})),
    );
    client.start_kill_switch_watch();
    client.start_kill_switch_watch(); // idempotent
    eventually(Duration::from_secs(5), || client.is_blocked()).await;
    let err = client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::KillSwitch { reason } if reason == "incident 7"));
    let err = client
        .authorize_blocking(action(), EvaluateOptions::default())
        .unwrap_err();
    assert!(matches!(err, Error::KillSwitch { .. }));
    assert_eq!(
        server.count(SUBMIT),
        0,
        "blocked calls never reach the network"
    );

    server.default(
        "GET /api/sdk/kill-switch/status",
        Reply::ok(json!({"blocked": false})),
    );
    eventually(Duration::from_secs(5), || !client.is_blocked()).await;
    client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap();

    // A 403 governance body never clears a block.
    client.stop_kill_switch_watch();
}

#[tokio::test]
async fn failing_watch_blocks_fail_closed_clients() {
    let server = Server::start().await;
    let client = server
        .client()
        .max_retries(0)
        .kill_switch_watch(Duration::from_millis(20), 3)
        .build()
        .unwrap();
    server.default("GET /api/sdk/kill-switch/status", Reply::status(500));
    client.start_kill_switch_watch();
    eventually(Duration::from_secs(5), || client.is_blocked()).await;
    let err = client
        .authorize(action(), EvaluateOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::KillSwitch { reason } if reason.contains("unavailable")),
        "{err:?}"
    );

    // Recovers when the status can be read again.
    server.default(
        "GET /api/sdk/kill-switch/status",
        Reply::ok(json!({"blocked": false})),
    );
    eventually(Duration::from_secs(5), || !client.is_blocked()).await;

    // Fail-open clients keep running.
    let open = server
        .client()
        .max_retries(0)
        .fail_mode(FailMode::Open)
        .kill_switch_watch(Duration::from_millis(20), 3)
        .build()
        .unwrap();
    server.default("GET /api/sdk/kill-switch/status", Reply::status(500));
    open.start_kill_switch_watch();
    eventually(Duration::from_secs(5), || {
        server.count("GET /api/sdk/kill-switch/status") > 12
    })
    .await;
    assert!(!open.is_blocked());
    open.stop_kill_switch_watch();
    client.stop_kill_switch_watch();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_stream_delivers_kill_switch_and_decisions() {
    let server = Server::start().await;
    server.enable_stream();
    let client = server
        .client()
        .event_stream(true)
        .poll_interval(Duration::from_secs(3))
        .kill_switch_watch(Duration::from_secs(3), 3)
        .build()
        .unwrap();
    client.start_kill_switch_watch();
    eventually(Duration::from_secs(5), || server.stream_clients() == 1).await;

    // A pending decision resolved by a pushed event, well before the 3 s poll interval.
    server.script(SUBMIT, [Reply::decision(21, "pending")]);
    server.script(
        "GET /api/v1/actions/21/status",
        [Reply::decision(21, "pending")],
    );
    server.default(
        "GET /api/v1/actions/21/status",
        Reply::decision(21, "allowed"),
    );
    let c = client.clone();
    let waiter = tokio::spawn(async move {
        c.authorize(action(), EvaluateOptions::wait(Duration::from_secs(20)))
            .await
    });
    eventually(Duration::from_secs(5), || {
        server.count("GET /api/v1/actions/21/status") == 1
    })
    .await;
    let pushed = Instant::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.push(
        "decision",
        json!({"action_id": "21", "decision": "allowed"}),
    );
    let d = waiter.await.unwrap().unwrap();
    assert!(d.is_allowed());
    assert!(
        pushed.elapsed() < Duration::from_secs(2),
        "decision took {:?}",
        pushed.elapsed()
    );

    // Kill switch pushed: blocked without waiting for a poll.
    let t = Instant::now();
    server.push(
        "kill_switch",
        json!({"blocked": true, "reason": "pushed", "agent_id": null}),
    );
    eventually(Duration::from_secs(2), || client.is_blocked()).await;
    assert!(t.elapsed() < Duration::from_secs(2));
    server.push(
        "kill_switch",
        json!({"blocked": true, "reason": "other", "agent_id": "someone-else"}),
    );
    server.push(
        "kill_switch",
        json!({"blocked": false, "reason": null, "agent_id": "agent-1"}),
    );
    eventually(Duration::from_secs(2), || !client.is_blocked()).await;
    client.stop_kill_switch_watch();
}

/// An approval wait opens the client's push stream itself: no kill-switch watch is running,
/// the poll interval is long, and the pushed decision still ends the wait at once. When the
/// wait is over nobody listens, and the stream is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_wait_uses_the_push_stream_without_the_watch() {
    let server = Server::start().await;
    server.enable_stream();
    let client = server
        .client()
        .event_stream(true)
        .poll_interval(Duration::from_secs(30))
        .build()
        .unwrap();
    server.script(SUBMIT, [Reply::decision(31, "pending")]);
    server.script(
        "GET /api/v1/actions/31/status",
        [
            Reply::decision(31, "pending"),
            Reply::decision(31, "pending"),
        ],
    );
    server.default(
        "GET /api/v1/actions/31/status",
        Reply::decision(31, "allowed"),
    );
    let c = client.clone();
    let waiter = tokio::spawn(async move {
        c.authorize(action(), EvaluateOptions::wait(Duration::from_secs(60)))
            .await
    });
    // The wait connected the stream and re-read the status once connected.
    eventually(Duration::from_secs(5), || {
        server.stream_clients() == 1 && server.count("GET /api/v1/actions/31/status") == 2
    })
    .await;
    assert_eq!(
        server.count("GET /api/sdk/kill-switch/status"),
        0,
        "no watch"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    let pushed = Instant::now();
    server.push(
        "decision",
        json!({"action_id": "31", "decision": "allowed"}),
    );
    let d = waiter.await.unwrap().unwrap();
    assert!(d.is_allowed());
    assert!(
        pushed.elapsed() < Duration::from_secs(5),
        "decision took {:?} (the poll interval is 30 s)",
        pushed.elapsed()
    );
    assert_eq!(server.count("GET /api/v1/events/stream"), 1);
    // Nobody listens any more: the reader closes the stream after 5 s (the server notices on
    // its next write).
    eventually(Duration::from_secs(15), || {
        server.push("decision", json!({"action_id": "0"}));
        server.stream_clients() == 0
    })
    .await;
    drop(client);
}

#[tokio::test]
async fn stream_404_falls_back_to_polling() {
    let server = Server::start().await; // stream disabled: 404
    let client = server
        .client()
        .event_stream(true)
        .kill_switch_watch(Duration::from_millis(30), 3)
        .build()
        .unwrap();
    client.start_kill_switch_watch();
    eventually(Duration::from_secs(5), || {
        server.count("GET /api/sdk/kill-switch/status") >= 3
    })
    .await;
    assert_eq!(
        server.count("GET /api/v1/events/stream"),
        1,
        "404 is not retried"
    );

    // Approval waits poll too (the client remembers the 404; with `?agent_id=` on the watch).
    server.script(SUBMIT, [Reply::decision(41, "pending")]);
    server.script(
        "GET /api/v1/actions/41/status",
        [Reply::decision(41, "pending")],
    );
    server.default(
        "GET /api/v1/actions/41/status",
        Reply::decision(41, "allowed"),
    );
    let d = client
        .authorize(action(), EvaluateOptions::wait(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(d.is_allowed());
    assert_eq!(server.count("GET /api/v1/actions/41/status"), 2);
    assert_eq!(server.count("GET /api/v1/events/stream"), 1);
    assert!(
        server
            .seen_on("GET /api/sdk/kill-switch/status")
            .iter()
            .all(|p| p.query.as_deref() == Some("agent_id=agent-1"))
    );
    client.stop_kill_switch_watch();
}

#[tokio::test]
async fn headers_and_signature() {
    let server = Server::start().await;
    let client = server
        .client()
        .environment("staging")
        .signing_secret("s3cret")
        .build()
        .unwrap();
    client
        .authorize(
            action().with_parameter("amount", json!(12.5)),
            EvaluateOptions::default(),
        )
        .await
        .unwrap();
    let s = server.seen_on(SUBMIT).pop().unwrap();
    assert_eq!(s.header("x-api-key").unwrap(), KEY);
    assert_eq!(s.header("authorization").unwrap(), format!("Bearer {KEY}"));
    assert!(s.header("user-agent").unwrap().starts_with("ascend-rust/"));
    assert_eq!(
        s.header("x-sdk-version").unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(s.header("x-environment").unwrap(), "staging");
    assert_eq!(s.header("content-type").unwrap(), "application/json");
    let cid = s.header("x-correlation-id").unwrap();
    assert!(cid.starts_with("asc_") && cid.len() == 20);
    let ts = s.header("x-request-timestamp").unwrap();
    assert!(ts.ends_with("+00:00"));
    let body = s.json();
    assert_eq!(body["agent_id"], "agent-1");
    assert_eq!(body["agent_name"], "Agent One");
    assert_eq!(body["resource_id"], "c42");
    // The signature covers the canonical form of the body the server received.
    let expected = ascend_runtime::signing::hmac_v1(
        "s3cret",
        format!("{ts}.{}", canonical_json(&body)).as_bytes(),
    );
    assert_eq!(s.header("x-signature").unwrap(), expected);

    // GETs are unsigned; path segments are percent-encoded.
    server.default(
        "GET /api/v1/actions/a%2Fb%3Fc/status",
        Reply::decision(1, "allowed"),
    );
    client.get_action_status("a/b?c").await.unwrap();
    let g = server.seen().pop().unwrap();
    assert_eq!(g.path, "/api/v1/actions/a%2Fb%3Fc/status");
    assert!(g.header("x-signature").is_none());
}

#[tokio::test]
async fn outcomes_are_reported_in_the_background() {
    let server = Server::start().await;
    let client = server.client().build().unwrap();
    server.default(
        "POST /api/agent-action/9/complete",
        Reply::ok(json!({"ok": true})),
    );
    server.script("POST /api/agent-action/9/fail", [Reply::status(503)]);
    server.default(
        "POST /api/agent-action/9/fail",
        Reply::ok(json!({"ok": true})),
    );
    let t = Instant::now();
    client.report_outcome(
        "9",
        ascend_runtime::Outcome::Completed {
            duration: Duration::from_millis(12),
        },
    );
    client.report_outcome(
        "9",
        ascend_runtime::Outcome::Failed {
            error: "disk full".into(),
            duration: Duration::from_millis(3),
        },
    );
    assert!(
        t.elapsed() < Duration::from_millis(50),
        "reporting never blocks"
    );
    eventually(Duration::from_secs(5), || {
        server.count("POST /api/agent-action/9/fail") == 2
    })
    .await;
    let c = server
        .seen_on("POST /api/agent-action/9/complete")
        .pop()
        .unwrap()
        .json();
    assert_eq!(c["status"], "completed");
    assert_eq!(c["duration_ms"], 12);
    let f = server
        .seen_on("POST /api/agent-action/9/fail")
        .pop()
        .unwrap()
        .json();
    assert_eq!(f["error"], "disk full");
}

#[test]
fn sync_api_from_a_plain_thread() {
    let server = Server::start_in_thread();
    let client = server.client().build().unwrap();
    let handle =
        std::thread::spawn(move || client.authorize_blocking(action(), EvaluateOptions::default()));
    assert!(handle.join().unwrap().unwrap().is_allowed());
}

#[tokio::test(flavor = "current_thread")]
async fn sync_api_inside_current_thread_runtime() {
    let server = Server::start_in_thread();
    server.default(
        "GET /api/v1/actions/1/status",
        Reply::decision(1, "allowed"),
    );
    let client = server.client().build().unwrap();
    let d = client
        .authorize_blocking(action(), EvaluateOptions::default())
        .unwrap();
    assert!(d.is_allowed());
    assert_eq!(
        client.get_action_status_blocking("1").unwrap().decision,
        Decision::Allowed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_api_inside_multi_thread_runtime() {
    let server = Server::start().await;
    let client = server.client().build().unwrap();
    let d = client
        .authorize_blocking(action(), EvaluateOptions::default())
        .unwrap();
    assert!(d.is_allowed());
    // And from a spawned task.
    let c = client.clone();
    let r = tokio::spawn(async move { c.authorize_blocking(action(), EvaluateOptions::default()) })
        .await
        .unwrap();
    assert!(r.is_ok());
}

/// The kill-switch poll names the client's agent (`?agent_id=`), so a switch flipped for this
/// one agent on the server reaches it, not only organisation-wide switches.
#[tokio::test]
async fn kill_switch_poll_sends_the_agent_id() {
    let server = Server::start().await;
    let client = server
        .client()
        .kill_switch_watch(Duration::from_millis(30), 3)
        .build()
        .unwrap();
    server.default(
        "GET /api/sdk/kill-switch/status",
        Reply::ok(json!({"blocked": true, "reason": "agent-1 halted"})),
    );
    client.start_kill_switch_watch();
    eventually(Duration::from_secs(5), || client.is_blocked()).await;
    client.stop_kill_switch_watch();
    let polls = server.seen_on("GET /api/sdk/kill-switch/status");
    assert!(!polls.is_empty());
    for p in &polls {
        assert_eq!(
            p.query.as_deref(),
            Some("agent_id=agent-1"),
            "every poll names the agent"
        );
    }
}
