//! # Human approval from the command line
//!
//! ```text
//! cargo run --example approval_workflow
//! ```
//!
//! What it shows: a governed tool whose action policy holds for a human (a PII write, high risk).
//! The agent's call waits — it does not fail, and the body does not run — while the action
//! sits in the approval queue. The example prints the exact `ascend approve` command a
//! reviewer types in another terminal; as soon as the reviewer approves, the waiting call
//! resumes and the tool runs. The approval, the vote and the tool's outcome all land in the
//! audit trail, which is verified at the end.
//!
//! Run interactively, it waits up to 2 minutes for you to type the command, then approves by
//! itself. Run non-interactively (stdin not a terminal, e.g. in CI), it approves by itself
//! after a second — by running that same `ascend approve` command line in-process.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ascend_examples::harness::{ControlPlane, init_logging};
use ascend_examples::report::{Checks, Style, decision_lines, heading};
use ascend_runtime::{Error, governed};
use clap::Parser;
use serde_json::Value;

const AGENT_ID: &str = "billing-agent";

#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error(transparent)]
    Governance(#[from] Error),
}

/// A PII write: policy "High Risk Requires Approval" holds it. `approval_timeout_secs` is how
/// long the call waits for the reviewer before giving up with `Error::ApprovalTimeout`.
#[governed(
    action_type = "database.write",
    resource = "customers",
    resource_id = customer_id,
    description = "Update a customer's billing address",
    risk_indicators(pii_involved = true, data_classification = "pii"),
    approval_timeout_secs = 300
)]
async fn update_billing_address(customer_id: &str, new_address: &str) -> Result<String, ToolError> {
    Ok(format!(
        "billing address of {customer_id} is now {new_address:?}"
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let style = Style::detect();
    match run(&style).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("approval_workflow failed: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(style: &Style) -> ascend_examples::Result<bool> {
    let plane = ControlPlane::start(AGENT_ID).await?;
    let client = plane.client_builder().build()?;
    // Decisions on pending actions are pushed over the event stream the watch opens.
    client.start_kill_switch_watch();
    ascend_runtime::init(client.clone())?;
    let reviewer = plane.reviewer()?;
    let mut checks = Checks::default();

    // The agent calls its tool in the background; the call blocks until a human decides.
    println!("{}", heading(style, "agent"));
    println!("  update_billing_address(\"cust_42\", \"1 Main St, Springfield\") …");
    let started = Instant::now();
    let agent = tokio::spawn(update_billing_address("cust_42", "1 Main St, Springfield"));

    // The reviewer's side: the action shows up in the approval queue.
    let id = reviewer
        .wait_for_pending(AGENT_ID, "database.write", Duration::from_secs(20))
        .await?;
    let pending = reviewer.decision(&id).await?;
    println!("  … is waiting for approval:");
    print!("{}", decision_lines(style, &pending, 3));

    let command = format!(
        "ASCEND_API_URL={} ASCEND_API_KEY={} cargo run -p ascend-server --bin ascend -- approve {id} --comment \"checked with the customer\"",
        plane.base_url(),
        plane.reviewer_key()
    );
    println!();
    println!("{}", heading(style, "reviewer"));
    println!("  In another terminal, approve it with:");
    println!();
    println!("    {}", style.bold(&command));
    println!();
    println!(
        "  {}",
        style.dim(&format!(
            "(or deny it: … -- deny {id} --reason \"…\"; list the queue: … -- actions list --status pending)"
        ))
    );
    println!(
        "  {}",
        style.dim("The key above belongs to this run's temporary server and dies with it.")
    );

    let interactive = std::io::stdin().is_terminal();
    let wait = if interactive {
        Duration::from_secs(120)
    } else {
        Duration::from_secs(1)
    };
    let mut agent = agent;
    let auto = match tokio::time::timeout(wait, &mut agent).await {
        Ok(done) => {
            println!("  a reviewer decided.");
            Some(done)
        }
        Err(_) => None,
    };
    let (result, approved_by_example) = match auto {
        Some(done) => (done, false),
        None => {
            println!(
                "  {} approving by itself, with that same command line (run in-process):",
                if interactive {
                    "No decision after 2 minutes:"
                } else {
                    "Not interactive:"
                }
            );
            let args = [
                "ascend",
                "approve",
                id.as_str(),
                "--comment",
                "approved by the example (non-interactive run)",
                "--api-url",
                plane.base_url(),
                "--api-key",
                plane.reviewer_key(),
            ];
            let cli = ascend_server::cli::Cli::try_parse_from(args)
                .map_err(|e| ascend_examples::Error::Unexpected(e.to_string()))?;
            print!("    ");
            ascend_server::cli::run(cli).await?;
            let done = tokio::time::timeout(Duration::from_secs(30), agent)
                .await
                .map_err(|_| ascend_examples::Error::Timeout("the agent did not resume".into()))?;
            (done, true)
        }
    };
    let result = result.map_err(|e| ascend_examples::Error::Unexpected(e.to_string()))?;

    println!();
    println!("{}", heading(style, "agent"));
    match &result {
        Ok(msg) => println!(
            "  the call resumed after {:.1} s and the tool ran: {msg}",
            started.elapsed().as_secs_f64()
        ),
        Err(e) => println!("  the tool did not run: {e}"),
    }
    let decided = reviewer.decision(&id).await?;
    print!("{}", decision_lines(style, &decided, 0));
    checks.check(
        "the PII write was held for approval",
        pending.is_pending(),
        format!("first decision: {}", pending.decision),
    );
    checks.check(
        "after `ascend approve`, the waiting call resumed and the tool ran",
        result.is_ok() && decided.is_allowed() && decided.approved_by.is_some(),
        format!("{result:?}"),
    );
    if approved_by_example {
        checks.check(
            "the approval carries the reviewer's comment",
            decided
                .comments
                .as_deref()
                .is_some_and(|c| c.contains("non-interactive")),
            format!("comments: {:?}", decided.comments),
        );
    }

    // The audit trail of this one action: decided (pending), the vote, the tool's outcome.
    let subject = format!("action:{id}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let kinds = loop {
        let kinds: Vec<String> = reviewer
            .audit_events()
            .await?
            .iter()
            .filter(|e| e.get("resource").and_then(Value::as_str) == Some(subject.as_str()))
            .filter_map(|e| {
                e.get("event_type")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect();
        // The outcome is reported in the background: wait for it briefly.
        if kinds.iter().any(|k| k == "action.completed") || Instant::now() >= deadline {
            break kinds;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let verify = reviewer.verify_audit().await?;
    println!();
    println!("{}", heading(style, "audit trail of this action"));
    println!("  {}", kinds.join(" → "));
    println!(
        "  chain: {}",
        if verify.ok {
            style.good(&format!("OK ({} entries)", verify.entries))
        } else {
            style.bad(&verify.detail)
        }
    );
    checks.check(
        "the audit trail holds the decision, the approval and the outcome; the chain verifies",
        kinds.iter().any(|k| k == "action.decided")
            && kinds.iter().any(|k| k.starts_with("action.approv"))
            && kinds.iter().any(|k| k == "action.completed")
            && verify.ok,
        format!("events: {kinds:?}, chain ok: {}", verify.ok),
    );

    println!();
    println!("{}", heading(style, "checks"));
    print!("{}", checks.render(style));
    client.stop_kill_switch_watch();
    plane.shutdown().await?;
    Ok(checks.all_ok())
}
