//! Group commit as callers see it, on a real SQLite file: a write that finds the store idle
//! commits on the caller's thread, concurrent writes share batches on the writer thread, `full`
//! durability commits everything on the writer thread, and an in-process agent's outcome report
//! (not waited for) is committed with the next write, by the flush timer, or at close — and is
//! refused, not recorded, when the stored action does not accept it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ascend_runtime::backend::Backend;
use ascend_runtime::{AgentAction, Outcome};
use ascend_server::model::{ActionOutcome, Durability};
use ascend_server::{Embedded, ServerConfig};

fn read(agent: &str) -> AgentAction {
    AgentAction::new("database.read", "product_catalog")
        .with_agent(agent, agent)
        .with_risk_indicator("data_classification", serde_json::json!("public"))
}

fn bulk_delete(agent: &str) -> AgentAction {
    AgentAction::new("database.delete", "users")
        .with_agent(agent, agent)
        .with_parameter("operation", serde_json::json!("delete"))
        .with_parameter("row_count", serde_json::json!(150))
        .with_risk_indicator("bulk_operation", serde_json::json!(true))
}

fn open(dir: &tempfile::TempDir, durability: Durability) -> Embedded {
    Embedded::open_with(ServerConfig {
        db_path: dir.path().join("ascend.db"),
        durability,
        ..ServerConfig::default()
    })
    .expect("embedded opens")
}

/// Submit one action through the backend seam; its id and whether it may run.
async fn submit(e: &Embedded, action: &AgentAction, key: &str) -> (i64, bool) {
    let d = Backend::submit(e, action, key).await.expect("decided");
    (d.action_id.parse().expect("integer id"), d.is_allowed())
}

fn completed() -> Outcome {
    Outcome::Completed {
        duration: Duration::from_millis(3),
    }
}

async fn outcome_within(e: &Embedded, id: i64, limit: Duration) -> Option<ActionOutcome> {
    let reviewer = e.reviewer("alice");
    let deadline = Instant::now() + limit;
    loop {
        let outcome = reviewer.action(id).await.expect("action").outcome;
        if outcome.is_some() || Instant::now() >= deadline {
            return outcome;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_deferred_outcome_commits_without_another_write() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(&dir, Durability::Normal);
    let (id, allowed) = submit(&e, &read("agent-a"), "k-1").await;
    assert!(allowed);
    let started = Instant::now();
    Backend::report_outcome(&e, &id.to_string(), &completed());
    // Nothing else is written: the store's flush timer (100 ms) commits it.
    let outcome = outcome_within(&e, id, Duration::from_secs(3)).await;
    assert_eq!(outcome, Some(ActionOutcome::Completed));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    let report = e.reviewer("alice").verify_audit().await.unwrap();
    assert!(report.ok, "{}", report.detail);
}

#[tokio::test]
async fn a_deferred_outcome_joins_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(&dir, Durability::Normal);
    let (first, _) = submit(&e, &read("agent-a"), "k-1").await;
    Backend::report_outcome(&e, &first.to_string(), &completed());
    // The next submit's commit carries the queued report: it is visible once that returns.
    let (second, _) = submit(&e, &read("agent-a"), "k-2").await;
    let a = e.reviewer("alice").action(first).await.unwrap();
    assert_eq!(a.outcome, Some(ActionOutcome::Completed));
    assert_eq!(
        e.reviewer("alice").action(second).await.unwrap().outcome,
        None
    );
}

#[tokio::test]
async fn a_deferred_outcome_is_committed_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let e = open(&dir, Durability::Normal);
        let (id, _) = submit(&e, &read("agent-a"), "k-1").await;
        Backend::report_outcome(&e, &id.to_string(), &completed());
        e.governance().close().await.expect("closes");
        id
    };
    let e = open(&dir, Durability::Normal);
    let a = e.reviewer("alice").action(id).await.unwrap();
    assert_eq!(a.outcome, Some(ActionOutcome::Completed));
    let report = e.reviewer("alice").verify_audit().await.unwrap();
    assert!(report.ok, "{}", report.detail);
}

#[tokio::test]
async fn a_deferred_outcome_the_action_refuses_is_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(&dir, Durability::Normal);
    let (denied, allowed) = submit(&e, &bulk_delete("agent-a"), "k-1").await;
    assert!(!allowed, "a bulk delete is not allowed to run");
    let (ran, _) = submit(&e, &read("agent-a"), "k-2").await;
    let before = e.reviewer("alice").verify_audit().await.unwrap().entries;
    // Not allowed to run: refused. Reported twice: the second is refused.
    Backend::report_outcome(&e, &denied.to_string(), &completed());
    Backend::report_outcome(&e, &ran.to_string(), &completed());
    Backend::report_outcome(
        &e,
        &ran.to_string(),
        &Outcome::Failed {
            error: "late".into(),
            duration: Duration::ZERO,
        },
    );
    submit(&e, &read("agent-a"), "k-3").await;
    let reviewer = e.reviewer("alice");
    assert_eq!(reviewer.action(denied).await.unwrap().outcome, None);
    assert_eq!(
        reviewer.action(ran).await.unwrap().outcome,
        Some(ActionOutcome::Completed)
    );
    let report = reviewer.verify_audit().await.unwrap();
    assert!(report.ok, "{}", report.detail);
    // One outcome entry and one decision entry were added, nothing for the refused reports.
    assert_eq!(report.entries, before + 2);
}

async fn concurrent_burst(durability: Durability) {
    let dir = tempfile::tempdir().unwrap();
    let e = Arc::new(open(&dir, durability));
    let tasks = 32;
    let per_task = 25;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let e = Arc::clone(&e);
        handles.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..per_task {
                let (id, allowed) =
                    submit(&e, &read(&format!("agent-{t}")), &format!("{t}-{i}")).await;
                assert!(allowed);
                Backend::report_outcome(&*e, &id.to_string(), &completed());
                ids.push(id);
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.extend(h.await.expect("task"));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        tasks * per_task,
        "every submit got its own action"
    );
    e.governance().close().await.expect("closes");
    drop(e);
    let e = open(&dir, durability);
    let reviewer = e.reviewer("alice");
    for id in ids.iter().step_by(37) {
        let a = reviewer
            .action(*id)
            .await
            .expect("acknowledged decision is stored");
        assert_eq!(a.outcome, Some(ActionOutcome::Completed), "action {id}");
    }
    let report = reviewer.verify_audit().await.unwrap();
    assert!(report.ok, "{}", report.detail);
    // A decision and an outcome per call.
    assert!(
        report.entries >= 2 * (tasks * per_task) as u64,
        "{} entries",
        report.entries
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_all_commit_and_chain() {
    concurrent_burst(Durability::Normal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_durability_commits_on_the_writer_thread() {
    concurrent_burst(Durability::Full).await;
}

/// A sync caller outside any runtime (what a sync governed fn over `Embedded` is) gets
/// committed answers.
#[test]
fn a_caller_outside_a_runtime_gets_committed_answers() {
    let dir = tempfile::tempdir().unwrap();
    let e = open(&dir, Durability::Normal);
    let action = read("agent-sync");
    for i in 0..20 {
        let d = block_on(Backend::submit(&e, &action, &format!("s-{i}")));
        assert!(d.expect("decided").is_allowed());
    }
    let report = block_on(e.reviewer("alice").verify_audit()).unwrap();
    assert!(report.ok, "{}", report.detail);
    assert!(report.entries >= 20);
}

/// Poll a future to completion on this thread, parking between polls (no runtime).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park_timeout(Duration::from_millis(50)),
        }
    }
}
