//! Scenario 1: what `#[governed]` itself costs. The same async function, governed and not, with
//! the runtime's test double (`testing::MockGovernance::allow_all`) answering in process — so the
//! difference is the generated prologue (action request with the arguments as JSON parameters,
//! idempotency key), the client's local checks (kill-switch flag, validation), the double's
//! bookkeeping and the background outcome report.
//!
//! Each call is timed with `Instant` (both variants, so the timer's own cost cancels out in the
//! difference); a batch timing without per-call timers gives the mean as a cross-check. A fresh
//! double per repeat keeps memory flat.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use std::sync::Arc;

use ascend_runtime::backend::{Backend, BoxFuture};
use ascend_runtime::config::ClientBuilder;
use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{
    AgentAction, AscendClient, AuthorizationDecision, Decision, Error as RuntimeError, Outcome,
    governed,
};

use super::Ctx;
use crate::error::{Error, Result, fail};
use crate::report::{Row, ScenarioReport};
use crate::stats::{Summary, fmt_dur, fmt_secs, median, range, summarize};

fn refund_amount(customer_id: &str, amount: u64) -> u64 {
    black_box(customer_id.len() as u64).wrapping_add(amount)
}

/// The ungoverned tool function.
async fn refund_plain(customer_id: &str, amount: u64) -> Result<u64, RuntimeError> {
    Ok(refund_amount(customer_id, amount))
}

/// The same tool function, governed.
#[governed(action_type = "transaction", resource = "payments", resource_id = customer_id,
           risk_indicators(amount = amount))]
async fn refund_governed(customer_id: &str, amount: u64) -> Result<u64, RuntimeError> {
    Ok(refund_amount(customer_id, amount))
}

/// A backend that allows everything and keeps nothing: isolates the macro's and the client's
/// own cost from the test double's bookkeeping.
struct AllowNothingKept;

impl Backend for AllowNothingKept {
    fn submit<'a>(
        &'a self,
        _action: &'a AgentAction,
        _idempotency_key: &'a str,
    ) -> BoxFuture<'a, ascend_runtime::Result<AuthorizationDecision>> {
        Box::pin(std::future::ready(Ok(AuthorizationDecision::new(
            "1",
            Decision::Allowed,
        ))))
    }

    fn status<'a>(
        &'a self,
        action_id: &'a str,
    ) -> BoxFuture<'a, ascend_runtime::Result<AuthorizationDecision>> {
        Box::pin(std::future::ready(Ok(AuthorizationDecision::new(
            action_id,
            Decision::Allowed,
        ))))
    }

    fn report_outcome(&self, _action_id: &str, _outcome: &Outcome) {}
}

fn null_client() -> Result<AscendClient> {
    let config = ClientBuilder::new()
        .ignore_env()
        .agent_id("bench-agent")
        .agent_name("Bench Agent")
        .build_config()?;
    Ok(AscendClient::with_backend(
        config,
        Arc::new(AllowNothingKept),
    ))
}

struct Repeat {
    plain: Vec<Duration>,
    governed: Vec<Duration>,
    plain_batch: Duration,
    governed_batch: Duration,
    null: Vec<Duration>,
}

async fn one_repeat(calls: usize) -> Result<Repeat> {
    let mut plain = Vec::with_capacity(calls);
    for i in 0..calls {
        let t = Instant::now();
        let r = refund_plain(black_box("cust_42"), i as u64).await;
        plain.push(t.elapsed());
        black_box(r.ok());
    }
    let t = Instant::now();
    for i in 0..calls {
        black_box(refund_plain(black_box("cust_42"), i as u64).await.ok());
    }
    let plain_batch = t.elapsed();

    let mock = MockGovernance::allow_all();
    let (governed, governed_batch) = mock
        .scope(async {
            let mut samples = Vec::with_capacity(calls);
            for i in 0..calls {
                let t = Instant::now();
                let r = refund_governed(black_box("cust_42"), i as u64).await;
                samples.push(t.elapsed());
                if r.is_err() {
                    return Err(Error::Scenario(format!("governed call refused: {r:?}")));
                }
            }
            let t = Instant::now();
            for i in 0..calls {
                if refund_governed(black_box("cust_42"), i as u64)
                    .await
                    .is_err()
                {
                    return fail("governed call refused");
                }
            }
            Ok((samples, t.elapsed()))
        })
        .await?;
    let null = ascend_runtime::global::scope(null_client()?, async {
        let mut samples = Vec::with_capacity(calls);
        for i in 0..calls {
            let t = Instant::now();
            let r = refund_governed(black_box("cust_42"), i as u64).await;
            samples.push(t.elapsed());
            if r.is_err() {
                return fail(format!("governed call refused: {r:?}"));
            }
        }
        Ok(samples)
    })
    .await?;
    if mock.requests().len() != 2 * calls {
        return fail(format!(
            "the double saw {} requests, expected {}",
            mock.requests().len(),
            2 * calls
        ));
    }
    Ok(Repeat {
        plain,
        governed,
        plain_batch,
        governed_batch,
        null,
    })
}

