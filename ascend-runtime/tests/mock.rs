//! The test double, the global client and its scoping, and AuthorizedAgent.

use std::time::Duration;

use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{AgentAction, AuthorizedAgent, Decision, Error, EvaluateOptions, Outcome};

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
