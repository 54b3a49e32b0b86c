//! Scenario 5: kill-switch reaction. An operator triggers the organisation's kill switch through
//! the API (`POST /api/v1/kill-switch/trigger`, admin key); we time from just before that request
//! until each of N connected agent clients (`AscendClient` with `start_kill_switch_watch`) refuses
//! — its local flag is set, so the next governed call fails with `Error::KillSwitch` without a
//! network round trip (checked for every client after each round). A dedicated thread checks the
//! flags every 0.1 ms. Push (the SSE stream `GET /api/v1/events/stream`) against polling
//! (`GET /api/sdk/kill-switch/status` every interval, stream disabled), and the Python SDK's own
//! polling (`start_kill_switch_polling(interval)`) for comparison. Each round releases the switch
//! and waits until every client runs again.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ascend_runtime::{AscendClient, EvaluateOptions};
use ascend_server::policy::synth::Rng;
use serde::Deserialize;
use serde_json::json;

use super::python_sdk::{ensure_sdk, run_script};
use super::{Ctx, agent_client, low_risk_read};
use crate::error::{Error, Result, fail};
use crate::report::{Row, ScenarioReport, Verdict};
use crate::server::{Endpoint, post_json};
use crate::stats::{Summary, fmt_dur, range, summarize};

/// Wait on a blocking thread until every client's flag equals `want`; the time each one took
/// from `t0`, or `None` on timeout.
fn watch_flags(
    clients: &[AscendClient],
    want: bool,
    t0: Instant,
    timeout: Duration,
) -> Option<Vec<Duration>> {
    let mut seen: Vec<Option<Duration>> = vec![None; clients.len()];
    loop {
        let mut left = 0;
        for (i, c) in clients.iter().enumerate() {
            if seen[i].is_none() {
                if c.is_blocked() == want {
                    seen[i] = Some(t0.elapsed());
                } else {
                    left += 1;
                }
            }
        }
        if left == 0 {
            return Some(seen.into_iter().flatten().collect());
        }
        if t0.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

async fn wait_flags(
    clients: &Arc<Vec<AscendClient>>,
    want: bool,
    t0: Instant,
    timeout: Duration,
) -> Result<Option<Vec<Duration>>> {
    let clients = Arc::clone(clients);
    tokio::task::spawn_blocking(move || watch_flags(&clients, want, t0, timeout))
        .await
        .map_err(|e| Error::Scenario(format!("watch task: {e}")))
}

/// One variant (push or polling): per round, every client's reaction time.
async fn measure(
    ctx: &Ctx,
    endpoint: &Endpoint,
    push: bool,
    rounds: usize,
) -> Result<Vec<Vec<Duration>>> {
    let interval = ctx.plan.poll_interval;
    let n = ctx.plan.kill_clients;
    let clients: Vec<AscendClient> = (0..n)
        .map(|i| {
            agent_client(
                endpoint,
                &format!("ks-{}-{i}", if push { "push" } else { "poll" }),
                push,
                interval,
            )
        })
        .collect::<Result<_>>()?;
    // Polling clients start one after another over one interval, so their polls are spread
    // evenly in time (as independent agents' would be), not synchronised.
    for c in &clients {
        c.start_kill_switch_watch();
        if !push {
            tokio::time::sleep(interval / u32::try_from(n.max(1)).unwrap_or(1)).await;
        }
    }
    let clients = Arc::new(clients);
    // Let every watch sync once (and, with push, connect its stream).
    tokio::time::sleep(if push {
        Duration::from_millis(if ctx.plan.smoke { 300 } else { 1500 })
    } else {
        interval + Duration::from_millis(200)
    })
    .await;
    let trigger = format!("{}/api/v1/kill-switch/trigger", endpoint.base_url);
    let release = format!("{}/api/v1/kill-switch/release", endpoint.base_url);
    let timeout = interval * 5 + Duration::from_secs(10);
    let mut rng = Rng::with_seed(0x6b69_6c6c);
    let mut out = Vec::new();
    let result: Result<()> = async {
        for _ in 0..rounds {
            // A random phase against the polling timers (and a quiet moment for push).
            let phase = if push {
                Duration::from_millis(50)
            } else {
                interval.mul_f64(rng.f64())
            };
            tokio::time::sleep(phase).await;
            let http = ctx.http.clone();
            let (url, key) = (trigger.clone(), endpoint.admin_key.clone());
            let t0 = Instant::now();
            let request = tokio::spawn(async move {
                post_json(&http, &url, &key, &json!({"reason": "ascend-bench"})).await
            });
            let seen = wait_flags(&clients, true, t0, timeout).await?;
            request
                .await
                .map_err(|e| Error::Scenario(format!("trigger task: {e}")))??;
            let Some(seen) = seen else {
                return fail(format!(
                    "not every client saw the kill switch within {timeout:?}"
                ));
            };
            for c in clients.iter() {
                match c
                    .authorize(low_risk_read(), EvaluateOptions::default())
                    .await
                {
                    Err(ascend_runtime::Error::KillSwitch { .. }) => {}
                    other => {
                        return fail(format!("a halted client did not refuse: {other:?}"));
                    }
                }
            }
            out.push(seen);
            post_json(
                &ctx.http,
                &release,
                &endpoint.admin_key,
                &json!({"reason": "ascend-bench"}),
            )
            .await?;
            if wait_flags(&clients, false, Instant::now(), timeout)
                .await?
                .is_none()
            {
                return fail("not every client saw the release");
            }
        }
        Ok(())
    }
    .await;
    for c in clients.iter() {
        c.stop_kill_switch_watch();
    }
    if result.is_err() {
        // Never leave the organisation halted for the next scenario.
        let _ = post_json(
            &ctx.http,
            &release,
            &endpoint.admin_key,
            &json!({"reason": "ascend-bench cleanup"}),
        )
        .await;
    }
    result.map(|()| out)
}

#[derive(Debug, Deserialize)]
struct PyKill {
    clients: usize,
    interval_s: f64,
    rounds: Vec<Vec<f64>>,
}

struct Stat {
    all: Summary,
    round_p99s: Vec<f64>,
    clients: usize,
    rounds: usize,
}

fn stat(rounds: &[Vec<Duration>]) -> Stat {
    let mut all: Vec<Duration> = rounds.iter().flatten().copied().collect();
    let round_p99s = rounds
        .iter()
        .map(|r| summarize(&mut r.clone()).p99.as_secs_f64())
        .collect();
    Stat {
        all: summarize(&mut all),
        round_p99s,
        clients: rounds.first().map_or(0, Vec::len),
        rounds: rounds.len(),
    }
}

fn show(s: &Stat) -> String {
    let (lo, hi) = range(&s.round_p99s);
    format!(
        "p50 {} / p99 {} / max {} (per-round p99 {}–{})",
        fmt_dur(s.all.p50),
        fmt_dur(s.all.p99),
        fmt_dur(s.all.max),
        fmt_dur(Duration::from_secs_f64(lo)),
        fmt_dur(Duration::from_secs_f64(hi))
    )
}

/// Run scenario 5.
pub async fn run(ctx: &mut Ctx) -> Result<ScenarioReport> {
    let endpoint = ctx.endpoint().await?;
    let push = stat(&measure(ctx, &endpoint, true, ctx.plan.kill_push_rounds).await?);
    let poll = stat(&measure(ctx, &endpoint, false, ctx.plan.kill_poll_rounds).await?);
    let interval = ctx.plan.poll_interval;

    let python = match ensure_sdk(ctx).await {
        Ok(_) => {
            let secs = interval.as_secs_f64().max(1.0);
            let out: PyKill = run_script(
                ctx,
                vec![
                    "killswitch".into(),
                    "--url".into(),
                    endpoint.base_url.clone(),
                    "--key".into(),
                    endpoint.agent_key.clone(),
                    "--admin-key".into(),
                    endpoint.admin_key.clone(),
                    "--clients".into(),
                    ctx.plan.python_kill_clients.to_string(),
                    "--rounds".into(),
                    ctx.plan.python_kill_rounds.to_string(),
                    "--interval".into(),
                    format!("{secs}"),
                ],
            )
            .await?;
            let rounds: Vec<Vec<Duration>> = out
                .rounds
                .iter()
                .map(|r| r.iter().map(|s| Duration::from_secs_f64(*s)).collect())
                .collect();
            Ok((stat(&rounds), out.clients, out.interval_s))
        }
        Err(reason) => Err(reason),
    };

    let mut rows = vec![
        Row::target(
            5,
            format!(
                "kill-switch reaction with push, {} clients (API trigger → every client refuses)",
                push.clients
            ),
            show(&push),
            "p99 ≤ 50 ms",
            ctx.judge(push.all.p99.as_secs_f64(), 0.050, false),
        )
        .with_note(
            "The time covers the trigger request (durable write of the switch and its audit \
             entry), the fan-out to every SSE stream, and each client's stream task setting its \
             flag — for 100 clients on two cores shared with the server.",
        ),
        Row::info(
            5,
            format!(
                "kill-switch reaction with polling every {}, {} clients",
                fmt_dur(interval),
                poll.clients
            ),
            show(&poll),
        ),
    ];
    let mut details = format!(
        "Method: {} runtime clients (each its own HTTP pool and watch task) in the harness \
         process; push rounds: {}, polling rounds: {} (poll interval {}; the polling clients' \
         timers are spread evenly over one interval, and each round starts at a random phase). \
         Reaction = from just before the trigger request is sent until the client's local flag \
         is set (checked every 0.1 ms by a dedicated thread); after each round every client is \
         confirmed to refuse a governed call with `Error::KillSwitch`, then the switch is \
         released and every client is confirmed to run again.\n\n\
         | variant | clients × rounds | p50 | p99 | max |\n|---|---|---|---|---|\n\
         | push (SSE) | {} × {} | {} | {} | {} |\n\
         | polling, {} | {} × {} | {} | {} | {} |\n",
        push.clients,
        push.rounds,
        poll.rounds,
        fmt_dur(interval),
        push.clients,
        push.rounds,
        fmt_dur(push.all.p50),
        fmt_dur(push.all.p99),
        fmt_dur(push.all.max),
        fmt_dur(interval),
        poll.clients,
        poll.rounds,
        fmt_dur(poll.all.p50),
        fmt_dur(poll.all.p99),
        fmt_dur(poll.all.max),
    );
    match python {
        Ok((py, clients, secs)) => {
            rows.push(Row::info(
                5,
                format!(
                    "Python SDK kill-switch reaction, polling every {secs} s (its only mode), {clients} clients"
                ),
                show(&py),
            ));
            let _ = writeln!(
                details,
                "| Python SDK polling, {secs} s | {} × {} | {} | {} | {} |\n\n\
                 Python: `bench/python_sdk.py killswitch` — {clients} `AscendClient`s (threads \
                 of one process) with `start_kill_switch_polling({secs})` (the SDK's default is \
                 5 s), started one after another over one interval; the script triggers through the same API and times until each client's \
                 `is_blocked()` (checked every 0.2 ms), then confirms `KillSwitchError`. The SDK \
                 has no push channel.",
                py.clients,
                py.rounds,
                fmt_dur(py.all.p50),
                fmt_dur(py.all.p99),
                fmt_dur(py.all.max),
            );
        }
        Err(reason) => {
            rows.push(Row {
                verdict: Verdict::Skipped(reason.clone()),
                ..Row::info(5, "Python SDK kill-switch reaction (polling)", "—")
            });
            let _ = writeln!(details, "\nPython SDK part not run: {reason}.");
        }
    }
    Ok(ScenarioReport { rows, details })
}
