//! End to end, the whole path of a governed call: `#[governed]` → `ascend-runtime` → HTTP →
//! `ascend-server` → risk and policy engines → approvals → audit chain, for each kind of
//! decision. Every test runs its own server (127.0.0.1, a free port, a temporary SQLite file,
//! the default policies) and ends by verifying the audit hash chain.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ascend_examples::harness::{ControlPlane, Operator, id_text, wait_until};
use ascend_runtime::global::{install_for_thread, scope};
use ascend_runtime::{AscendClient, Decision, Error, RiskLevel, governed};
use serde_json::Value;

// ─── the governed tools under test ──────────────────────────────────────────────────────────

/// How many times each body ran (the tests run in parallel: one counter per tool).
static LOW_RUNS: AtomicUsize = AtomicUsize::new(0);
static DELETE_RUNS: AtomicUsize = AtomicUsize::new(0);
static WRITE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("governance: {0}")]
    Governance(#[from] Error),
}

#[governed(
    action_type = "database.read",
    resource = "product_categories",
    risk_indicators(data_classification = "public")
)]
async fn list_categories() -> Result<usize, AppError> {
    LOW_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(4)
}

#[governed(action_type = "database.delete", resource = "users")]
async fn delete_users(record_count: u32) -> Result<u32, AppError> {
    DELETE_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(record_count)
}

#[derive(Debug, PartialEq)]
enum Cleanup {
    Deleted(u32),
    Fallback(String),
}

#[governed(
    action_type = "database.delete",
    resource = "users",
    on_denied = |e: Error| Cleanup::Fallback(e.code().to_owned())
)]
fn delete_users_sync(record_count: u32) -> Cleanup {
    DELETE_RUNS.fetch_add(1, Ordering::SeqCst);
    Cleanup::Deleted(record_count)
}

#[governed(
    action_type = "database.write",
    resource = "customers",
    resource_id = customer_id,
    risk_indicators(pii_involved = true, data_classification = "pii"),
    approval_timeout_secs = 30
)]
async fn update_address(customer_id: &str, address: &str) -> Result<String, AppError> {
    WRITE_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{customer_id}: {address}"))
}

/// The same write, but the agent waits only 1 s for a human.
#[governed(
    action_type = "database.write",
    resource = "customers",
    resource_id = customer_id,
    risk_indicators(pii_involved = true, data_classification = "pii"),
    approval_timeout_secs = 1
)]
async fn update_address_impatient(customer_id: &str) -> Result<String, AppError> {
    WRITE_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(customer_id.to_owned())
}

// ─── helpers ──────────────────────────────────────────────────────────────────────────────────

fn client(plane: &ControlPlane) -> AscendClient {
    plane.client_builder().build().expect("client builds")
}

/// The agent's only action on the server.
async fn only_action(reviewer: &Operator, agent: &str) -> Value {
    let actions = reviewer
        .actions(Some(agent), None, 100)
        .await
        .expect("list");
    assert_eq!(actions.len(), 1, "exactly one action expected: {actions:?}");
    actions[0].clone()
}

