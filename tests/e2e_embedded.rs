//! End to end without HTTP: `#[governed]` → `ascend-runtime` → `ascend_server::Embedded` (the
//! governance service in this process) → engines → approvals → the hash-chained audit trail in
//! a real SQLite file. Each test opens its own database and ends by verifying the chain.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ascend_runtime::global::scope;
use ascend_runtime::{AscendClient, Decision, Error, governed};
use ascend_server::Embedded;
use ascend_server::embedded::Reviewer;
use ascend_server::model::ActionOutcome;

static READS: AtomicUsize = AtomicUsize::new(0);
static DELETES: AtomicUsize = AtomicUsize::new(0);
static WRITES: AtomicUsize = AtomicUsize::new(0);

#[governed(
    action_type = "database.read",
    resource = "product_categories",
    risk_indicators(data_classification = "public")
)]
async fn list_categories() -> Result<usize, Error> {
    READS.fetch_add(1, Ordering::SeqCst);
    Ok(4)
}

#[governed(action_type = "database.delete", resource = "users")]
async fn delete_users(record_count: u32) -> Result<u32, Error> {
    DELETES.fetch_add(1, Ordering::SeqCst);
    Ok(record_count)
}

#[governed(
    action_type = "database.write",
    resource = "customers",
    resource_id = customer_id,
    risk_indicators(pii_involved = true, data_classification = "pii"),
    approval_timeout_secs = 20
)]
async fn update_customer(customer_id: &str) -> Result<String, Error> {
    WRITES.fetch_add(1, Ordering::SeqCst);
    Ok(format!("{customer_id} updated"))
}

#[governed(
    action_type = "database.read",
    resource = "product_categories",
    risk_indicators(data_classification = "public")
)]
fn list_categories_sync() -> Result<usize, Error> {
    Ok(4)
}

struct Fixture {
    _dir: tempfile::TempDir,
    embedded: Embedded,
    client: AscendClient,
    reviewer: Reviewer,
}

fn fixture(agent: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let embedded = Embedded::open(dir.path().join("ascend.db")).expect("embedded opens");
    let client = AscendClient::builder()
        .ignore_env()
        .agent_id(agent)
        .build_with_backend(Arc::new(embedded.clone()))
        .expect("client");
    let reviewer = embedded.reviewer("alice");
    Fixture {
        _dir: dir,
        embedded,
        client,
        reviewer,
    }
}

async fn first_pending(reviewer: &Reviewer) -> i64 {
    reviewer
        .next_pending(Duration::from_secs(5))
        .await
        .expect("pending")
        .expect("an action became pending")
        .id
}

async fn assert_chain_ok(f: &Fixture) {
    let report = f.reviewer.verify_audit().await.expect("verify");
    assert!(report.ok, "{}", report.detail);
    assert!(report.entries > 1);
}

#[tokio::test]
async fn allowed_call_runs_and_its_outcome_is_recorded() {
    let f = fixture("reader");
    let before = READS.load(Ordering::SeqCst);
    let n = scope(f.client.clone(), list_categories())
        .await
        .expect("allowed");
    assert_eq!(n, 4);
    assert_eq!(READS.load(Ordering::SeqCst), before + 1);
    // The outcome is reported in the background.
    let mut outcome = None;
    for _ in 0..300 {
        let recent = f.reviewer.recent(1).await.expect("recent");
        outcome = recent.first().and_then(|a| a.outcome);
        if outcome.is_some() {
            assert_eq!(recent[0].body.decision, Decision::Allowed);
            assert_eq!(recent[0].agent_id, "reader");
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(outcome, Some(ActionOutcome::Completed));
    assert_chain_ok(&f).await;
}

#[tokio::test]
async fn denied_call_never_runs() {
    let f = fixture("cleaner");
    let before = DELETES.load(Ordering::SeqCst);
    let err = scope(f.client.clone(), delete_users(500))
        .await
        .expect_err("bulk delete is denied");
    match err {
        Error::Denied(d) => {
            assert_eq!(d.rule_name.as_deref(), Some("Block Bulk Deletions"));
            assert!(!d.execution_allowed);
        }
        other => panic!("expected a denial, got {other:?}"),
    }
    assert_eq!(DELETES.load(Ordering::SeqCst), before);
    assert_chain_ok(&f).await;
}

#[tokio::test]
async fn pending_call_waits_for_an_in_process_reviewer() {
    let f = fixture("writer");
    let waiting = tokio::spawn(scope(f.client.clone(), update_customer("c-1")));
    let id = first_pending(&f.reviewer).await;
    assert!(
        !waiting.is_finished(),
        "the call must wait for the reviewer"
    );
    let decided = f
        .reviewer
        .approve(id, Some("checked"))
        .await
        .expect("approve");
    assert_eq!(decided.body.decision, Decision::Allowed);
    let out = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the approval reaches the waiting call at once")
        .expect("task");
    assert_eq!(out.expect("approved call runs"), "c-1 updated");
    assert_eq!(
        f.reviewer
            .action(id)
            .await
            .expect("action")
            .body
            .approved_by
            .as_deref(),
        Some("alice")
    );
    assert_chain_ok(&f).await;
}

#[tokio::test]
async fn a_reviewer_denial_reaches_the_waiting_call() {
    let f = fixture("writer-2");
    let before = WRITES.load(Ordering::SeqCst);
    let waiting = tokio::spawn(scope(f.client.clone(), update_customer("c-2")));
    let id = first_pending(&f.reviewer).await;
    // A denial needs a reason.
    assert!(f.reviewer.deny(id, "  ").await.is_err());
    f.reviewer
        .deny(id, "not this customer")
        .await
        .expect("deny");
    let out = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the denial reaches the waiting call at once")
        .expect("task");
    assert!(matches!(out, Err(Error::Denied(_))), "{out:?}");
    assert_eq!(WRITES.load(Ordering::SeqCst), before);
    assert_chain_ok(&f).await;
}

#[tokio::test]
async fn kill_switch_refuses_the_waiting_call_and_the_next_ones() {
    let f = fixture("halted");
    let operator = f.embedded.operator("olivia");
    let waiting = tokio::spawn(scope(f.client.clone(), update_customer("c-3")));
    first_pending(&f.reviewer).await;
    operator
        .halt(Some("halted"), "incident 7")
        .await
        .expect("halt");
    let out = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the kill switch reaches the waiting call at once")
        .expect("task");
    assert!(
        matches!(&out, Err(Error::KillSwitch { reason }) if reason.contains("incident 7")),
        "{out:?}"
    );
    let next = scope(f.client.clone(), list_categories()).await;
    assert!(matches!(next, Err(Error::KillSwitch { .. })), "{next:?}");
    // A reviewer cannot halt: that is the operator's.
    assert!(f.reviewer.halt(None, "no").await.is_err());
    operator.resume(Some("halted")).await.expect("resume");
    scope(f.client.clone(), list_categories())
        .await
        .expect("allowed again");
    assert_chain_ok(&f).await;
}

#[test]
fn sync_governed_fn_works_from_a_plain_thread_and_inside_a_runtime() {
    let f = fixture("sync-agent");
    let client = f.client.clone();
    let from_thread = std::thread::spawn(move || {
        let _guard = ascend_runtime::global::install_for_thread(client);
        list_categories_sync()
    })
    .join()
    .expect("thread");
    assert_eq!(from_thread.expect("allowed"), 4);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let client = f.client.clone();
    let inside = rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            let _guard = ascend_runtime::global::install_for_thread(client);
            list_categories_sync()
        })
        .await
        .expect("task")
    });
    assert_eq!(inside.expect("allowed"), 4);
}