/// Run scenario 1.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let calls = ctx.plan.governed_calls;
    let repeats = ctx.plan.governed_repeats;
    let repeats_out = tokio::task::spawn_blocking(move || -> Result<Vec<Repeat>> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            // Warm-up (one untimed repeat): caches, allocator, lazy statics, CPU clock.
            one_repeat(calls).await?;
            let mut out = Vec::new();
            for _ in 0..repeats {
                out.push(one_repeat(calls).await?);
            }
            Ok(out)
        })
    })
    .await
    .map_err(|e| Error::Scenario(format!("scenario task: {e}")))??;

    let mut all_plain = Vec::new();
    let mut all_gov = Vec::new();
    let mut all_null = Vec::new();
    let mut overhead_p50s = Vec::new();
    let mut overhead_means = Vec::new();
    let mut per_repeat = String::new();
    for (i, r) in repeats_out.into_iter().enumerate() {
        let mut p = r.plain;
        let mut g = r.governed;
        let ps = summarize(&mut p);
        let gs = summarize(&mut g);
        let over = gs.p50.as_secs_f64() - ps.p50.as_secs_f64();
        let mean_over =
            (r.governed_batch.as_secs_f64() - r.plain_batch.as_secs_f64()) / calls as f64;
        overhead_p50s.push(over);
        overhead_means.push(mean_over);
        let _ = writeln!(
            per_repeat,
            "| {} | {} | {} | {} | {} | {} |",
            i + 1,
            fmt_dur(ps.p50),
            fmt_dur(gs.p50),
            fmt_dur(gs.p99),
            fmt_secs(over),
            fmt_secs(mean_over)
        );
        all_plain.extend(p);
        all_gov.extend(g);
        all_null.extend(r.null);
    }
    let ps: Summary = summarize(&mut all_plain);
    let gs: Summary = summarize(&mut all_gov);
    let ns: Summary = summarize(&mut all_null);
    let null_overhead = ns.p50.as_secs_f64() - ps.p50.as_secs_f64();
    let overhead = gs.p50.as_secs_f64() - ps.p50.as_secs_f64();
    let overhead_p99 = gs.p99.as_secs_f64() - ps.p99.as_secs_f64();
    let (lo, hi) = range(&overhead_p50s);
    let mean_over = median(&overhead_means);

    let rows = vec![
        Row::target(
            1,
            "`#[governed]` overhead per call, p50 (governed − ungoverned, test double)",
            format!(
                "{} (p99 {}; spread {}–{}; batch mean {})",
                fmt_secs(overhead),
                fmt_secs(overhead_p99),
                fmt_secs(lo),
                fmt_secs(hi),
                fmt_secs(mean_over)
            ),
            "≤ 1 µs",
            ctx.judge(overhead, 1e-6, false),
        )
        .with_note(format!(
            "With a no-op in-process backend instead of the double the overhead is {} (p50): \
             that part is the macro's prologue and the client's local path (the arguments \
             serialised to a JSON map — each parameter's secret-name check done once per \
             function, not per call —, an idempotency key, validation, the kill-switch flag, \
             the background outcome report); the remaining {} is the double's bookkeeping (it \
             records every request — handed over by the client, not copied —, answer and \
             outcome under a mutex).",
            fmt_secs(null_overhead),
            fmt_secs((overhead - null_overhead).max(0.0))
        )),
        Row::info(
            1,
            "governed call / ungoverned call, p50",
            format!("{} / {}", fmt_dur(gs.p50), fmt_dur(ps.p50)),
        ),
        Row::info(
            1,
            "`#[governed]` overhead with a no-op in-process backend instead of the double (macro + client only)",
            format!(
                "p50 {} (p99 {})",
                fmt_secs(null_overhead),
                fmt_secs(ns.p99.as_secs_f64() - ps.p99.as_secs_f64())
            ),
        ),
    ];
    let details = format!(
        "Method: an async tool function `refund(customer_id: &str, amount: u64)` with and without \
         `#[governed(action_type = \"transaction\", resource = \"payments\", resource_id = \
         customer_id, risk_indicators(amount = amount))]`, awaited in a loop on a current-thread \
         tokio runtime, with `MockGovernance::allow_all()` scoped as the client. {calls} calls per \
         variant per repeat, {repeats} repeats after a warm-up repeat of {} calls; every call timed with \
         `Instant` (the timer's ~20–30 ns cancel out in the difference), plus an untimed batch \
         for the mean.\n\n\
         | repeat | ungoverned p50 | governed p50 | governed p99 | overhead p50 | overhead (batch mean) |\n\
         |---|---|---|---|---|---|\n{per_repeat}\n\
         All samples: ungoverned p50 {} / p99 {}; governed p50 {} / p99 {} / max {}. \
         The same governed function with a no-op backend (allows, records nothing) instead of \
         the double: p50 {} / p99 {}.",
        calls,
        fmt_dur(ps.p50),
        fmt_dur(ps.p99),
        fmt_dur(gs.p50),
        fmt_dur(gs.p99),
        fmt_dur(gs.max),
        fmt_dur(ns.p50),
        fmt_dur(ns.p99),
    );
    Ok(ScenarioReport { rows, details })
}
