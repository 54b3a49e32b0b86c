//! # Quickstart: the whole product in one run
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! What it shows, with no server to install, no key to create and no network:
//!
//! 1. A control plane starts in this process: the real `ascend-server` on `127.0.0.1` (a free
//!    port), a temporary SQLite file, the default Cedar policies. It hands out an agent key, a
//!    reviewer key and an operator (admin) key. A governance client for the agent is installed
//!    as the global client (`ascend_runtime::init`), which every `#[governed]` function uses.
//! 2. A small support agent calls its tools. Each tool is an ordinary Rust function (async or
//!    sync) with `#[governed(...)]` on top; before its body runs, the action goes over HTTP to
//!    the control plane, is risk-scored (CVSS 3.1, NIST SP 800-30, MITRE ATT&CK), checked
//!    against policy, possibly held for a human, and written to a hash-chained audit trail:
//!    - read public product categories → allowed at once (low risk);
//!    - read a customer's contact data → allowed (medium risk: personal data);
//!    - update a billing address → held for approval; a reviewer approves through the API a
//!      moment later, and the tool runs;
//!    - delete 150 inactive users → denied by the rule "Block Bulk Deletions"; the tool's
//!      `on_denied` fallback runs instead;
//!    - send 50,000 USD to an external account → held for approval, and the reviewer denies it;
//!    - an operator triggers the kill switch; the agent's next call is refused by its own
//!      client, without reaching the server.
//! 3. It prints, per call, the decision, the risk score and level, the CVSS vector, the top risk
//!    factors and the rule that decided; then the audit trail as `ascend actions list` shows it,
//!    and the result of verifying the audit hash chain.
//!
//! The exit status is 0 only if every step behaved as described (CI runs it as a test).
//!
//! Against a real deployment: set `ASCEND_API_URL` and `ASCEND_API_KEY` (an agent key) and the
//! same agent runs there; approvals then need `ASCEND_REVIEWER_KEY` and the kill switch
//! `ASCEND_ADMIN_KEY`. Colour is used when stdout is a terminal and `NO_COLOR` is unset.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ascend_examples::harness::{ControlPlane, Operator, init_logging, wait_until};
use ascend_examples::report::{Checks, Style, actions_table, decision_lines, heading};
use ascend_runtime::{AscendClient, AuthorizationDecision, Decision, Error, FailMode, governed};

/// The agent's identity. Its API key is bound to this id: the server refuses the key for any
/// other agent.
const AGENT_ID: &str = "support-agent";

// ─────────────────────────────────────────────────────────────────────────────────────────────
// The agent's tools. Nothing in their bodies knows about governance: the attribute does it all.
// ─────────────────────────────────────────────────────────────────────────────────────────────

/// The tools' error type. `#[governed]` turns "not allowed" into `Err(ToolError::from(error))`,
/// so the only requirement is `From<ascend_runtime::Error>`.
#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error("not allowed: {0}")]
    Governance(#[from] Error),
}

/// Public data: scored low, allowed at once.
#[governed(
    action_type = "database.read",
    resource = "product_categories",
    description = "List the public product categories",
    risk_indicators(data_classification = "public")
)]
async fn list_product_categories() -> Result<Vec<&'static str>, ToolError> {
    Ok(vec!["books", "electronics", "garden", "toys"])
}

/// Personal data (PII), read with a plain synchronous function: scored medium, allowed.
/// The function's arguments travel with the request as the action's parameters.
#[governed(
    action_type = "database.read",
    resource = "customers",
    resource_id = customer_id,
    description = "Read a customer's contact details",
    risk_indicators(pii_involved = true, data_classification = "pii")
)]
fn read_customer_contact(customer_id: &str, fields: &[&str]) -> Result<String, ToolError> {
    Ok(format!(
        "{customer_id}: Ada Lovelace <ada@example.com> +44 20 7946 0000 ({} fields)",
        fields.len()
    ))
}

/// Writing personal data: scored high, so policy holds it for a human. The call waits (up to
/// 30 s here) for the reviewer; once approved, the body runs.
#[governed(
    action_type = "database.write",
    resource = "customers",
    resource_id = customer_id,
    description = "Update a customer's billing address",
    risk_indicators(pii_involved = true, data_classification = "pii"),
    approval_timeout_secs = 30
)]
async fn update_billing_address(customer_id: &str, new_address: &str) -> Result<String, ToolError> {
    Ok(format!(
        "billing address of {customer_id} set to {new_address:?}"
    ))
}