/// Delegates to the embedded backend and records the thread each submit ran on.
struct ThreadProbe {
    inner: Embedded,
    threads: std::sync::Mutex<Vec<std::thread::ThreadId>>,
}

impl ascend_runtime::backend::Backend for ThreadProbe {
    fn submit<'a>(
        &'a self,
        action: &'a ascend_runtime::AgentAction,
        key: &'a str,
    ) -> ascend_runtime::backend::BoxFuture<
        'a,
        ascend_runtime::Result<ascend_runtime::AuthorizationDecision>,
    > {
        if let Ok(mut t) = self.threads.lock() {
            t.push(std::thread::current().id());
        }
        self.inner.submit(action, key)
    }
    fn status<'a>(
        &'a self,
        id: &'a str,
    ) -> ascend_runtime::backend::BoxFuture<
        'a,
        ascend_runtime::Result<ascend_runtime::AuthorizationDecision>,
    > {
        self.inner.status(id)
    }
    fn report_outcome(&self, id: &str, outcome: &ascend_runtime::Outcome) {
        self.inner.report_outcome(id, outcome);
    }
    fn answers_inline(&self) -> bool {
        self.inner.answers_inline()
    }
}

#[test]
fn sync_governed_fn_over_the_embedded_backend_submits_on_the_calling_thread() {
    let f = fixture("inline-agent");
    let probe = Arc::new(ThreadProbe {
        inner: f.embedded.clone(),
        threads: std::sync::Mutex::new(Vec::new()),
    });
    let client = AscendClient::builder()
        .ignore_env()
        .agent_id("inline-agent")
        .build_with_backend(probe.clone())
        .expect("client");
    let _guard = ascend_runtime::global::install_for_thread(client);
    for _ in 0..3 {
        assert_eq!(list_categories_sync().expect("allowed"), 4);
    }
    let me = std::thread::current().id();
    let threads = probe.threads.lock().expect("lock").clone();
    assert_eq!(
        threads,
        vec![me, me, me],
        "every submit ran on the caller's thread"
    );
}

#[governed(
    action_type = "database.write",
    resource = "customers",
    resource_id = customer_id,
    risk_indicators(pii_involved = true, data_classification = "pii"),
    wait_for_approval = false
)]
fn update_customer_no_wait(customer_id: &str) -> Result<String, Error> {
    Ok(format!("{customer_id} updated"))
}

#[test]
fn a_sync_call_that_does_not_wait_gets_pending_approval_at_once() {
    let f = fixture("no-wait-agent");
    let _guard = ascend_runtime::global::install_for_thread(f.client.clone());
    match update_customer_no_wait("c-9") {
        Err(Error::PendingApproval {
            action_id,
            approval_request_id,
        }) => {
            assert!(!action_id.is_empty());
            assert_eq!(approval_request_id.as_deref(), Some(action_id.as_str()));
        }
        other => panic!("expected PendingApproval, got {other:?}"),
    }
}
