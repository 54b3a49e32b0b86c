//! The test double, the global client and its scoping, and AuthorizedAgent.

use std::time::Duration;

use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{
    AgentAction, AuthorizationDecision, AuthorizedAgent, Decision, Error, EvaluateOptions, Outcome,
};

fn action(t: &str) -> AgentAction {
    AgentAction::new(t, "table")
}

#[tokio::test]
async fn scoped_doubles_do_not_leak_between_tasks() {
    let allow = MockGovernance::allow_all();
    let deny = MockGovernance::deny_all();
    let a = tokio::spawn({
        let allow = allow.clone();
        async move {
            allow
                .scope(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    ascend_runtime::global()?
                        .authorize(action("x"), EvaluateOptions::default())
                        .await
                })
                .await
        }
    });
    let d = tokio::spawn({
        let deny = deny.clone();
        async move {
            deny.scope(async {
                ascend_runtime::global()?
                    .authorize(action("x"), EvaluateOptions::default())
                    .await
            })
            .await
        }
    });
    assert!(a.await.unwrap().is_ok());
    assert!(matches!(d.await.unwrap(), Err(Error::Denied(_))));
    assert_eq!(allow.requests().len(), 1);
    assert_eq!(deny.requests().len(), 1);
}

#[test]
fn thread_install_is_scoped_and_nested() {
    let outer = MockGovernance::allow_all();
    let inner = MockGovernance::deny_all();
    let _g = outer.install_for_thread();
    {
        let _g2 = inner.install_for_thread();
        assert!(
            ascend_runtime::global()
                .unwrap()
                .authorize_blocking(action("x"), Default::default())
                .is_err()
        );
    }
    assert!(
        ascend_runtime::global()
            .unwrap()
            .authorize_blocking(action("x"), Default::default())
            .is_ok()
    );
    // Another thread does not see this thread's double.
    let other = std::thread::spawn(|| {
        ascend_runtime::global()
            .map(|c| format!("{c:?}").contains("mock"))
            .unwrap_or(false)
    });
    assert!(!other.join().unwrap());
}

#[tokio::test]
async fn scripted_pending_then_allowed_and_timeout() {
    let mock = MockGovernance::allow_all()
        .on(
            "db.write",
            [Decision::Pending, Decision::Pending, Decision::Allowed],
        )
        .on("db.drop", [Decision::Pending]);
    let client = mock.client();
    let d = client
        .authorize(action("db.write"), EvaluateOptions::default())
        .await
        .unwrap();
    assert!(d.is_allowed());
    let err = client
        .authorize(
            action("db.drop"),
            EvaluateOptions::wait(Duration::from_millis(50)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ApprovalTimeout { .. }));
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].agent_id, "mock-agent");

    client.report_outcome(
        &d.action_id,
        Outcome::Failed {
            error: "x".into(),
            duration: Duration::ZERO,
        },
    );
    assert_eq!(mock.outcomes().len(), 1);

    mock.trigger_kill_switch("halt");
    assert!(matches!(
        client.authorize(action("db.write"), EvaluateOptions::default()).await,
        Err(Error::KillSwitch { reason }) if reason == "halt"
    ));
    assert_eq!(mock.requests().len(), 2);
    mock.release_kill_switch();
}

#[tokio::test]
async fn unavailable_double_and_fail_modes() {
    let closed = MockGovernance::unavailable();
    assert!(matches!(
        closed
            .client()
            .authorize(action("a"), EvaluateOptions::default())
            .await,
        Err(Error::Connection { .. })
    ));
    let open = MockGovernance::unavailable().fail_open();
    let d = open
        .client()
        .authorize(action("a"), EvaluateOptions::default())
        .await
        .unwrap();
    assert_eq!(d.conditions, vec!["fail_open_mode".to_owned()]);
    assert_eq!(open.client().pending_fail_open_records(), 1);
}

#[tokio::test]
async fn authorized_agent_runs_only_when_allowed() {
    let mock = MockGovernance::allow_all()
        .on("refund", [Decision::Denied])
        .on("wire", [Decision::Pending]);
    let agent = AuthorizedAgent::new("refund-bot", "Refund Bot", mock.client())
        .with_timeout(Duration::from_millis(50));
    let mut ran = false;
    let v = agent
        .execute_if_authorized(action("read"), || async {
            ran = true;
            7
        })
        .await
        .unwrap();
    assert!(ran && v == 7);
    let err = agent
        .execute_if_authorized(action("refund"), || async { 1 })
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::Denied(d) if d.risk_score.is_some()));
    assert!(matches!(
        agent
            .execute_if_authorized(action("wire"), || async { 1 })
            .await,
        Err(Error::ApprovalTimeout { .. })
    ));
    assert_eq!(
        agent
            .execute_or_else(action("refund"), || async { "ran" }, |_| "fallback")
            .await,
        "fallback"
    );
    assert!(agent.check_permission(action("read")).await.unwrap());
    assert!(!agent.check_permission(action("wire")).await.unwrap());
    assert!(!agent.check_permission(action("refund")).await.unwrap());
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.agent_id == "refund-bot" && r.agent_name == "Refund Bot")
    );
}

