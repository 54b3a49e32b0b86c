//! Scenario 3: decisions over loopback HTTP — our runtime client (`AscendClient::authorize`,
//! what a governed call does) against the server under test (a separate process running
//! `ascend_server::start`, durable audit: every answer is given after the action row and its
//! audit entry are committed to SQLite in WAL mode). One client shared by all tasks, as in an
//! agent process; its kill-switch watch runs (push stream). Concurrency 1, 16 and 64, closed loop.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use ascend_runtime::{AscendClient, Decision, EvaluateOptions};

use super::{Ctx, agent_client, closed_loop, low_risk_read};
use crate::error::{Result, fail};
use crate::report::{Row, ScenarioReport};
use crate::stats::{fmt_dur, fmt_rate, fmt_secs, median, range, summarize};

/// The outcome of one concurrency level.
#[derive(Debug, Clone)]
pub struct LevelResult {
    /// Tasks in flight.
    pub concurrency: usize,
    /// Median latency over all samples.
    pub p50: Duration,
    /// 99th percentile over all samples.
    pub p99: Duration,
    /// Median of the per-repeat rates (decisions per second).
    pub rate: f64,
    /// Per-repeat rates.
    pub rates: Vec<f64>,
    /// Per-repeat medians.
    pub p50s: Vec<f64>,
    /// Samples.
    pub n: usize,
}

async fn load(
    client: &AscendClient,
    n: usize,
    concurrency: usize,
) -> Result<(Vec<Duration>, Duration)> {
    let client = Arc::new(client.clone());
    closed_loop(n, concurrency, move |_| {
        let client = Arc::clone(&client);
        async move {
            let d = client
                .authorize(low_risk_read(), EvaluateOptions::default())
                .await?;
            if d.decision != Decision::Allowed {
                return fail(format!("expected allowed, got {d:?}"));
            }
            Ok(())
        }
    })
    .await
}

