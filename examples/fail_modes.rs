//! # When the control plane is down: fail-closed and fail-open
//!
//! ```text
//! cargo run --example fail_modes
//! ```
//!
//! What it shows: two agents run the same governed tool, one with `FailMode::Closed` (the
//! default) and one with `FailMode::Open`. Midway, the control plane is stopped:
//!
//! - the **fail-closed** agent's call is refused (`Error::Connection`, after the client's
//!   retries) and the tool does not run — nothing happens that governance did not see;
//! - the **fail-open** agent's call proceeds (the decision carries the condition
//!   `fail_open_mode`), and the client keeps a record of what it let through;
//! - the server is restarted on the same port with the same database; at the fail-open agent's
//!   next exchange with it, the queued record is delivered, so the skipped action reaches the
//!   audit trail after all (marked `context.fail_open = true`, with its outcome).
//!
//! Pick fail-open only for tools whose unaudited run is less harmful than not running. Either
//! way, a decision that *was* made (denied, pending) is never turned into "allowed".
//!
//! It also shows scoping: one `#[governed]` function, two clients, chosen per task with
//! `ascend_runtime::global::scope`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ascend_examples::harness::{ControlPlane, id_text, init_logging, wait_until};
use ascend_examples::report::{Checks, Style, heading};
use ascend_runtime::global::scope;
use ascend_runtime::{AscendClient, Error, FailMode, governed};
use serde_json::Value;

const AGENT_ID: &str = "status-agent";

/// A low-risk read (allowed whenever the control plane is reachable).
#[governed(
    action_type = "database.read",
    resource = "order_status",
    resource_id = order_id,
    risk_indicators(data_classification = "public")
)]
async fn order_status(order_id: &str) -> Result<String, Error> {
    Ok(format!("order {order_id}: shipped"))
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let style = Style::detect();
    match run(&style).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("fail_modes failed: {e}");
            ExitCode::from(2)
        }
    }
}

fn show(label: &str, r: &Result<String, Error>) -> String {
    match r {
        Ok(s) => format!("  {label:<12} ran: {s}"),
        Err(e) => format!("  {label:<12} refused: {e} ({})", e.code()),
    }
}

async fn run(style: &Style) -> ascend_examples::Result<bool> {
    let mut plane = ControlPlane::start(AGENT_ID).await?;
    println!("control plane at {}", plane.base_url());
    let client = |mode: FailMode| -> ascend_examples::Result<AscendClient> {
        Ok(plane
            .client_builder()
            .fail_mode(mode)
            // Give up quickly when the server is gone (defaults: 3 retries, 5 s timeout).
            .max_retries(2)
            .timeout(Duration::from_secs(2))
            // The circuit breaker stops a client from hammering a dead server: after 5 failed
            // attempts it refuses at once (CircuitOpen), and lets a probe through after 500 ms.
            .circuit_breaker(5, Duration::from_millis(500))
            .build()?)
    };
    let closed = client(FailMode::Closed)?;
    let open = client(FailMode::Open)?;
    let reviewer = plane.reviewer()?;
    let mut checks = Checks::default();

    println!("{}", heading(style, "1. control plane up"));
    let a = scope(closed.clone(), order_status("A-1")).await;
    let b = scope(open.clone(), order_status("A-2")).await;
    println!("{}", show("fail-closed", &a));
    println!("{}", show("fail-open", &b));
    checks.check(
        "with the control plane up, both agents' calls are allowed",
        a.is_ok() && b.is_ok(),
        format!("{a:?} / {b:?}"),
    );

    println!("{}", heading(style, "2. control plane stopped"));
    // (First let the two outcomes, reported in the background, reach the server.)
    reviewer
        .wait_for_outcomes(AGENT_ID, Duration::from_secs(10))
        .await?;
    plane.stop().await?;
    let t = Instant::now();
    let a = scope(closed.clone(), order_status("B-1")).await;
    println!(
        "{}  ({} ms)",
        show("fail-closed", &a),
        t.elapsed().as_millis()
    );
    let t = Instant::now();
    let b = scope(open.clone(), order_status("B-2")).await;
    println!(
        "{}  ({} ms)",
        show("fail-open", &b),
        t.elapsed().as_millis()
    );
    println!(
        "  the fail-open client holds {} record(s) for the audit trail",
        open.pending_fail_open_records()
    );
    checks.check(
        "fail-closed: the call is refused as unavailable and the tool does not run",
        matches!(&a, Err(e) if e.is_unavailable()),
        format!("{a:?}"),
    );
    checks.check(
        "fail-open: the call proceeds and one skipped-audit record is queued",
        b.is_ok() && open.pending_fail_open_records() == 1,
        format!("{b:?}, queued: {}", open.pending_fail_open_records()),
    );

    println!(
        "{}",
        heading(
            style,
            "3. control plane restarted (same port, same database)"
        )
    );
    plane.restart().await?;
    // The fail-open client's breaker opened while the server was down; give it time to let
    // a probe through (otherwise this call, too, would be a fail-open one).
    println!("  (waiting 0.6 s for the client's circuit breaker to half-open)");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let c = scope(open.clone(), order_status("C-2")).await;
    println!("{}", show("fail-open", &c));
    // The first answer from the server triggers the delivery (in the background).
    let delivered = wait_until(Duration::from_secs(15), || {
        open.pending_fail_open_records() == 0
    })
    .await;
    println!(
        "  queued records: {} ({})",
        open.pending_fail_open_records(),
        match delivered {
            Some(d) => format!("sent {} ms after the server answered again", d.as_millis()),
            None => "still queued".into(),
        }
    );

    // Find it on the server: an action whose request carries context.fail_open = true.
    let records = reviewer
        .wait_for_fail_open_records(AGENT_ID, 1, Duration::from_secs(15))
        .await?;
    let found = records.first().map(|full| {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("-").to_owned();
        (
            full.get("id").map(id_text).unwrap_or_default(),
            text(full.get("resource_id")),
            text(full.pointer("/request/context/fail_open_at")),
        )
    });
    match &found {
        Some((id, rid, when)) => println!(
            "  on the server: action #{id} (order {rid}) with context.fail_open = true, allowed at {when}"
        ),
        None => println!("  on the server: no fail-open record"),
    }
    checks.check(
        "after the restart, the skipped-audit record reaches the server",
        delivered.is_some() && found.as_ref().is_some_and(|(_, rid, _)| rid == "B-2"),
        format!("delivered: {}, found: {found:?}", delivered.is_some()),
    );
    reviewer
        .wait_for_outcomes(AGENT_ID, Duration::from_secs(10))
        .await?;
    let verify = reviewer.verify_audit().await?;
    println!(
        "  audit chain: {}",
        if verify.ok {
            style.good(&format!(
                "OK ({} entries, across the restart)",
                verify.entries
            ))
        } else {
            style.bad(&verify.detail)
        }
    );
    checks.check(
        "the audit chain verifies across the restart",
        verify.ok,
        verify.detail.clone(),
    );

    println!("{}", heading(style, "checks"));
    print!("{}", checks.render(style));
    plane.shutdown().await?;
    Ok(checks.all_ok())
}