// ---- issue #12: the double --------------------------------------------------------------

#[test]
fn scripted_sequences_continue_across_submits() {
    let mock = MockGovernance::deny_all().on("db.write", [Decision::Allowed, Decision::Denied]);
    let client = mock.client();
    let write = || client.authorize_blocking(action("db.write"), EvaluateOptions::default());
    assert!(write().is_ok(), "first call: allowed");
    assert!(matches!(write(), Err(Error::Denied(_))), "second: denied");
    assert!(
        matches!(write(), Err(Error::Denied(_))),
        "the last answer repeats"
    );
    // Other types keep the default.
    assert!(
        client
            .authorize_blocking(action("db.read"), EvaluateOptions::default())
            .is_err()
    );
}

#[test]
fn a_pending_answer_without_waiting_is_pending_approval() {
    let mock = MockGovernance::allow_all().on("wire", [Decision::Pending]);
    let err = mock
        .client()
        .authorize_blocking(action("wire"), EvaluateOptions::no_wait())
        .unwrap_err();
    match &err {
        Error::PendingApproval {
            action_id,
            approval_request_id,
        } => {
            assert_eq!(action_id, "1");
            assert_eq!(approval_request_id.as_deref(), Some("mock-approval"));
        }
        other => panic!("expected PendingApproval, got {other:?}"),
    }
    assert_eq!(
        err.refusal_kind(),
        ascend_runtime::RefusalKind::ApprovalPending
    );
    assert_eq!(err.action_id(), Some("1"));
    assert_eq!(err.code(), "APPROVAL_PENDING");
}

#[test]
fn respond_with_decides_by_content_and_scripts_win() {
    let mock = MockGovernance::allow_all()
        .respond_with(|a: &AgentAction| {
            if a.resource.starts_with("prod_") {
                Decision::Denied
            } else {
                Decision::Allowed
            }
        })
        .on("db.drop", [Decision::Denied]);
    let client = mock.client();
    let ask = |t: &str, resource: &str| {
        client.authorize_blocking(AgentAction::new(t, resource), EvaluateOptions::default())
    };
    assert!(ask("db.write", "staging_users").is_ok());
    assert!(matches!(
        ask("db.write", "prod_users"),
        Err(Error::Denied(_))
    ));
    assert!(matches!(
        ask("db.drop", "staging_users"),
        Err(Error::Denied(_))
    ));
}

#[test]
fn assertion_helpers_say_what_was_sent() {
    let mock = MockGovernance::allow_all();
    let client = mock.client();
    for t in ["db.read", "db.write", "db.read"] {
        client
            .authorize_blocking(AgentAction::new(t, "users"), EvaluateOptions::default())
            .unwrap();
    }
    mock.assert_request_count(3);
    assert_eq!(mock.assert_requested("db.write").resource, "users");
    assert_eq!(mock.requests_for("db.read").len(), 2);
    assert_eq!(
        mock.last_request().map(|a| a.action_type),
        Some("db.read".into())
    );
    mock.assert_not_requested("db.drop");

    let missing = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mock.assert_requested("db.drop")
    }));
    let message = missing.unwrap_err();
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("`db.drop`") && message.contains("db.read, db.write, db.read"),
        "{message}"
    );
    let present = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mock.assert_not_requested("db.write")
    }));
    assert!(present.is_err());
    let count = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        mock.assert_request_count(2)
    }));
    assert!(count.is_err());
}

#[tokio::test]
async fn scope_owned_is_static_and_spawnable() {
    let mock = MockGovernance::deny_all();
    let task = tokio::spawn(mock.scope_owned(async {
        ascend_runtime::global()?
            .authorize(action("x"), EvaluateOptions::default())
            .await
    }));
    drop(mock.clone());
    assert!(matches!(task.await.unwrap(), Err(Error::Denied(_))));
    mock.assert_request_count(1);
}

/// What an agent that fans out does: every tool call on its own task, some sync on the
/// blocking pool.
async fn fan_out(n: usize) -> usize {
    let mut tasks = Vec::new();
    for i in 0..n {
        tasks.push(tokio::spawn(async move {
            let client = ascend_runtime::global()?;
            client
                .authorize(
                    AgentAction::new("fan.out", format!("r{i}")),
                    EvaluateOptions::default(),
                )
                .await
                .map(|_| ())
        }));
    }
    tasks.push(tokio::task::spawn_blocking(|| {
        ascend_runtime::global()?
            .authorize_blocking(action("fan.blocking"), EvaluateOptions::default())
            .map(|_| ())
    }));
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.unwrap().is_ok());
    }
    allowed
}