/// Run scenario 3.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let endpoint = ctx.endpoint().await?;
    let client = agent_client(&endpoint, "load-agent", true, Duration::from_secs(1))?;
    client.start_kill_switch_watch();
    let levels = ctx.plan.http_levels.clone();
    let repeats = ctx.plan.http_repeats;
    let warmup = ctx.plan.http_warmup;
    let mut results = Vec::new();
    for &(concurrency, n) in &levels {
        load(&client, warmup.max(concurrency * 4), concurrency).await?;
        ctx.server_decisions += warmup.max(concurrency * 4) as u64;
        let mut all = Vec::new();
        let mut rates = Vec::new();
        let mut p50s = Vec::new();
        for _ in 0..repeats {
            let (mut samples, wall) = load(&client, n, concurrency).await?;
            ctx.server_decisions += n as u64;
            rates.push(n as f64 / wall.as_secs_f64());
            p50s.push(summarize(&mut samples).p50.as_secs_f64());
            all.extend(samples);
        }
        let s = summarize(&mut all);
        results.push(LevelResult {
            concurrency,
            p50: s.p50,
            p99: s.p99,
            rate: median(&rates),
            rates,
            p50s,
            n: s.n,
        });
    }
    client.stop_kill_switch_watch();
    ctx.rust_http = results.clone();

    let embedded = ctx.embedded;
    let mut rows = Vec::new();
    let mut details = format!(
        "Method: one `AscendClient` (HTTP, keep-alive pool, fail-closed, kill-switch watch on \
         the push stream) shared by N tokio tasks in the harness process (2 worker threads); \
         each task calls `authorize(database.read on product_categories, public data)` back to \
         back — a low-risk action the default policies allow. The server runs in its own \
         process (`ascend_server::start`, as `ascend serve`; default durability: SQLite WAL, \
         `synchronous=NORMAL`, the answer is sent after the commit). Both share the machine's \
         {} cores. {repeats} repeats per level after {warmup}+ warm-up requests.\n\n\
         | concurrency | requests | p50 | p99 | decisions/s (median) | per-repeat decisions/s | per-repeat p50 |\n\
         |---|---|---|---|---|---|---|\n",
        ctx.opts.harness_exe.as_ref().map_or_else(
            || "(in-process server, no harness executable)".to_owned(),
            |_| std::thread::available_parallelism()
                .map_or(1, usize::from)
                .to_string()
        )
    );
    for r in &results {
        let _ = writeln!(
            details,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.concurrency,
            r.n,
            fmt_dur(r.p50),
            fmt_dur(r.p99),
            fmt_rate(r.rate),
            r.rates
                .iter()
                .map(|x| fmt_rate(*x))
                .collect::<Vec<_>>()
                .join(", "),
            r.p50s
                .iter()
                .map(|x| fmt_dur(Duration::from_secs_f64(*x)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let (lo, hi) = range(&r.p50s);
        let (rlo, rhi) = range(&r.rates);
        let latency = format!(
            "p50 {} / p99 {} (spread {}–{})",
            fmt_dur(r.p50),
            fmt_dur(r.p99),
            fmt_dur(Duration::from_secs_f64(lo)),
            fmt_dur(Duration::from_secs_f64(hi))
        );
        let rate = format!(
            "{} (spread {}–{})",
            fmt_rate(r.rate),
            fmt_rate(rlo),
            fmt_rate(rhi)
        );
        match r.concurrency {
            1 => {
                rows.push(
                    Row::target(
                        3,
                        "HTTP decision latency at concurrency 1 (runtime client → server)",
                        latency,
                        "p50 ≤ 150 µs",
                        ctx.judge(r.p50.as_secs_f64(), 150e-6, false),
                    )
                    .with_note(match embedded {
                        Some((p50, _)) => format!(
                            "The server's decision pipeline itself, in process, takes {} (p50, \
                             scenario 2: risk + policy + one SQLite commit on the calling \
                             thread); the other {} is HTTP on both sides (request encoding, \
                             key check, JSON bodies, loopback TCP: kernel TCP and syscalls are \
                             the largest part of the profile) with client and server sharing \
                             two cores. Closing it needs both halves: a cheaper durable append \
                             (scenario 2's note) and a leaner handler and client.",
                            fmt_secs(p50),
                            fmt_secs((r.p50.as_secs_f64() - p50).max(0.0))
                        ),
                        None => "Scenario 2 did not run: no breakdown.".to_owned(),
                    }),
                );
                rows.push(Row::info(3, "HTTP decisions/s at concurrency 1", rate));
            }
            16 => {
                rows.push(
                    Row::target(
                        3,
                        "HTTP decisions/s at concurrency 16 (durable audit)",
                        rate,
                        "≥ 10,000/s",
                        ctx.judge(r.rate, 10_000.0, true),
                    )
                    .with_note(match embedded {
                        Some((_, rate)) => format!(
                            "Without HTTP, the same server pipeline sustains {} with 64 \
                             decisions in flight (scenario 2), itself CPU-bound; over HTTP the \
                             client, both HTTP stacks and loopback TCP take CPU from the same \
                             two cores. Closing it: less CPU per decision in the pipeline \
                             (scenario 2's note), a leaner handler, and measuring with the \
                             client on other cores.",
                            fmt_rate(rate)
                        ),
                        None => "Scenario 2 did not run: no breakdown.".to_owned(),
                    }),
                );
                rows.push(Row::info(
                    3,
                    "HTTP decision latency at concurrency 16",
                    latency,
                ));
            }
            c => {
                rows.push(Row::info(
                    3,
                    format!("HTTP decisions/s at concurrency {c}"),
                    rate,
                ));
                rows.push(Row::info(
                    3,
                    format!("HTTP decision latency at concurrency {c}"),
                    latency,
                ));
            }
        }
    }
    Ok(ScenarioReport { rows, details })
}
