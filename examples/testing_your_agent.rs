//! # Unit-testing your own governed tools
//!
//! ```text
//! cargo run --example testing_your_agent          # the scenarios below, with their checks
//! cargo test --example testing_your_agent         # the same, as #[test]s (bottom of the file)
//! ```
//!
//! What it shows: how to test an agent whose tools are `#[governed]` without a server, a key or
//! a network, using `ascend_runtime::testing::MockGovernance`:
//!
//! - `MockGovernance::allow_all()` / `deny_all()`, scripted sequences per action type
//!   (`.on("transaction", [Decision::Pending, Decision::Allowed])`: each submit and each status
//!   poll takes the next answer, across calls; the last repeats), and decisions made from the
//!   action's content (`.respond_with(|action| ..)`);
//! - installing the double for one task (`mock.scope(fut).await`, or `mock.scope_owned(fut)`
//!   to spawn it), one thread (`let _guard = mock.install_for_thread()`), or every task of one
//!   test (`mock.block_on(fut)`: an agent that fans out with `tokio::spawn`), so tests running
//!   in parallel never see each other's double;
//! - asserting on what the tool asked for (`mock.assert_requested("transaction")`,
//!   `mock.requests()`: action type, resource, parameters with secrets redacted) and what it
//!   reported (`mock.outcomes()`);
//! - the kill switch (`mock.trigger_kill_switch(..)`) and an unreachable service in fail-open
//!   mode (`MockGovernance::unavailable().fail_open()`).
//!
//! The agent code under test is the `agent` module: it knows nothing about the double.

use std::process::ExitCode;

use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{AgentAction, Decision, Error, Outcome};

/// The code under test: an agent's tools and one piece of business logic using them.
mod agent {
    use ascend_runtime::{Error, governed};

    #[derive(Debug, thiserror::Error)]
    pub enum RefundError {
        #[error("governance: {0}")]
        Governance(#[from] Error),
        #[error("invalid amount {0}")]
        InvalidAmount(i64),
    }