#[test]
fn the_double_reaches_every_spawned_task_of_one_test_and_no_other() {
    let allow = MockGovernance::allow_all();
    let deny = MockGovernance::deny_all();
    // Two "tests" in parallel, each with its own double.
    let (allowed, denied) = std::thread::scope(|s| {
        let a = s.spawn(|| allow.block_on(fan_out(8)));
        let d = s.spawn(|| deny.block_on(fan_out(8)));
        (a.join().unwrap(), d.join().unwrap())
    });
    assert_eq!(
        allowed, 9,
        "8 spawned tasks + 1 blocking call, all reached the double"
    );
    assert_eq!(denied, 0);
    assert_eq!(allow.requests_for("fan.out").len(), 8);
    allow.assert_requested("fan.blocking");
    deny.assert_request_count(9);
    // Outside the runtime the double is gone from this thread.
    assert!(
        ascend_runtime::global()
            .map(|c| !format!("{c:?}").contains("mock"))
            .unwrap_or(true)
    );
}

/// A backend that keeps every action: the client hands it over (`submit_taking`), so nothing
/// is copied, and the borrowing `submit` is not used.
#[derive(Default)]
struct Keeper {
    kept: std::sync::Mutex<Vec<AgentAction>>,
    borrowed: std::sync::atomic::AtomicUsize,
}

impl ascend_runtime::backend::Backend for Keeper {
    fn submit<'a>(
        &'a self,
        _action: &'a AgentAction,
        _key: &'a str,
    ) -> ascend_runtime::backend::BoxFuture<'a, ascend_runtime::Result<AuthorizationDecision>> {
        self.borrowed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Box::pin(std::future::ready(Ok(AuthorizationDecision::new(
            "1",
            Decision::Allowed,
        ))))
    }

    fn submit_taking<'a>(
        &'a self,
        action: &'a mut AgentAction,
        key: &'a str,
    ) -> ascend_runtime::backend::Submitted<'a> {
        assert_eq!(key.len(), 36, "a hyphenated UUID: {key}");
        self.kept.lock().unwrap().push(std::mem::take(action));
        ascend_runtime::backend::Submitted::Now(Ok(AuthorizationDecision::new(
            "7",
            Decision::Allowed,
        )))
    }

    fn status<'a>(
        &'a self,
        id: &'a str,
    ) -> ascend_runtime::backend::BoxFuture<'a, ascend_runtime::Result<AuthorizationDecision>> {
        Box::pin(std::future::ready(Ok(AuthorizationDecision::new(
            id,
            Decision::Allowed,
        ))))
    }

    fn report_outcome(&self, _id: &str, _outcome: &Outcome) {}
}

#[tokio::test]
async fn the_client_hands_the_action_over_to_a_backend_that_keeps_it() {
    let keeper = std::sync::Arc::new(Keeper::default());
    let config = ascend_runtime::ClientBuilder::new()
        .ignore_env()
        .agent_id("keeper-agent")
        .build_config()
        .unwrap();
    let client = ascend_runtime::AscendClient::with_backend(config, keeper.clone());
    let d = client
        .authorize(
            action("db.read").with_parameter("row", serde_json::json!(3)),
            EvaluateOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(d.action_id, "7");
    client.submit_action(action("db.write")).await.unwrap();
    let kept = keeper.kept.lock().unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].action_type, "db.read");
    assert_eq!(kept[0].agent_id, "keeper-agent", "identity filled before");
    assert_eq!(kept[0].action_details["row"], 3);
    assert_eq!(kept[1].action_type, "db.write");
    assert_eq!(
        keeper.borrowed.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn a_failed_submit_leaves_the_action_to_the_fail_mode_and_the_double_records_it() {
    let open = MockGovernance::unavailable().fail_open();
    let client = open.client();
    client
        .authorize(
            action("db.write").with_parameter("row", serde_json::json!(5)),
            EvaluateOptions::default(),
        )
        .await
        .unwrap();
    // The double records the request; the fail-open record still has the whole action.
    assert_eq!(open.assert_requested("db.write").action_details["row"], 5);
    // Deliver the queued record: the next answered submit flushes it to the double.
    let open = open.fail_with(None);
    open.client()
        .authorize(action("db.read"), EvaluateOptions::default())
        .await
        .unwrap();
    let mut records = Vec::new();
    for _ in 0..200 {
        records = open.fail_open_records();
        if !records.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].action.action_type, "db.write");
    assert_eq!(records[0].action.action_details["row"], 5);
    assert_eq!(records[0].action.agent_id, "mock-agent");
    // An answered submit hands the action over: recorded whole.
    let read = open.assert_requested("db.read");
    assert_eq!(read.agent_id, "mock-agent");
    assert_eq!(read.resource, "table");
}