/// The kinds of the audit entries about one action, in chain order.
async fn audit_kinds(reviewer: &Operator, action_id: &str) -> Vec<String> {
    let subject = format!("action:{action_id}");
    reviewer
        .audit_events()
        .await
        .expect("audit")
        .iter()
        .filter(|e| e.get("resource").and_then(Value::as_str) == Some(subject.as_str()))
        .filter_map(|e| {
            e.get("event_type")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

/// Wait until the action's outcome (reported in the background) reaches the server.
async fn wait_for_outcome(reviewer: &Operator, action_id: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let a = reviewer.action(action_id).await.expect("action");
        if let Some(o) = a.get("outcome").and_then(Value::as_str) {
            return Some(o.to_owned());
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every test ends here: the audit chain verifies, the server shuts down cleanly.
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

// ─── the tests ──────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_runs_the_body_and_audits_decision_and_outcome() {
    let plane = ControlPlane::start("e2e-allowed").await.expect("server");
    let reviewer = plane.reviewer().expect("reviewer");
    let before = LOW_RUNS.load(Ordering::SeqCst);

    let r = scope(client(&plane), list_categories()).await;
    assert_eq!(r.ok(), Some(4));
    assert!(LOW_RUNS.load(Ordering::SeqCst) > before, "the body ran");

    let a = only_action(&reviewer, "e2e-allowed").await;
    let id = id_text(&a["id"]);
    let d = reviewer.decision(&id).await.expect("decision");
    assert_eq!(d.decision, Decision::Allowed);
    assert_eq!(d.risk_level, Some(RiskLevel::Low));
    assert_eq!(d.rule_id.as_deref(), Some("allow-low-risk"));
    assert!(
        d.cvss_vector
            .as_deref()
            .is_some_and(|v| v.starts_with("CVSS:3.1/"))
    );
    assert!(
        !d.risk_factors.is_empty(),
        "every score comes with its factors"
    );
    // What the macro sent: the tool name and source location travel with the action.
    let full = reviewer.action(&id).await.expect("action");
    assert_eq!(
        full["request"]["action_details"]["tool_name"],
        "list_categories"
    );
    assert!(
        full["request"]["context"]["code_location"]
            .as_str()
            .is_some_and(|l| l.contains("e2e_decisions.rs"))
    );

    assert_eq!(
        wait_for_outcome(&reviewer, &id).await.as_deref(),
        Some("completed")
    );
    let kinds = audit_kinds(&reviewer, &id).await;
    assert_eq!(kinds, ["action.decided", "action.completed"]);
    verify_and_stop(plane).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_converts_into_the_functions_error_type() {
    let plane = ControlPlane::start("e2e-denied").await.expect("server");
    let reviewer = plane.reviewer().expect("reviewer");
    let runs = DELETE_RUNS.load(Ordering::SeqCst);

    let r = scope(client(&plane), delete_users(150)).await;
    let Err(AppError::Governance(Error::Denied(d))) = r else {
        panic!("expected Err(AppError::Governance(Error::Denied)), got {r:?}");
    };
    assert_eq!(d.rule_name.as_deref(), Some("Block Bulk Deletions"));
    assert_eq!(d.risk_level, Some(RiskLevel::Critical));
    assert!(!d.execution_allowed);

    let a = only_action(&reviewer, "e2e-denied").await;
    assert_eq!(
        id_text(&a["id"]),
        d.action_id,
        "the error carries the server's action id"
    );
    assert_eq!(a["decision"], "denied");
    // Nothing ran, so nothing is reported: the audit holds the decision only.
    assert_eq!(
        audit_kinds(&reviewer, &d.action_id).await,
        ["action.decided"]
    );
    assert_eq!(
        DELETE_RUNS.load(Ordering::SeqCst),
        runs,
        "the body never ran"
    );
    verify_and_stop(plane).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_denied_fallback_receives_the_denial() {
    let plane = ControlPlane::start("e2e-on-denied").await.expect("server");
    let reviewer = plane.reviewer().expect("reviewer");
    let c = client(&plane);
    // A sync governed fn from async code: on the blocking pool, with the client for that thread.
    let r = tokio::task::spawn_blocking(move || {
        let _guard = install_for_thread(c);
        delete_users_sync(500)
    })
    .await
    .expect("join");
    assert_eq!(r, Cleanup::Fallback("AUTHZ_DENIED".into()));
    let a = only_action(&reviewer, "e2e-on-denied").await;
    assert_eq!(a["decision"], "denied");
    verify_and_stop(plane).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_then_approved_runs_the_body() {
    let plane = ControlPlane::start("e2e-approved").await.expect("server");
    let reviewer = Arc::new(plane.reviewer().expect("reviewer"));
    let c = client(&plane);
    // With the watch, the approval is pushed to the waiting call (no polling delay).
    c.start_kill_switch_watch();

    let r2 = reviewer.clone();
    let review = tokio::spawn(async move {
        let id = r2
            .wait_for_pending("e2e-approved", "database.write", Duration::from_secs(20))
            .await?;
        let pending = r2.decision(&id).await?;
        r2.approve(&id, "checked").await?;
        Ok::<_, ascend_examples::Error>((id, pending))
    });
    let r = scope(c.clone(), update_address("cust_1", "1 Main St")).await;
    let (id, pending) = review.await.expect("join").expect("review");
    assert_eq!(r.ok().as_deref(), Some("cust_1: 1 Main St"));
    assert_eq!(pending.decision, Decision::Pending);
    assert_eq!(pending.risk_level, Some(RiskLevel::High));
    assert_eq!(pending.rule_id.as_deref(), Some("high-risk-approval"));
    assert!(pending.approval_request_id.is_some());

    let d = reviewer.decision(&id).await.expect("decision");
    assert_eq!(d.decision, Decision::Allowed);
    assert!(d.approved_by.is_some());
    assert_eq!(
        wait_for_outcome(&reviewer, &id).await.as_deref(),
        Some("completed")
    );
    assert_eq!(
        audit_kinds(&reviewer, &id).await,
        ["action.decided", "action.approval_vote", "action.completed"]
    );
    c.stop_kill_switch_watch();
    verify_and_stop(plane).await;
}

/// Pushed approvals do not depend on the kill-switch watch: without `start_kill_switch_watch()`
/// and with a 60 s poll interval (longer than the call's 30 s wait), the reviewer's approval
/// still reaches the waiting call at once — the wait opened the client's push stream itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_is_pushed_without_the_kill_switch_watch() {
    let plane = ControlPlane::start("e2e-pushed").await.expect("server");
    let reviewer = Arc::new(plane.reviewer().expect("reviewer"));
    let c = plane
        .client_builder()
        .poll_interval(Duration::from_secs(60))
        .build()
        .expect("client");

    let r2 = reviewer.clone();
    let review = tokio::spawn(async move {
        let id = r2
            .wait_for_pending("e2e-pushed", "database.write", Duration::from_secs(20))
            .await?;
        // The waiting call connects its stream meanwhile (milliseconds on loopback).
        tokio::time::sleep(Duration::from_millis(500)).await;
        let approving = Instant::now();
        r2.approve(&id, "checked").await?;
        Ok::<_, ascend_examples::Error>((id, approving))
    });
    let r = scope(c.clone(), update_address("cust_9", "9 Main St")).await;
    let done = Instant::now();
    let (id, approving) = review.await.expect("join").expect("review");
    assert_eq!(r.ok().as_deref(), Some("cust_9: 9 Main St"));
    let after = done.saturating_duration_since(approving);
    assert!(
        after < Duration::from_secs(5),
        "the approval reached the call {after:?} after it was sent (polling would take 60 s)"
    );
    assert!(!c.is_blocked());
    let d = reviewer.decision(&id).await.expect("decision");
    assert_eq!(d.decision, Decision::Allowed);
    verify_and_stop(plane).await;
}

/// The server's approval expiry (`ServerConfig::approval_ttl`): the pending action is denied as
/// "expired" by the server, and the waiting call gets `Error::Denied`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_then_expired_is_denied_by_the_server() {
    let plane = ControlPlane::start_with("e2e-expired", |c| {
        c.approval_ttl = Duration::from_secs(1);
        c.expiry_sweep = Duration::from_millis(100);
    })
    .await
    .expect("server");
    let reviewer = plane.reviewer().expect("reviewer");
    let runs = WRITE_RUNS.load(Ordering::SeqCst);

    let started = Instant::now();
    let r = scope(client(&plane), update_address("cust_2", "2 Main St")).await;
    let waited = started.elapsed();
    let Err(AppError::Governance(Error::Denied(d))) = r else {
        panic!("expected a denial by expiry, got {r:?}");
    };
    assert!(
        d.reason.as_deref().is_some_and(|r| r.contains("expired")),
        "reason: {:?}",
        d.reason
    );
    assert!(
        waited >= Duration::from_millis(900),
        "expired too early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(20), "expiry took {waited:?}");
    assert_eq!(
        WRITE_RUNS.load(Ordering::SeqCst),
        runs,
        "the body never ran"
    );
    let kinds = audit_kinds(&reviewer, &d.action_id).await;
    assert_eq!(kinds, ["action.decided", "action.expired"]);
    verify_and_stop(plane).await;
}

/// The client's own wait (`approval_timeout_secs`) shorter than the server's expiry: the call
/// gives up with `Error::ApprovalTimeout`; the action stays pending on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_not_decided_within_the_wait_is_an_approval_timeout() {
    let plane = ControlPlane::start("e2e-timeout").await.expect("server");
    let reviewer = plane.reviewer().expect("reviewer");
    let r = scope(client(&plane), update_address_impatient("cust_3")).await;
    let Err(AppError::Governance(Error::ApprovalTimeout { action_id, waited })) = r else {
        panic!("expected ApprovalTimeout, got {r:?}");
    };
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    let d = reviewer.decision(&action_id).await.expect("decision");
    assert_eq!(d.decision, Decision::Pending, "still waiting for a human");
    verify_and_stop(plane).await;
}

/// The kill switch is pushed: the client's watch listens to the server's event stream, so a
/// trigger halts the agent within 100 ms (asserted with slack for a loaded machine), and the
/// next call is refused locally — the server sees nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_is_pushed_and_refuses_locally() {
    let plane = ControlPlane::start("e2e-kill").await.expect("server");
    let reviewer = plane.reviewer().expect("reviewer");
    let admin = plane.admin().expect("admin");
    // Poll only once a minute: a fast reaction can only come from the push stream.
    let c = plane
        .client_builder()
        .kill_switch_watch(Duration::from_secs(60), 3)
        .build()
        .expect("client");
    c.start_kill_switch_watch();
    assert!(scope(c.clone(), list_categories()).await.is_ok());

    // Warm-up round trip: proves the stream is connected before measuring.
    admin
        .trigger_kill_switch(Some("e2e-kill"), "warm-up")
        .await
        .expect("trigger");
    let c2 = c.clone();
    assert!(
        wait_until(Duration::from_secs(15), || c2.is_blocked())
            .await
            .is_some()
    );
    admin
        .release_kill_switch(Some("e2e-kill"))
        .await
        .expect("release");
    let c2 = c.clone();
    assert!(
        wait_until(Duration::from_secs(15), || !c2.is_blocked())
            .await
            .is_some()
    );

    // The measurement.
    let sent = Instant::now();
    admin
        .trigger_kill_switch(Some("e2e-kill"), "incident 7")
        .await
        .expect("trigger");
    let answered = Instant::now();
    let blocked_at = loop {
        if c.is_blocked() {
            break Instant::now();
        }
        assert!(sent.elapsed() < Duration::from_secs(10), "never blocked");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let after_answer = blocked_at.saturating_duration_since(answered);
    let after_send = blocked_at - sent;
    eprintln!(
        "kill switch: blocked {after_answer:?} after the trigger's answer ({after_send:?} after sending it)"
    );
    assert!(
        after_answer <= Duration::from_millis(100 + 200),
        "blocked {after_answer:?} after the trigger (target 100 ms, slack 200 ms)"
    );

    let audit_before = reviewer.audit_total().await.expect("audit");
    let r = scope(c.clone(), list_categories()).await;
    assert!(
        matches!(&r, Err(AppError::Governance(Error::KillSwitch { reason })) if reason == "incident 7"),
        "{r:?}"
    );
    assert_eq!(
        reviewer.audit_total().await.expect("audit"),
        audit_before,
        "nothing reached the server"
    );
    assert_eq!(
        reviewer
            .actions(Some("e2e-kill"), None, 100)
            .await
            .expect("list")
            .len(),
        1
    );

    // Released: the agent works again.
    admin
        .release_kill_switch(Some("e2e-kill"))
        .await
        .expect("release");
    let c2 = c.clone();
    assert!(
        wait_until(Duration::from_secs(15), || !c2.is_blocked())
            .await
            .is_some()
    );
    assert!(scope(c.clone(), list_categories()).await.is_ok());
    c.stop_kill_switch_watch();
    verify_and_stop(plane).await;
}

/// A sync governed fn on a current-thread runtime that also runs the server would stall (the
/// server cannot answer while the thread is blocked): it fails at once, saying what to do.
#[tokio::test(flavor = "current_thread")]
async fn sync_call_on_a_current_thread_runtime_fails_fast_with_advice() {
    let plane = ControlPlane::start("e2e-current-thread")
        .await
        .expect("server");
    let c = client(&plane);
    let started = Instant::now();
    let r = {
        let _guard = install_for_thread(c);
        delete_users_sync(5)
    };
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(r, Cleanup::Fallback("CONFIG_ERROR".into()));
    let err = client(&plane)
        .run_blocking(|c| async move { c.list_actions(Default::default()).await })
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("current-thread") && text.contains("spawn_blocking"),
        "{text}"
    );
    verify_and_stop(plane).await;
}
