//! # Governance in the agent's own process: no server, no port
//!
//! ```text
//! cargo run --example embedded_agent
//! ```
//!
//! What it shows: `ascend_server::Embedded` — the control plane's governance service opened on
//! a SQLite file inside the agent's process and handed to the runtime as its backend. The same
//! risk engine, Cedar policies, approvals, kill switch and hash-chained audit trail as
//! `ascend serve`, with no HTTP in between:
//!
//! 1. a read of public data is allowed and runs;
//! 2. a bulk delete is denied by policy and its body never runs;
//! 3. a PII write waits for a human; a reviewer in the same process approves it and the
//!    waiting call goes on at once;
//! 4. an operator halts the agent while a call waits: the waiting call is refused at once, and
//!    so is the next one, until the agent is resumed;
//! 5. the audit chain verifies.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ascend_examples::harness::init_logging;
use ascend_examples::report::{Checks, Style, heading};
use ascend_runtime::{AscendClient, Error, governed};
use ascend_server::Embedded;

#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error(transparent)]
    Governance(#[from] Error),
}

/// A read of public data: allowed at once.
#[governed(
    action_type = "database.read",
    resource = "product_catalog",
    risk_indicators(data_classification = "public")
)]
async fn list_products(category: &str) -> Result<Vec<String>, ToolError> {
    Ok(vec![format!("{category}-1"), format!("{category}-2")])
}

/// A bulk delete: denied by policy ("Block Bulk Deletions").
#[governed(action_type = "database.delete", resource = "customers")]
async fn purge_customers(record_count: u32) -> Result<u32, ToolError> {
    eprintln!("purge_customers' body ran: governance should have denied it");
    Ok(record_count)
}

/// A PII write: held for a human ("High Risk Requires Approval").
#[governed(
    action_type = "database.write",
    resource = "customers",
    resource_id = customer_id,
    risk_indicators(pii_involved = true, data_classification = "pii"),
    approval_timeout_secs = 30
)]
async fn update_address(customer_id: &str, address: &str) -> Result<String, ToolError> {
    Ok(format!("{customer_id} now lives at {address:?}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let style = Style::detect();
    match run(&style).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("embedded_agent failed: {e}");
            ExitCode::from(2)
        }
    }
}

/// Wait until the reviewer sees one pending action; its id.
async fn first_pending(
    reviewer: &ascend_server::embedded::Reviewer,
) -> ascend_examples::Result<i64> {
    match reviewer.next_pending(Duration::from_secs(5)).await? {
        Some(a) => Ok(a.id),
        None => Err(ascend_examples::Error::Timeout(
            "no action became pending".into(),
        )),
    }
}

async fn run(style: &Style) -> ascend_examples::Result<bool> {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("ascend.db");
    // 1 line to open the governance service, 1 to hand it to the runtime.
    let embedded = Embedded::open(&db)?;
    let client = AscendClient::builder()
        .ignore_env()
        .agent_id("billing-agent")
        .build_with_backend(Arc::new(embedded.clone()))?;
    ascend_runtime::init(client)?;
    let reviewer = embedded.reviewer("alice");
    let operator = embedded.operator("olivia");
    println!("governance opened in-process on {}", db.display());
    let mut checks = Checks::default();

    println!("{}", heading(style, "1. a public read"));
    let r = list_products("lamps").await;
    println!("  list_products(\"lamps\") = {r:?}");
    checks.check("public read allowed and run", r.is_ok(), format!("{r:?}"));

    println!("{}", heading(style, "2. a bulk delete"));
    let r = purge_customers(150).await;
    match &r {
        Err(e) => println!("  purge_customers(150) refused: {e}"),
        Ok(n) => println!("  purge_customers(150) ran: {n}"),
    }
    let denied = matches!(&r, Err(ToolError::Governance(Error::Denied(_))));
    checks.check("bulk delete denied by policy", denied, format!("{r:?}"));

    println!("{}", heading(style, "3. a PII write, approved in-process"));
    let waiting = tokio::spawn(update_address("cust-42", "1 Main St"));
    let id = first_pending(&reviewer).await?;
    println!("  action {id} is pending; alice approves it");
    reviewer.approve(id, Some("verified by phone")).await?;
    let r = waiting
        .await
        .map_err(|e| ascend_examples::Error::Unexpected(e.to_string()))?;
    println!("  update_address(..) = {r:?}");
    checks.check("approved write runs", r.is_ok(), format!("{r:?}"));

    println!("{}", heading(style, "4. the kill switch"));
    let waiting = tokio::spawn(update_address("cust-43", "2 Side St"));
    let id = first_pending(&reviewer).await?;
    println!("  action {id} is pending; olivia halts billing-agent");
    operator
        .halt(Some("billing-agent"), "suspicious activity")
        .await?;
    let r = waiting
        .await
        .map_err(|e| ascend_examples::Error::Unexpected(e.to_string()))?;
    println!("  the waiting call: {r:?}");
    let halted = matches!(&r, Err(ToolError::Governance(Error::KillSwitch { .. })));
    checks.check("waiting call refused at once", halted, format!("{r:?}"));
    let r = list_products("lamps").await;
    let refused = matches!(&r, Err(ToolError::Governance(Error::KillSwitch { .. })));
    checks.check("next call refused while halted", refused, format!("{r:?}"));
    operator.resume(Some("billing-agent")).await?;
    let r = list_products("lamps").await;
    checks.check("allowed again after resume", r.is_ok(), format!("{r:?}"));

    println!("{}", heading(style, "5. the audit trail"));
    let report = reviewer.verify_audit().await?;
    println!("  {} entries, {}", report.entries, report.detail);
    checks.check("audit chain verifies", report.ok, report.detail.clone());

    println!("{}", checks.render(style));
    Ok(checks.all_ok())
}