/// What the clean-up tool did.
#[derive(Debug, PartialEq)]
enum Cleanup {
    Deleted(u32),
    /// The fallback: governance said no, so the users are only flagged for a human.
    FlaggedForReview {
        reason: String,
    },
}

/// `on_denied` handler: receives the reason (an `ascend_runtime::Error`) and returns what the
/// tool returns. Here the agent degrades gracefully instead of failing.
fn flag_for_review(error: Error) -> Cleanup {
    Cleanup::FlaggedForReview {
        reason: error.to_string(),
    }
}

/// Deleting 150 users at once: policy "Block Bulk Deletions" denies it, whatever the score, and
/// `on_denied` runs instead of the body. (A sync function with a non-`Result` return type:
/// possible because `on_denied` supplies the value.)
#[governed(
    action_type = "database.delete",
    resource = "users",
    description = "Delete inactive users",
    risk_indicators(bulk_operation = true),
    on_denied = flag_for_review
)]
fn delete_inactive_users(record_count: u32, inactive_days: u32) -> Cleanup {
    let _ = inactive_days;
    Cleanup::Deleted(record_count)
}

/// Money leaving the company: never allowed at once. Policy holds it for two approvers (finance
/// manager, then CFO) — or denies it outright when the risk is critical.
#[governed(
    action_type = "transaction",
    resource = "payments",
    description = "Send money to an external account",
    risk_indicators(amount_threshold = "exceeded", external_transfer = true),
    approval_timeout_secs = 30
)]
async fn transfer_funds(amount_usd: u64, to_account: &str) -> Result<String, ToolError> {
    Ok(format!("sent {amount_usd} USD to {to_account}"))
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
// The deployment: in-process by default, a real one when ASCEND_API_URL/ASCEND_API_KEY are set.
// ─────────────────────────────────────────────────────────────────────────────────────────────

struct Deployment {
    /// The in-process server (None when running against a real deployment).
    local: Option<ControlPlane>,
    agent_id: String,
    client: AscendClient,
    reviewer: Arc<Operator>,
    operator: Operator,
    /// The newest action already reported (so a call that never reached the server is not
    /// shown with the previous call's decision).
    seen: std::sync::Mutex<Option<String>>,
}

async fn deployment(style: &Style) -> ascend_examples::Result<Deployment> {
    let remote = std::env::var("ASCEND_API_URL").is_ok_and(|v| !v.trim().is_empty())
        && std::env::var("ASCEND_API_KEY").is_ok_and(|v| !v.trim().is_empty());
    if remote {
        let url = std::env::var("ASCEND_API_URL").unwrap_or_default();
        let agent_id = std::env::var("ASCEND_AGENT_ID").unwrap_or_else(|_| AGENT_ID.to_owned());
        println!(
            "Using the deployment at {} (ASCEND_API_URL and ASCEND_API_KEY are set).",
            style.bold(&url)
        );
        let agent_key = std::env::var("ASCEND_API_KEY").unwrap_or_default();
        let key = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                println!(
                    "  {} {name} is not set: using ASCEND_API_KEY for that role (it will likely be refused).",
                    style.warn("note:")
                );
                agent_key.clone()
            })
        };
        let reviewer = Operator::new(&url, &key("ASCEND_REVIEWER_KEY"))?;
        let operator = Operator::new(&url, &key("ASCEND_ADMIN_KEY"))?;
        // Everything else (URL, key, fail mode, ...) comes from the environment.
        let client = AscendClient::builder()
            .agent_id(agent_id.clone())
            .agent_name("Support agent (quickstart)")
            .build()?;
        return Ok(Deployment {
            local: None,
            agent_id,
            client,
            reviewer: Arc::new(reviewer),
            operator,
            seen: Default::default(),
        });
    }

    let plane = ControlPlane::start(AGENT_ID).await?;
    println!(
        "Control plane: ascend-server in this process at {}",
        style.bold(plane.base_url())
    );
    println!(
        "  database {}  · default policies · keys: agent ({AGENT_ID}), reviewer, admin",
        style.dim(&plane.db_path().display().to_string())
    );
    println!(
        "  {}",
        style.dim("(set ASCEND_API_URL and ASCEND_API_KEY to run the same agent against your own deployment)")
    );
    let client = plane
        .client_builder()
        .agent_name("Support agent (quickstart)")
        .fail_mode(FailMode::Closed)
        .build()?;
    Ok(Deployment {
        agent_id: AGENT_ID.to_owned(),
        reviewer: Arc::new(plane.reviewer()?),
        operator: plane.admin()?,
        client,
        local: Some(plane),
        seen: Default::default(),
    })
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
// The reviewer: a person watching the approval queue, here a task acting "a moment later".
// ─────────────────────────────────────────────────────────────────────────────────────────────