    /// Issue a refund. `api_token` is sent as `[REDACTED]`, never in clear.
    #[governed(
        action_type = "transaction",
        resource = "refunds",
        resource_id = order_id,
        risk_indicators(amount = amount_usd)
    )]
    pub async fn refund(
        order_id: &str,
        amount_usd: i64,
        api_token: &str,
    ) -> Result<String, RefundError> {
        let _ = api_token;
        if amount_usd <= 0 {
            return Err(RefundError::InvalidAmount(amount_usd));
        }
        Ok(format!("refunded {amount_usd} USD on {order_id}"))
    }

    /// A sync tool with a fallback.
    #[governed(
        action_type = "communication",
        resource = "email",
        on_denied = |e: Error| format!("queued for a human ({})", e.code())
    )]
    pub fn email_customer(to: &str, text: &str) -> String {
        format!("sent {} characters to {to}", text.len())
    }

    /// Fan-out: every refund of a batch on its own task.
    pub async fn refund_batch(orders: &[(&str, i64)]) -> Vec<Result<String, RefundError>> {
        let tasks: Vec<_> = orders
            .iter()
            .map(|&(order, amount)| {
                let order = order.to_owned();
                tokio::spawn(async move { refund(&order, amount, "tok_live_123").await })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            match task.await {
                Ok(result) => results.push(result),
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        results
    }

    /// The business logic: refund, then tell the customer.
    pub async fn handle_complaint(order_id: &str, amount_usd: i64) -> Result<String, RefundError> {
        let refund = refund(order_id, amount_usd, "tok_live_123").await?;
        let email = email_customer("ada@example.com", &refund);
        Ok(format!("{refund}; {email}"))
    }
}

/// One scenario: a name and whether its assertions held.
type Scenario = (&'static str, Result<(), String>);

fn ensure(cond: bool, msg: impl Into<String>) -> Result<(), String> {
    if cond { Ok(()) } else { Err(msg.into()) }
}

async fn allowed_path_sends_the_right_request() -> Result<(), String> {
    let mock = MockGovernance::allow_all();
    // The email tool is sync: it is called from this task's thread, so install the double for
    // the thread too (scope() covers async code in this task, install_for_thread sync code).
    let _guard = mock.install_for_thread();
    let out = mock.scope(agent::handle_complaint("ord_7", 40)).await;
    ensure(out.is_ok(), format!("expected success, got {out:?}"))?;
    let requests = mock.requests();
    ensure(
        requests.len() == 2,
        format!("expected 2 governed calls, saw {}", requests.len()),
    )?;
    let refund = &requests[0];
    ensure(
        refund.action_type == "transaction" && refund.resource == "refunds",
        "wrong action",
    )?;
    ensure(
        refund.resource_id.as_deref() == Some("ord_7"),
        "resource_id is the order id",
    )?;
    ensure(
        refund.risk_indicators["amount"] == 40,
        "the amount is a risk indicator",
    )?;
    ensure(
        refund.action_details["api_token"] == "[REDACTED]",
        format!(
            "secrets are redacted, got {}",
            refund.action_details["api_token"]
        ),
    )?;
    // Outcomes are reported in the background; both tools completed.
    let outcomes = mock.outcomes();
    ensure(
        outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Completed { .. }))
            .count()
            == 2,
        format!("two completed outcomes expected, got {outcomes:?}"),
    )
}

async fn denied_refund_is_an_error_and_skips_the_email() -> Result<(), String> {
    let mock = MockGovernance::allow_all().on("transaction", [Decision::Denied]);
    let _guard = mock.install_for_thread();
    let out = mock.scope(agent::handle_complaint("ord_8", 40)).await;
    ensure(
        matches!(&out, Err(agent::RefundError::Governance(Error::Denied(_)))),
        format!("expected a denial, got {out:?}"),
    )?;
    ensure(
        mock.requests().len() == 1,
        "the email tool must not be called after a denied refund",
    )
}

async fn approval_then_allowed() -> Result<(), String> {
    // Pending at submit, allowed at the first status poll: the call waits, then runs.
    let mock =
        MockGovernance::allow_all().on("transaction", [Decision::Pending, Decision::Allowed]);
    let out = mock.scope(agent::refund("ord_9", 900, "tok")).await;
    ensure(
        out.is_ok(),
        format!("expected the refund to run after approval, got {out:?}"),
    )
}

fn fan_out_reaches_every_spawned_task() -> Result<(), String> {
    // Large refunds are denied, decided from the request's content.
    let mock = MockGovernance::allow_all().respond_with(|action: &AgentAction| {
        match action
            .risk_indicators
            .get("amount")
            .and_then(|a| a.as_i64())
        {
            Some(amount) if amount > 500 => Decision::Denied,
            _ => Decision::Allowed,
        }
    });
    let orders = [
        ("ord_20", 10),
        ("ord_21", 900),
        ("ord_22", 30),
        ("ord_23", 40),
    ];
    // `block_on` runs the test on a runtime whose every thread uses the double: the tasks the
    // agent spawns reach it. (It starts its own runtime, so call it outside one: from a plain
    // `#[test]`, or, as here inside `main`'s runtime, from a scoped thread.)
    let results = std::thread::scope(|s| {
        s.spawn(|| mock.block_on(agent::refund_batch(&orders)))
            .join()
            .map_err(|_| "the batch panicked".to_owned())
    })?;
    let allowed = results.iter().filter(|r| r.is_ok()).count();
    ensure(
        allowed == 3,
        format!("3 of 4 allowed expected, got {results:?}"),
    )?;
    mock.assert_request_count(4);
    let big = mock
        .requests_for("transaction")
        .into_iter()
        .find(|a| a.resource_id.as_deref() == Some("ord_21"));
    ensure(big.is_some(), "the denied refund was asked for too")
}

fn sync_tool_fallback_on_denial() -> Result<(), String> {
    let mock = MockGovernance::deny_all();
    let _guard = mock.install_for_thread();
    let out = agent::email_customer("ada@example.com", "hello");
    ensure(
        out == "queued for a human (AUTHZ_DENIED)",
        format!("on_denied should answer, got {out:?}"),
    )
}

async fn kill_switch_stops_everything() -> Result<(), String> {
    let mock = MockGovernance::allow_all();
    mock.trigger_kill_switch("incident 7");
    let out = mock.scope(agent::refund("ord_10", 5, "tok")).await;
    ensure(
        matches!(
            &out,
            Err(agent::RefundError::Governance(Error::KillSwitch { .. }))
        ),
        format!("expected KillSwitch, got {out:?}"),
    )?;
    ensure(mock.requests().is_empty(), "a halted agent sends nothing")
}

async fn fail_open_when_unreachable() -> Result<(), String> {
    let mock = MockGovernance::unavailable().fail_open();
    let out = mock.scope(agent::refund("ord_11", 5, "tok")).await;
    ensure(out.is_ok(), format!("fail-open proceeds, got {out:?}"))?;
    // The default (fail-closed) refuses instead.
    let closed = MockGovernance::unavailable();
    let out = closed.scope(agent::refund("ord_12", 5, "tok")).await;
    ensure(
        matches!(
            &out,
            Err(agent::RefundError::Governance(Error::Connection { .. }))
        ),
        format!("fail-closed refuses, got {out:?}"),
    )
}

async fn scenarios() -> Vec<Scenario> {
    vec![
        (
            "allowed: the tool runs and sends the right request (secrets redacted)",
            allowed_path_sends_the_right_request().await,
        ),
        (
            "denied: the error converts into the tool's error type; later tools are not called",
            denied_refund_is_an_error_and_skips_the_email().await,
        ),
        (
            "pending then approved: the call waits, then runs",
            approval_then_allowed().await,
        ),
        (
            "fan-out: every spawned refund reaches the double, decided by content",
            fan_out_reaches_every_spawned_task(),
        ),
        (
            "sync tool denied: on_denied answers",
            sync_tool_fallback_on_denial(),
        ),
        (
            "kill switch: refused without a request",
            kill_switch_stops_everything().await,
        ),
        (
            "unreachable: fail-open proceeds, fail-closed refuses",
            fail_open_when_unreachable().await,
        ),
    ]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut failed = 0;
    for (name, result) in scenarios().await {
        match result {
            Ok(()) => println!("  ✓ {name}"),
            Err(why) => {
                failed += 1;
                println!("  ✗ {name} — {why}");
            }
        }
    }
    if failed == 0 {
        println!("all scenarios passed");
        ExitCode::SUCCESS
    } else {
        println!("{failed} scenario(s) failed");
        ExitCode::FAILURE
    }
}

// In your crate, the same scenarios are ordinary tests:
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn allowed() {
        assert_eq!(allowed_path_sends_the_right_request().await, Ok(()));
    }

    #[tokio::test]
    async fn denied() {
        assert_eq!(
            denied_refund_is_an_error_and_skips_the_email().await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn pending_then_allowed() {
        assert_eq!(approval_then_allowed().await, Ok(()));
    }

    #[test]
    fn fan_out() {
        assert_eq!(fan_out_reaches_every_spawned_task(), Ok(()));
    }

    #[test]
    fn sync_fallback() {
        assert_eq!(sync_tool_fallback_on_denial(), Ok(()));
    }

    #[tokio::test]
    async fn kill_switch() {
        assert_eq!(kill_switch_stops_everything().await, Ok(()));
    }

    #[tokio::test]
    async fn unreachable() {
        assert_eq!(fail_open_when_unreachable().await, Ok(()));
    }
}
