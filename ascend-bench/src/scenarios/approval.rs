//! Scenario 6: approval reaction. A governed call whose action needs a human approval (a PII
//! write, pending under the default policies) waits; a reviewer approves it through the API
//! (`POST /api/v1/actions/{id}/approve`, reviewer key); we time from just before that request
//! until the governed function's body starts running. Push: the waiting call wakes on the
//! `decision` event of the SSE stream (connected by the client's watch), then reads the final
//! status. Polling: the stream is off and the call polls the status every interval (the
//! runtime's default, 1 s).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ascend_runtime::{AscendClient, Error as RuntimeError, governed};
use ascend_server::policy::synth::Rng;
use serde_json::{Value, json};

use super::{Ctx, agent_client};
use crate::error::{Error, Result, fail};
use crate::report::{Row, ScenarioReport};
use crate::server::{Endpoint, get_json, post_json};
use crate::stats::{Summary, fmt_dur, summarize};

/// Where the governed body writes when it starts.
type Resumed = Arc<Mutex<Option<Instant>>>;

/// A PII write: pending until a reviewer approves it (default policies).
#[governed(action_type = "database.write", resource = "customers", resource_id = customer_id,
           risk_indicators(pii_involved = true, data_classification = "pii"),
           approval_timeout_secs = 60, skip(resumed))]
async fn update_billing_address(
    customer_id: &str,
    field: &str,
    rows: u32,
    resumed: Resumed,
) -> Result<(), RuntimeError> {
    if let Ok(mut r) = resumed.lock() {
        *r = Some(Instant::now());
    }
    std::hint::black_box((field, rows));
    Ok(())
}

/// Find the newest pending action of `agent` that is not in `seen`.
async fn find_pending(ctx: &Ctx, endpoint: &Endpoint, agent: &str, seen: &[i64]) -> Result<i64> {
    let url = format!(
        "{}/api/v1/actions?status=pending&agent_id={agent}&limit=20",
        endpoint.base_url
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let list = get_json(&ctx.http, &url, &endpoint.reviewer_key).await?;
        let found = list
            .get("actions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| a.get("id").and_then(Value::as_i64))
            .find(|id| !seen.contains(id));
        if let Some(id) = found {
            return Ok(id);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    fail(format!(
        "no pending action of {agent} appeared (is the governed action still pending under the default policies?)"
    ))
}

async fn measure(
    ctx: &Ctx,
    endpoint: &Endpoint,
    client: &AscendClient,
    agent: &str,
    rounds: usize,
    phase: Duration,
) -> Result<Vec<Duration>> {
    let mut rng = Rng::with_seed(0x0a99_7e5d);
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for _ in 0..rounds {
        let resumed: Resumed = Arc::new(Mutex::new(None));
        let r2 = Arc::clone(&resumed);
        let client2 = client.clone();
        let call = tokio::spawn(async move {
            ascend_runtime::global::scope(
                client2,
                update_billing_address("cust_42", "billing_address", 1, r2),
            )
            .await
        });
        let id = find_pending(ctx, endpoint, agent, &seen).await?;
        seen.push(id);
        // Let the call settle into its wait, at a random phase against its polling.
        tokio::time::sleep(Duration::from_millis(50) + phase.mul_f64(rng.f64())).await;
        if resumed.lock().map(|r| r.is_some()).unwrap_or(false) {
            return fail("the governed call ran before it was approved");
        }
        let t0 = Instant::now();
        post_json(
            &ctx.http,
            &format!("{}/api/v1/actions/{id}/approve", endpoint.base_url),
            &endpoint.reviewer_key,
            &json!({"comment": "ascend-bench"}),
        )
        .await?;
        let result = tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .map_err(|_| Error::Scenario("the approved call did not resume within 60 s".into()))?
            .map_err(|e| Error::Scenario(format!("call task: {e}")))?;
        result?;
        let Some(at) = resumed.lock().ok().and_then(|r| *r) else {
            return fail("the governed body did not run");
        };
        out.push(at.saturating_duration_since(t0));
    }
    Ok(out)
}

fn show(s: &Summary) -> String {
    format!(
        "p50 {} / p99 {} / max {} ({} approvals)",
        fmt_dur(s.p50),
        fmt_dur(s.p99),
        fmt_dur(s.max),
        s.n
    )
}

/// Run scenario 6.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let endpoint = ctx.endpoint().await?;
    let interval = ctx.plan.poll_interval;

    let push_client = agent_client(&endpoint, "approval-push", true, interval)?;
    push_client.start_kill_switch_watch();
    tokio::time::sleep(Duration::from_millis(if ctx.plan.smoke {
        300
    } else {
        1000
    }))
    .await;
    let mut push = measure(
        ctx,
        &endpoint,
        &push_client,
        "approval-push",
        ctx.plan.approval_push_rounds,
        Duration::from_millis(50),
    )
    .await?;
    push_client.stop_kill_switch_watch();

    let poll_client = agent_client(&endpoint, "approval-poll", false, interval)?;
    let mut poll = measure(
        ctx,
        &endpoint,
        &poll_client,
        "approval-poll",
        ctx.plan.approval_poll_rounds,
        interval,
    )
    .await?;
    ctx.server_decisions += (push.len() + poll.len()) as u64;
    let push_s = summarize(&mut push);
    let poll_s = summarize(&mut poll);

    let rows = vec![
        Row::target(
            6,
            "approval reaction with push (reviewer approves → waiting governed call resumes)",
            show(&push_s),
            "p99 ≤ 50 ms",
            ctx.judge(push_s.p99.as_secs_f64(), 0.050, false),
        )
        .with_note(
            "Covers the approve request (vote, commit, audit), the SSE `decision` event, and the \
             client's status read before the body runs.",
        ),
        Row::info(
            6,
            format!("approval reaction with polling every {}", fmt_dur(interval)),
            show(&poll_s),
        ),
    ];
    let mut details = String::new();
    let _ = write!(
        details,
        "Method: `#[governed(action_type = \"database.write\", resource = \"customers\", \
         risk_indicators(pii_involved = true, data_classification = \"pii\"))]` async fn, run \
         with a runtime client as its scoped global client. The harness, as reviewer, finds the \
         pending action (`GET /api/v1/actions?status=pending`), waits 50 ms plus a random phase \
         (up to 50 ms with push, up to one poll interval with polling), then approves; the \
         reaction is measured from just before the approve request until the function body \
         starts. Push: client with the event stream on and its watch running; polling: event \
         stream off, poll interval {}.\n\n\
         | variant | approvals | p50 | p99 | max |\n|---|---|---|---|---|\n\
         | push (SSE) | {} | {} | {} | {} |\n| polling, {} | {} | {} | {} | {} |\n",
        fmt_dur(interval),
        push_s.n,
        fmt_dur(push_s.p50),
        fmt_dur(push_s.p99),
        fmt_dur(push_s.max),
        fmt_dur(interval),
        poll_s.n,
        fmt_dur(poll_s.p50),
        fmt_dur(poll_s.p99),
        fmt_dur(poll_s.max),
    );
    Ok(ScenarioReport { rows, details })
}