#[derive(Clone, Copy)]
enum Verdict {
    Approve,
    Deny,
}

/// What the reviewer saw and did.
struct Review {
    action_id: String,
    /// The decision while it was pending (rule, approvers).
    pending: AuthorizationDecision,
}

/// Wait for the agent's pending `action_type` action, look at it, wait a moment, then vote.
fn spawn_reviewer(
    style: Style,
    reviewer: Arc<Operator>,
    agent_id: String,
    action_type: &'static str,
    verdict: Verdict,
) -> tokio::task::JoinHandle<ascend_examples::Result<Review>> {
    tokio::spawn(async move {
        let id = reviewer
            .wait_for_pending(&agent_id, action_type, Duration::from_secs(20))
            .await?;
        let pending = reviewer.decision(&id).await?;
        let approvers = if pending.required_approvers.is_empty() {
            "a reviewer".to_owned()
        } else {
            pending.required_approvers.join(", ")
        };
        println!(
            "    {} action #{id} is waiting for {approvers} (rule {}); deciding in 1 s…",
            style.note("reviewer:"),
            pending.rule_name.as_deref().unwrap_or("-"),
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        match verdict {
            Verdict::Approve => {
                reviewer
                    .approve(&id, "verified with the customer by phone")
                    .await?;
                println!(
                    "    {} approved #{id} (POST /api/v1/actions/{id}/approve — what `ascend approve {id}` sends)",
                    style.note("reviewer:")
                );
            }
            Verdict::Deny => {
                reviewer
                    .deny(&id, "unknown beneficiary; call the customer first")
                    .await?;
                println!(
                    "    {} denied #{id} (POST /api/v1/actions/{id}/deny — what `ascend deny {id}` sends)",
                    style.note("reviewer:")
                );
            }
        }
        Ok(Review {
            action_id: id,
            pending,
        })
    })
}

/// Collect the reviewer task after the tool returned: a pending action was decided before the
/// tool could return, so the task is done or about to be; if the server never held the action,
/// there is nothing to review and the task is stopped.
async fn reviewed(
    task: tokio::task::JoinHandle<ascend_examples::Result<Review>>,
    was_pending: bool,
) -> Option<Review> {
    if !was_pending {
        task.abort();
        return None;
    }
    match tokio::time::timeout(Duration::from_secs(10), task).await {
        Ok(Ok(Ok(review))) => Some(review),
        Ok(Ok(Err(e))) => {
            eprintln!("reviewer failed: {e}");
            None
        }
        _ => None,
    }
}

// ─────────────────────────────────────────────────────────────────────────────────────────────
// The run.
// ─────────────────────────────────────────────────────────────────────────────────────────────

fn step(style: &Style, n: u32, call: &str, expected: &str) {
    println!();
    println!("{} {}", style.bold(&format!("[{n}]")), style.bold(call));
    println!("    {}", style.dim(&format!("expected: {expected}")));
}

/// The decision the control plane recorded for the call just made: the agent's newest action,
/// if it is new (a call refused before reaching the server leaves no action).
async fn last_decision(d: &Deployment) -> Option<AuthorizationDecision> {
    let newest = match d.reviewer.latest_decision(&d.agent_id).await {
        Ok(decision) => decision,
        Err(e) => {
            println!("    (could not read the decision back: {e})");
            return None;
        }
    };
    let mut seen = d.seen.lock().unwrap_or_else(|e| e.into_inner());
    match newest {
        Some(n) if seen.as_deref() != Some(n.action_id.as_str()) => {
            *seen = Some(n.action_id.clone());
            Some(n)
        }
        _ => {
            println!("    (no new action on the server: the call did not reach it)");
            None
        }
    }
}

fn show(style: &Style, decision: Option<&AuthorizationDecision>) {
    if let Some(d) = decision {
        print!("{}", decision_lines(style, d, 3));
    }
}

fn result_line(style: &Style, text: &str) {
    println!("    result     {}", style.bold(text));
}

async fn run(style: &Style) -> ascend_examples::Result<bool> {
    println!(
        "{}",
        style.bold("Ascend quickstart — governing an AI agent's tool calls")
    );
    println!();
    let d = deployment(style).await?;
    // Keep the kill-switch status in sync: the client listens to the server's event stream
    // (polling when there is none) and keeps a local flag every call checks first.
    d.client.start_kill_switch_watch();
    // Every #[governed] function now uses this client.
    ascend_runtime::init(d.client.clone())?;
    let mut checks = Checks::default();
    let started = Instant::now();
    // Against a deployment with history, start reporting after its newest action.
    if let Ok(Some(prev)) = d.reviewer.latest_decision(&d.agent_id).await {
        *d.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(prev.action_id);
    }

    // ── 1. low risk ────────────────────────────────────────────────────────────────────────
    step(
        style,
        1,
        "list_product_categories()   async tool, public data",
        "allowed at once, low risk",
    );
    let r = list_product_categories().await;
    let dec = last_decision(&d).await;
    show(style, dec.as_ref());
    match &r {
        Ok(c) => result_line(style, &format!("the tool ran: {}", c.join(", "))),
        Err(e) => result_line(style, &format!("refused: {e}")),
    }
    let low = dec.as_ref().and_then(|d| d.risk_level).map(|l| l.as_str());
    checks.check(
        "public product categories: allowed at once, low risk",
        r.is_ok() && low == Some("low"),
        format!("ran: {}, level: {low:?}", r.is_ok()),
    );

    // ── 2. medium risk, sync tool ─────────────────────────────────────────────────────────
    step(
        style,
        2,
        "read_customer_contact(\"cust_42\", [name, email, phone])   sync tool, personal data",
        "allowed, medium risk",
    );
    // A sync governed function blocks its thread while governance answers: from async code,
    // call it through spawn_blocking (it also works called directly, but would hold a worker).
    let r = tokio::task::spawn_blocking(|| {
        read_customer_contact("cust_42", &["name", "email", "phone"])
    })
    .await
    .map_err(|e| ascend_examples::Error::Unexpected(e.to_string()))?;
    let dec = last_decision(&d).await;
    show(style, dec.as_ref());
    match &r {
        Ok(c) => result_line(style, &format!("the tool ran: {c}")),
        Err(e) => result_line(style, &format!("refused: {e}")),
    }
    let level = dec.as_ref().and_then(|d| d.risk_level).map(|l| l.as_str());
    checks.check(
        "customer contact data (PII read): allowed, medium risk",
        r.is_ok() && level == Some("medium"),
        format!("ran: {}, level: {level:?}", r.is_ok()),
    );

    // ── 3. high risk → pending → approved ─────────────────────────────────────────────────
    step(
        style,
        3,
        "update_billing_address(\"cust_42\", \"1 Main St, Springfield\")   async tool, PII write",
        "held for approval (high risk); a reviewer approves; then the tool runs",
    );
    let reviewer = spawn_reviewer(
        *style,
        d.reviewer.clone(),
        d.agent_id.clone(),
        "database.write",
        Verdict::Approve,
    );
    let t = Instant::now();
    let r = update_billing_address("cust_42", "1 Main St, Springfield").await;
    let waited = t.elapsed();
    let dec = last_decision(&d).await;
    let was_pending = dec.as_ref().is_some_and(|d| d.approved_by.is_some())
        || matches!(
            &r,
            Err(ToolError::Governance(Error::ApprovalTimeout { .. }))
        );
    let review = reviewed(reviewer, was_pending).await;
    if let Some(rv) = &review {
        println!(
            "    {}",
            style.dim(&format!(
                "while pending: action #{} — {}",
                rv.action_id,
                rv.pending.reason.as_deref().unwrap_or("-")
            ))
        );
    }
    show(style, dec.as_ref());
    match &r {
        Ok(msg) => result_line(
            style,
            &format!("the tool ran after {:.1} s: {msg}", waited.as_secs_f64()),
        ),
        Err(e) => result_line(style, &format!("refused: {e}")),
    }
    let high = dec.as_ref().and_then(|d| d.risk_level).map(|l| l.as_str());
    checks.check(
        "billing address update (PII write): high risk, held for approval, approved, then ran",
        r.is_ok() && review.is_some() && high == Some("high"),
        format!(
            "ran: {}, held for a reviewer: {}, level: {high:?}",
            r.is_ok(),
            review.is_some()
        ),
    );

    // ── 4. bulk delete → denied → on_denied ──────────────────────────────────────────────
    step(
        style,
        4,
        "delete_inactive_users(150, 365)   sync tool with on_denied",
        "denied by \"Block Bulk Deletions\" (critical); the on_denied fallback runs",
    );
    let r = tokio::task::spawn_blocking(|| delete_inactive_users(150, 365))
        .await
        .map_err(|e| ascend_examples::Error::Unexpected(e.to_string()))?;
    let dec = last_decision(&d).await;
    show(style, dec.as_ref());
    let fallback = matches!(&r, Cleanup::FlaggedForReview { .. });
    match &r {
        Cleanup::Deleted(n) => result_line(style, &format!("the tool ran: deleted {n} users")),
        Cleanup::FlaggedForReview { reason } => {
            result_line(
                style,
                "on_denied ran instead: the users were flagged for a human to review",
            );
            println!(
                "    {}",
                style.dim(&format!("(the handler received: {reason})"))
            );
        }
    }
    let rule = dec.as_ref().and_then(|d| d.rule_name.clone());
    let level = dec.as_ref().and_then(|d| d.risk_level).map(|l| l.as_str());
    checks.check(
        "150-user delete: denied by \"Block Bulk Deletions\", critical, on_denied fallback ran",
        fallback
            && dec.as_ref().is_some_and(|d| d.decision == Decision::Denied)
            && rule.as_deref() == Some("Block Bulk Deletions")
            && level == Some("critical"),
        format!("fallback: {fallback}, rule: {rule:?}, level: {level:?}"),
    );

    // ── 5. external transfer → pending → denied ──────────────────────────────────────────
    step(
        style,
        5,
        "transfer_funds(50_000, \"DE89 3704 0044 0532 0130 00\")   async tool, money leaves",
        "never allowed at once: held for approval, and the reviewer denies it",
    );
    let reviewer = spawn_reviewer(
        *style,
        d.reviewer.clone(),
        d.agent_id.clone(),
        "transaction",
        Verdict::Deny,
    );
    let r = transfer_funds(50_000, "DE89 3704 0044 0532 0130 00").await;
    let dec = last_decision(&d).await;
    let was_pending = dec.as_ref().is_some_and(|d| d.approved_by.is_some());
    let review = reviewed(reviewer, was_pending).await;
    if let Some(rv) = &review {
        println!(
            "    {}",
            style.dim(&format!(
                "while pending: action #{} — {}",
                rv.action_id,
                rv.pending.reason.as_deref().unwrap_or("-")
            ))
        );
    }
    show(style, dec.as_ref());
    match &r {
        Ok(msg) => result_line(style, &format!("the tool ran: {msg}")),
        Err(ToolError::Governance(e)) => result_line(
            style,
            &format!("the tool did not run: {} ({})", e, e.code()),
        ),
    }
    let level = dec.as_ref().and_then(|d| d.risk_level);
    let denied_by_reviewer =
        matches!(&r, Err(ToolError::Governance(Error::Denied(x))) if x.approved_by.is_some());
    checks.check(
        "50,000 USD external transfer: high/critical, held for approval, denied by the reviewer, never ran",
        r.is_err() && denied_by_reviewer && review.is_some() && level.is_some_and(|l| l >= ascend_runtime::RiskLevel::High),
        format!(
            "ran: {}, held for a reviewer: {}, level: {:?}, rule: {:?}",
            r.is_ok(),
            review.is_some(),
            level.map(|l| l.as_str()),
            dec.as_ref().and_then(|d| d.rule_name.clone())
        ),
    );

    // ── 6. kill switch ───────────────────────────────────────────────────────────────────
    step(
        style,
        6,
        "operator: kill switch on for support-agent; then list_product_categories() again",
        "the call is refused by the agent's own client, without reaching the server",
    );
    let t = Instant::now();
    d.operator
        .trigger_kill_switch(Some(&d.agent_id), "incident 42: agent under investigation")
        .await?;
    let client = d.client.clone();
    let seen = wait_until(Duration::from_secs(10), || client.is_blocked()).await;
    match seen {
        Some(_) => println!(
            "    the agent's client was halted {} ms after the operator's request was sent (pushed over the server's event stream)",
            t.elapsed().as_millis()
        ),
        None => println!("    the agent's client did not learn of the kill switch within 10 s"),
    }
    // Proof that the refusal is local: the server's action count and audit trail do not move.
    let actions_before = d
        .reviewer
        .actions(Some(&d.agent_id), None, 1000)
        .await?
        .len();
    let audit_before = d.reviewer.audit_total().await?;
    let r = list_product_categories().await;
    let actions_after = d
        .reviewer
        .actions(Some(&d.agent_id), None, 1000)
        .await?
        .len();
    let audit_after = d.reviewer.audit_total().await?;
    let local = actions_before == actions_after && audit_before == audit_after;
    match &r {
        Ok(_) => result_line(style, "the tool ran (the kill switch did not stop it)"),
        Err(ToolError::Governance(e)) => {
            result_line(style, &format!("refused: {e} ({})", e.code()))
        }
    }
    println!(
        "    server     actions {actions_before} → {actions_after}, audit entries {audit_before} → {audit_after}: {}",
        if local {
            "the call never reached the server"
        } else {
            "the call reached the server"
        }
    );
    checks.check(
        "kill switch: next call refused locally (Error::KillSwitch, nothing sent to the server)",
        seen.is_some()
            && matches!(r, Err(ToolError::Governance(Error::KillSwitch { .. })))
            && local,
        format!(
            "client halted: {}, result: {:?}, server untouched: {local}",
            seen.is_some(),
            r.err()
        ),
    );

    // ── audit trail ──────────────────────────────────────────────────────────────────────
    println!();
    println!("{}", heading(style, "audit trail (ascend actions list)"));
    // Outcomes of the tools that ran are reported in the background: let them land first.
    d.reviewer
        .wait_for_outcomes(&d.agent_id, Duration::from_secs(10))
        .await?;
    let actions = d.reviewer.actions(Some(&d.agent_id), None, 20).await?;
    print!("{}", actions_table(&actions));
    let verify = d.reviewer.verify_audit().await?;
    println!();
    println!(
        "{} {}",
        heading(style, "audit chain (ascend audit verify)"),
        if verify.ok {
            style.good(&format!(
                "OK — {} entries, every hash links to the one before",
                verify.entries
            ))
        } else {
            style.bad(&format!("BROKEN — {}", verify.detail))
        }
    );
    checks.check("audit chain verifies", verify.ok, verify.detail.clone());

    // ── summary ──────────────────────────────────────────────────────────────────────────
    println!();
    println!("{}", heading(style, "checks"));
    print!("{}", checks.render(style));
    println!();
    if checks.all_ok() {
        println!(
            "{}",
            style.good(&format!(
                "Every step behaved as described ({:.1} s).",
                started.elapsed().as_secs_f64()
            ))
        );
    } else {
        println!(
            "{}",
            style.bad(&format!(
                "{} step(s) did not behave as described.",
                checks.failures()
            ))
        );
    }
    println!(
        "{}",
        style.dim("Next: examples/approval_workflow.rs (approve from the command line), examples/fail_modes.rs, examples/testing_your_agent.rs")
    );

    // The operator lifts the kill switch again (so a second run against a real deployment
    // starts from a clean state).
    d.operator.release_kill_switch(Some(&d.agent_id)).await?;
    d.client.stop_kill_switch_watch();
    if let Some(plane) = d.local {
        plane.shutdown().await?;
    }
    Ok(checks.all_ok())
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let style = Style::detect();
    match run(&style).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::from(2)
        }
    }
}
